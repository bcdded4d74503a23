package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/tollgate-gw/tollgate/provider"
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
		s := streamOver(t, body)
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
			if i > len(body)+2 {
				t.Fatal("more chunks than input bytes")
			}
		}
		_ = s.Usage()
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
