package bedrock

import "encoding/json"

// The Converse wire types: only the fields the adapter reads or writes.
// Field names follow the Bedrock Runtime API reference (restJson1, so
// lowerCamelCase members and base64 blobs).

// converseRequest is the body of Converse and ConverseStream.
type converseRequest struct {
	System          []systemBlock    `json:"system,omitempty"`
	Messages        []message        `json:"messages"`
	InferenceConfig *inferenceConfig `json:"inferenceConfig,omitempty"`
	ToolConfig      *toolConfig      `json:"toolConfig,omitempty"`
}

// systemBlock is one system prompt.
type systemBlock struct {
	Text string `json:"text"`
}

// message is one conversation turn; role is "user" or "assistant".
type message struct {
	Role    string         `json:"role"`
	Content []contentBlock `json:"content"`
}

// contentBlock is a union: exactly one member is set.
type contentBlock struct {
	Text             *string                `json:"text,omitempty"`
	Image            *imageBlock            `json:"image,omitempty"`
	Document         *documentBlock         `json:"document,omitempty"`
	ToolUse          *toolUseBlock          `json:"toolUse,omitempty"`
	ToolResult       *toolResultBlock       `json:"toolResult,omitempty"`
	ReasoningContent *reasoningContentBlock `json:"reasoningContent,omitempty"`
}

// imageBlock is an inline image; format is png, jpeg, gif or webp.
type imageBlock struct {
	Format string      `json:"format"`
	Source bytesSource `json:"source"`
}

// documentBlock is an inline document (pdf, csv, doc, docx, xls, xlsx,
// html, txt, md) with a name the model may see.
type documentBlock struct {
	Format string      `json:"format"`
	Name   string      `json:"name"`
	Source bytesSource `json:"source"`
}

// bytesSource carries base64 data (a blob in the JSON protocol).
type bytesSource struct {
	Bytes string `json:"bytes"`
}

// toolUseBlock is a tool call by the assistant; input is a JSON object.
type toolUseBlock struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

// toolResultBlock answers a toolUse by id.
type toolResultBlock struct {
	ToolUseID string              `json:"toolUseId"`
	Content   []toolResultContent `json:"content"`
	Status    string              `json:"status,omitempty"`
}

// toolResultContent is a union: a JSON object or text.
type toolResultContent struct {
	JSON json.RawMessage `json:"json,omitempty"`
	Text *string         `json:"text,omitempty"`
}

// reasoningContentBlock is a model's reasoning: text with a signature, or
// redacted (encrypted) content.
type reasoningContentBlock struct {
	ReasoningText   *reasoningText `json:"reasoningText,omitempty"`
	RedactedContent string         `json:"redactedContent,omitempty"`
}

// reasoningText is readable reasoning.
type reasoningText struct {
	Text      string `json:"text"`
	Signature string `json:"signature,omitempty"`
}

// inferenceConfig holds the sampling controls every model accepts.
type inferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

// toolConfig offers tools and says how the model may use them.
type toolConfig struct {
	Tools      []tool      `json:"tools"`
	ToolChoice *toolChoice `json:"toolChoice,omitempty"`
}

// tool is a union; only toolSpec is used.
type tool struct {
	ToolSpec toolSpec `json:"toolSpec"`
}

// toolSpec describes a function tool.
type toolSpec struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	InputSchema inputSchema `json:"inputSchema"`
}

// inputSchema wraps the JSON Schema of a tool's input.
type inputSchema struct {
	JSON json.RawMessage `json:"json"`
}

// toolChoice is a union: auto, any (some tool) or tool (that one).
type toolChoice struct {
	Auto *struct{}  `json:"auto,omitempty"`
	Any  *struct{}  `json:"any,omitempty"`
	Tool *namedTool `json:"tool,omitempty"`
}

// namedTool names the tool the model must call.
type namedTool struct {
	Name string `json:"name"`
}

// converseResponse is the answer of Converse.
type converseResponse struct {
	Output struct {
		Message *message `json:"message"`
	} `json:"output"`
	StopReason string      `json:"stopReason"`
	Usage      *tokenUsage `json:"usage"`
}

// tokenUsage is Bedrock's token count. inputTokens excludes the cache
// reads and writes, as Anthropic's does.
type tokenUsage struct {
	InputTokens           int `json:"inputTokens"`
	OutputTokens          int `json:"outputTokens"`
	TotalTokens           int `json:"totalTokens"`
	CacheReadInputTokens  int `json:"cacheReadInputTokens"`
	CacheWriteInputTokens int `json:"cacheWriteInputTokens"`
}

// streamEvent is the payload of any ConverseStream event; which members
// are set depends on the :event-type header.
type streamEvent struct {
	// messageStart
	Role string `json:"role"`
	// contentBlockStart, contentBlockDelta, contentBlockStop
	ContentBlockIndex int `json:"contentBlockIndex"`
	Start             struct {
		ToolUse *struct {
			ToolUseID string `json:"toolUseId"`
			Name      string `json:"name"`
		} `json:"toolUse"`
	} `json:"start"`
	Delta struct {
		Text    *string `json:"text"`
		ToolUse *struct {
			Input string `json:"input"`
		} `json:"toolUse"`
		ReasoningContent *struct {
			Text string `json:"text"`
		} `json:"reasoningContent"`
	} `json:"delta"`
	// messageStop
	StopReason string `json:"stopReason"`
	// metadata
	Usage *tokenUsage `json:"usage"`
}

// errorBody is an AWS JSON error: {"message": …}, sometimes "Message",
// with the type in the x-amzn-ErrorType header or in "__type" / "code".
type errorBody struct {
	Message      string `json:"message"`
	MessageUpper string `json:"Message"`
	Type         string `json:"__type"`
	Code         string `json:"code"`
}

// titanRequest is the InvokeModel body of Amazon Titan text embeddings.
type titanRequest struct {
	InputText  string `json:"inputText"`
	Dimensions *int   `json:"dimensions,omitempty"`
}

// titanResponse is Titan's embedding answer.
type titanResponse struct {
	Embedding           []float64 `json:"embedding"`
	InputTextTokenCount int       `json:"inputTextTokenCount"`
}
