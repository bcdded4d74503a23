package bedrock

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// streamOver runs the stream translator over an in-memory event stream.
func streamOver(tb testing.TB, body []byte) *stream {
	tb.Helper()
	a := testAdapter(tb, "http://unused", http.DefaultTransport, nil)
	return newStream(a, &provider.ChatRequest{Model: "m", Body: []byte(streamRequest), Stream: true}, "json_response",
		io.NopCloser(bytes.NewReader(body)))
}

// FuzzStream feeds arbitrary bytes to the event-stream translator: it must
// never panic, every chunk must be JSON, every error a provider.Error, and
// the stream must end.
func FuzzStream(f *testing.F) {
	for _, name := range []string{"converse_stream_events", "converse_stream_text", "converse_stream_reasoning",
		"converse_stream_json_schema", "converse_stream_exception"} {
		f.Add(encodeStream(f, readFixture(f, "bedrock/"+name+".jsonl")))
	}
	f.Add(encodeStream(f, []byte(`{"_eventType":"contentBlockStart","contentBlockIndex":-1,"start":{"toolUse":{"toolUseId":"x","name":"json_response"}}}
{"_eventType":"contentBlockDelta","contentBlockIndex":-1,"delta":{"toolUse":{"input":"{"}}}
{"_eventType":"metadata","usage":{"inputTokens":-5}}`)))
	f.Fuzz(func(t *testing.T, body []byte) {
		pt.DrainFuzzed(t, streamOver(t, body), len(body))
	})
}

// FuzzRequest feeds arbitrary JSON to the request translation: it must
// never panic, and what it builds must be JSON.
func FuzzRequest(f *testing.F) {
	for _, name := range []string{"request_basic", "request_json_schema", "request_multimodal", "request_tools_first_turn", "request_tools_second_turn"} {
		f.Add(readFixture(f, "openai/"+name+".json"))
	}
	a := testAdapter(f, "http://unused", http.DefaultTransport, fakeImages{mediaType: "image/png", data: []byte("\x89PNG")})
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		tr, err := a.translate(t.Context(), body)
		if err != nil {
			if _, ok := provider.AsError(err); !ok {
				t.Fatalf("error is not a provider.Error: %v", err)
			}
			return
		}
		if !json.Valid(tr.body) {
			t.Fatalf("not JSON: %s", tr.body)
		}
	})
}

// BenchmarkStreamToolUse measures the translation of a tool-call stream,
// HTTP excluded.
func BenchmarkStreamToolUse(b *testing.B) {
	data := encodeStream(b, readFixture(b, "bedrock/converse_stream_events.jsonl"))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s := streamOver(b, data)
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
		s.Close()
	}
}
