package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// fakeUpstream is an in-process OpenAI-compatible upstream built to cost as
// little as possible: every answer is a precomputed byte slice, and the
// request body is read into a pooled buffer only to find the two markers
// ("stream":true and "include_usage":true) it answers by.
type fakeUpstream struct {
	srv *http.Server
	ln  net.Listener
	// BaseURL is "http://127.0.0.1:port", without the /v1 suffix.
	BaseURL string

	latency    atomic.Int64 // nanoseconds slept before answering
	chunkDelay atomic.Int64 // nanoseconds slept between stream events

	completion []byte   // the non-streaming chat.completion
	contentLen []string // its Content-Length header value
	events     [][]byte // stream events up to the finish chunk
	usageEvent []byte   // the usage chunk, sent when asked for
	doneEvent  []byte   // data: [DONE]
	models     []byte   // GET /v1/models
	bufs       sync.Pool

	// Markers looked for in request bodies. encoding/json and most clients
	// write no space after the colon; the spaced form is accepted too.
	markStream, markStreamSp, markUsage, markUsageSp []byte
}

// startFake listens on addr (a loopback address, port 0 for a random one)
// and serves the fake upstream until Close.
func startFake(addr string) (*fakeUpstream, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake upstream: %w", err)
	}
	f := newFakeHandler()
	f.ln = ln
	f.BaseURL = "http://" + ln.Addr().String()
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// newFakeHandler builds the fake with its precomputed answers, not serving.
func newFakeHandler() *fakeUpstream {
	f := &fakeUpstream{
		completion: []byte(fakeCompletionJSON),
		usageEvent: sseEvent(fakeUsageChunk),
		doneEvent:  []byte("data: [DONE]\n\n"),
		models:     []byte(`{"object":"list","data":[{"id":"fake-model","object":"model","created":1700000000,"owned_by":"bench"}]}`),
		bufs:       sync.Pool{New: func() any { return new(bytes.Buffer) }},

		markStream:   []byte(`"stream":true`),
		markStreamSp: []byte(`"stream": true`),
		markUsage:    []byte(`"include_usage":true`),
		markUsageSp:  []byte(`"include_usage": true`),
	}
	f.contentLen = []string{strconv.Itoa(len(f.completion))}
	f.events = append(f.events, sseEvent(fakeChunk(`{"role":"assistant","content":""}`, "null")))
	for _, word := range []string{"Hello", " from", " the", " fake", " upstream."} {
		f.events = append(f.events, sseEvent(fakeChunk(`{"content":"`+word+`"}`, "null")))
	}
	f.events = append(f.events, sseEvent(fakeChunk(`{}`, `"stop"`)))
	return f
}

// SetDelays sets the latency before an answer's first byte and the delay
// between stream events, for requests that start afterwards.
func (f *fakeUpstream) SetDelays(latency, chunkDelay time.Duration) {
	f.latency.Store(int64(latency))
	f.chunkDelay.Store(int64(chunkDelay))
}

// Close stops the server and closes every open connection.
func (f *fakeUpstream) Close() error { return f.srv.Close() }

// ServeHTTP answers POST /v1/chat/completions and GET /v1/models.
func (f *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/models" && r.Method == http.MethodGet {
		w.Header()["Content-Type"] = []string{"application/json"}
		_, _ = w.Write(f.models)
		return
	}
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	buf := f.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(r.Body)
	body := buf.Bytes()
	stream := bytes.Contains(body, f.markStream) || bytes.Contains(body, f.markStreamSp)
	usage := bytes.Contains(body, f.markUsage) || bytes.Contains(body, f.markUsageSp)
	f.bufs.Put(buf)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !sleepCtx(r.Context(), time.Duration(f.latency.Load())) {
		return
	}
	if stream {
		f.serveStream(w, r.Context(), usage)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = f.contentLen
	_, _ = w.Write(f.completion)
}

// serveStream writes the stream events, flushing after each one.
func (f *fakeUpstream) serveStream(w http.ResponseWriter, ctx context.Context, usage bool) {
	h := w.Header()
	h["Content-Type"] = []string{"text/event-stream"}
	h["Cache-Control"] = []string{"no-cache"}
	rc := http.NewResponseController(w)
	delay := time.Duration(f.chunkDelay.Load())
	send := func(ev []byte, first bool) bool {
		if !first && !sleepCtx(ctx, delay) {
			return false
		}
		if _, err := w.Write(ev); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for i, ev := range f.events {
		if !send(ev, i == 0) {
			return
		}
	}
	if usage && !send(f.usageEvent, false) {
		return
	}
	send(f.doneEvent, false)
}

// sleepCtx waits d, returning false if ctx ends first. A zero d returns at
// once without touching a timer.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sseEvent frames one JSON payload as a server-sent event.
func sseEvent(payload string) []byte {
	return []byte("data: " + payload + "\n\n")
}

const (
	fakeID     = `"id":"chatcmpl-bench7f3a9c2e41d84b0fa6e5","created":1700000000,"model":"fake-model","system_fingerprint":"fp_bench01"`
	fakeUsage  = `"usage":{"prompt_tokens":12,"completion_tokens":18,"total_tokens":30}`
	fakeAnswer = `Hello from the fake upstream. This fixed answer lets the benchmark measure the gateway.`

	fakeCompletionJSON = `{` + fakeID + `,"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"` + fakeAnswer + `","refusal":null},"logprobs":null,"finish_reason":"stop"}],` + fakeUsage + `}`
	fakeUsageChunk     = `{` + fakeID + `,"object":"chat.completion.chunk","choices":[],` + fakeUsage + `}`
)

// fakeChunk builds one chat.completion.chunk with the given delta object
// and finish_reason (a JSON value).
func fakeChunk(delta, finish string) string {
	return `{` + fakeID + `,"object":"chat.completion.chunk","choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + finish + `}]}`
}
