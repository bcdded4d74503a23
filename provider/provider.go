// Package provider defines the contract between the gateway core and the
// upstream LLM providers: the Adapter interface every provider implements,
// the request and response types that cross it, token usage, and the typed
// Error that carries an upstream failure to the one place that writes the
// client's error envelope.
//
// Adapters speak OpenAI Chat Completions on the gateway side: they take the
// client's validated OpenAI JSON and return OpenAI JSON (a chat.completion
// or a sequence of chat.completion.chunk objects), translating to and from
// the provider's own wire format in between. Nothing here knows about HTTP
// frameworks; adapters use net/http only to reach their upstream.
package provider

import (
	"context"
	"net/http"
	"time"
)

// Adapter is one configured upstream provider. Implementations must be safe
// for concurrent use by many requests.
type Adapter interface {
	// ChatCompletion sends a non-streaming request and returns the whole
	// answer. A failure is returned as *Error where the cause is known.
	ChatCompletion(ctx context.Context, req *ChatRequest) (*ChatResponse, error)
	// ChatCompletionStream starts a streaming request. It returns once the
	// upstream has accepted the request (status and headers received), so
	// that an upstream refusal is still an ordinary error response; the
	// chunks are then read with Stream.Next. Cancelling ctx aborts the
	// upstream request and makes Next return an error.
	ChatCompletionStream(ctx context.Context, req *ChatRequest) (Stream, error)
}

// Embedder is implemented by adapters whose provider offers embeddings.
type Embedder interface {
	Embeddings(ctx context.Context, req *EmbeddingsRequest) (*EmbeddingsResponse, error)
}

// ModelLister is implemented by adapters that know their models without a
// network call (the mock provider). The gateway lists them as
// "provider/model" in GET /v1/models.
type ModelLister interface {
	Models() []string
}

// ChatRequest is one chat completion call routed to one upstream target.
type ChatRequest struct {
	// Model is the upstream model name (for Azure, the deployment).
	Model string
	// Body is the client's request body: valid JSON, already checked by the
	// gateway, still carrying the client's public model name. Adapters must
	// not modify it in place (it may be retried on another target); OpenAI
	// compatible adapters copy it with minimal edits, translating adapters
	// decode it.
	Body []byte
	// Stream reports whether the client asked for a stream.
	Stream bool
	// IncludeUsage reports whether the client asked for the final usage
	// chunk (stream_options.include_usage). Adapters always obtain usage
	// for metering; this only says whether the client sees it.
	IncludeUsage bool
}

// ChatResponse is a complete, non-streaming answer.
type ChatResponse struct {
	// Body is the OpenAI chat.completion JSON to send to the client.
	Body []byte
	// Model is the model the upstream reports having used.
	Model string
	// Usage is the token usage of this answer.
	Usage Usage
}

// Stream yields the chat.completion.chunk objects of one streaming answer
// in order. A Stream lives for one request and is not safe for concurrent
// use.
type Stream interface {
	// Next returns the next chunk. It returns io.EOF after the last chunk
	// of a complete answer and another error (an *Error where the cause is
	// known) when the stream broke off. Chunk.Data is valid only until the
	// next call.
	Next() (Chunk, error)
	// Usage reports the token usage of what was streamed so far. After
	// io.EOF it is the upstream's exact figure where the upstream reported
	// one; after an error or cancellation, or when the upstream reported
	// none, it is counted locally and marked Estimated.
	Usage() Usage
	// Model is the model the upstream reports having used; it may be empty
	// until the first chunk was read.
	Model() string
	// Close releases the upstream connection. It is safe to call more than
	// once and after an error.
	Close() error
}

// Chunk is one streamed event.
type Chunk struct {
	// Data is the JSON of one chat.completion.chunk.
	Data []byte
	// UsageOnly marks the final usage chunk (empty choices, usage set). The
	// gateway forwards it only when the client asked for usage.
	UsageOnly bool
}

// Usage counts the tokens of one answer, in OpenAI's terms: PromptTokens
// includes CachedTokens and CacheWriteTokens; CompletionTokens includes
// ReasoningTokens.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	TotalTokens      int
	CachedTokens     int
	CacheWriteTokens int
	ReasoningTokens  int
	// Estimated is true when the figures were counted by the gateway
	// (tiktoken) because the upstream reported none or the stream broke off.
	Estimated bool
}

// EmbeddingsRequest is one embeddings call routed to one upstream target.
type EmbeddingsRequest struct {
	// Model is the upstream model name.
	Model string
	// Body is the client's validated OpenAI embeddings request body.
	Body []byte
}

// EmbeddingsResponse is an OpenAI embeddings list.
type EmbeddingsResponse struct {
	// Body is the OpenAI embeddings JSON to send to the client.
	Body []byte
	// Model is the model the upstream reports having used.
	Model string
	// Usage holds the prompt tokens; completion tokens are zero.
	Usage Usage
}

// Config is one entry of the config file's providers list, already
// validated and with ${VAR} references expanded.
type Config struct {
	// Name is unique; clients address it as "name/model".
	Name string
	// Type selects the adapter: openai, openai-compatible, ollama, azure,
	// anthropic, gemini, bedrock or mock.
	Type string
	// BaseURL is what the provider's own SDK takes as base URL.
	BaseURL string
	// APIKey is the provider credential. It must never be logged.
	APIKey string
	// Timeout bounds a whole non-streaming request and the idle time
	// between two stream chunks. Zero means the gateway default.
	Timeout time.Duration
	// Headers are extra headers sent upstream on every request.
	Headers map[string]string
	// APIVersion is Azure's api-version.
	APIVersion string
	// Region, AccessKeyID and SecretAccessKey are Bedrock's.
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// Mock holds the mock provider's knobs.
	Mock MockConfig
}

// MockConfig tunes the mock provider for demos, tests and benchmarks.
type MockConfig struct {
	// Latency is waited before the answer (or the first chunk) starts.
	Latency time.Duration
	// ChunkDelay is waited between two stream chunks.
	ChunkDelay time.Duration
	// Chunks is the number of content chunks a stream is split into;
	// zero means 4.
	Chunks int
	// FailEvery makes every Nth request fail with FailStatus; zero never.
	FailEvery int
	// FailStatus is the upstream status a failing request reports; zero
	// means 500.
	FailStatus int
}

// Deps are the shared services a Factory may hand to an adapter.
type Deps struct {
	// HTTPClient reaches the upstream. Adapters must not use
	// http.DefaultClient.
	HTTPClient *http.Client
	// Tokens counts tokens where the upstream reports none.
	Tokens TokenCounter
	// Images downloads images given by URL for providers that accept only
	// inline image data (Gemini, Bedrock).
	Images ImageFetcher
}

// ImageFetcher downloads an image a client referenced by URL. The
// gateway's implementation (provider/imagefetch) refuses private and
// loopback addresses, non-image content and oversized bodies.
type ImageFetcher interface {
	// FetchImage returns the image's media type (image/png, …) and bytes.
	FetchImage(ctx context.Context, url string) (mediaType string, data []byte, err error)
}

// TokenCounter counts tokens the way the upstream would, for estimates.
// Implementations must be safe for concurrent use.
type TokenCounter interface {
	// CountText returns the number of tokens of text for model.
	CountText(model, text string) int
	// CountChat returns the prompt tokens of an OpenAI chat request body
	// (messages plus the per-message overhead) for model.
	CountChat(model string, body []byte) int
}

// Factory builds an adapter from its configuration.
type Factory func(cfg Config, deps Deps) (Adapter, error)
