package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/metering"
	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/router"
	"github.com/tollgate-gw/tollgate/store"
)

// scripted is an adapter whose behaviour each test sets.
type scripted struct {
	chat   func(req *provider.ChatRequest) (*provider.ChatResponse, error)
	stream func(ctx context.Context) (provider.Stream, error)
}

func (s *scripted) ChatCompletion(_ context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	return s.chat(req)
}

func (s *scripted) ChatCompletionStream(ctx context.Context, _ *provider.ChatRequest) (provider.Stream, error) {
	return s.stream(ctx)
}

// sliceStream replays chunks, then ends with err.
type sliceStream struct {
	chunks []provider.Chunk
	err    error
	usage  provider.Usage
}

func (s *sliceStream) Next() (provider.Chunk, error) {
	if len(s.chunks) == 0 {
		return provider.Chunk{}, s.err
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}
func (s *sliceStream) Usage() provider.Usage { return s.usage }
func (s *sliceStream) Model() string         { return "up-model" }
func (s *sliceStream) Close() error          { return nil }

// events is a ledger that keeps what it is given.
type events struct {
	mu  sync.Mutex
	evs []store.UsageEvent
}

func (e *events) Record(ev store.UsageEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

func newServer(t *testing.T, a provider.Adapter) (*Server, *events) {
	t.Helper()
	tb, err := router.New([]*router.Provider{{Name: "p", Adapter: a}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	s, err := New(Options{Router: tb, Meter: &metering.Meter{Ledger: ev}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s, ev
}

func do(s *Server, body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	s.ServeHTTP(w, r)
	return w
}

const chatBody = `{"model":"p/m","messages":[{"role":"user","content":"hi"}]}`

func TestPanicBecomes500Envelope(t *testing.T) {
	s, _ := newServer(t, &scripted{chat: func(*provider.ChatRequest) (*provider.ChatResponse, error) { panic("boom") }})
	w := do(s, chatBody)
	if w.Code != 500 || gjson.Get(w.Body.String(), "error.type").String() != "server_error" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "boom") {
		t.Error("panic value leaked to the client")
	}
}

func TestUsageEventPerRequest(t *testing.T) {
	u := provider.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}
	s, ev := newServer(t, &scripted{chat: func(req *provider.ChatRequest) (*provider.ChatResponse, error) {
		if req.Model != "m" {
			t.Errorf("upstream model %q", req.Model)
		}
		return &provider.ChatResponse{Body: []byte(`{"ok":true}`), Model: "m-2024", Usage: u}, nil
	}})
	w := do(s, chatBody)
	if w.Code != 200 || w.Body.String() != `{"ok":true}` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(ev.evs) != 1 {
		t.Fatalf("%d events", len(ev.evs))
	}
	e := ev.evs[0]
	if e.PromptTokens != 3 || e.CompletionTokens != 4 || e.Model != "p/m" || e.Provider != "p" || e.UpstreamModel != "m-2024" ||
		e.Status != 200 || e.RequestID != w.Header().Get("X-Request-Id") || e.Endpoint != "chat.completions" || e.Priced {
		t.Errorf("event %+v", e)
	}
	// A request that never reaches a provider yields no event.
	do(s, `{"model":"nope/","messages":[]}`)
	if len(ev.evs) != 1 {
		t.Errorf("%d events after a rejected request", len(ev.evs))
	}
}

// TestClientRequestIDNotTheLedgerKey sends two requests with the same
// X-Request-ID (a trace id propagated to several calls): both are answered
// with it, and both are metered, under distinct ids of the gateway's.
func TestClientRequestIDNotTheLedgerKey(t *testing.T) {
	s, ev := newServer(t, &scripted{chat: func(*provider.ChatRequest) (*provider.ChatResponse, error) {
		return &provider.ChatResponse{Body: []byte(`{"ok":true}`), Model: "m"}, nil
	}})
	for range 2 {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody))
		r.Header.Set("X-Request-ID", "trace-1")
		s.ServeHTTP(w, r)
		if w.Code != 200 || w.Header().Get("X-Request-Id") != "trace-1" {
			t.Fatalf("%d, x-request-id %q", w.Code, w.Header().Get("X-Request-Id"))
		}
	}
	if len(ev.evs) != 2 {
		t.Fatalf("%d events, want 2", len(ev.evs))
	}
	a, b := ev.evs[0], ev.evs[1]
	if a.RequestID == b.RequestID || a.RequestID == "trace-1" || a.ClientRequestID != "trace-1" || b.ClientRequestID != "trace-1" {
		t.Errorf("events %q/%q and %q/%q: want distinct gateway ids, both with client id trace-1",
			a.RequestID, a.ClientRequestID, b.RequestID, b.ClientRequestID)
	}
	// Without a client id, the answered id is the ledger's and no client
	// id is recorded.
	w := do(s, chatBody)
	if c := ev.evs[2]; c.RequestID != w.Header().Get("X-Request-Id") || c.ClientRequestID != "" {
		t.Errorf("event %q/%q for x-request-id %q", c.RequestID, c.ClientRequestID, w.Header().Get("X-Request-Id"))
	}
}

func TestStreamHidesUsageChunkUnlessAsked(t *testing.T) {
	chunks := func() []provider.Chunk {
		return []provider.Chunk{{Data: []byte(`{"a":1}`)}, {Data: []byte(`{"u":1}`), UsageOnly: true}}
	}
	s, ev := newServer(t, &scripted{stream: func(context.Context) (provider.Stream, error) {
		return &sliceStream{chunks: chunks(), err: io.EOF, usage: provider.Usage{PromptTokens: 4, CompletionTokens: 5, TotalTokens: 9}}, nil
	}})
	w := do(s, `{"model":"p/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if got := w.Body.String(); got != "data: {\"a\":1}\n\ndata: [DONE]\n\n" {
		t.Errorf("without include_usage: %q", got)
	}
	w = do(s, `{"model":"p/m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	if got := w.Body.String(); got != "data: {\"a\":1}\n\ndata: {\"u\":1}\n\ndata: [DONE]\n\n" {
		t.Errorf("with include_usage: %q", got)
	}
	if len(ev.evs) != 2 || ev.evs[0].PromptTokens+ev.evs[0].CompletionTokens != 9 || !ev.evs[0].Stream {
		t.Errorf("events %+v", ev.evs)
	}
}

func TestStreamFailureBeforeFirstChunkIsAnErrorResponse(t *testing.T) {
	s, ev := newServer(t, &scripted{stream: func(context.Context) (provider.Stream, error) {
		return &sliceStream{err: &provider.Error{Provider: "p", Kind: provider.KindRateLimited, Status: 429, Message: "slow down", RetryAfter: 1500 * time.Millisecond}}, nil
	}})
	w := do(s, `{"model":"p/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" || gjson.Get(w.Body.String(), "error.code").String() != "upstream_rate_limited" {
		t.Errorf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	if len(ev.evs) != 1 || ev.evs[0].Status != 429 {
		t.Errorf("events %+v", ev.evs)
	}
}

func TestErrorForMapping(t *testing.T) {
	pe := func(k provider.Kind, status int) error {
		return &provider.Error{Provider: "p", Kind: k, Status: status, Message: "m", Code: "c", Param: "x"}
	}
	tests := []struct {
		err    error
		direct bool
		status int
		typ    string
		code   string
	}{
		{pe(provider.KindInvalidRequest, 400), false, 400, "invalid_request_error", "c"},
		{pe(provider.KindInvalidRequest, 422), false, 400, "invalid_request_error", "c"},
		{pe(provider.KindInvalidRequest, 413), false, 413, "invalid_request_error", "request_too_large"},
		{pe(provider.KindAuth, 401), false, 502, "upstream_error", "upstream_auth_failed"},
		{pe(provider.KindNotFound, 404), false, 502, "upstream_error", "upstream_error"},
		{pe(provider.KindNotFound, 404), true, 404, "invalid_request_error", "model_not_found"},
		{pe(provider.KindRateLimited, 429), false, 429, "rate_limit_error", "upstream_rate_limited"},
		{pe(provider.KindQuota, 429), false, 502, "upstream_error", "upstream_error"},
		{pe(provider.KindServer, 529), false, 502, "upstream_error", "upstream_error"},
		{pe(provider.KindConnection, 0), false, 502, "upstream_error", "upstream_error"},
		{pe(provider.KindTimeout, 0), false, 504, "upstream_error", "upstream_timeout"},
		{errors.New("oops"), false, 500, "server_error", "internal_error"},
		{context.Canceled, false, statusClientClosed, "invalid_request_error", "client_closed"},
	}
	for _, tc := range tests {
		e := errorFor(tc.err, "p/m", tc.direct)
		if e.Status != tc.status || e.Type != tc.typ || e.Code != tc.code {
			t.Errorf("%v (direct %v): %d %s %s, want %d %s %s", tc.err, tc.direct, e.Status, e.Type, e.Code, tc.status, tc.typ, tc.code)
		}
	}
}
