package anthropic

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// translateResponse turns a Messages answer into a chat.completion: text
// blocks joined into the content, tool_use blocks into tool calls (ids
// kept, input serialised compactly), thinking blocks into the
// non-standard reasoning_content. The id is Anthropic's msg_… id and the
// model the one Anthropic reports.
func (a *Adapter) translateResponse(m *messageResponse) *provider.ChatResponse {
	var (
		text, reasoning strings.Builder
		calls           []openaiwire.ToolCall
	)
	for _, b := range m.Content {
		switch b.Type {
		case blockText:
			text.WriteString(b.Text)
		case blockThinking:
			reasoning.WriteString(b.Thinking)
		case blockToolUse:
			calls = append(calls, openaiwire.ToolCall{
				ID:       b.ID,
				Type:     "function",
				Function: openaiwire.FunctionCall{Name: b.Name, Arguments: compactArguments(b.Input)},
			})
		}
	}
	msg := openaiwire.ResponseMessage{Role: "assistant", ToolCalls: calls, ReasoningContent: reasoning.String()}
	if text.Len() > 0 || len(calls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	u := convertUsage(m.Usage)
	cc := openaiwire.ChatCompletion{
		ID:      m.ID,
		Created: a.now().Unix(),
		Model:   m.Model,
		Choices: []openaiwire.Choice{{Message: msg, FinishReason: finishReason(m.StopReason)}},
		Usage:   openaiwire.NewUsage(u),
	}
	return &provider.ChatResponse{Body: cc.Marshal(), Model: m.Model, Usage: u}
}

// compactArguments serialises a tool_use input as OpenAI's arguments
// string: compact JSON, "{}" when there is none.
func compactArguments(input json.RawMessage) string {
	if len(input) == 0 || bytes.Equal(input, []byte("null")) {
		return "{}"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, input); err != nil {
		return string(input)
	}
	return b.String()
}

// convertUsage maps Anthropic's usage to OpenAI's terms: the prompt is the
// uncached input plus the cache reads and writes.
func convertUsage(u usage) provider.Usage {
	out := provider.Usage{
		PromptTokens:     u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		CompletionTokens: u.OutputTokens,
		CachedTokens:     u.CacheReadInputTokens,
		CacheWriteTokens: u.CacheCreationInputTokens,
	}
	if d := u.OutputTokensDetails; d != nil {
		out.ReasoningTokens = max(d.ThinkingTokens, d.ReasoningTokens)
	}
	out.TotalTokens = out.PromptTokens + out.CompletionTokens
	return out
}

// finishReason maps a stop_reason (mapping.md §2). pause_turn happens only
// with server tools, which the gateway does not use; an unknown reason is
// reported as a normal stop.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return openaiwire.FinishLength
	case "tool_use":
		return openaiwire.FinishToolCalls
	case "refusal":
		return openaiwire.FinishContentFilter
	}
	return openaiwire.FinishStop
}
