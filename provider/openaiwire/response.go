package openaiwire

import (
	"crypto/rand"
	"encoding/json"

	"github.com/tollgate-gw/tollgate/provider"
)

// The finish reasons the gateway emits; no others reach a client.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)

// ChatCompletion is a whole, non-streaming answer.
type ChatCompletion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []Choice `json:"choices"`
	Usage             *Usage   `json:"usage,omitempty"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
}

// Choice is one choice of an answer; its logprobs are always null.
type Choice struct {
	Index        int             `json:"index"`
	Message      ResponseMessage `json:"message"`
	Logprobs     *struct{}       `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

// ResponseMessage is the assistant's message. Content is null when the
// answer is only tool calls; ReasoningContent carries a provider's
// reasoning text (DeepSeek's field name), omitted when empty.
type ResponseMessage struct {
	Role             string     `json:"role"`
	Content          *string    `json:"content"`
	Refusal          *string    `json:"refusal"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
}

// Marshal encodes the answer; Object defaults to "chat.completion" and a
// message role to "assistant".
func (c *ChatCompletion) Marshal() []byte {
	if c.Object == "" {
		c.Object = "chat.completion"
	}
	if c.Choices == nil {
		c.Choices = []Choice{}
	}
	for i := range c.Choices {
		if c.Choices[i].Message.Role == "" {
			c.Choices[i].Message.Role = "assistant"
		}
	}
	b, err := json.Marshal(c)
	if err != nil { // only strings, numbers and raw JSON checked on the way in
		panic("openaiwire: marshal chat completion: " + err.Error())
	}
	return b
}

// Usage is OpenAI's usage object.
type Usage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails break the prompt tokens down.
type PromptTokensDetails struct {
	CachedTokens     int `json:"cached_tokens"`
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
}

// CompletionTokensDetails break the completion tokens down.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// NewUsage converts provider usage to OpenAI's object; the details are set
// when they are not zero.
func NewUsage(u provider.Usage) *Usage {
	out := &Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
	if out.TotalTokens == 0 {
		out.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	if u.CachedTokens != 0 || u.CacheWriteTokens != 0 {
		out.PromptTokensDetails = &PromptTokensDetails{CachedTokens: u.CachedTokens, CacheWriteTokens: u.CacheWriteTokens}
	}
	if u.ReasoningTokens != 0 {
		out.CompletionTokensDetails = &CompletionTokensDetails{ReasoningTokens: u.ReasoningTokens}
	}
	return out
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// NewID returns prefix followed by 24 random letters and digits, for
// answer ids ("chatcmpl-") and tool-call ids ("call_").
func NewID(prefix string) string {
	var raw [24]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails
	b := make([]byte, len(prefix), len(prefix)+len(raw))
	copy(b, prefix)
	for _, r := range raw {
		b = append(b, idAlphabet[int(r)%len(idAlphabet)])
	}
	return string(b)
}
