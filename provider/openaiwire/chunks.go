package openaiwire

import (
	"strconv"

	"github.com/tollgate-gw/tollgate/provider"
)

// Chunks builds the chat.completion.chunk objects of one stream. Every
// chunk carries the same id, created and model; "usage" is null on every
// chunk but the usage chunk, as OpenAI sends them when usage was asked
// for. Each returned slice is valid until the next call: one buffer is
// reused. A Chunks lives for one stream and is not safe for concurrent
// use.
type Chunks struct {
	ID      string
	Created int64
	Model   string
	buf     []byte
}

// head starts a chunk up to the opening of its choices array.
func (c *Chunks) head() []byte {
	b := append(c.buf[:0], `{"id":`...)
	b = AppendString(b, c.ID)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, c.Created, 10)
	b = append(b, `,"model":`...)
	b = AppendString(b, c.Model)
	return append(b, `,"choices":[`...)
}

// choice opens choice i's object up to its delta's opening brace.
func choice(b []byte, i int) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, `,"delta":{`...)
}

// end closes the delta and the chunk with the given finish reason.
func (c *Chunks) end(b []byte, finish string) []byte {
	b = append(b, `},"logprobs":null,"finish_reason":`...)
	if finish == "" {
		b = append(b, "null"...)
	} else {
		b = AppendString(b, finish)
	}
	b = append(b, `}],"usage":null}`...)
	c.buf = b
	return b
}

// Role is the first chunk of a choice: {"role":"assistant","content":""}.
func (c *Chunks) Role(choiceIndex int) []byte {
	b := choice(c.head(), choiceIndex)
	b = append(b, `"role":"assistant","content":""`...)
	return c.end(b, "")
}

// Content is a text delta.
func (c *Chunks) Content(choiceIndex int, text string) []byte {
	b := choice(c.head(), choiceIndex)
	b = append(b, `"content":`...)
	b = AppendString(b, text)
	return c.end(b, "")
}

// Reasoning is a reasoning-text delta, in DeepSeek's reasoning_content.
func (c *Chunks) Reasoning(choiceIndex int, text string) []byte {
	b := choice(c.head(), choiceIndex)
	b = append(b, `"reasoning_content":`...)
	b = AppendString(b, text)
	return c.end(b, "")
}

// ToolCallStart opens tool call index with its id and function name.
func (c *Chunks) ToolCallStart(choiceIndex, index int, id, name string) []byte {
	b := choice(c.head(), choiceIndex)
	b = append(b, `"tool_calls":[{"index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"id":`...)
	b = AppendString(b, id)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = AppendString(b, name)
	b = append(b, `,"arguments":""}}]`...)
	return c.end(b, "")
}

// ToolCallArgs is a fragment of tool call index's arguments.
func (c *Chunks) ToolCallArgs(choiceIndex, index int, fragment string) []byte {
	b := choice(c.head(), choiceIndex)
	b = append(b, `"tool_calls":[{"index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"function":{"arguments":`...)
	b = AppendString(b, fragment)
	b = append(b, `}}]`...)
	return c.end(b, "")
}

// Finish is a choice's last chunk: an empty delta and the finish reason.
func (c *Chunks) Finish(choiceIndex int, reason string) []byte {
	return c.end(choice(c.head(), choiceIndex), reason)
}

// Usage is the final usage chunk: no choices, the usage object. The caller
// marks it provider.Chunk.UsageOnly.
func (c *Chunks) Usage(u provider.Usage) []byte {
	b := append(c.head(), `],"usage":`...)
	b = appendUsage(b, NewUsage(u))
	b = append(b, '}')
	c.buf = b
	return b
}

// appendUsage encodes u as JSON.
func appendUsage(b []byte, u *Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	if d := u.PromptTokensDetails; d != nil {
		b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
		b = strconv.AppendInt(b, int64(d.CachedTokens), 10)
		if d.CacheWriteTokens != 0 {
			b = append(b, `,"cache_write_tokens":`...)
			b = strconv.AppendInt(b, int64(d.CacheWriteTokens), 10)
		}
		b = append(b, '}')
	}
	if d := u.CompletionTokensDetails; d != nil {
		b = append(b, `,"completion_tokens_details":{"reasoning_tokens":`...)
		b = strconv.AppendInt(b, int64(d.ReasoningTokens), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}
