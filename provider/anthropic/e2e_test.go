package anthropic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	goopenai "github.com/sashabaranov/go-openai"

	pt "github.com/tollgate-gw/tollgate/provider/providertest"
	"github.com/tollgate-gw/tollgate/provider/providertest/servertest"
)

// e2e is a gateway with this adapter (as provider "anthropic") in front of
// a fake Anthropic answering with handle.
type e2e struct {
	up     *pt.Upstream
	url    string
	client *goopenai.Client
}

func startE2E(t *testing.T, handle func(r pt.Recorded) pt.Reply) *e2e {
	t.Helper()
	up := pt.NewUpstream(t, handle)
	url := servertest.Start(t, "anthropic", newTestAdapter(t, "anthropic", up.URL, "sk-ant-e2e"))
	return &e2e{up: up, url: url, client: servertest.Client(url)}
}

// post sends a raw chat request and returns the response with its body.
func (g *e2e) post(t *testing.T, body string) (*http.Response, []byte) {
	t.Helper()
	return servertest.Post(t, g.url, body)
}

// upstreamBody decodes the i-th request the fake Anthropic received.
func (g *e2e) upstreamBody(t *testing.T, i int) messagesRequestView {
	t.Helper()
	reqs := g.up.Requests()
	if len(reqs) <= i {
		t.Fatalf("%d upstream requests, want more than %d", len(reqs), i)
	}
	var v messagesRequestView
	if err := json.Unmarshal(reqs[i].Body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// messagesRequestView reads back what the adapter sent.
type messagesRequestView struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

func TestE2EText(t *testing.T) {
	g := startE2E(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, readTestdata(t, "anthropic/response_text.json")) })
	resp, err := g.client.CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model:    "anthropic/claude-sonnet-4-5",
		Messages: []goopenai.ChatCompletionMessage{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Say hello in French."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != "msg_01HkQv8XzP3yTn5RbW2cLmFj" || resp.Model != "claude-sonnet-4-5-20250929" ||
		resp.Choices[0].Message.Content != "Bonjour ! Comment puis-je vous aider aujourd'hui ?" ||
		resp.Choices[0].FinishReason != goopenai.FinishReasonStop || resp.Usage.TotalTokens != 39 {
		t.Errorf("unexpected answer %+v", resp)
	}
	if got := g.upstreamBody(t, 0).Model; got != "claude-sonnet-4-5" {
		t.Errorf("upstream model %q", got)
	}
}

func TestE2EStream(t *testing.T) {
	g := startE2E(t, func(pt.Recorded) pt.Reply { return pt.SSE(readTestdata(t, "anthropic/stream_text.sse")) })
	s, err := g.client.CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model:         "anthropic/claude-sonnet-4-5",
		Messages:      []goopenai.ChatCompletionMessage{{Role: "user", Content: "Say hello in French."}},
		Stream:        true,
		StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var text strings.Builder
	var usage *goopenai.Usage
	for {
		ch, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ch.Choices {
			text.WriteString(c.Delta.Content)
		}
		if ch.Usage != nil {
			usage = ch.Usage
		}
	}
	if text.String() != "Bonjour ! Comment puis-je vous aider aujourd'hui ?" {
		t.Errorf("streamed %q", text.String())
	}
	if usage == nil || usage.PromptTokens != 21 || usage.CompletionTokens != 18 {
		t.Errorf("usage %+v", usage)
	}
}

// TestE2EStreamTranscripts compares what a client receives with the
// translation fixtures, byte stream against byte stream (created and zero
// token details normalised).
func TestE2EStreamTranscripts(t *testing.T) {
	for _, name := range []string{"text", "tool_use", "error"} {
		t.Run(name, func(t *testing.T) {
			g := startE2E(t, func(pt.Recorded) pt.Reply { return pt.SSE(readTestdata(t, "anthropic/stream_"+name+".sse")) })
			resp, body := g.post(t, `{"model":"anthropic/claude-sonnet-4-5","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			want := readTestdata(t, "golden/openai_from_anthropic_stream_"+name+".sse")
			if d := cmp.Diff(sseLines(t, want), sseLines(t, body)); d != "" {
				t.Errorf("transcript mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestE2EToolRoundTrip(t *testing.T) {
	g := startE2E(t, func(r pt.Recorded) pt.Reply {
		if bytes.Contains(r.Body, []byte("tool_result")) {
			return pt.JSON(200, readTestdata(t, "anthropic/response_text.json"))
		}
		return pt.JSON(200, readTestdata(t, "anthropic/response_tool_use.json"))
	})
	tools := []goopenai.Tool{{Type: goopenai.ToolTypeFunction, Function: &goopenai.FunctionDefinition{
		Name: "get_weather", Description: "Get the current weather for a city.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
	}}}
	msgs := []goopenai.ChatCompletionMessage{
		{Role: "system", Content: "You are a concise weather assistant."},
		{Role: "user", Content: "What's the weather in Paris and Tokyo right now?"},
	}
	first, err := g.client.CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: "anthropic/claude-sonnet-4-5", Messages: msgs, Tools: tools, ToolChoice: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	m := first.Choices[0].Message
	if first.Choices[0].FinishReason != goopenai.FinishReasonToolCalls || len(m.ToolCalls) != 2 ||
		m.ToolCalls[0].ID != "toolu_01A9xKpLm3QrT7vYw2ZbNc4D" || m.ToolCalls[1].Function.Arguments != `{"city":"Tokyo","unit":"celsius"}` {
		t.Fatalf("first turn: %+v", first)
	}
	msgs = append(msgs, m,
		goopenai.ChatCompletionMessage{Role: "tool", ToolCallID: m.ToolCalls[0].ID, Content: `{"temp_c":18,"condition":"cloudy"}`},
		goopenai.ChatCompletionMessage{Role: "tool", ToolCallID: m.ToolCalls[1].ID, Content: `{"temp_c":26,"condition":"sunny"}`})
	second, err := g.client.CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: "anthropic/claude-sonnet-4-5", Messages: msgs, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	if second.Choices[0].Message.Content == "" {
		t.Errorf("second turn: %+v", second)
	}
	sent := g.upstreamBody(t, 1).Messages
	if len(sent) != 3 || sent[1].Role != "assistant" || sent[2].Role != "user" {
		t.Fatalf("second turn sent %+v", sent)
	}
	wantAssistant := `[{"type":"text","text":"I'll check both cities."},
		{"type":"tool_use","id":"toolu_01A9xKpLm3QrT7vYw2ZbNc4D","name":"get_weather","input":{"city":"Paris","unit":"celsius"}},
		{"type":"tool_use","id":"toolu_01Bq7RtYp4LmN8vXc3ZwKd5E","name":"get_weather","input":{"city":"Tokyo","unit":"celsius"}}]`
	wantResults := `[{"type":"tool_result","tool_use_id":"toolu_01A9xKpLm3QrT7vYw2ZbNc4D","content":"{\"temp_c\":18,\"condition\":\"cloudy\"}"},
		{"type":"tool_result","tool_use_id":"toolu_01Bq7RtYp4LmN8vXc3ZwKd5E","content":"{\"temp_c\":26,\"condition\":\"sunny\"}"}]`
	for _, c := range []struct {
		got  json.RawMessage
		want string
	}{{sent[1].Content, wantAssistant}, {sent[2].Content, wantResults}} {
		if d := cmp.Diff(normalise(t, []byte(c.want)), normalise(t, c.got)); d != "" {
			t.Errorf("upstream content mismatch (-want +got):\n%s", d)
		}
	}
}

func TestE2EImage(t *testing.T) {
	g := startE2E(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, readTestdata(t, "anthropic/response_text.json")) })
	const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	_, err := g.client.CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: "anthropic/claude-sonnet-4-5",
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", MultiContent: []goopenai.ChatMessagePart{
			{Type: goopenai.ChatMessagePartTypeText, Text: "What is this?"},
			{Type: goopenai.ChatMessagePartTypeImageURL, ImageURL: &goopenai.ChatMessageImageURL{URL: "data:image/png;base64," + png, Detail: goopenai.ImageURLDetailLow}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"type":"text","text":"What is this?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + png + `"}}]`
	if d := cmp.Diff(normalise(t, []byte(want)), normalise(t, g.upstreamBody(t, 0).Messages[0].Content)); d != "" {
		t.Errorf("upstream content mismatch (-want +got):\n%s", d)
	}
}

// TestE2EErrors checks what a client sees for Anthropic's failures and for
// refused fields (CONTRACT §3).
func TestE2EErrors(t *testing.T) {
	tests := []struct {
		name       string
		reply      pt.Reply
		body       string
		status     int
		envelope   string
		retryAfter string
	}{
		{"429", pt.HTTP(t, readTestdata(t, "anthropic/http_429_rate_limit.http")), "", 429,
			`{"error":{"message":"anthropic: This request would exceed the rate limit for your organization of 80,000 input tokens per minute. For details, refer to the rate limits documentation.","type":"rate_limit_error","param":null,"code":"upstream_rate_limited"}}`, "14"},
		{"401", pt.JSON(401, readTestdata(t, "anthropic/error_authentication_401.json")), "", 502,
			`{"error":{"message":"provider \"anthropic\" refused the gateway's credentials","type":"upstream_error","param":null,"code":"upstream_auth_failed"}}`, ""},
		{"529", pt.JSON(529, readTestdata(t, "anthropic/error_overloaded_529.json")), "", 502,
			string(httpBody(t, readTestdata(t, "golden/openai_error_from_anthropic_529.http"))), ""},
		{"400", pt.JSON(400, readTestdata(t, "anthropic/error_invalid_request_400.json")), "", 400,
			`{"error":{"message":"anthropic: max_tokens: Field required","type":"invalid_request_error","param":null,"code":"invalid_request"}}`, ""},
		{"temperature refused", pt.Reply{}, `{"model":"anthropic/claude-sonnet-4-5","temperature":1.5,"messages":[{"role":"user","content":"hi"}]}`, 400,
			`{"error":{"message":"Anthropic accepts a temperature between 0 and 1; 1.5 is out of range.","type":"invalid_request_error","param":"temperature","code":"unsupported_parameter"}}`, ""},
		{"n refused", pt.Reply{}, `{"model":"anthropic/claude-sonnet-4-5","n":2,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, 400,
			`{"error":{"message":"Anthropic returns one choice per request; n must be 1.","type":"invalid_request_error","param":"n","code":"unsupported_parameter"}}`, ""},
		{"bad arguments", pt.Reply{}, `{"model":"anthropic/claude-sonnet-4-5","messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"nope"}}]}]}`, 400,
			`{"error":{"message":"Invalid 'messages[1].tool_calls[0].function.arguments': the arguments of a tool call must be a JSON object.","type":"invalid_request_error","param":"messages[1].tool_calls[0].function.arguments","code":"invalid_value"}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := startE2E(t, func(pt.Recorded) pt.Reply { return tc.reply })
			body := tc.body
			if body == "" {
				body = `{"model":"anthropic/claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`
			}
			resp, got := g.post(t, body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, got)
			}
			if d := cmp.Diff(normalise(t, []byte(tc.envelope)), normalise(t, got)); d != "" {
				t.Errorf("envelope mismatch (-want +got):\n%s", d)
			}
			if ra := resp.Header.Get("Retry-After"); ra != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", ra, tc.retryAfter)
			}
		})
	}
}

// httpBody returns the body of a raw HTTP response fixture.
func httpBody(t *testing.T, raw []byte) []byte {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}
