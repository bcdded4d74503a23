// Package openai is the adapter for OpenAI and every server that speaks the
// OpenAI Chat Completions API by base URL: vLLM, llama.cpp server, Ollama's
// /v1, Groq, Mistral, DeepSeek, OpenRouter and others.
//
// The client's JSON is forwarded as it came, with minimal edits: the model
// is replaced by the upstream model, streams always ask for the usage chunk
// (so metering cannot be bypassed), and per-server renames are applied
// (Ollama reads max_tokens, not max_completion_tokens). Fields the gateway
// does not interpret survive the round trip unchanged. Answers are
// forwarded as the upstream sent them; the adapter only reads the usage
// and the model out of them.
//
// NewWithOptions adapts the adapter to a service that speaks this wire
// format with differences in its URLs, credential header, accepted fields
// or error wording; provider/azure is built on it.
package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/tollgate-gw/tollgate/provider"
)

// maxResponseBytes bounds a non-streaming answer read into memory.
const maxResponseBytes = 64 << 20

// maxErrorBytes bounds an error body read from an upstream.
const maxErrorBytes = 1 << 20

// Adapter talks to one OpenAI-compatible upstream. It is safe for
// concurrent use.
type Adapter struct {
	name          string
	chatURL       string
	embeddingsURL string
	// authHeader (canonical) carries auth, the credential.
	authHeader string
	auth       string
	headers    [][2]string
	transport  http.RoundTripper
	tokens     provider.TokenCounter
	// readers recycles SSE readers (and their buffers) across streams.
	readers sync.Pool
	// maxTokensOnly renames max_completion_tokens to max_tokens for
	// servers that read only the latter (Ollama).
	maxTokensOnly bool
	// chatURLFor, embeddingsURLFor, editHook and classify are the
	// caller's Options, nil when not set.
	chatURLFor       func(model string) string
	embeddingsURLFor func(model string) string
	editHook         func(req *provider.ChatRequest, body []byte, stream bool) ([]byte, error)
	classify         func(e ErrorInfo, kind provider.Kind) (provider.Kind, time.Duration)
}

var (
	_ provider.Adapter  = (*Adapter)(nil)
	_ provider.Embedder = (*Adapter)(nil)
)

// Default base URLs by provider type.
const (
	DefaultBaseURL       = "https://api.openai.com/v1"
	DefaultOllamaBaseURL = "http://localhost:11434/v1"
)

// New builds an adapter for a provider of type openai, openai-compatible or
// ollama. It is a provider.Factory.
func New(cfg provider.Config, deps provider.Deps) (provider.Adapter, error) {
	a, err := NewWithOptions(cfg, deps, Options{})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// NewWithOptions builds an adapter as New does, adapted by o to a service
// that speaks OpenAI's wire format with differences (Azure OpenAI).
func NewWithOptions(cfg provider.Config, deps provider.Deps, o Options) (*Adapter, error) {
	base := cfg.BaseURL
	if base == "" {
		switch cfg.Type {
		case "ollama":
			base = DefaultOllamaBaseURL
		case "openai", "":
			base = DefaultBaseURL
		default:
			return nil, fmt.Errorf("openai: provider %q: base_url is required", cfg.Name)
		}
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: provider %q: base_url must be an absolute http(s) URL", cfg.Name)
	}
	base = strings.TrimRight(base, "/")
	if deps.HTTPClient == nil {
		return nil, fmt.Errorf("openai: provider %q: no HTTP client", cfg.Name)
	}
	if deps.Tokens == nil {
		return nil, fmt.Errorf("openai: provider %q: no token counter", cfg.Name)
	}
	a := &Adapter{
		name:          cfg.Name,
		chatURL:       base + "/chat/completions",
		embeddingsURL: base + "/embeddings",
		transport:     deps.HTTPClient.Transport,
		tokens:        deps.Tokens,
		maxTokensOnly: cfg.Type == "ollama",

		authHeader:       "Authorization",
		chatURLFor:       o.ChatURL,
		embeddingsURLFor: o.EmbeddingsURL,
		editHook:         o.EditChat,
		classify:         o.Classify,
	}
	if a.transport == nil {
		a.transport = http.DefaultTransport
	}
	switch {
	case cfg.APIKey == "":
	case o.AuthHeader != "":
		a.authHeader = http.CanonicalHeaderKey(o.AuthHeader)
		a.auth = cfg.APIKey
	default:
		a.auth = "Bearer " + cfg.APIKey
	}
	for k, v := range cfg.Headers {
		a.headers = append(a.headers, [2]string{http.CanonicalHeaderKey(k), v})
	}
	return a, nil
}

// ChatCompletion implements provider.Adapter.
func (a *Adapter) ChatCompletion(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	body, err := a.editChat(req, false)
	if err != nil {
		return nil, err
	}
	data, header, err := a.postJSON(ctx, a.chatURLOf(req.Model), body)
	if err != nil {
		return nil, err
	}
	// data is never modified after this point, so views into it are safe.
	f := gjson.GetMany(view(data), "choices", "error", "model", "usage")
	if !f[0].Exists() && f[1].Exists() {
		// Some servers (OpenRouter) report failures inside a 200.
		return nil, a.bodyError(http.StatusBadGateway, header, f[1])
	}
	out := &provider.ChatResponse{Body: data, Model: f[2].String()}
	if u, ok := parseUsage(f[3]); ok {
		out.Usage = u
	} else {
		out.Usage = a.estimate(req.Model, req.Body, completionText(f[0]))
	}
	return out, nil
}

// ChatCompletionStream implements provider.Adapter.
func (a *Adapter) ChatCompletionStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	body, err := a.editChat(req, true)
	if err != nil {
		return nil, err
	}
	resp, err := a.post(ctx, a.chatURLOf(req.Model), body, true)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := readBody(resp, maxErrorBytes)
		return nil, a.statusError(resp, data)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		// A JSON answer to a stream request is an error report.
		defer resp.Body.Close()
		data, _ := readBody(resp, maxErrorBytes)
		return nil, a.statusError(resp, data)
	}
	return newStream(a, req, resp), nil
}

// Embeddings implements provider.Embedder.
func (a *Adapter) Embeddings(ctx context.Context, req *provider.EmbeddingsRequest) (*provider.EmbeddingsResponse, error) {
	body, err := sjson.SetBytes(req.Body, "model", req.Model)
	if err != nil {
		return nil, fmt.Errorf("openai: set model: %w", err)
	}
	u := a.embeddingsURL
	if a.embeddingsURLFor != nil {
		u = a.embeddingsURLFor(req.Model)
	}
	data, _, err := a.postJSON(ctx, u, body)
	if err != nil {
		return nil, err
	}
	f := gjson.GetMany(view(data), "model", "usage.prompt_tokens", "usage.total_tokens")
	p := int(f[1].Int())
	return &provider.EmbeddingsResponse{
		Body:  data,
		Model: f[0].String(),
		Usage: provider.Usage{PromptTokens: p, TotalTokens: max(p, int(f[2].Int()))},
	}, nil
}

// editChat copies the client's body with the upstream model, the usage
// chunk requested for streams, and the server's renames.
func (a *Adapter) editChat(req *provider.ChatRequest, stream bool) ([]byte, error) {
	body, err := sjson.SetBytes(req.Body, "model", req.Model)
	if err != nil {
		return nil, fmt.Errorf("openai: set model: %w", err)
	}
	if stream && !gjson.Get(view(body), "stream_options.include_usage").Bool() {
		if body, err = sjson.SetRawBytes(body, "stream_options.include_usage", []byte("true")); err != nil {
			return nil, fmt.Errorf("openai: set stream_options: %w", err)
		}
	}
	if a.maxTokensOnly {
		f := gjson.GetMany(view(body), "max_completion_tokens", "max_tokens")
		if f[0].Exists() {
			if !f[1].Exists() {
				if body, err = sjson.SetRawBytes(body, "max_tokens", []byte(f[0].Raw)); err != nil {
					return nil, fmt.Errorf("openai: set max_tokens: %w", err)
				}
			}
			if body, err = sjson.DeleteBytes(body, "max_completion_tokens"); err != nil {
				return nil, fmt.Errorf("openai: delete max_completion_tokens: %w", err)
			}
		}
	}
	if a.editHook != nil {
		return a.editHook(req, body, stream)
	}
	return body, nil
}

// chatURLOf returns the chat completions URL for an upstream model.
func (a *Adapter) chatURLOf(model string) string {
	if a.chatURLFor != nil {
		return a.chatURLFor(model)
	}
	return a.chatURL
}

// postJSON sends a non-streaming request and returns the body of a 200
// answer that is valid JSON, with its header; any other answer is an error.
func (a *Adapter) postJSON(ctx context.Context, u string, body []byte) ([]byte, http.Header, error) {
	resp, err := a.post(ctx, u, body, false)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := readBody(resp, maxResponseBytes)
	if err != nil {
		return nil, nil, a.transportError(ctx, "read response", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, a.statusError(resp, data)
	}
	if !gjson.ValidBytes(data) {
		return nil, nil, provider.Errorf(a.name, provider.KindServer, "provider %q sent an answer that is not JSON", a.name)
	}
	return data, resp.Header, nil
}

// post sends body to u and returns the response, whatever its status.
func (a *Adapter) post(ctx context.Context, u string, body []byte, stream bool) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("openai: build request: %w", err)
	}
	h := hreq.Header
	h["Content-Type"] = []string{"application/json"}
	if stream {
		h["Accept"] = []string{"text/event-stream"}
	} else {
		h["Accept"] = []string{"application/json"}
	}
	if a.auth != "" {
		h[a.authHeader] = []string{a.auth}
	}
	for _, kv := range a.headers {
		h.Set(kv[0], kv[1])
	}
	// The transport is called directly: an API POST must not follow
	// redirects, and http.Client's redirect bookkeeping copies every
	// request's headers.
	resp, err := a.transport.RoundTrip(hreq)
	if err != nil {
		return nil, a.transportError(ctx, "send request", err)
	}
	return resp, nil
}

// transportError classifies a failure to talk to the upstream. A cancelled
// context is returned as is: the caller knows whether it was the client or
// its own deadline.
func (a *Adapter) transportError(ctx context.Context, op string, err error) error {
	return provider.TransportError(ctx, a.name, "openai", op, err)
}

// estimate counts usage locally for an upstream that reported none.
func (a *Adapter) estimate(model string, reqBody []byte, completion string) provider.Usage {
	p := a.tokens.CountChat(model, reqBody)
	c := 0
	if completion != "" {
		c = a.tokens.CountText(model, completion)
	}
	return provider.Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c, Estimated: true}
}

// readBody reads a response body of at most limit bytes.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	b, err := provider.ReadAll(resp.Body, resp.ContentLength, limit)
	if errors.Is(err, provider.ErrTooLarge) {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return b, err
}
