// Package mock is the gateway's built-in provider that answers without any
// network: the demo model "mock/echo" and a tool for tests and benchmarks.
//
// Answers are deterministic and derived from the request: the text of the
// last user message echoed back ("echo: …"), a call of the first (or the
// forced) tool when the request offers tools, or an echo of the tool
// results after a tool turn. Token usage is real, counted with the
// TokenCounter handed in through provider.Deps. Streams split the answer
// into several chunks exactly as OpenAI sends them. MockConfig adds
// latency, delays between chunks and failures on demand.
package mock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// Adapter is a configured mock provider. It is safe for concurrent use.
type Adapter struct {
	// Now is the clock behind the created timestamps; New sets it to
	// time.Now. Replace it before first use only.
	Now func() time.Time

	cfg    provider.Config
	tokens provider.TokenCounter
	// idPrefix makes completion ids unique across adapters and restarts;
	// seq makes them unique within one adapter.
	idPrefix string
	seq      atomic.Uint64
	// calls counts chat and embeddings requests for FailEvery.
	calls atomic.Uint64
}

var (
	_ provider.Adapter     = (*Adapter)(nil)
	_ provider.Embedder    = (*Adapter)(nil)
	_ provider.ModelLister = (*Adapter)(nil)
	_ provider.Factory     = New
)

// Defaults for zero MockConfig fields.
const (
	defaultChunks     = 4
	defaultFailStatus = http.StatusInternalServerError
	maxChoices        = 128
	fingerprint       = "fp_mock"
)

// New builds a mock adapter. It is a provider.Factory; deps.Tokens is
// required, deps.HTTPClient is not used.
func New(cfg provider.Config, deps provider.Deps) (provider.Adapter, error) {
	if deps.Tokens == nil {
		return nil, fmt.Errorf("mock: provider %q: a token counter is required", cfg.Name)
	}
	if cfg.Mock.Chunks <= 0 {
		cfg.Mock.Chunks = defaultChunks
	}
	if cfg.Mock.FailStatus == 0 {
		cfg.Mock.FailStatus = defaultFailStatus
	}
	return &Adapter{Now: time.Now, cfg: cfg, tokens: deps.Tokens, idPrefix: randomID(12)}, nil
}

// Models lists the one model the mock serves, "echo".
func (a *Adapter) Models() []string { return []string{"echo"} }

// ChatCompletion answers a chat request in one piece, after
// MockConfig.Latency.
func (a *Adapter) ChatCompletion(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	if err := a.injectFailure(); err != nil {
		return nil, err
	}
	if err := sleep(ctx, a.cfg.Mock.Latency); err != nil {
		return nil, err
	}
	ans := a.answer(req)
	u := usage(a.tokens.CountChat(req.Model, req.Body), ans.n*ans.tokens)
	body := appendCompletion(nil, a.newID(), a.Now().Unix(), req.Model, &ans, u)
	return &provider.ChatResponse{Body: body, Model: req.Model, Usage: u}, nil
}

// ChatCompletionStream starts a streamed answer. The returned Stream waits
// MockConfig.Latency before its first chunk and MockConfig.ChunkDelay
// between chunks; it needs no goroutine and, like every provider.Stream,
// is not safe for concurrent use.
func (a *Adapter) ChatCompletionStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	if err := a.injectFailure(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctxError(ctx)
	}
	return a.newStream(ctx, req), nil
}

// injectFailure counts a request and returns the configured failure when
// it is the FailEvery-th.
func (a *Adapter) injectFailure() error {
	n := a.calls.Add(1)
	every := a.cfg.Mock.FailEvery
	if every <= 0 || n%uint64(every) != 0 {
		return nil
	}
	status := a.cfg.Mock.FailStatus
	e := &provider.Error{
		Provider: a.cfg.Name,
		Kind:     provider.KindForStatus(status),
		Status:   status,
		Message:  "mock: injected failure",
	}
	if status == http.StatusTooManyRequests {
		e.RetryAfter = time.Second
	}
	return e
}

// newID returns a fresh chat completion id.
func (a *Adapter) newID() string {
	return "chatcmpl-" + a.idPrefix + strconv.FormatUint(a.seq.Add(1), 10)
}

// usage assembles a Usage from its two counts.
func usage(prompt, completion int) provider.Usage {
	return provider.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

// randomID returns n random lowercase letters and digits.
func randomID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// sleep waits d, or less if ctx ends first. It returns ctxError(ctx) if ctx
// is done.
func sleep(ctx context.Context, d time.Duration) error {
	if ctx.Err() != nil {
		return ctxError(ctx)
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctxError(ctx)
	case <-t.C:
		return nil
	}
}

// ctxError reports an ended context. It wraps ctx.Err() and, when the
// context was given one, its cause (the router marks its own timeouts).
func ctxError(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause != nil && !errors.Is(cause, err) {
		return fmt.Errorf("mock: %w: %w", err, cause)
	}
	return fmt.Errorf("mock: %w", err)
}
