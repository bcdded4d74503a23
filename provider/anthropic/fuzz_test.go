package anthropic

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// streamOver runs the stream translator over an in-memory event stream.
func streamOver(tb testing.TB, body []byte) *stream {
	tb.Helper()
	a := newTestAdapter(tb, "anthropic", "http://unused", "k")
	return a.newStream(&provider.ChatRequest{Model: "m", Body: []byte(basicRequest), Stream: true},
		&http.Response{Body: io.NopCloser(bytes.NewReader(body))})
}

// FuzzStream feeds arbitrary bytes to the stream translator: it must
// never panic, every chunk must be JSON, and the stream must end.
func FuzzStream(f *testing.F) {
	for _, name := range []string{"stream_text", "stream_tool_use", "stream_thinking", "stream_error"} {
		f.Add(readTestdata(f, "anthropic/"+name+".sse"))
	}
	f.Add([]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\ndata: {\"type\":\"content_block_start\",\"index\":-1,\"content_block\":{\"type\":\"tool_use\",\"input\":{\"a\":[1,2]}}}\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		pt.DrainFuzzed(t, streamOver(t, body), len(body))
	})
}

// BenchmarkStreamToolUse measures the translation of a tool-call stream,
// HTTP excluded.
func BenchmarkStreamToolUse(b *testing.B) {
	data := readTestdata(b, "anthropic/stream_tool_use.sse")
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
