package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// streamResult is what a client of the adapter saw of one stream.
type streamResult struct {
	chunks    []string
	usageOnly []bool
	err       error
	usage     provider.Usage
}

// drainStream reads s to its end.
func drainStream(t testing.TB, s provider.Stream) streamResult {
	t.Helper()
	var r streamResult
	for {
		c, err := s.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = err
			}
			break
		}
		if !json.Valid(c.Data) {
			t.Fatalf("chunk is not JSON: %s", c.Data)
		}
		r.chunks = append(r.chunks, string(c.Data))
		r.usageOnly = append(r.usageOnly, c.UsageOnly)
	}
	r.usage = s.Usage()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	return r
}

// openStream starts a stream against a fake upstream that answers with
// reply.
func openStream(t *testing.T, reply pt.Reply, body []byte) (provider.Stream, *pt.Upstream) {
	t.Helper()
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return reply })
	a := testAdapter(t, up.URL, &http.Transport{}, nil)
	s, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "anthropic.claude-3-5-sonnet-20240620-v1:0", Body: body, Stream: true})
	if err != nil {
		t.Fatalf("ChatCompletionStream: %v", err)
	}
	return s, up
}

// binaryReply is a ConverseStream answer built from a .jsonl fixture.
func binaryReply(t testing.TB, fixture string) pt.Reply {
	return pt.Reply{Header: eventStreamHeader(), Body: encodeStream(t, readFixture(t, fixture))}
}

const streamRequest = `{"model":"public","stream":true,"messages":[{"role":"user","content":"Say hello in French."}]}`

func TestStreamGolden(t *testing.T) {
	tests := []struct {
		fixture, request string
		usage            provider.Usage
	}{
		{fixture: "converse_stream_events.jsonl", usage: provider.Usage{PromptTokens: 388, CompletionTokens: 61, TotalTokens: 449}},
		{fixture: "converse_stream_text.jsonl", usage: provider.Usage{PromptTokens: 22, CompletionTokens: 12, TotalTokens: 34}},
		{fixture: "converse_stream_reasoning.jsonl",
			usage: provider.Usage{PromptTokens: 60, CompletionTokens: 25, TotalTokens: 85, CachedTokens: 20, CacheWriteTokens: 10}},
		{fixture: "converse_stream_json_schema.jsonl", request: "openai/request_json_schema.json",
			usage: provider.Usage{PromptTokens: 402, CompletionTokens: 40, TotalTokens: 442}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			body := []byte(streamRequest)
			if tc.request != "" {
				body = readFixture(t, tc.request)
			}
			s, up := openStream(t, binaryReply(t, "bedrock/"+tc.fixture), body)
			r := drainStream(t, s)
			if r.err != nil {
				t.Fatalf("stream failed: %v", r.err)
			}
			if r.usage != tc.usage {
				t.Errorf("usage %+v, want %+v", r.usage, tc.usage)
			}
			if n := len(r.usageOnly); n == 0 || !r.usageOnly[n-1] {
				t.Error("the last chunk is not the usage chunk")
			}
			if got := up.Requests(); len(got) != 1 || got[0].Path != "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream" &&
				got[0].Path != "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse-stream" {
				t.Errorf("requests %+v", got)
			}
			goldenSSE(t, "openai_from_bedrock_"+strings.TrimSuffix(tc.fixture, ".jsonl")+".sse", r.chunks)
		})
	}
}

// goldenSSE compares chunks with a golden SSE transcript (with the
// [DONE] line the gateway adds), ignoring created, normalising ids and
// comparing each tool call's concatenated arguments as parsed JSON.
func goldenSSE(t *testing.T, name string, chunks []string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		var b strings.Builder
		for _, c := range chunks {
			b.WriteString("data: " + c + "\n\n")
		}
		b.WriteString("data: [DONE]\n\n")
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("golden: %v (run with -update)", err)
	}
	want := pt.Lines(string(raw))
	if len(want) == 0 || want[len(want)-1] != "[DONE]" {
		t.Fatalf("%s does not end with [DONE]", name)
	}
	want = want[:len(want)-1]
	gotChunks, gotArgs := normaliseChunks(t, chunks)
	wantChunks, wantArgs := normaliseChunks(t, want)
	if d := cmp.Diff(wantChunks, gotChunks); d != "" {
		t.Errorf("%s chunks (-want +got):\n%s", name, d)
	}
	if len(gotArgs) != len(wantArgs) {
		t.Errorf("%d tool calls, want %d", len(gotArgs), len(wantArgs))
	}
	for i := range wantArgs {
		if i < len(gotArgs) {
			if d := jsonEqual(t, []byte(gotArgs[i]), []byte(wantArgs[i])); d != "" {
				t.Errorf("tool call %d arguments (-want +got):\n%s", i, d)
			}
		}
	}
}

// normaliseChunks parses chunks, drops created, fixes ids and takes the
// tool-call argument fragments out (returned concatenated per index).
func normaliseChunks(t *testing.T, chunks []string) ([]map[string]any, []string) {
	t.Helper()
	var out []map[string]any
	var args []string
	for _, c := range chunks {
		var m map[string]any
		if err := json.Unmarshal([]byte(c), &m); err != nil {
			t.Fatalf("chunk %s: %v", c, err)
		}
		delete(m, "created")
		m["id"] = "chatcmpl-GEN"
		choices, _ := m["choices"].([]any)
		for _, ch := range choices {
			delta, _ := ch.(map[string]any)["delta"].(map[string]any)
			calls, _ := delta["tool_calls"].([]any)
			for _, call := range calls {
				cm := call.(map[string]any)
				i := int(cm["index"].(float64))
				fn, _ := cm["function"].(map[string]any)
				for len(args) <= i {
					args = append(args, "")
				}
				if a, ok := fn["arguments"].(string); ok {
					args[i] += a
					delete(fn, "arguments")
				}
			}
		}
		out = append(out, m)
	}
	return out, args
}

func TestStreamJSONModeIsContent(t *testing.T) {
	s, _ := openStream(t, binaryReply(t, "bedrock/converse_stream_json_schema.jsonl"), readFixture(t, "openai/request_json_schema.json"))
	r := drainStream(t, s)
	var text strings.Builder
	for _, c := range r.chunks {
		if strings.Contains(c, "tool_calls") {
			t.Errorf("tool call leaked: %s", c)
		}
		var ch struct {
			Choices []struct {
				Delta        struct{ Content string }
				FinishReason *string `json:"finish_reason"`
			}
		}
		_ = json.Unmarshal([]byte(c), &ch)
		for _, choice := range ch.Choices {
			text.WriteString(choice.Delta.Content)
			if choice.FinishReason != nil && *choice.FinishReason != "stop" {
				t.Errorf("finish %q", *choice.FinishReason)
			}
		}
	}
	if text.String() != `{"city":"Paris","temp_c":18}` {
		t.Errorf("content %q", text.String())
	}
}

func TestStreamException(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, up := openStream(t, binaryReply(t, "bedrock/converse_stream_exception.jsonl"), []byte(streamRequest))
	r := drainStream(t, s)
	pe := asProviderError(t, r.err)
	if pe.Kind != provider.KindRateLimited || pe.Status != 429 || !strings.Contains(pe.Message, "Too many tokens") {
		t.Errorf("error %+v", pe)
	}
	if len(r.chunks) != 2 {
		t.Errorf("%d chunks before the error, want role + content", len(r.chunks))
	}
	if !r.usage.Estimated || r.usage.CompletionTokens != 1 {
		t.Errorf("usage %+v, want an estimate of what was produced", r.usage)
	}
	if _, err := s.Next(); err != r.err {
		t.Errorf("Next after the failure: %v, want the same error again", err)
	}
	up.Close()
}

func TestStreamFrames(t *testing.T) {
	frames := func(lines ...string) []byte {
		return encodeStream(t, []byte(strings.Join(lines, "\n")))
	}
	const (
		start = `{"_eventType":"messageStart","role":"assistant"}`
		text  = `{"_eventType":"contentBlockDelta","contentBlockIndex":0,"delta":{"text":"hi"}}`
		stop  = `{"_eventType":"messageStop","stopReason":"end_turn"}`
	)
	errorFrame := func() []byte {
		var h eventstream.Headers
		h.Set(":message-type", eventstream.StringValue("error"))
		h.Set(":error-code", eventstream.StringValue("InternalFailure"))
		h.Set(":error-message", eventstream.StringValue("boom"))
		var buf bytes.Buffer
		if err := eventstream.NewEncoder().Encode(&buf, eventstream.Message{Headers: h}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	full := frames(start, text, stop)
	corrupt := append([]byte(nil), full...)
	corrupt[len(corrupt)-1] ^= 0xff
	huge := append([]byte{0x7f, 0, 0, 0}, make([]byte, 20)...)
	tests := []struct {
		name   string
		body   []byte
		kind   provider.Kind // checked when wantErr
		wantOK bool
		chunks int
	}{
		{name: "no metadata: estimated usage chunk", body: full, wantOK: true, chunks: 4},
		{name: "unknown events are absorbed", body: frames(start, `{"_eventType":"ping"}`, text, `{"_eventType":"contentBlockStop","contentBlockIndex":0}`, stop), wantOK: true, chunks: 4},
		{name: "no messageStart", body: frames(text, stop), wantOK: true, chunks: 4},
		{name: "ends before messageStop", body: frames(start, text), kind: provider.KindServer, chunks: 2},
		{name: "cut in a frame", body: full[:len(full)-5], kind: provider.KindServer, chunks: 2},
		{name: "bad checksum", body: corrupt, kind: provider.KindServer, chunks: 2},
		{name: "oversized frame", body: append(frames(start), huge...), kind: provider.KindServer, chunks: 1},
		{name: "error frame", body: append(frames(start), errorFrame()...), kind: provider.KindServer, chunks: 1},
		{name: "validation exception", body: frames(start, `{"_exceptionType":"validationException","message":"bad input"}`), kind: provider.KindInvalidRequest, chunks: 1},
		{name: "model stream error", body: frames(start, `{"_exceptionType":"modelStreamErrorException","message":"x","originalStatusCode":500}`), kind: provider.KindServer, chunks: 1},
		{name: "service unavailable", body: frames(start, `{"_exceptionType":"serviceUnavailableException","message":"x"}`), kind: provider.KindServer, chunks: 1},
		{name: "internal server", body: frames(start, `{"_exceptionType":"internalServerException","message":"x"}`), kind: provider.KindServer, chunks: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openStream(t, pt.Reply{Header: eventStreamHeader(), Body: tc.body}, []byte(streamRequest))
			r := drainStream(t, s)
			if tc.wantOK {
				if r.err != nil {
					t.Fatalf("err %v", r.err)
				}
				if !r.usageOnly[len(r.usageOnly)-1] || !r.usage.Estimated {
					t.Errorf("want an estimated usage chunk last: %v %+v", r.usageOnly, r.usage)
				}
			} else if pe := asProviderError(t, r.err); pe.Kind != tc.kind || pe.Message == "" {
				t.Errorf("error %+v, want kind %v", pe, tc.kind)
			}
			if len(r.chunks) != tc.chunks {
				t.Errorf("%d chunks, want %d: %q", len(r.chunks), tc.chunks, r.chunks)
			}
		})
	}
}

func TestStreamRefusedUpstream(t *testing.T) {
	tests := []struct {
		name  string
		reply pt.Reply
		kind  provider.Kind
	}{
		{"429", pt.HTTP(t, readFixture(t, "bedrock/error_throttling_429.http")), provider.KindRateLimited},
		{"json 200", pt.JSON(200, []byte(`{"message":"not a stream"}`)), provider.KindServer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return tc.reply })
			a := testAdapter(t, up.URL, &http.Transport{}, nil)
			_, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(streamRequest), Stream: true})
			if pe := asProviderError(t, err); pe.Kind != tc.kind {
				t.Errorf("kind %v, want %v", pe.Kind, tc.kind)
			}
		})
	}
}

// TestStreamCancel is the suite's cancellation test for the binary
// stream, without the transcoder: the upstream sends two frames and
// hangs; cancelling the request must end Next with the context's error,
// close the upstream request, leave no goroutine behind and still report
// an estimate of what was produced.
func TestStreamCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	head := encodeStream(t, []byte(`{"_eventType":"messageStart","role":"assistant"}
{"_eventType":"contentBlockDelta","contentBlockIndex":0,"delta":{"text":"Bonjour tout le monde"}}`))
	gone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentTypeEventStream)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(head)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(gone)
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	a := testAdapter(t, srv.URL, tr, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := a.ChatCompletionStream(ctx, &provider.ChatRequest{Model: "m", Body: []byte(streamRequest), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // role, content
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Next()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Next block on the hanging upstream
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want one wrapping context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after cancellation")
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream never saw the cancellation")
	}
	if u := s.Usage(); !u.Estimated || u.CompletionTokens != 4 || u.PromptTokens == 0 {
		t.Errorf("usage %+v, want an estimate of what was produced", u)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
