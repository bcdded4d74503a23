package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openai"
	"github.com/tollgate-gw/tollgate/router"
)

type nopCounter struct{}

func (nopCounter) CountText(string, string) int { return 1 }
func (nopCounter) CountChat(string, []byte) int { return 1 }

const benchAnswer = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"fake-model","choices":[{"index":0,"message":{"role":"assistant","content":"Bonjour ! Comment puis-je vous aider aujourd'hui ?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":22,"completion_tokens":12,"total_tokens":34}}`

const benchStream = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake-model\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Bonjour\"},\"finish_reason\":null}],\"usage\":null}\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake-model\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n" +
	"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake-model\",\"choices\":[],\"usage\":{\"prompt_tokens\":22,\"completion_tokens\":12,\"total_tokens\":34}}\n\n" +
	"data: [DONE]\n\n"

// benchServer is the gateway's handler in front of a fast fake upstream on
// loopback, with the production upstream transport settings.
func benchServer(b *testing.B) *Server {
	b.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.Contains(r.Header.Get("Accept"), "event-stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, benchStream)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, benchAnswer)
	}))
	b.Cleanup(up.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}}
	a, err := openai.New(provider.Config{Name: "fake", Type: "openai-compatible", BaseURL: up.URL + "/v1", APIKey: "k"},
		provider.Deps{HTTPClient: client, Tokens: nopCounter{}})
	if err != nil {
		b.Fatal(err)
	}
	tb, err := router.New([]*router.Provider{{Name: "fake", Adapter: a}},
		[]router.ModelSpec{{Name: "bench-model", Targets: []router.TargetSpec{{Provider: "fake", Model: "fake-model", Weight: 1}}}})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Router: tb, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchmarkChat(b *testing.B, body string) {
	s := benchServer(b)
	b.ReportAllocs()
	b.SetParallelism(16) // enough requests in flight to keep both cores busy
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
			s.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkChatNonStream is one proxied non-streaming request through the
// handler, router and adapter to a loopback upstream.
func BenchmarkChatNonStream(b *testing.B) {
	benchmarkChat(b, `{"model":"bench-model","messages":[{"role":"user","content":"Say hello in French."}]}`)
}

// BenchmarkChatStream is one proxied streaming request.
func BenchmarkChatStream(b *testing.B) {
	benchmarkChat(b, `{"model":"bench-model","stream":true,"messages":[{"role":"user","content":"Say hello in French."}]}`)
}

// BenchmarkParseChat is request validation alone, for a one-line and a
// 4,000-token prompt.
func BenchmarkParseChat(b *testing.B) {
	long := `{"model":"bench-model","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"` +
		strings.Repeat("the quick brown fox jumps over the lazy dog ", 440) + `"}],"temperature":0.2}`
	for name, body := range map[string]string{
		"short": `{"model":"bench-model","messages":[{"role":"user","content":"Say hello in French."}]}`,
		"4k":    long,
	} {
		b.Run(name, func(b *testing.B) {
			data := []byte(body)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseChat(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
