package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// wordCounter is a token counter that counts words, so estimates are easy
// to predict.
type wordCounter struct{}

func (wordCounter) CountText(_, text string) int        { return len(strings.Fields(text)) }
func (wordCounter) CountChat(_ string, body []byte) int { return 7 }

func newAdapter(t *testing.T, typ string, up *pt.Upstream) *Adapter {
	t.Helper()
	a, err := New(provider.Config{
		Name: "up", Type: typ, BaseURL: up.URL + "/v1/", APIKey: "sk-secret-upstream",
		Headers: map[string]string{"x-extra": "1"},
	}, provider.Deps{HTTPClient: &http.Client{}, Tokens: wordCounter{}})
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Adapter)
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

func TestChatCompletionForwardsBodyAndAnswer(t *testing.T) {
	answer := pt.Fixture(t, "openai/response_text.json")
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, answer) })
	a := newAdapter(t, "openai", up)
	in := pt.Fixture(t, "openai/request_basic.json")
	orig := append([]byte(nil), in...)

	resp, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "gpt-4o-mini", Body: in})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != string(answer) {
		t.Errorf("body was changed on the way back")
	}
	if resp.Model != "gpt-4o-mini-2024-07-18" {
		t.Errorf("model = %q", resp.Model)
	}
	want := provider.Usage{PromptTokens: 22, CompletionTokens: 12, TotalTokens: 34}
	if diff := cmp.Diff(want, resp.Usage); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
	if string(in) != string(orig) {
		t.Error("request body modified in place")
	}
	reqs := up.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-secret-upstream" || r.Header.Get("X-Extra") != "1" {
		t.Errorf("upstream request: %s %v", r.Path, r.Header)
	}
	got, sent := decode(t, r.Body), decode(t, orig)
	sent["model"] = "gpt-4o-mini"
	if diff := cmp.Diff(sent, got); diff != "" {
		t.Errorf("upstream body (-want +got):\n%s", diff)
	}
}

func TestChatCompletionEstimatesMissingUsage(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply {
		return pt.JSON(200, []byte(`{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"one two three"},"finish_reason":"stop"}]}`))
	})
	a := newAdapter(t, "openai-compatible", up)
	resp, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(`{"model":"x","messages":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	want := provider.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10, Estimated: true}
	if diff := cmp.Diff(want, resp.Usage); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}

func TestOllamaRenamesMaxCompletionTokens(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, pt.Fixture(t, "openai/response_text.json")) })
	a := newAdapter(t, "ollama", up)
	_, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "llama3.2",
		Body: []byte(`{"model":"x","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":50}`)})
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, up.Requests()[0].Body)
	if got["max_tokens"] != float64(50) || got["max_completion_tokens"] != nil || got["model"] != "llama3.2" {
		t.Errorf("ollama body: %v", got)
	}
}

func collect(t *testing.T, s provider.Stream) (chunks []provider.Chunk, err error) {
	t.Helper()
	for {
		c, err := s.Next()
		if err != nil {
			return chunks, err
		}
		c.Data = append([]byte(nil), c.Data...)
		chunks = append(chunks, c)
	}
}

func TestStreams(t *testing.T) {
	tests := []struct {
		name      string
		fixture   string
		chunks    int
		usageOnly bool
		usage     provider.Usage
		model     string
	}{
		{"text", "openai/stream_text.sse", 12, true,
			provider.Usage{PromptTokens: 22, CompletionTokens: 12, TotalTokens: 34}, "gpt-4o-mini-2024-07-18"},
		{"parallel tool calls", "openai/chunk_sequence_tools.sse", 0, true, provider.Usage{}, "gpt-4o-mini-2024-07-18"},
		{"n=2 interleaved", "openai/stream_n2_interleaved.sse", 0, false, provider.Usage{}, ""},
		{"deepseek keep-alive and reasoning", "compat/deepseek_stream_reasoning.sse", 0, true, provider.Usage{}, ""},
		{"openrouter comments", "compat/openrouter_stream_with_comments.sse", 0, true, provider.Usage{}, ""},
		{"ollama v1 tools", "ollama/v1_stream_tools.sse", 0, true, provider.Usage{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			transcript := pt.Fixture(t, tc.fixture)
			up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.SSE(transcript) })
			a := newAdapter(t, "openai-compatible", up)
			s, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "m", Stream: true,
				Body: []byte(`{"model":"x","messages":[{"role":"user","content":"hi"}],"stream":true}`)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			chunks, err := collect(t, s)
			if err != io.EOF {
				t.Fatalf("stream ended with %v, want io.EOF", err)
			}
			if len(chunks) == 0 {
				t.Fatal("no chunks")
			}
			if tc.chunks != 0 && len(chunks) != tc.chunks {
				t.Errorf("%d chunks, want %d", len(chunks), tc.chunks)
			}
			for _, c := range chunks {
				if !json.Valid(c.Data) {
					t.Errorf("chunk is not JSON: %s", c.Data)
				}
			}
			last := chunks[len(chunks)-1]
			if last.UsageOnly != tc.usageOnly {
				t.Errorf("last chunk UsageOnly = %v", last.UsageOnly)
			}
			u := s.Usage()
			if tc.usageOnly && u.Estimated {
				t.Errorf("usage estimated although the upstream sent it: %+v", u)
			}
			if !tc.usageOnly && !u.Estimated {
				t.Errorf("usage not marked estimated: %+v", u)
			}
			if tc.usage != (provider.Usage{}) {
				if diff := cmp.Diff(tc.usage, u); diff != "" {
					t.Errorf("usage (-want +got):\n%s", diff)
				}
			}
			if tc.model != "" && s.Model() != tc.model {
				t.Errorf("model %q", s.Model())
			}
			sent := decode(t, up.Requests()[0].Body)
			if so, _ := sent["stream_options"].(map[string]any); so["include_usage"] != true {
				t.Errorf("include_usage not forced upstream: %v", sent)
			}
		})
	}
}

func TestStreamDeepSeekCachedTokens(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.SSE(pt.Fixture(t, "compat/deepseek_stream_reasoning.sse")) })
	a := newAdapter(t, "openai-compatible", up)
	s, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(`{"model":"x","messages":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := collect(t, s); err != io.EOF {
		t.Fatal(err)
	}
	if u := s.Usage(); u.PromptTokens != 14 || u.ReasoningTokens != 17 || u.Estimated {
		t.Errorf("usage %+v: want the upstream's figures with reasoning tokens", u)
	}
}

func TestStreamMidStreamErrors(t *testing.T) {
	for _, fixture := range []string{"openai/stream_error_midstream.sse", "compat/openrouter_stream_midstream_error.sse"} {
		t.Run(fixture, func(t *testing.T) {
			up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.SSE(pt.Fixture(t, fixture)) })
			a := newAdapter(t, "openai-compatible", up)
			s, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(`{"model":"x","messages":[]}`)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			chunks, err := collect(t, s)
			pe, ok := provider.AsError(err)
			if !ok || pe.Kind == provider.KindInvalidRequest {
				t.Fatalf("err = %v, want an upstream failure", err)
			}
			if len(chunks) == 0 {
				t.Error("the chunks before the error were lost")
			}
			if u := s.Usage(); !u.Estimated || u.CompletionTokens == 0 {
				t.Errorf("usage of a broken stream: %+v", u)
			}
		})
	}
}

func TestStreamCutWithoutDone(t *testing.T) {
	transcript := pt.Fixture(t, "openai/stream_text.sse")
	r := pt.SSE(transcript)
	r.Events = r.Events[:3] // role and two content chunks, then the body ends
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return r })
	a := newAdapter(t, "openai", up)
	s, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(`{"model":"x","messages":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = collect(t, s)
	if pe, ok := provider.AsError(err); !ok || pe.Kind != provider.KindServer {
		t.Fatalf("err = %v, want KindServer", err)
	}
}

func TestStreamCancellationClosesUpstream(t *testing.T) {
	r := pt.SSE(pt.Fixture(t, "openai/stream_text.sse"))
	r.Events = r.Events[:2]
	r.Hang = true
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return r })
	a := newAdapter(t, "openai", up)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := a.ChatCompletionStream(ctx, &provider.ChatRequest{Model: "m", Body: []byte(`{"model":"x","messages":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if _, err := s.Next(); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	select {
	case <-up.Canceled():
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream never saw the cancellation")
	}
	if u := s.Usage(); !u.Estimated || u.CompletionTokens != 1 {
		t.Errorf("usage after cancel: %+v (want the one word produced)", u)
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name    string
		reply   func(t *testing.T) pt.Reply
		kind    provider.Kind
		status  int
		code    string
		param   string
		retry   time.Duration
		message string
	}{
		{"401 never leaks the key", func(t *testing.T) pt.Reply {
			return pt.JSON(401, pt.Fixture(t, "openai/error_invalid_api_key_401.json"))
		}, provider.KindAuth, 401, "", "", 0, `provider "up" refused the gateway's credentials`},
		{"429 rate limit keeps Retry-After", func(t *testing.T) pt.Reply {
			return pt.HTTP(t, pt.Fixture(t, "openai/http_429_rate_limit.http"))
		}, provider.KindRateLimited, 429, "rate_limit_exceeded", "", time.Second, ""},
		{"429 insufficient quota", func(t *testing.T) pt.Reply {
			return pt.JSON(429, pt.Fixture(t, "openai/error_insufficient_quota_429.json"))
		}, provider.KindQuota, 429, "insufficient_quota", "", 0, ""},
		{"400 invalid request keeps param", func(t *testing.T) pt.Reply {
			return pt.JSON(400, pt.Fixture(t, "openai/error_invalid_request_400.json"))
		}, provider.KindInvalidRequest, 400, "", "", 0, ""},
		{"400 context length", func(t *testing.T) pt.Reply {
			return pt.JSON(400, pt.Fixture(t, "openai/error_context_length_400.json"))
		}, provider.KindInvalidRequest, 400, "context_length_exceeded", "messages", 0, ""},
		{"404 model", func(t *testing.T) pt.Reply {
			return pt.JSON(404, pt.Fixture(t, "openai/error_model_not_found_404.json"))
		}, provider.KindNotFound, 404, "model_not_found", "", 0, ""},
		{"vllm flat", func(t *testing.T) pt.Reply { return pt.JSON(400, pt.Fixture(t, "compat/vllm_error_flat.json")) },
			provider.KindInvalidRequest, 400, "", "", 0, ""},
		{"vllm nested", func(t *testing.T) pt.Reply { return pt.JSON(400, pt.Fixture(t, "compat/vllm_error_nested.json")) },
			provider.KindInvalidRequest, 400, "", "", 0, ""},
		{"mistral 422 detail", func(t *testing.T) pt.Reply { return pt.JSON(422, pt.Fixture(t, "compat/mistral_error_422.json")) },
			provider.KindInvalidRequest, 422, "", "", 0, ""},
		{"openrouter 402", func(t *testing.T) pt.Reply { return pt.JSON(402, pt.Fixture(t, "compat/openrouter_error_402.json")) },
			provider.KindQuota, 402, "", "", 0, ""},
		{"deepseek 402", func(t *testing.T) pt.Reply { return pt.JSON(402, pt.Fixture(t, "compat/deepseek_error_402.json")) },
			provider.KindQuota, 402, "", "", 0, ""},
		{"llama.cpp", func(t *testing.T) pt.Reply { return pt.JSON(400, pt.Fixture(t, "compat/llamacpp_error.json")) },
			provider.KindInvalidRequest, 400, "", "", 0, ""},
		{"ollama v1 400", func(t *testing.T) pt.Reply { return pt.JSON(400, pt.Fixture(t, "ollama/v1_error_400.json")) },
			provider.KindInvalidRequest, 400, "", "", 0, ""},
		{"ollama native 404 string error", func(t *testing.T) pt.Reply {
			return pt.JSON(404, pt.Fixture(t, "ollama/error_model_not_found_404.json"))
		}, provider.KindNotFound, 404, "", "", 0, ""},
		{"500 html", func(t *testing.T) pt.Reply {
			return pt.Reply{Status: 500, Header: http.Header{"Content-Type": {"text/html"}}, Body: []byte("<html>oops</html>")}
		}, provider.KindServer, 500, "", "", 0, ""},
		{"529 overloaded", func(t *testing.T) pt.Reply { return pt.JSON(529, []byte(`{"error":{"message":"Overloaded"}}`)) },
			provider.KindServer, 529, "", "", 0, ""},
		{"504", func(t *testing.T) pt.Reply { return pt.JSON(504, []byte(`{}`)) }, provider.KindTimeout, 504, "", "", 0, ""},
		{"200 with error body", func(t *testing.T) pt.Reply {
			return pt.JSON(200, []byte(`{"error":{"code":502,"message":"upstream model down"}}`))
		}, provider.KindServer, 502, "", "", 0, ""},
	}
	for _, tc := range tests {
		for _, stream := range []bool{false, true} {
			name := tc.name
			if stream {
				name += "/stream"
				if tc.name == "200 with error body" {
					continue
				}
			}
			t.Run(name, func(t *testing.T) {
				reply := tc.reply(t)
				up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return reply })
				a := newAdapter(t, "openai", up)
				req := &provider.ChatRequest{Model: "m", Body: []byte(`{"model":"x","messages":[]}`)}
				var err error
				if stream {
					_, err = a.ChatCompletionStream(context.Background(), req)
				} else {
					_, err = a.ChatCompletion(context.Background(), req)
				}
				pe, ok := provider.AsError(err)
				if !ok {
					t.Fatalf("err = %v, want *provider.Error", err)
				}
				if pe.Kind != tc.kind || pe.Status != tc.status {
					t.Errorf("kind %v status %d, want %v %d (%v)", pe.Kind, pe.Status, tc.kind, tc.status, pe)
				}
				if tc.code != "" && pe.Code != tc.code {
					t.Errorf("code %q, want %q", pe.Code, tc.code)
				}
				if tc.param != "" && pe.Param != tc.param {
					t.Errorf("param %q, want %q", pe.Param, tc.param)
				}
				if pe.RetryAfter != tc.retry {
					t.Errorf("retry after %v, want %v", pe.RetryAfter, tc.retry)
				}
				if tc.message != "" && pe.Message != tc.message {
					t.Errorf("message %q, want %q", pe.Message, tc.message)
				}
				if strings.Contains(pe.Error(), "sk-") {
					t.Errorf("error leaks a key: %v", pe)
				}
				if pe.Message == "" {
					t.Error("empty message")
				}
			})
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.Reply{} })
	a := newAdapter(t, "openai", up)
	up.Close()
	_, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(`{}`)})
	if pe, ok := provider.AsError(err); !ok || pe.Kind != provider.KindConnection || !pe.Retryable() {
		t.Fatalf("err = %v, want a retryable connection error", err)
	}
}

func TestEmbeddings(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, pt.Fixture(t, "openai/embeddings_response.json")) })
	a := newAdapter(t, "openai", up)
	resp, err := a.Embeddings(context.Background(), &provider.EmbeddingsRequest{Model: "text-embedding-3-small",
		Body: pt.Fixture(t, "openai/embeddings_request.json")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.PromptTokens == 0 || resp.Model == "" {
		t.Errorf("response %+v", resp)
	}
	if r := up.Requests()[0]; r.Path != "/v1/embeddings" {
		t.Errorf("path %s", r.Path)
	}
}

func TestNewValidation(t *testing.T) {
	deps := provider.Deps{HTTPClient: &http.Client{}, Tokens: wordCounter{}}
	for _, cfg := range []provider.Config{
		{Name: "c", Type: "openai-compatible"},
		{Name: "c", Type: "openai", BaseURL: "ftp://x"},
		{Name: "c", Type: "openai", BaseURL: "not a url"},
	} {
		if _, err := New(cfg, deps); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	if _, err := New(provider.Config{Name: "o", Type: "openai"}, provider.Deps{}); err == nil {
		t.Error("New without deps succeeded")
	}
	a, err := New(provider.Config{Name: "o", Type: "ollama"}, deps)
	if err != nil || a.(*Adapter).chatURL != DefaultOllamaBaseURL+"/chat/completions" {
		t.Errorf("ollama default: %v %v", a, err)
	}
}
