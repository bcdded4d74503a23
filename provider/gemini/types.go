package gemini

import "encoding/json"

// The Gemini API's wire types (generateContent, streamGenerateContent,
// batchEmbedContents and the Google RPC error envelope), as far as the
// gateway reads or writes them. Field names are the lowerCamelCase JSON
// names the API documents; requests are always sent in that casing.

// generateRequest is the body of generateContent and streamGenerateContent.
type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Tools             []tool            `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
}

// content is one turn: role "user" or "model" and its parts. The system
// instruction is a content without a role.
type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

// part holds exactly one data member (text, inline data, a function call
// or a function response) plus optional metadata. Text is a pointer so
// that an empty text part (Gemini's last stream event often has one) is
// told apart from a part without text.
type part struct {
	Text             *string           `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
}

// blob is inline media: a MIME type and base64 data.
type blob struct {
	MIMEType string `json:"mimeType"`
	Data     string `json:"data"`
}

// functionCall is the model's call of a declared function; Args is a JSON
// object.
type functionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// functionResponse is a function's result sent back to the model;
// Response is a JSON object.
type functionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

// tool groups the function declarations.
type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
}

// functionDeclaration declares one function. ParametersJSONSchema takes
// plain JSON Schema, as OpenAI's parameters are.
type functionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

// toolConfig configures function calling.
type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

// functionCallingConfig's Mode is AUTO, ANY or NONE; AllowedFunctionNames
// restricts ANY to the named functions.
type functionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

// generationConfig holds the sampling and output options.
type generationConfig struct {
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	CandidateCount     *int            `json:"candidateCount,omitempty"`
	MaxOutputTokens    *int            `json:"maxOutputTokens,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
	Seed               *int32          `json:"seed,omitempty"`
	ResponseMIMEType   string          `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ResponseLogprobs   bool            `json:"responseLogprobs,omitempty"`
	Logprobs           *int            `json:"logprobs,omitempty"`
	ThinkingConfig     *thinkingConfig `json:"thinkingConfig,omitempty"`
}

// thinkingConfig sets a thinking budget (Gemini 2.5) or level (Gemini 3).
type thinkingConfig struct {
	ThinkingBudget *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel  string `json:"thinkingLevel,omitempty"`
}

// generateResponse is a generateContent answer, or one event of a stream.
// Error is set when a stream reports a failure in an event.
type generateResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
	Error          *rpcError       `json:"error"`
}

// candidate is one generated answer.
type candidate struct {
	Content        content         `json:"content"`
	FinishReason   string          `json:"finishReason"`
	Index          int             `json:"index"`
	LogprobsResult *logprobsResult `json:"logprobsResult"`
}

// promptFeedback reports a blocked prompt.
type promptFeedback struct {
	BlockReason string `json:"blockReason"`
}

// usageMetadata counts tokens; in a stream every event carries the
// cumulative figures.
type usageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
}

// logprobsResult holds the log probabilities of the chosen tokens and,
// position by position, of the top candidates.
type logprobsResult struct {
	TopCandidates    []topCandidates `json:"topCandidates"`
	ChosenCandidates []logprobsEntry `json:"chosenCandidates"`
}

// topCandidates are the most likely tokens at one position.
type topCandidates struct {
	Candidates []logprobsEntry `json:"candidates"`
}

// logprobsEntry is one token and its log probability.
type logprobsEntry struct {
	Token          string  `json:"token"`
	LogProbability float64 `json:"logProbability"`
}

// errorEnvelope is the Google RPC error body.
type errorEnvelope struct {
	Error *rpcError `json:"error"`
}

// rpcError is a google.rpc.Status.
type rpcError struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Status  string        `json:"status"`
	Details []errorDetail `json:"details"`
}

// errorDetail is one typed detail of an rpcError: ErrorInfo (Reason),
// RetryInfo (RetryDelay) or QuotaFailure (Violations).
type errorDetail struct {
	Type       string           `json:"@type"`
	Reason     string           `json:"reason"`
	RetryDelay string           `json:"retryDelay"`
	Violations []quotaViolation `json:"violations"`
}

// quotaViolation names the quota a request exceeded.
type quotaViolation struct {
	QuotaMetric string `json:"quotaMetric"`
	QuotaID     string `json:"quotaId"`
}

// embedRequest is one input of batchEmbedContents.
type embedRequest struct {
	Model                string  `json:"model"`
	Content              content `json:"content"`
	OutputDimensionality *int    `json:"outputDimensionality,omitempty"`
}

// batchEmbedRequest is the body of batchEmbedContents.
type batchEmbedRequest struct {
	Requests []embedRequest `json:"requests"`
}

// batchEmbedResponse holds one embedding per request, in order.
type batchEmbedResponse struct {
	Embeddings []struct {
		Values []float64 `json:"values"`
	} `json:"embeddings"`
}
