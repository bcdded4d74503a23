package gemini

import (
	"bytes"
	"io"
	"testing"

	"github.com/tollgate-gw/tollgate/provider"
)

// FuzzStream feeds arbitrary bodies to the stream translator: it must
// never panic, and must end with io.EOF or an error within a bounded
// number of chunks.
func FuzzStream(f *testing.F) {
	f.Add(readTestdata(f, "gemini/stream_text.sse"))
	f.Add(readTestdata(f, "gemini/stream_function_call.sse"))
	f.Add([]byte("data: {\"candidates\":[{\"index\":63,\"finishReason\":\"STOP\"}]}\r\n\r\n"))
	f.Add([]byte("data: {\"error\":{\"code\":429}}\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		a := newTestAdapter(t, "http://unused.invalid", nil)
		s := newStream(a, &provider.ChatRequest{Model: "m", Body: []byte(`{}`)}, io.NopCloser(bytes.NewReader(body)), true)
		defer s.Close()
		for i := 0; ; i++ {
			if i > 10*len(body)+10 {
				t.Fatal("stream does not end")
			}
			if _, err := s.Next(); err != nil {
				break
			}
		}
		_ = s.Usage()
	})
}

// FuzzSignature checks that every signature survives the trip through a
// tool-call id.
func FuzzSignature(f *testing.F) {
	f.Add(fixtureSignature)
	f.Add("AA==")
	f.Add("__ts_x")
	f.Fuzz(func(t *testing.T, sig string) {
		if sig == "" {
			return
		}
		a := newTestAdapter(t, "http://unused.invalid", nil)
		id := a.toolCallID(sig)
		got, ok := signatureFromID(id)
		if !ok || got != sig {
			t.Fatalf("signature %q → id %q → %q, %v", sig, id, got, ok)
		}
	})
}
