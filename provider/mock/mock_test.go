package mock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	openai "github.com/sashabaranov/go-openai"
	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/metering/tokens"
	"github.com/tollgate-gw/tollgate/provider"
)

var counter = tokens.New()

const testCreated = 1755694800

// newMock returns a mock adapter with a fixed clock.
func newMock(t testing.TB, mc provider.MockConfig) *Adapter {
	t.Helper()
	a, err := New(provider.Config{Name: "mock", Type: "mock", Mock: mc}, provider.Deps{Tokens: counter})
	if err != nil {
		t.Fatal(err)
	}
	m := a.(*Adapter)
	m.Now = func() time.Time { return time.Unix(testCreated, 0) }
	return m
}

func chatReq(body string) *provider.ChatRequest {
	return &provider.ChatRequest{Model: "echo", Body: []byte(body)}
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// complete runs a non-streaming request and decodes it with go-openai.
func complete(t *testing.T, a *Adapter, body string) (*provider.ChatResponse, openai.ChatCompletionResponse) {
	t.Helper()
	resp, err := a.ChatCompletion(context.Background(), chatReq(body))
	if err != nil {
		t.Fatal(err)
	}
	var out openai.ChatCompletionResponse
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatalf("invalid JSON %s: %v", resp.Body, err)
	}
	return resp, out
}

func TestNew(t *testing.T) {
	if _, err := New(provider.Config{Name: "m"}, provider.Deps{}); err == nil {
		t.Error("New without a token counter succeeded")
	}
	a := newMock(t, provider.MockConfig{})
	if diff := cmp.Diff([]string{"echo"}, a.Models()); diff != "" {
		t.Error(diff)
	}
}

func TestChatCompletionText(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"string", `{"messages":[{"role":"user","content":"hello world"}]}`, "echo: hello world"},
		{"fixture", fixture(t, "request_basic.json"), "echo: Say hello in French."},
		{"parts", fixture(t, "request_multimodal.json"), "echo: Describe both images in one sentence each. [image] [image]"},
		{"last user", `{"messages":[{"role":"user","content":"first"},{"role":"assistant","content":"x"},{"role":"user","content":"second"},{"role":"assistant","content":"prefill"}]}`, "echo: second"},
		{"no user", `{"messages":[{"role":"system","content":"sys"}]}`, "echo: "},
		{"tool results", fixture(t, "request_tools_second_turn.json"),
			`echo: tool results: {"temp_c":18,"condition":"cloudy"}; {"temp_c":26,"condition":"sunny"}`},
		{"tool_choice none", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`, "echo: hi"},
		{"empty tools", `{"messages":[{"role":"user","content":"hi"}],"tools":[]}`, "echo: hi"},
		{"escapes", `{"messages":[{"role":"user","content":"a \"quoted\"\n\ttab \u2028 <b>&"}]}`, "echo: a \"quoted\"\n\ttab \u2028 <b>&"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newMock(t, provider.MockConfig{})
			resp, out := complete(t, a, tt.body)
			if len(out.Choices) != 1 {
				t.Fatalf("choices = %d", len(out.Choices))
			}
			c := out.Choices[0]
			if c.Message.Content != tt.want || c.FinishReason != openai.FinishReasonStop || c.Message.Role != "assistant" {
				t.Errorf("got %q %q %q, want %q stop", c.Message.Role, c.Message.Content, c.FinishReason, tt.want)
			}
			if !regexp.MustCompile(`^chatcmpl-[a-z0-9]{12}1$`).MatchString(out.ID) || out.Object != "chat.completion" ||
				out.Created != testCreated || out.Model != "echo" || out.SystemFingerprint != "fp_mock" {
				t.Errorf("envelope: %+v", out)
			}
			prompt := counter.CountChat("echo", []byte(tt.body))
			completion := counter.CountText("echo", tt.want)
			wantUsage := provider.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
			if diff := cmp.Diff(wantUsage, resp.Usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if out.Usage.PromptTokens != prompt || out.Usage.CompletionTokens != completion ||
				out.Usage.TotalTokens != prompt+completion || out.Usage.PromptTokensDetails == nil ||
				out.Usage.CompletionTokensDetails == nil {
				t.Errorf("body usage %+v", out.Usage)
			}
			if resp.Model != "echo" {
				t.Errorf("Model = %q", resp.Model)
			}
			for _, path := range []string{"choices.0.logprobs", "choices.0.message.refusal"} {
				if r := gjson.GetBytes(resp.Body, path); !r.Exists() || r.Type != gjson.Null {
					t.Errorf("%s = %s, want null", path, r.Raw)
				}
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	const long = "the quick brown fox jumps over the lazy dog again and again"
	full := "echo: " + long
	msg := `{"messages":[{"role":"user","content":"` + long + `"}]`
	tests := []struct {
		name   string
		body   string
		want   string
		finish openai.FinishReason
	}{
		{"max_completion_tokens", msg + `,"max_completion_tokens":5}`, "echo: the quick brown", "length"},
		{"max_tokens", msg + `,"max_tokens":5}`, "echo: the quick brown", "length"},
		{"prefers max_completion_tokens", msg + `,"max_completion_tokens":100,"max_tokens":2}`, full, "stop"},
		{"exact fit", msg + fmt.Sprintf(`,"max_tokens":%d}`, counter.CountText("echo", full)), full, "stop"},
		{"inside first word", msg + `,"max_tokens":1}`, "echo", "length"},
		{"zero is no limit", msg + `,"max_tokens":0}`, full, "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := complete(t, newMock(t, provider.MockConfig{}), tt.body)
			c := out.Choices[0]
			if c.Message.Content != tt.want || c.FinishReason != tt.finish {
				t.Errorf("got %q %q, want %q %q", c.Message.Content, c.FinishReason, tt.want, tt.finish)
			}
			if n := counter.CountText("echo", c.Message.Content); n != resp.Usage.CompletionTokens {
				t.Errorf("completion tokens %d, content has %d", resp.Usage.CompletionTokens, n)
			}
		})
	}
	// The cut is the longest fitting run of words.
	for limit := 2; limit < 14; limit++ {
		a := newMock(t, provider.MockConfig{})
		_, out := complete(t, a, msg+fmt.Sprintf(`,"max_completion_tokens":%d}`, limit))
		got := out.Choices[0].Message.Content
		if n := counter.CountText("echo", got); n > limit || !strings.HasPrefix(full, got) {
			t.Fatalf("limit %d: %q has %d tokens", limit, got, n)
		}
		if next := full[len(got):]; next != "" {
			if i := strings.IndexByte(next[1:], ' '); i >= 0 {
				next = next[:i+1]
			}
			if counter.CountText("echo", got+next) <= limit {
				t.Errorf("limit %d: %q could have kept %q", limit, got, next)
			}
		}
	}
}

var callIDPattern = regexp.MustCompile(`^call_[a-z0-9]{24}$`)

func TestToolCall(t *testing.T) {
	first := fixture(t, "request_tools_first_turn.json")
	forced := `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}],"tool_choice":{"type":"function","function":{"name":"b"}}}`
	required := `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}],"tool_choice":"required"}`
	ids := map[string]bool{}
	for body, name := range map[string]string{first: "get_weather", forced: "b", required: "a"} {
		a := newMock(t, provider.MockConfig{})
		resp, out := complete(t, a, body)
		c := out.Choices[0]
		if c.FinishReason != openai.FinishReasonToolCalls || len(c.Message.ToolCalls) != 1 {
			t.Fatalf("got %+v", c)
		}
		call := c.Message.ToolCalls[0]
		if call.Function.Name != name || call.Function.Arguments != "{}" || call.Type != "function" || !callIDPattern.MatchString(call.ID) {
			t.Errorf("tool call %+v, want %s({})", call, name)
		}
		if r := gjson.GetBytes(resp.Body, "choices.0.message.content"); r.Type != gjson.Null || !r.Exists() {
			t.Errorf("content = %s, want null", r.Raw)
		}
		if want := counter.CountText("echo", name) + counter.CountText("echo", "{}"); resp.Usage.CompletionTokens != want {
			t.Errorf("completion tokens %d, want %d", resp.Usage.CompletionTokens, want)
		}
		// Deterministic: the same request gets the same id.
		_, again := complete(t, newMock(t, provider.MockConfig{}), body)
		if again.Choices[0].Message.ToolCalls[0].ID != call.ID {
			t.Error("tool call id is not deterministic")
		}
		ids[call.ID] = true
	}
	if len(ids) != 3 {
		t.Errorf("tool call ids collide: %v", ids)
	}
}

func TestChoices(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{2, 2}, {0, 1}, {1, 1}, {500, 128}} {
		a := newMock(t, provider.MockConfig{})
		resp, out := complete(t, a, fmt.Sprintf(`{"messages":[{"role":"user","content":"hi"}],"n":%d}`, tc.n))
		if len(out.Choices) != tc.want {
			t.Fatalf("n=%d: %d choices", tc.n, len(out.Choices))
		}
		for i, c := range out.Choices {
			if c.Index != i || c.Message.Content != "echo: hi" {
				t.Errorf("choice %d: %+v", i, c)
			}
		}
		if want := tc.want * counter.CountText("echo", "echo: hi"); resp.Usage.CompletionTokens != want {
			t.Errorf("n=%d: completion tokens %d, want %d", tc.n, resp.Usage.CompletionTokens, want)
		}
	}
}

func TestConcurrentIDs(t *testing.T) {
	a := newMock(t, provider.MockConfig{})
	var mu sync.Mutex
	ids := map[string]bool{}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				resp, err := a.ChatCompletion(context.Background(), chatReq(`{"messages":[{"role":"user","content":"hi"}]}`))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[gjson.GetBytes(resp.Body, "id").Str] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(ids) != 16*20 {
		t.Errorf("%d distinct ids, want %d", len(ids), 16*20)
	}
	if b := newMock(t, provider.MockConfig{}); b.idPrefix == a.idPrefix {
		t.Error("two adapters share an id prefix")
	}
}

func TestFailEvery(t *testing.T) {
	ctx := context.Background()
	a := newMock(t, provider.MockConfig{FailEvery: 3, FailStatus: 429})
	body := `{"messages":[{"role":"user","content":"hi"}]}`
	calls := []func() error{
		func() error { _, err := a.ChatCompletion(ctx, chatReq(body)); return err },
		func() error { _, err := a.ChatCompletionStream(ctx, chatReq(body)); return err },
		func() error {
			_, err := a.Embeddings(ctx, &provider.EmbeddingsRequest{Model: "e", Body: []byte(`{"input":"x"}`)})
			return err
		},
	}
	for i := range 9 {
		err := calls[i%3]()
		if (i+1)%3 != 0 {
			if err != nil {
				t.Fatalf("call %d: %v", i+1, err)
			}
			continue
		}
		pe, ok := provider.AsError(err)
		want := &provider.Error{Provider: "mock", Kind: provider.KindRateLimited, Status: 429,
			Message: "mock: injected failure", RetryAfter: time.Second}
		if !ok || *pe != *want {
			t.Errorf("call %d: %#v, want %#v", i+1, err, want)
		}
	}
	b := newMock(t, provider.MockConfig{FailEvery: 1})
	_, err := b.ChatCompletion(ctx, chatReq(body))
	if pe, ok := provider.AsError(err); !ok || pe.Status != 500 || pe.Kind != provider.KindServer || pe.RetryAfter != 0 {
		t.Errorf("default failure: %#v", err)
	}
}

func TestLatency(t *testing.T) {
	body := `{"messages":[{"role":"user","content":"hi"}]}`
	a := newMock(t, provider.MockConfig{Latency: 40 * time.Millisecond})
	start := time.Now()
	if _, err := a.ChatCompletion(context.Background(), chatReq(body)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("ChatCompletion took %v, want ≥ 40ms", d)
	}
	start = time.Now()
	s, err := a.ChatCompletionStream(context.Background(), chatReq(body))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("first chunk after %v, want ≥ 40ms", d)
	}

	// A long latency is abandoned as soon as the context ends.
	slow := newMock(t, provider.MockConfig{Latency: time.Hour})
	errTimeout := errors.New("upstream timeout")
	run := map[string]func(context.Context) error{
		"chat": func(ctx context.Context) error { _, err := slow.ChatCompletion(ctx, chatReq(body)); return err },
		"stream": func(ctx context.Context) error {
			s, err := slow.ChatCompletionStream(ctx, chatReq(body))
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = s.Next()
			return err
		},
		"embeddings": func(ctx context.Context) error {
			_, err := slow.Embeddings(ctx, &provider.EmbeddingsRequest{Model: "e", Body: []byte(`{"input":"x"}`)})
			return err
		},
	}
	for name, f := range run {
		ctx, cancel := context.WithTimeoutCause(context.Background(), 20*time.Millisecond, errTimeout)
		start := time.Now()
		err := f(ctx)
		cancel()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errTimeout) {
			t.Errorf("%s: err = %v, want deadline with cause", name, err)
		}
	}
}
