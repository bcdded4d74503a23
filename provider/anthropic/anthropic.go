package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/sse"
)

// DefaultBaseURL is Anthropic's API; like Anthropic's SDKs, the adapter
// appends /v1/messages to the configured base URL.
const DefaultBaseURL = "https://api.anthropic.com"

// APIVersion is the anthropic-version header every request carries; a
// configured header of the same name overrides it.
const APIVersion = "2023-06-01"

// maxResponseBytes bounds a non-streaming answer read into memory.
const maxResponseBytes = 64 << 20

// maxErrorBytes bounds an error body read from the upstream.
const maxErrorBytes = 1 << 20

// Adapter talks to the Anthropic Messages API. It is safe for concurrent
// use.
type Adapter struct {
	name      string
	url       string
	apiKey    string
	headers   [][2]string
	transport http.RoundTripper
	tokens    provider.TokenCounter
	// now is the clock for the created field and Retry-After dates.
	now func() time.Time
	// readers recycles SSE readers (and their buffers) across streams.
	readers sync.Pool
}

var _ provider.Adapter = (*Adapter)(nil)

// New builds the adapter for a provider of type anthropic. It is a
// provider.Factory.
func New(cfg provider.Config, deps provider.Deps) (provider.Adapter, error) {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("anthropic: provider %q: base_url must be an absolute http(s) URL", cfg.Name)
	}
	if deps.HTTPClient == nil {
		return nil, fmt.Errorf("anthropic: provider %q: no HTTP client", cfg.Name)
	}
	if deps.Tokens == nil {
		return nil, fmt.Errorf("anthropic: provider %q: no token counter", cfg.Name)
	}
	a := &Adapter{
		name:      cfg.Name,
		url:       strings.TrimRight(base, "/") + "/v1/messages",
		apiKey:    cfg.APIKey,
		transport: deps.HTTPClient.Transport,
		tokens:    deps.Tokens,
		now:       time.Now,
	}
	if a.transport == nil {
		a.transport = http.DefaultTransport
	}
	for k, v := range cfg.Headers {
		a.headers = append(a.headers, [2]string{http.CanonicalHeaderKey(k), v})
	}
	return a, nil
}

// ChatCompletion implements provider.Adapter.
func (a *Adapter) ChatCompletion(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	body, err := a.buildRequest(req, false)
	if err != nil {
		return nil, err
	}
	resp, err := a.post(ctx, body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := readBody(resp, maxResponseBytes)
	if err != nil {
		return nil, a.transportError(ctx, "read response", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, a.statusError(resp, data)
	}
	var m messageResponse
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q sent an answer that is not a message", a.name), Err: err}
	}
	if m.Type == "error" && m.Error != nil {
		return nil, a.streamError(m.Error)
	}
	return a.translateResponse(&m), nil
}

// ChatCompletionStream implements provider.Adapter.
func (a *Adapter) ChatCompletionStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	body, err := a.buildRequest(req, true)
	if err != nil {
		return nil, err
	}
	resp, err := a.post(ctx, body, true)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		// A JSON answer to a stream request is an error report.
		defer resp.Body.Close()
		data, _ := readBody(resp, maxErrorBytes)
		if resp.StatusCode == http.StatusOK {
			resp.StatusCode = http.StatusBadGateway
		}
		return nil, a.statusError(resp, data)
	}
	return a.newStream(req, resp), nil
}

// post sends body to the Messages endpoint and returns the response,
// whatever its status.
func (a *Adapter) post(ctx context.Context, body []byte, stream bool) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("anthropic: build request: %w", err)
	}
	h := hreq.Header
	h["Content-Type"] = []string{"application/json"}
	if stream {
		h["Accept"] = []string{"text/event-stream"}
	} else {
		h["Accept"] = []string{"application/json"}
	}
	h["Anthropic-Version"] = []string{APIVersion}
	if a.apiKey != "" {
		h["X-Api-Key"] = []string{a.apiKey}
	}
	for _, kv := range a.headers {
		h.Set(kv[0], kv[1])
	}
	// The transport is called directly: an API POST must not follow
	// redirects.
	resp, err := a.transport.RoundTrip(hreq)
	if err != nil {
		return nil, a.transportError(ctx, "send request", err)
	}
	return resp, nil
}

// newStream starts reading an event stream.
func (a *Adapter) newStream(req *provider.ChatRequest, resp *http.Response) *stream {
	r, _ := a.readers.Get().(*sse.Reader)
	if r == nil {
		r = sse.NewReader(resp.Body)
	} else {
		r.Reset(resp.Body)
	}
	return &stream{a: a, reqModel: req.Model, reqBody: req.Body, body: resp.Body, r: r, created: a.now().Unix()}
}

// readBody reads a response body of at most limit bytes.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	b, err := provider.ReadAll(resp.Body, resp.ContentLength, limit)
	if errors.Is(err, provider.ErrTooLarge) {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return b, err
}
