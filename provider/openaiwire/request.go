// Package openaiwire is the OpenAI Chat Completions wire format as the
// translating adapters (Anthropic, Gemini, Bedrock, …) need it: the
// client's request decoded into types, and the answers encoded back —
// whole chat.completion objects and the chat.completion.chunk objects of a
// stream.
//
// OpenAI-compatible upstreams never go through here: they get the client's
// JSON as it came (provider/openai). Decoding happens only where a request
// must be translated.
package openaiwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate-gw/tollgate/provider"
)

// ChatRequest is a client's chat completion request.
type ChatRequest struct {
	Model               string             `json:"model"`
	Messages            []Message          `json:"messages"`
	Stream              bool               `json:"stream,omitempty"`
	StreamOptions       *StreamOptions     `json:"stream_options,omitempty"`
	MaxTokens           *int               `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int               `json:"max_completion_tokens,omitempty"`
	Temperature         *float64           `json:"temperature,omitempty"`
	TopP                *float64           `json:"top_p,omitempty"`
	N                   *int               `json:"n,omitempty"`
	Stop                Stop               `json:"stop,omitempty"`
	Seed                *int64             `json:"seed,omitempty"`
	PresencePenalty     *float64           `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64           `json:"frequency_penalty,omitempty"`
	LogitBias           map[string]float64 `json:"logit_bias,omitempty"`
	Logprobs            *bool              `json:"logprobs,omitempty"`
	TopLogprobs         *int               `json:"top_logprobs,omitempty"`
	ResponseFormat      *ResponseFormat    `json:"response_format,omitempty"`
	Tools               []Tool             `json:"tools,omitempty"`
	ToolChoice          *ToolChoice        `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool              `json:"parallel_tool_calls,omitempty"`
	User                string             `json:"user,omitempty"`
	SafetyIdentifier    string             `json:"safety_identifier,omitempty"`
	ReasoningEffort     string             `json:"reasoning_effort,omitempty"`
	ServiceTier         string             `json:"service_tier,omitempty"`

	// OpenAI-only fields, kept raw so that adapters can refuse them when
	// present.
	Audio            json.RawMessage `json:"audio,omitempty"`
	Prediction       json.RawMessage `json:"prediction,omitempty"`
	WebSearchOptions json.RawMessage `json:"web_search_options,omitempty"`
	Modalities       json.RawMessage `json:"modalities,omitempty"`
	Functions        json.RawMessage `json:"functions,omitempty"`
	FunctionCall     json.RawMessage `json:"function_call,omitempty"`
}

// DecodeChatRequest decodes a client's request body, which the gateway has
// already validated.
func DecodeChatRequest(body []byte) (*ChatRequest, error) {
	var r ChatRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("openaiwire: decode chat request: %w", err)
	}
	return &r, nil
}

// MaxOutputTokens returns max_completion_tokens, else max_tokens, and
// whether either was set.
func (r *ChatRequest) MaxOutputTokens() (int, bool) {
	if r.MaxCompletionTokens != nil {
		return *r.MaxCompletionTokens, true
	}
	if r.MaxTokens != nil {
		return *r.MaxTokens, true
	}
	return 0, false
}

// EndUser returns safety_identifier, else the deprecated user.
func (r *ChatRequest) EndUser() string {
	if r.SafetyIdentifier != "" {
		return r.SafetyIdentifier
	}
	return r.User
}

// StreamOptions are the client's stream options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Stop is OpenAI's stop: a string, an array of strings, or null.
type Stop []string

// UnmarshalJSON accepts a string, an array of strings, or null.
func (s *Stop) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	*s = many
	return nil
}

// Message is one message of the conversation.
type Message struct {
	Role       string     `json:"role"`
	Content    Content    `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Refusal    string     `json:"refusal,omitempty"`
}

// Content is a message's content: a string (Text) or an array of parts
// (Parts, with IsParts set). Null or absent content is the zero value.
type Content struct {
	Text    string
	Parts   []Part
	IsParts bool
}

// UnmarshalJSON accepts a string, an array of parts, or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	*c = Content{}
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		return json.Unmarshal(b, &c.Text)
	}
	c.IsParts = true
	if err := json.Unmarshal(b, &c.Parts); err != nil {
		return fmt.Errorf("content: %w", err)
	}
	return nil
}

// MarshalJSON writes the string or the parts; empty non-part content is
// null.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.IsParts {
		return json.Marshal(c.Parts)
	}
	if c.Text == "" {
		return []byte("null"), nil
	}
	return json.Marshal(c.Text)
}

// PlainText returns the text: Text, or the text parts joined with "\n".
func (c Content) PlainText() string {
	if !c.IsParts {
		return c.Text
	}
	var texts []string
	for _, p := range c.Parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n")
}

// Part is one content part.
type Part struct {
	Type       string      `json:"type"`
	Text       string      `json:"text,omitempty"`
	ImageURL   *ImageURL   `json:"image_url,omitempty"`
	InputAudio *InputAudio `json:"input_audio,omitempty"`
	File       *File       `json:"file,omitempty"`
	Refusal    string      `json:"refusal,omitempty"`
}

// ImageURL is an image part's image: an http(s) URL or a data URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// InputAudio is base64 audio.
type InputAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"`
}

// File is an uploaded file or inline file data.
type File struct {
	FileID   string `json:"file_id,omitempty"`
	Filename string `json:"filename,omitempty"`
	FileData string `json:"file_data,omitempty"`
}

// ParseDataURL splits a base64 data URL ("data:image/png;base64,AAA") into
// its media type and base64 payload. It reports false for anything else.
func ParseDataURL(u string) (mediaType, base64Data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	mediaType, enc, found := strings.Cut(meta, ";")
	if !found || !strings.EqualFold(enc, "base64") {
		return "", "", false
	}
	return mediaType, data, true
}

// Tool is a tool the model may call.
type Tool struct {
	Type     string      `json:"type"`
	Function FunctionDef `json:"function"`
}

// FunctionDef describes a function tool.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolCall is a call of a function tool, in an assistant message or a
// stream delta.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall is a tool call's function and its JSON-encoded arguments.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ParseArguments turns OpenAI's arguments string into the JSON object the
// other providers want. An empty string is an empty object; anything but a
// JSON object is an error.
func ParseArguments(s string) (json.RawMessage, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return json.RawMessage("{}"), nil
	}
	if t[0] != '{' || !json.Valid([]byte(t)) {
		return nil, errors.New("tool call arguments must be a JSON object")
	}
	return json.RawMessage(t), nil
}

// ToolChoice is OpenAI's tool_choice: Mode is "none", "auto", "required",
// "function" (Function names the forced function) or "allowed_tools".
type ToolChoice struct {
	Mode     string
	Function string
}

// UnmarshalJSON accepts the string forms and the object forms.
func (tc *ToolChoice) UnmarshalJSON(b []byte) error {
	*tc = ToolChoice{}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &tc.Mode)
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("tool_choice: %w", err)
	}
	tc.Mode, tc.Function = obj.Type, obj.Function.Name
	return nil
}

// ResponseFormat is the requested output format: Type is "text",
// "json_object" or "json_schema".
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is a json_schema response format.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Unsupported is the error for a request field that would change the
// answer but the provider cannot honour: a 400 invalid_request_error that
// names the parameter, returned before anything is sent upstream.
func Unsupported(providerName, param, format string, args ...any) *provider.Error {
	return &provider.Error{
		Provider: providerName,
		Kind:     provider.KindInvalidRequest,
		Status:   400,
		Type:     "invalid_request_error",
		Code:     "unsupported_parameter",
		Param:    param,
		Message:  fmt.Sprintf(format, args...),
	}
}
