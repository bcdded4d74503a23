// Package providertest holds test helpers for provider adapters and the
// gateway: a fake upstream that replays recorded wire transcripts (plain
// bodies, SSE streams with pacing, raw HTTP messages), and the fixtures
// themselves, embedded so that any package's tests can use them.
package providertest

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

//go:embed testdata
var fixtures embed.FS

// Fixture returns the named file under testdata (for example
// "openai/stream_text.sse"), failing the test when it is missing.
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("providertest: fixture %s: %v", name, err)
	}
	return b
}

// Reply is one canned upstream answer.
type Reply struct {
	// Status defaults to 200.
	Status int
	// Header is sent as is; Content-Type defaults to application/json, or
	// text/event-stream when Events is set.
	Header http.Header
	// Body is written whole when Events is empty.
	Body []byte
	// Events are SSE events (without the blank line that ends each), each
	// written and flushed on its own.
	Events [][]byte
	// Delay is waited before the status line; EventDelay before each event
	// after the first.
	Delay, EventDelay time.Duration
	// Hang keeps the response open after the last event until the client
	// goes away.
	Hang bool
}

// JSON is a 200 (or status) reply with a JSON body.
func JSON(status int, body []byte) Reply { return Reply{Status: status, Body: body} }

// SSE splits a transcript into its events, keeping each event's bytes
// (CRLF or LF framing) as they are.
func SSE(transcript []byte) Reply {
	var events [][]byte
	norm := bytes.ReplaceAll(transcript, []byte("\r\n"), []byte("\n"))
	for _, ev := range bytes.Split(norm, []byte("\n\n")) {
		if len(bytes.TrimSpace(ev)) > 0 {
			events = append(events, ev)
		}
	}
	return Reply{Events: events}
}

// HTTP parses a raw HTTP response message (an .http fixture) into a Reply.
func HTTP(t testing.TB, raw []byte) Reply {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("providertest: parse HTTP fixture: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil && len(body) == 0 {
		t.Fatalf("providertest: read HTTP fixture body: %v", err)
	}
	return Reply{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// Recorded is a request the fake upstream received.
type Recorded struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// Upstream is a fake provider: every request is recorded and answered by
// the handler's Reply.
type Upstream struct {
	*httptest.Server
	handle   func(r Recorded) Reply
	mu       sync.Mutex
	requests []Recorded
	canceled chan string
}

// NewUpstream starts a fake upstream; it is closed when the test ends.
func NewUpstream(t testing.TB, handle func(r Recorded) Reply) *Upstream {
	t.Helper()
	u := &Upstream{handle: handle, canceled: make(chan string, 64)}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

// Requests returns a copy of what was received so far.
func (u *Upstream) Requests() []Recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Recorded(nil), u.requests...)
}

// Canceled receives the path of every request whose client went away
// before the reply was complete.
func (u *Upstream) Canceled() <-chan string { return u.canceled }

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := Recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	u.mu.Lock()
	u.requests = append(u.requests, rec)
	u.mu.Unlock()
	reply := u.handle(rec)
	ctx := r.Context()
	if !sleep(ctx.Done(), reply.Delay) {
		u.noteCanceled(r.URL.Path)
		return
	}
	for k, v := range reply.Header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		ct := "application/json"
		if len(reply.Events) > 0 {
			ct = "text/event-stream"
		}
		w.Header().Set("Content-Type", ct)
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	if len(reply.Events) == 0 && !reply.Hang {
		w.Header().Set("Content-Length", strconv.Itoa(len(reply.Body)))
		w.WriteHeader(status)
		_, _ = w.Write(reply.Body)
		return
	}
	w.WriteHeader(status)
	f := w.(http.Flusher)
	f.Flush()
	for i, ev := range reply.Events {
		if i > 0 && !sleep(ctx.Done(), reply.EventDelay) {
			u.noteCanceled(r.URL.Path)
			return
		}
		if _, err := w.Write(append(append([]byte(nil), ev...), '\n', '\n')); err != nil {
			u.noteCanceled(r.URL.Path)
			return
		}
		f.Flush()
	}
	if reply.Hang {
		<-ctx.Done()
		u.noteCanceled(r.URL.Path)
	}
}

// noteCanceled reports a cancelled request without ever blocking the
// handler (reports beyond the channel's room are dropped).
func (u *Upstream) noteCanceled(path string) {
	select {
	case u.canceled <- path:
	default:
	}
}

// sleep waits d or until done is closed; it reports whether d elapsed.
func sleep(done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// Lines splits an SSE body into its data payloads, for comparing what a
// client received; comments and event names are dropped.
func Lines(body string) []string {
	var out []string
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		if d, ok := strings.CutPrefix(line, "data:"); ok {
			out = append(out, strings.TrimPrefix(d, " "))
		}
	}
	return out
}

// DrainFuzzed reads a stream translated from inputLen fuzzed bytes to its
// end, failing t unless it ends (EOF or a provider.Error), every chunk is
// JSON, and there are not more chunks than input bytes. The adapters'
// stream fuzzers share it.
func DrainFuzzed(t *testing.T, s provider.Stream, inputLen int) {
	t.Helper()
	defer s.Close()
	for i := 0; ; i++ {
		c, err := s.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				if _, ok := provider.AsError(err); !ok {
					t.Fatalf("error is not a provider.Error: %v", err)
				}
			}
			break
		}
		if !json.Valid(c.Data) {
			t.Fatalf("chunk %d is not JSON: %s", i, c.Data)
		}
		if i > inputLen+2 {
			t.Fatal("more chunks than input bytes")
		}
	}
	_ = s.Usage()
}
