package anthropic

import (
	"encoding/json"
)

// This file holds the Anthropic Messages API wire types the adapter sends
// and reads. Stream events are read field by field with gjson (stream.go)
// and have no types here.

// messagesRequest is the body of POST /v1/messages.
type messagesRequest struct {
	Model         string        `json:"model"`
	MaxTokens     int           `json:"max_tokens"`
	System        []block       `json:"system,omitempty"`
	Messages      []message     `json:"messages"`
	Temperature   *float64      `json:"temperature,omitempty"`
	TopP          *float64      `json:"top_p,omitempty"`
	StopSequences []string      `json:"stop_sequences,omitempty"`
	Stream        bool          `json:"stream,omitempty"`
	Tools         []tool        `json:"tools,omitempty"`
	ToolChoice    *toolChoice   `json:"tool_choice,omitempty"`
	Metadata      *metadata     `json:"metadata,omitempty"`
	Thinking      *thinking     `json:"thinking,omitempty"`
	OutputConfig  *outputConfig `json:"output_config,omitempty"`
}

// message is one turn of the conversation.
type message struct {
	Role    string
	Content []block
}

// MarshalJSON writes a turn made of a single text block in the string
// shorthand, and any other turn as an array of blocks.
func (m message) MarshalJSON() ([]byte, error) {
	type wire struct {
		Role    string `json:"role"`
		Content any    `json:"content"`
	}
	w := wire{Role: m.Role, Content: m.Content}
	if len(m.Content) == 1 && m.Content[0].Type == blockText {
		w.Content = m.Content[0].Text
	}
	return json.Marshal(w)
}

// Content block types.
const (
	blockText       = "text"
	blockImage      = "image"
	blockDocument   = "document"
	blockToolUse    = "tool_use"
	blockToolResult = "tool_result"
	blockThinking   = "thinking"
)

// block is a request content block. Only the fields of its Type are set;
// text blocks are never empty (Anthropic rejects empty text blocks).
type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *source         `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   string          `json:"content,omitempty"`
}

// source is an image or document source: inline base64 data or a URL
// that Anthropic fetches.
type source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// tool is a client tool definition.
type tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
	Strict      *bool           `json:"strict,omitempty"`
}

// toolChoice is auto, any, tool (with Name) or none.
type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// metadata carries the opaque end-user id.
type metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// thinking enables extended thinking with a token budget.
type thinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
}

// outputConfig carries structured output.
type outputConfig struct {
	Format *outputFormat `json:"format,omitempty"`
}

// outputFormat is a JSON Schema the answer must satisfy.
type outputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

// messageResponse is a non-streaming answer, or an error body (Type
// "error").
type messageResponse struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Model      string          `json:"model"`
	Content    []responseBlock `json:"content"`
	StopReason string          `json:"stop_reason"`
	Usage      usage           `json:"usage"`
	Error      *apiError       `json:"error"`
}

// responseBlock is an output content block. Block types the adapter does
// not translate (redacted thinking, server tools) are skipped.
type responseBlock struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Input    json.RawMessage `json:"input"`
	Thinking string          `json:"thinking"`
}

// usage is Anthropic's token usage; input_tokens counts only the
// uncached part of the prompt.
type usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	// OutputTokensDetails is sent by newer API versions only; the field
	// name of the thinking count is not in our primary sources, so both
	// names seen in the wild are read.
	OutputTokensDetails *outputTokensDetails `json:"output_tokens_details"`
}

// outputTokensDetails breaks the output tokens down.
type outputTokensDetails struct {
	ThinkingTokens  int `json:"thinking_tokens"`
	ReasoningTokens int `json:"reasoning_tokens"`
}

// errorBody is Anthropic's error envelope.
type errorBody struct {
	Type  string    `json:"type"`
	Error *apiError `json:"error"`
}

// apiError is the error object of an error body or a stream error event.
type apiError struct {
	Type    string        `json:"type"`
	Message string        `json:"message"`
	Details *errorDetails `json:"details"`
}

// errorDetails refine an error; a 429 with error_code
// enforced_spend_limit_reached is a spend cap, not a rate limit.
type errorDetails struct {
	ErrorCode string `json:"error_code"`
}
