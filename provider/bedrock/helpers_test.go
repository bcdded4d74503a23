package bedrock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/sse"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixedTime is the clock of every test adapter (the fixtures' created).
var fixedTime = time.Unix(1755694800, 0)

// readFixture returns testdata/name.
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// wordCounter counts words as tokens.
type wordCounter struct{}

func (wordCounter) CountText(_, text string) int     { return len(strings.Fields(text)) }
func (wordCounter) CountChat(_ string, b []byte) int { return len(strings.Fields(string(b))) }

// fakeImages serves every URL with the same image.
type fakeImages struct {
	mediaType string
	data      []byte
	err       error
}

func (f fakeImages) FetchImage(_ context.Context, _ string) (string, []byte, error) {
	return f.mediaType, f.data, f.err
}

// pixelPNG is the 1×1 PNG of the multimodal fixture.
func pixelPNG(t testing.TB) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testAdapter builds an adapter against baseURL with a bearer key, a
// deterministic clock and id generator, and the given transport.
func testAdapter(t testing.TB, baseURL string, transport http.RoundTripper, images provider.ImageFetcher) *Adapter {
	t.Helper()
	a, err := newAdapter(provider.Config{Name: "bedrock", Type: "bedrock", Region: "us-east-1", BaseURL: baseURL, APIKey: "br-test-key"},
		provider.Deps{HTTPClient: &http.Client{Transport: transport}, Tokens: wordCounter{}, Images: images}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	deterministic(a)
	return a
}

// deterministic fixes the adapter's clock and ids.
func deterministic(a *Adapter) {
	a.now = func() time.Time { return fixedTime }
	a.newID = func(prefix string) string { return prefix + "GEN" }
}

// noEnv is an empty environment.
func noEnv(string) string { return "" }

// frame is one decoded ConverseStream frame of a .jsonl fixture.
type frame struct {
	eventType, exceptionType string
	payload                  []byte
}

// parseFrames reads a .jsonl transcript: _eventType or _exceptionType
// names the frame, the rest is its payload.
func parseFrames(t testing.TB, jsonl []byte) []frame {
	t.Helper()
	var frames []frame
	sc := bufio.NewScanner(bytes.NewReader(jsonl))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(line, &obj); err != nil {
			t.Fatalf("jsonl line %s: %v", line, err)
		}
		var f frame
		if v, ok := obj["_eventType"]; ok {
			_ = json.Unmarshal(v, &f.eventType)
			delete(obj, "_eventType")
		}
		if v, ok := obj["_exceptionType"]; ok {
			_ = json.Unmarshal(v, &f.exceptionType)
			delete(obj, "_exceptionType")
		}
		p, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		f.payload = p
		frames = append(frames, f)
	}
	return frames
}

// encodeFrame writes one frame in the binary event-stream format.
func encodeFrame(w io.Writer, f frame) error {
	var h eventstream.Headers
	if f.exceptionType != "" {
		h.Set(":message-type", eventstream.StringValue("exception"))
		h.Set(":exception-type", eventstream.StringValue(f.exceptionType))
	} else {
		h.Set(":message-type", eventstream.StringValue("event"))
		h.Set(":event-type", eventstream.StringValue(f.eventType))
	}
	h.Set(":content-type", eventstream.StringValue("application/json"))
	return eventstream.NewEncoder().Encode(w, eventstream.Message{Headers: h, Payload: f.payload})
}

// encodeStream encodes a .jsonl transcript into an event-stream body.
func encodeStream(t testing.TB, jsonl []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, f := range parseFrames(t, jsonl) {
		if err := encodeFrame(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// eventStreamHeader is the header of a ConverseStream answer.
func eventStreamHeader() http.Header {
	return http.Header{"Content-Type": {contentTypeEventStream}}
}

// sseEvents turns a .jsonl transcript into SSE events ("data: <line>"),
// which transcoder turns back into binary frames on the fly: that lets
// providertest's fake upstream pace and cut a binary stream.
func sseEvents(t testing.TB, jsonl []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for _, line := range bytes.Split(jsonl, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			out = append(out, append([]byte("data: "), line...))
		}
	}
	return out
}

// transcoder is a RoundTripper that turns a text/event-stream answer whose
// events are .jsonl lines into the binary event stream Bedrock sends,
// frame by frame as the events arrive.
type transcoder struct{ next http.RoundTripper }

func (tc transcoder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := tc.next.RoundTrip(r)
	if err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, err
	}
	resp.Header.Set("Content-Type", contentTypeEventStream)
	resp.Body = &frameReader{body: resp.Body, sse: sse.NewReader(resp.Body)}
	return resp, nil
}

// frameReader encodes one SSE event into one frame per refill.
type frameReader struct {
	body io.ReadCloser
	sse  *sse.Reader
	buf  bytes.Buffer
}

func (f *frameReader) Read(p []byte) (int, error) {
	for f.buf.Len() == 0 {
		ev, err := f.sse.Next()
		if err != nil {
			return 0, err
		}
		fr := parseFrames(nopTB{}, ev.Data)
		if len(fr) != 1 {
			return 0, fmt.Errorf("transcoder: event %q is not one frame", ev.Data)
		}
		if err := encodeFrame(&f.buf, fr[0]); err != nil {
			return 0, err
		}
	}
	return f.buf.Read(p)
}

func (f *frameReader) Close() error { return f.body.Close() }

// nopTB lets parseFrames run outside a test goroutine; it panics on
// failure, which only a broken fixture causes.
type nopTB struct{ testing.TB }

func (nopTB) Helper() {}
func (nopTB) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
func (nopTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// jsonEqual compares two JSON documents as values.
func jsonEqual(t testing.TB, got, want []byte) string {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	return cmp.Diff(w, g)
}

// golden compares got (JSON) with testdata/golden/name, rewriting it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		var v any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, got)
		}
		pretty, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(p, append(pretty, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("golden: %v (run with -update)", err)
	}
	if d := jsonEqual(t, got, want); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, d)
	}
}

// asProviderError fails unless err is a *provider.Error.
func asProviderError(t testing.TB, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *provider.Error", err, err)
	}
	return pe
}
