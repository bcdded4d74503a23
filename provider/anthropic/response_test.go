package anthropic

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

const basicRequest = `{"model":"public","messages":[{"role":"user","content":"Say hello in French."}]}`

// unary runs ChatCompletion against a fake upstream answering reply.
func unary(t *testing.T, reply pt.Reply, body string) (*provider.ChatResponse, []pt.Recorded, error) {
	t.Helper()
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return reply })
	a := newTestAdapter(t, "anthropic", up.URL, "sk-ant-test")
	resp, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "claude-sonnet-4-5", Body: []byte(body)})
	return resp, up.Requests(), err
}

func TestResponseGolden(t *testing.T) {
	tests := []struct {
		name  string
		usage provider.Usage
	}{
		{"text", provider.Usage{PromptTokens: 21, CompletionTokens: 18, TotalTokens: 39}},
		{"tool_use", provider.Usage{PromptTokens: 1632, CompletionTokens: 112, TotalTokens: 1744, CachedTokens: 1536}},
		{"max_tokens", provider.Usage{PromptTokens: 21, CompletionTokens: 8, TotalTokens: 29}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _, err := unary(t, pt.JSON(200, readTestdata(t, "anthropic/response_"+tc.name+".json")), basicRequest)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "golden/openai_from_anthropic_response_"+tc.name+".json", resp.Body)
			if resp.Usage != tc.usage {
				t.Errorf("usage %+v, want %+v", resp.Usage, tc.usage)
			}
			if resp.Model != "claude-sonnet-4-5-20250929" {
				t.Errorf("model %q", resp.Model)
			}
		})
	}
}

func TestResponseThinkingAndCacheWrites(t *testing.T) {
	answer := `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[
		{"type":"thinking","thinking":"Let me think.","signature":"sig"},
		{"type":"redacted_thinking","data":"opaque"},
		{"type":"tool_use","id":"toolu_1","name":"f","input":{}}],
		"stop_reason":"tool_use","usage":{"input_tokens":5,"cache_creation_input_tokens":100,"cache_read_input_tokens":0,"output_tokens":30,"output_tokens_details":{"thinking_tokens":20}}}`
	resp, _, err := unary(t, pt.JSON(200, []byte(answer)), basicRequest)
	if err != nil {
		t.Fatal(err)
	}
	want := provider.Usage{PromptTokens: 105, CompletionTokens: 30, TotalTokens: 135, CacheWriteTokens: 100, ReasoningTokens: 20}
	if resp.Usage != want {
		t.Errorf("usage %+v, want %+v", resp.Usage, want)
	}
	var out struct {
		Choices []struct {
			Message struct {
				Content          *string `json:"content"`
				ReasoningContent string  `json:"reasoning_content"`
				ToolCalls        []struct {
					ID       string `json:"id"`
					Function struct{ Arguments string }
				} `json:"tool_calls"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokensDetails     map[string]int `json:"prompt_tokens_details"`
			CompletionTokensDetails map[string]int `json:"completion_tokens_details"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatal(err)
	}
	m := out.Choices[0].Message
	if m.Content != nil || m.ReasoningContent != "Let me think." || len(m.ToolCalls) != 1 ||
		m.ToolCalls[0].ID != "toolu_1" || m.ToolCalls[0].Function.Arguments != "{}" || out.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("unexpected answer: %s", resp.Body)
	}
	if out.Usage.PromptTokensDetails["cache_write_tokens"] != 100 || out.Usage.CompletionTokensDetails["reasoning_tokens"] != 20 {
		t.Errorf("usage details: %s", resp.Body)
	}
}

func TestFinishReasons(t *testing.T) {
	for stop, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
		"model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter", "something_new": "stop",
	} {
		if got := finishReason(stop); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", stop, got, want)
		}
	}
}

// TestUpstreamRequest checks the endpoint, headers and body the adapter
// sends.
func TestUpstreamRequest(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, readTestdata(t, "anthropic/response_text.json")) })
	a, err := New(provider.Config{Name: "claude", Type: "anthropic", BaseURL: up.URL + "/", APIKey: "sk-ant-xyz",
		Headers: map[string]string{"anthropic-beta": "feature-1"}},
		provider.Deps{HTTPClient: &http.Client{}, Tokens: wordCounter{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "claude-haiku-4-5", Body: []byte(basicRequest)}); err != nil {
		t.Fatal(err)
	}
	r := up.Requests()[0]
	if r.Method != http.MethodPost || r.Path != "/v1/messages" {
		t.Errorf("%s %s", r.Method, r.Path)
	}
	for k, want := range map[string]string{
		"X-Api-Key": "sk-ant-xyz", "Anthropic-Version": "2023-06-01", "Content-Type": "application/json",
		"Anthropic-Beta": "feature-1", "Authorization": "",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["model"] != "claude-haiku-4-5" || body["max_tokens"] != 4096.0 || body["stream"] != nil {
		t.Errorf("body %s", r.Body)
	}
}

func TestNewDefaultsAndChecks(t *testing.T) {
	deps := provider.Deps{HTTPClient: &http.Client{}, Tokens: wordCounter{}}
	a, err := New(provider.Config{Name: "a", Type: "anthropic"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.(*Adapter).url; got != "https://api.anthropic.com/v1/messages" {
		t.Errorf("url %q", got)
	}
	for _, tc := range []struct {
		cfg  provider.Config
		deps provider.Deps
	}{
		{provider.Config{Name: "a", BaseURL: "api.anthropic.com"}, deps},
		{provider.Config{Name: "a"}, provider.Deps{Tokens: wordCounter{}}},
		{provider.Config{Name: "a"}, provider.Deps{HTTPClient: &http.Client{}}},
	} {
		if _, err := New(tc.cfg, tc.deps); err == nil {
			t.Errorf("New(%+v) succeeded", tc.cfg)
		}
	}
}

// TestErrors checks the classification of Anthropic's error answers.
func TestErrors(t *testing.T) {
	body := func(typ, msg string) []byte {
		return []byte(`{"type":"error","error":{"type":"` + typ + `","message":"` + msg + `"},"request_id":"req_1"}`)
	}
	tests := []struct {
		name    string
		reply   pt.Reply
		kind    provider.Kind
		status  int
		message string
		code    string
		retry   time.Duration
	}{
		{"401", pt.JSON(401, readTestdata(t, "anthropic/error_authentication_401.json")), provider.KindAuth, 401, `provider "anthropic" refused the gateway's credentials`, "", 0},
		{"403", pt.JSON(403, body("permission_error", "key sk-ant-abc cannot use this")), provider.KindAuth, 403, `provider "anthropic" refused the gateway's credentials`, "", 0},
		{"400", pt.JSON(400, readTestdata(t, "anthropic/error_invalid_request_400.json")), provider.KindInvalidRequest, 400, "anthropic: max_tokens: Field required", "", 0},
		{"400 context", pt.JSON(400, body("invalid_request_error", "prompt is too long: 201234 tokens > 200000 maximum")), provider.KindInvalidRequest, 400, "anthropic: prompt is too long: 201234 tokens > 200000 maximum", "context_length_exceeded", 0},
		{"402", pt.JSON(402, body("billing_error", "Your credit balance is too low")), provider.KindQuota, 402, "anthropic: Your credit balance is too low", "", 0},
		{"404", pt.JSON(404, body("not_found_error", "model: claude-nope")), provider.KindNotFound, 404, "anthropic: model: claude-nope", "", 0},
		{"413", pt.JSON(413, body("request_too_large", "Request exceeds the maximum allowed number of bytes.")), provider.KindInvalidRequest, 413, "anthropic: Request exceeds the maximum allowed number of bytes.", "request_too_large", 0},
		{"413 html", pt.Reply{Status: 413, Header: http.Header{"Content-Type": {"text/html"}}, Body: []byte("<html>too large</html>")}, provider.KindInvalidRequest, 413, `provider "anthropic" rejected the request (status 413)`, "request_too_large", 0},
		{"429", pt.HTTP(t, readTestdata(t, "anthropic/http_429_rate_limit.http")), provider.KindRateLimited, 429, "anthropic: This request would exceed the rate limit for your organization of 80,000 input tokens per minute. For details, refer to the rate limits documentation.", "", 14 * time.Second},
		{"429 spend limit", pt.JSON(429, []byte(`{"type":"error","error":{"type":"rate_limit_error","message":"spend limit","details":{"error_code":"enforced_spend_limit_reached"}}}`)), provider.KindQuota, 429, "anthropic: spend limit", "", 0},
		{"500", pt.JSON(500, body("api_error", "Internal server error")), provider.KindServer, 500, "anthropic: Internal server error", "", 0},
		{"504", pt.JSON(504, body("timeout_error", "Request timed out")), provider.KindTimeout, 504, "anthropic: Request timed out", "", 0},
		{"529", pt.JSON(529, readTestdata(t, "anthropic/error_overloaded_529.json")), provider.KindServer, 529, "anthropic: Overloaded", "", 0},
		{"529 no body", pt.JSON(529, nil), provider.KindServer, 529, `provider "anthropic" failed (status 529)`, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := unary(t, tc.reply, basicRequest)
			pe, ok := provider.AsError(err)
			if !ok {
				t.Fatalf("err = %v, want *provider.Error", err)
			}
			if pe.Kind != tc.kind || pe.Status != tc.status || pe.Message != tc.message || pe.Code != tc.code || pe.RetryAfter != tc.retry {
				t.Errorf("got kind %v status %d message %q code %q retry %v\nwant kind %v status %d message %q code %q retry %v",
					pe.Kind, pe.Status, pe.Message, pe.Code, pe.RetryAfter, tc.kind, tc.status, tc.message, tc.code, tc.retry)
			}
			if strings.Contains(pe.Error(), "sk-ant") {
				t.Errorf("error leaks a key: %v", pe)
			}
		})
	}
}

func TestNonJSONAnswer(t *testing.T) {
	_, _, err := unary(t, pt.JSON(200, []byte("<html>")), basicRequest)
	if pe, ok := provider.AsError(err); !ok || pe.Kind != provider.KindServer {
		t.Errorf("err = %v, want a server error", err)
	}
}
