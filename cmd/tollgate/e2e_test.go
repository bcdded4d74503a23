package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"
	"github.com/tidwall/gjson"

	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// syncBuffer collects the gateway's log lines from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the JSON log records.
func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(s.b.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// gw is a gateway started by a test.
type gw struct {
	url  string
	logs *syncBuffer
	stop func() error
	// key is a client key of an enterprise customer, made through the
	// admin API.
	key string
}

// testAdminKey is the admin key every test gateway runs with.
const testAdminKey = "tga-test-admin-key"

// admin sends an admin API request and decodes the JSON answer.
func (g *gw) admin(t *testing.T, method, path, body string) (int, gjson.Result) {
	t.Helper()
	req, err := http.NewRequest(method, g.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, gjson.ParseBytes(b)
}

// newKey makes a customer on tier with one key and returns the key.
func (g *gw) newKey(t *testing.T, tier string) string {
	t.Helper()
	status, c := g.admin(t, http.MethodPost, "/admin/customers", `{"name":"test-`+tier+`","tier":"`+tier+`"}`)
	if status != http.StatusCreated {
		t.Fatalf("create customer: %d %s", status, c.Raw)
	}
	status, k := g.admin(t, http.MethodPost, "/admin/keys", `{"customer_id":"`+c.Get("id").String()+`"}`)
	if status != http.StatusCreated || !strings.HasPrefix(k.Get("key").String(), "tg-") {
		t.Fatalf("create key: %d %s", status, k.Raw)
	}
	return k.Get("key").String()
}

// startGateway runs the real serve path on a random port with the given
// config file contents; it is stopped when the test ends.
func startGateway(t *testing.T, yaml string, extraEnv map[string]string) *gw {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"TOLLGATE_ADDR":      "127.0.0.1:0",
		"TOLLGATE_CONFIG":    cfgPath,
		"TOLLGATE_DATA_DIR":  dir,
		"TOLLGATE_LOG_LEVEL": "debug",
		"TOLLGATE_ADMIN_KEY": testAdminKey,
	}
	if yaml == "" {
		delete(env, "TOLLGATE_CONFIG")
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv, io.Discard, logs, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("gateway did not start: %v\n%s", err, logs.b.String())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("gateway did not start in time")
	}
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(15 * time.Second):
				stopErr = errors.New("gateway did not stop")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("gateway stop: %v", err)
		}
	})
	g := &gw{url: "http://" + addr, logs: logs, stop: stop}
	g.key = g.newKey(t, "enterprise")
	return g
}

// client is a go-openai client for the gateway.
func (g *gw) client() *goopenai.Client {
	cfg := goopenai.DefaultConfig(g.key)
	cfg.BaseURL = g.url + "/v1"
	return goopenai.NewClientWithConfig(cfg)
}

// post sends a raw request and returns status, headers and body.
func (g *gw) post(t *testing.T, path, body string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+g.key)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// readStream reads a go-openai stream to its end and closes it: the text
// of the first choice and the usage chunk, if any.
func readStream(t *testing.T, s *goopenai.ChatCompletionStream) (string, *goopenai.Usage) {
	t.Helper()
	defer s.Close()
	var text strings.Builder
	var usage *goopenai.Usage
	for {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return text.String(), usage
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
}

// fakeOpenAI answers by the upstream model the gateway asked for, so one
// fake covers every scenario.
func fakeOpenAI(t *testing.T) *pt.Upstream {
	t.Helper()
	fx := func(name string) []byte { return pt.Fixture(t, name) }
	return pt.NewUpstream(t, func(r pt.Recorded) pt.Reply {
		if r.Path == "/v1/embeddings" {
			return pt.JSON(200, fx("openai/embeddings_response.json"))
		}
		model := gjson.GetBytes(r.Body, "model").String()
		stream := gjson.GetBytes(r.Body, "stream").Bool()
		switch model {
		case "text":
			if stream {
				return pt.SSE(fx("openai/stream_text.sse"))
			}
			return pt.JSON(200, fx("openai/response_text.json"))
		case "tools":
			if stream {
				return pt.SSE(fx("openai/chunk_sequence_tools.sse"))
			}
			return pt.JSON(200, fx("openai/response_tool_calls.json"))
		case "midstream-error":
			return pt.SSE(fx("openai/stream_error_midstream.sse"))
		case "hang":
			r := pt.SSE(fx("openai/stream_text.sse"))
			r.Events, r.Hang = r.Events[:3], true
			return r
		case "slowish": // slow enough for identical requests to overlap
			return pt.Reply{Delay: 300 * time.Millisecond, Body: fx("openai/response_text.json")}
		case "slow":
			return pt.Reply{Delay: 3 * time.Second, Body: fx("openai/response_text.json")}
		case "stall":
			r := pt.SSE(fx("openai/stream_text.sse"))
			r.Events, r.Hang = r.Events[:2], true
			return r
		case "err-401":
			return pt.JSON(401, fx("openai/error_invalid_api_key_401.json"))
		case "err-429":
			return pt.HTTP(t, fx("openai/http_429_rate_limit.http"))
		case "err-quota":
			return pt.JSON(429, fx("openai/error_insufficient_quota_429.json"))
		case "err-400":
			return pt.JSON(400, fx("openai/error_context_length_400.json"))
		case "err-500":
			return pt.JSON(500, []byte(`{"error":{"message":"boom","type":"server_error"}}`))
		default:
			return pt.JSON(404, fx("openai/error_model_not_found_404.json"))
		}
	})
}

const gatewayYAML = `
providers:
  - name: up
    type: openai-compatible
    base_url: ${UPSTREAM}/v1
    api_key: sk-upstream-secret
    timeout: 1s
  - name: mock
    type: mock
  - name: down
    type: openai-compatible
    base_url: http://127.0.0.1:1/v1
models:
  - name: chat
    targets: [{provider: up, model: text}]
  - name: tool-model
    targets: [{provider: up, model: tools}]
limits:
  max_body_bytes: 65536
`

func start(t *testing.T) (*gw, *pt.Upstream) {
	up := fakeOpenAI(t)
	return startGateway(t, gatewayYAML, map[string]string{"UPSTREAM": up.URL}), up
}

func TestE2EChatNonStream(t *testing.T) {
	g, up := start(t)
	resp, err := g.client().CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model:    "chat",
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "Say hello in French."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "Bonjour ! Comment puis-je vous aider aujourd'hui ?" {
		t.Errorf("content %q", got)
	}
	if resp.Usage.TotalTokens != 34 {
		t.Errorf("usage %+v", resp.Usage)
	}
	h := resp.Header()
	if h.Get("X-Tollgate-Provider") != "up" || h.Get("X-Tollgate-Model") != "gpt-4o-mini-2024-07-18" ||
		h.Get("X-Request-Id") == "" || h.Get("X-Tollgate-Cache") != "MISS" {
		t.Errorf("headers %v", h)
	}
	sent := up.Requests()[0]
	if gjson.GetBytes(sent.Body, "model").String() != "text" || sent.Header.Get("Authorization") != "Bearer sk-upstream-secret" {
		t.Errorf("upstream got %s %v", sent.Body, sent.Header)
	}
}

func TestE2EChatStream(t *testing.T) {
	g, up := start(t)
	for _, usage := range []bool{false, true} {
		req := goopenai.ChatCompletionRequest{
			Model:    "chat",
			Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "Say hello in French."}},
			Stream:   true,
		}
		if usage {
			req.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
		}
		s, err := g.client().CreateChatCompletionStream(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		text, gotUsage := readStream(t, s)
		if text != "Bonjour ! Comment puis-je vous aider aujourd'hui ?" {
			t.Errorf("streamed %q", text)
		}
		if usage != (gotUsage != nil) {
			t.Errorf("include_usage=%v but usage chunk present=%v", usage, gotUsage != nil)
		}
		if gotUsage != nil && gotUsage.TotalTokens != 34 {
			t.Errorf("usage %+v", gotUsage)
		}
		if s.Header().Get("Content-Type") != "text/event-stream" {
			t.Errorf("content type %q", s.Header().Get("Content-Type"))
		}
	}
	for _, r := range up.Requests() {
		if !gjson.GetBytes(r.Body, "stream_options.include_usage").Bool() {
			t.Errorf("upstream not asked for usage: %s", r.Body)
		}
	}
}

func TestE2EToolsAndImagesPassThrough(t *testing.T) {
	g, up := start(t)
	// Tools: the second turn of a tool conversation goes up unchanged and
	// the tool calls come back parsed by the SDK.
	body := string(pt.Fixture(t, "openai/request_tools_second_turn.json"))
	body = strings.Replace(body, `"model": "gpt-4o-mini"`, `"model": "tool-model"`, 1)
	var req goopenai.ChatCompletionRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	req.Model, req.Stream, req.StreamOptions = "tool-model", false, nil
	resp, err := g.client().CreateChatCompletion(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices[0].Message.ToolCalls) != 2 || resp.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("tool calls %+v", resp.Choices[0])
	}
	sent := up.Requests()[0].Body
	sdkBody, _ := json.Marshal(req) // what go-openai put on the wire
	for _, path := range []string{"tools", "messages.2.tool_calls", "messages.3.tool_call_id", "messages.4.content"} {
		if got, want := gjson.GetBytes(sent, path).Raw, gjson.GetBytes(sdkBody, path).Raw; got != want || want == "" {
			t.Errorf("%s: sent %s, upstream got %s", path, want, got)
		}
	}

	// Streamed parallel tool calls keep their index, id and name.
	req.Stream = true
	s, err := g.client().CreateChatCompletionStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	args := map[int]string{}
	names := map[int]string{}
	for {
		c, err := s.Recv()
		if err != nil {
			break
		}
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				args[*tc.Index] += tc.Function.Arguments
				if tc.Function.Name != "" {
					names[*tc.Index] = tc.Function.Name
				}
			}
		}
	}
	s.Close()
	if len(args) != 2 || names[0] != "get_weather" || !json.Valid([]byte(args[1])) {
		t.Errorf("streamed tool calls: names %v args %v", names, args)
	}

	// Images and unknown fields: the raw body reaches the upstream as sent.
	img := string(pt.Fixture(t, "openai/request_multimodal.json"))
	img = strings.Replace(img, `{`, `{"top_k": 5, "x_vendor": {"a": [1, 2]},`, 1)
	var m map[string]any
	_ = json.Unmarshal([]byte(img), &m)
	m["model"] = "chat"
	b, _ := json.Marshal(m)
	status, _, out := g.post(t, "/v1/chat/completions", string(b), nil)
	if status != 200 {
		t.Fatalf("multimodal: %d %s", status, out)
	}
	reqs := up.Requests()
	last := reqs[len(reqs)-1].Body
	for _, path := range []string{"messages", "top_k", "x_vendor", "max_tokens"} {
		if gjson.GetBytes(last, path).Raw != gjson.GetBytes(b, path).Raw {
			t.Errorf("%s: sent %s, upstream got %s", path, gjson.GetBytes(b, path).Raw, gjson.GetBytes(last, path).Raw)
		}
	}
}

func TestE2EErrors(t *testing.T) {
	g, _ := start(t)
	user := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name       string
		body       string
		status     int
		typ, code  string
		param      string
		retryAfter string
	}{
		{"unknown model", `{"model":"nope",` + user + `}`, 404, "invalid_request_error", "model_not_found", "model", ""},
		{"unknown provider address", `{"model":"nobody/x",` + user + `}`, 404, "invalid_request_error", "model_not_found", "model", ""},
		{"direct address, upstream lacks model", `{"model":"up/gpt-9",` + user + `}`, 404, "invalid_request_error", "model_not_found", "model", ""},
		{"malformed json", `{"model":`, 400, "invalid_request_error", "invalid_json", "", ""},
		{"missing messages", `{"model":"chat"}`, 400, "invalid_request_error", "missing_required_parameter", "messages", ""},
		{"bad temperature", `{"model":"chat",` + user + `,"temperature":9}`, 400, "invalid_request_error", "invalid_value", "temperature", ""},
		{"too large", `{"model":"chat","messages":[{"role":"user","content":"` + strings.Repeat("a", 70000) + `"}]}`,
			413, "invalid_request_error", "request_too_large", "", ""},
		{"upstream refuses our key", `{"model":"up/err-401",` + user + `}`, 502, "upstream_error", "upstream_auth_failed", "", ""},
		{"upstream rate limited", `{"model":"up/err-429",` + user + `}`, 429, "rate_limit_error", "upstream_rate_limited", "", "1"},
		{"upstream out of quota", `{"model":"up/err-quota",` + user + `}`, 502, "upstream_error", "upstream_error", "", ""},
		{"upstream rejects a parameter", `{"model":"up/err-400",` + user + `}`, 400, "invalid_request_error", "context_length_exceeded", "messages", ""},
		{"upstream 500", `{"model":"up/err-500",` + user + `}`, 502, "upstream_error", "upstream_error", "", ""},
		{"upstream timeout", `{"model":"up/slow",` + user + `}`, 504, "upstream_error", "upstream_timeout", "", ""},
		{"upstream silent stream", `{"model":"up/stall","stream":true,` + user + `}`, 200, "", "", "", ""},
		{"upstream unreachable", `{"model":"down/x",` + user + `}`, 502, "upstream_error", "upstream_error", "", ""},
		{"mid-stream error", `{"model":"up/midstream-error","stream":true,` + user + `}`, 200, "", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := g.post(t, "/v1/chat/completions", tc.body, nil)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if h.Get("X-Request-Id") == "" || h.Get("X-Tollgate-Cache") == "" {
				t.Error("no x-request-id or x-tollgate-cache")
			}
			if strings.Contains(string(body), "sk-") {
				t.Errorf("body leaks a key: %s", body)
			}
			if status == 200 { // a stream that failed after it started
				lines := pt.Lines(string(body))
				if len(lines) < 2 || lines[len(lines)-1] != "[DONE]" || !gjson.Get(lines[len(lines)-2], "error.message").Exists() {
					t.Errorf("stream did not end in an error event and [DONE]: %q", lines)
				}
				return
			}
			e := gjson.GetBytes(body, "error")
			if e.Get("type").String() != tc.typ || e.Get("code").String() != tc.code || e.Get("param").String() != tc.param {
				t.Errorf("error %s, want type %q code %q param %q", e.Raw, tc.typ, tc.code, tc.param)
			}
			for _, k := range []string{"message", "type", "param", "code"} {
				if !e.Get(k).Exists() {
					t.Errorf("envelope lacks %q: %s", k, body)
				}
			}
			if h.Get("Retry-After") != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", h.Get("Retry-After"), tc.retryAfter)
			}
		})
	}

	// The SDK sees the same errors as typed APIErrors.
	_, err := g.client().CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: "nope", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "hi"}}})
	var apiErr *goopenai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("go-openai error %#v", err)
	}
	s, err := g.client().CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model: "up/midstream-error", Stream: true, Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for {
		_, err = s.Recv()
		if err != nil {
			break
		}
	}
	if !errors.As(err, &apiErr) || apiErr.Type != "upstream_error" {
		t.Errorf("mid-stream error seen by go-openai as %#v", err)
	}
}

func TestE2EClientDisconnectCancelsUpstream(t *testing.T) {
	g, up := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := g.client().CreateChatCompletionStream(ctx, goopenai.ChatCompletionRequest{
		Model: "up/hang", Stream: true, Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	s.Close()
	select {
	case <-up.Canceled():
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request was not cancelled when the client went away")
	}
	// The tokens produced before the disconnect are still metered, in the
	// ledger finance reads.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, rows := g.admin(t, http.MethodGet, "/admin/usage?group_by=model&from=2000-01-01&to=2100-01-01", "")
		for _, r := range rows.Get("data").Array() {
			if r.Get("model").String() == "up/hang" {
				if r.Get("requests").Int() != 1 || r.Get("completion_tokens").Int() <= 0 {
					t.Errorf("usage of the cut stream: %s", r.Raw)
				}
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no usage event for the disconnected stream")
}

func TestE2EMockModelsAndEmbeddings(t *testing.T) {
	g, _ := start(t)
	c := g.client()
	resp, err := c.CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: "mock/echo", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "ping"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Choices[0].Message.Content, "ping") || resp.Usage.PromptTokens == 0 {
		t.Errorf("mock answer %+v", resp)
	}
	list, err := c.ListModels(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range list.Models {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "chat,tool-model,mock/echo" {
		t.Errorf("models %v", ids)
	}
	m, err := c.GetModel(context.Background(), "mock/echo")
	if err != nil || m.ID != "mock/echo" || m.OwnedBy != "mock" {
		t.Errorf("GetModel: %+v %v", m, err)
	}
	if _, err := c.GetModel(context.Background(), "nope"); err == nil {
		t.Error("GetModel of an unknown model succeeded")
	}
	emb, err := c.CreateEmbeddings(context.Background(), goopenai.EmbeddingRequestStrings{
		Model: "up/text-embedding-3-small", Input: []string{"hello"}})
	if err != nil || len(emb.Data) == 0 {
		t.Fatalf("embeddings: %+v %v", emb, err)
	}
	emb, err = c.CreateEmbeddings(context.Background(), goopenai.EmbeddingRequestStrings{Model: "mock/echo", Input: []string{"a", "b"}})
	if err != nil || len(emb.Data) != 2 {
		t.Fatalf("mock embeddings: %+v %v", emb, err)
	}
}

func TestE2EOperational(t *testing.T) {
	g, _ := start(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(g.url + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	status, h, body := g.post(t, "/v1/nothing", `{}`, map[string]string{"X-Request-ID": "my-trace.id:1"})
	if status != 404 || gjson.GetBytes(body, "error.code").String() != "unknown_url" || h.Get("X-Request-Id") != "my-trace.id:1" {
		t.Errorf("unknown URL: %d %s %v", status, body, h)
	}
	status, h, _ = g.post(t, "/v1/chat/completions", `{}`, map[string]string{"X-Request-ID": "bad id with spaces"})
	if status != 400 || h.Get("X-Request-Id") == "bad id with spaces" || h.Get("X-Request-Id") == "" {
		t.Errorf("insane request id kept: %q", h.Get("X-Request-Id"))
	}
	// One log line per request, without the client's or upstream's keys.
	var n int
	for _, l := range g.logs.lines() {
		if l["msg"] == "request" {
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d request log lines", n)
	}
	g.logs.mu.Lock()
	all := g.logs.b.String()
	g.logs.mu.Unlock()
	if strings.Contains(all, "sk-upstream-secret") || strings.Contains(all, g.key) || strings.Contains(all, testAdminKey) {
		t.Error("a key reached the log")
	}
}

func TestE2EGracefulShutdownFinishesStreams(t *testing.T) {
	up := fakeOpenAI(t)
	yaml := gatewayYAML + `
server:
  shutdown_timeout: 10s
`
	yaml = strings.Replace(yaml, "  - name: mock\n    type: mock\n", "  - name: mock\n    type: mock\n    mock: {chunks: 8, chunk_delay: 100ms}\n", 1)
	g := startGateway(t, yaml, map[string]string{"UPSTREAM": up.URL})
	s, err := g.client().CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model: "mock/echo", Stream: true, Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "one two three four five six seven eight nine ten"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- g.stop() }()
	var text strings.Builder
	for {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("stream broken by shutdown: %v", err)
		}
		if len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if !strings.Contains(text.String(), "ten") {
		t.Errorf("stream incomplete: %q", text.String())
	}
	if err := <-stopped; err != nil {
		t.Errorf("run returned %v", err)
	}
	// New connections are refused once shutdown began.
	if _, err := http.Get(g.url + "/healthz"); err == nil {
		t.Error("gateway still accepts connections after shutdown")
	}
}

func TestE2EDefaultsServeMockEcho(t *testing.T) {
	g := startGateway(t, "", nil)
	resp, err := g.client().CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: "mock/echo", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "hello"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Choices[0].Message.Content, "hello") {
		t.Errorf("answer %q", resp.Choices[0].Message.Content)
	}
}

// TestE2ENativeProviderRegistered drives a translating adapter through the
// real serve path: config type → factory in run.go → adapter → a fake
// upstream speaking the provider's own wire format.
func TestE2ENativeProviderRegistered(t *testing.T) {
	up := pt.NewUpstream(t, func(r pt.Recorded) pt.Reply {
		if r.Path != "/v1/messages" || r.Header.Get("X-Api-Key") != "sk-ant-secret" {
			return pt.JSON(404, []byte(`{"type":"error","error":{"type":"not_found_error","message":"wrong path or key"}}`))
		}
		return pt.JSON(200, []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5",
			"content":[{"type":"text","text":"Bonjour !"}],"stop_reason":"end_turn","stop_sequence":null,
			"usage":{"input_tokens":10,"output_tokens":3}}`))
	})
	g := startGateway(t, `
providers:
  - name: claude
    type: anthropic
    base_url: ${UPSTREAM}
    api_key: sk-ant-secret
models:
  - name: chat
    targets: [{provider: claude, model: claude-haiku-4-5}]
`, map[string]string{"UPSTREAM": up.URL})
	resp, err := g.client().CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: "chat", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "Say hello in French."}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Bonjour !" || resp.Usage.TotalTokens != 13 || resp.Header().Get("X-Tollgate-Provider") != "claude" {
		t.Errorf("answer %+v", resp)
	}
	if got := gjson.GetBytes(up.Requests()[0].Body, "max_tokens").Int(); got == 0 {
		t.Error("max_tokens not set for Anthropic")
	}
}
