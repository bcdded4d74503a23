package azure

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

	goopenai "github.com/sashabaranov/go-openai"
	"github.com/tidwall/gjson"

	pt "github.com/tollgate-gw/tollgate/provider/providertest"
	"github.com/tollgate-gw/tollgate/provider/providertest/servertest"
)

// startGateway serves the client API in front of an Azure adapter on a
// fake upstream answering with reply; the model to ask for is
// "azure/my-gpt4o-mini".
func startGateway(t *testing.T, version string, reply func(r pt.Recorded) pt.Reply) (gateway string, up *pt.Upstream) {
	t.Helper()
	up = pt.NewUpstream(t, reply)
	return servertest.Start(t, "azure", newTestAdapter(t, up.URL, version)), up
}

const e2eModel = "azure/my-gpt4o-mini"

func TestEndToEndText(t *testing.T) {
	gw, up := startGateway(t, "2024-10-21", func(pt.Recorded) pt.Reply { return pt.JSON(200, fixture(t, "azure/response_text.json")) })
	resp, err := servertest.Client(gw).CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: e2eModel,
		Messages: []goopenai.ChatCompletionMessage{
			{Role: goopenai.ChatMessageRoleSystem, Content: "You are a helpful assistant."},
			{Role: goopenai.ChatMessageRoleUser, Content: "Say hello in French."},
		},
		MaxCompletionTokens: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "Bonjour ! Comment puis-je vous aider aujourd'hui ?" {
		t.Errorf("content %q", got)
	}
	if resp.Usage.TotalTokens != 34 || resp.Choices[0].FinishReason != goopenai.FinishReasonStop {
		t.Errorf("usage %+v finish %q", resp.Usage, resp.Choices[0].FinishReason)
	}
	r := up.Requests()[0]
	if r.Path != "/openai/deployments/my-gpt4o-mini/chat/completions" || r.Query != "api-version=2024-10-21" {
		t.Errorf("upstream request %s?%s", r.Path, r.Query)
	}
	if gjson.GetBytes(r.Body, "model").Exists() || gjson.GetBytes(r.Body, "max_completion_tokens").Int() != 50 {
		t.Errorf("upstream body %s", r.Body)
	}
}

func TestEndToEndStream(t *testing.T) {
	tests := []struct {
		name, version, transcript string
		includeUsage              bool
		wantUsage                 int
	}{
		{"usage asked", "2024-10-21", "azure/stream_text.sse", true, 34},
		{"usage not asked", "2024-10-21", "azure/stream_text.sse", false, 0},
		// An api-version that cannot stream usage: the gateway counts it.
		{"old api-version, usage asked", "2024-06-01", "azure/stream_text.sse", true, 17},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			transcript := fixture(t, tc.transcript)
			if tc.version == "2024-06-01" {
				transcript = withoutUsageChunk(transcript)
			}
			gw, up := startGateway(t, tc.version, func(pt.Recorded) pt.Reply { return pt.SSE(transcript) })
			req := goopenai.ChatCompletionRequest{Model: e2eModel, Stream: true,
				Messages: []goopenai.ChatCompletionMessage{{Role: goopenai.ChatMessageRoleUser, Content: "Say hello in French."}}}
			if tc.includeUsage {
				req.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
			}
			s, err := servertest.Client(gw).CreateChatCompletionStream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var (
				text  strings.Builder
				usage int
				n     int
			)
			for {
				ch, err := s.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if ch.ID == "" || ch.Model == "" {
					t.Errorf("chunk %d without id or model (the prompt-filter chunk leaked?): %+v", n, ch)
				}
				if n == 0 && (len(ch.Choices) == 0 || ch.Choices[0].Delta.Role != "assistant") {
					t.Errorf("first chunk is not the role chunk: %+v", ch)
				}
				for _, c := range ch.Choices {
					text.WriteString(c.Delta.Content)
				}
				if ch.Usage != nil {
					usage = ch.Usage.TotalTokens
				}
				n++
			}
			if text.String() != "Bonjour ! Comment puis-je vous aider aujourd'hui ?" || usage != tc.wantUsage {
				t.Errorf("streamed %q with usage %d, want usage %d", text.String(), usage, tc.wantUsage)
			}
			sent := up.Requests()[0].Body
			if include := gjson.GetBytes(sent, "stream_options.include_usage"); include.Bool() != (tc.version != "2024-06-01") {
				t.Errorf("upstream stream_options: %s", sent)
			}
		})
	}
}

// weatherTool is the shared scenario's tool.
var weatherTool = goopenai.Tool{Type: goopenai.ToolTypeFunction, Function: &goopenai.FunctionDefinition{
	Name: "get_weather", Description: "Get the current weather for a city.",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}`),
}}

func TestEndToEndToolRoundTrip(t *testing.T) {
	promptFilter := bytes.SplitAfter(fixture(t, "azure/stream_text.sse"), []byte("\n\n"))[0]
	toolStream := append(bytes.Clone(promptFilter), fixture(t, "openai/chunk_sequence_tools.sse")...)
	gw, up := startGateway(t, "2025-04-01-preview", func(r pt.Recorded) pt.Reply {
		if gjson.GetBytes(r.Body, "stream").Bool() {
			return pt.SSE(toolStream)
		}
		return pt.JSON(200, fixture(t, "azure/response_text.json"))
	})
	client := servertest.Client(gw)
	history := []goopenai.ChatCompletionMessage{
		{Role: goopenai.ChatMessageRoleSystem, Content: "You are a concise weather assistant."},
		{Role: goopenai.ChatMessageRoleUser, Content: "What's the weather in Paris and Tokyo right now?"},
	}

	// Turn 1, streamed: two parallel tool calls, assembled by index.
	s, err := client.CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model: e2eModel, Stream: true, Messages: history, Tools: []goopenai.Tool{weatherTool}, ToolChoice: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	var calls []goopenai.ToolCall
	finish := goopenai.FinishReason("")
	for {
		ch, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ch.Choices {
			for _, d := range c.Delta.ToolCalls {
				i := *d.Index
				for len(calls) <= i {
					calls = append(calls, goopenai.ToolCall{Type: goopenai.ToolTypeFunction})
				}
				if d.ID != "" {
					calls[i].ID, calls[i].Function.Name = d.ID, d.Function.Name
				}
				calls[i].Function.Arguments += d.Function.Arguments
			}
			if c.FinishReason != "" {
				finish = c.FinishReason
			}
		}
	}
	s.Close()
	if len(calls) != 2 || finish != goopenai.FinishReasonToolCalls ||
		calls[0].ID != "call_Q2nF7dYk3mWz8hLpR4sTvX1c" || calls[1].ID != "call_Jm5aB8cK2pLr9tYw3zXq6NvE" ||
		gjson.Get(calls[0].Function.Arguments, "city").Str != "Paris" || gjson.Get(calls[1].Function.Arguments, "city").Str != "Tokyo" {
		t.Fatalf("tool calls %+v, finish %q", calls, finish)
	}

	// Turn 2: the calls and their results go back with their ids.
	history = append(history,
		goopenai.ChatCompletionMessage{Role: goopenai.ChatMessageRoleAssistant, Content: "I'll check both cities.", ToolCalls: calls},
		goopenai.ChatCompletionMessage{Role: goopenai.ChatMessageRoleTool, ToolCallID: calls[0].ID, Content: `{"temp_c":18,"condition":"cloudy"}`},
		goopenai.ChatCompletionMessage{Role: goopenai.ChatMessageRoleTool, ToolCallID: calls[1].ID, Content: `{"temp_c":26,"condition":"sunny"}`},
	)
	if _, err := client.CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: e2eModel, Messages: history, Tools: []goopenai.Tool{weatherTool}}); err != nil {
		t.Fatal(err)
	}
	sent := gjson.ParseBytes(up.Requests()[1].Body)
	msgs := sent.Get("messages").Array()
	if len(msgs) != 5 {
		t.Fatalf("upstream got %d messages: %s", len(msgs), sent.Raw)
	}
	for i, c := range calls {
		tc := msgs[2].Get("tool_calls").Array()[i]
		if tc.Get("id").Str != c.ID || tc.Get("function.name").Str != "get_weather" || tc.Get("function.arguments").Str != c.Function.Arguments {
			t.Errorf("assistant tool call %d upstream: %s", i, tc.Raw)
		}
		if r := msgs[3+i]; r.Get("role").Str != "tool" || r.Get("tool_call_id").Str != c.ID {
			t.Errorf("tool result %d upstream: %s", i, r.Raw)
		}
	}
	if sent.Get("tools.0.function.name").Str != "get_weather" {
		t.Errorf("tools upstream: %s", sent.Get("tools").Raw)
	}
}

func TestEndToEndImage(t *testing.T) {
	const dataURL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	gw, up := startGateway(t, "v1", func(pt.Recorded) pt.Reply { return pt.JSON(200, fixture(t, "azure/response_text.json")) })
	_, err := servertest.Client(gw).CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: e2eModel,
		Messages: []goopenai.ChatCompletionMessage{{Role: goopenai.ChatMessageRoleUser, MultiContent: []goopenai.ChatMessagePart{
			{Type: goopenai.ChatMessagePartTypeText, Text: "Describe the image."},
			{Type: goopenai.ChatMessagePartTypeImageURL, ImageURL: &goopenai.ChatMessageImageURL{URL: dataURL, Detail: goopenai.ImageURLDetailLow}},
			{Type: goopenai.ChatMessagePartTypeImageURL, ImageURL: &goopenai.ChatMessageImageURL{URL: "https://example.com/images/pixel.png"}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := up.Requests()[0]
	parts := gjson.GetBytes(r.Body, "messages.0.content")
	if parts.Get("1.image_url.url").Str != dataURL || parts.Get("1.image_url.detail").Str != "low" ||
		parts.Get("2.image_url.url").Str != "https://example.com/images/pixel.png" {
		t.Errorf("image parts upstream: %s", parts.Raw)
	}
	if r.Path != "/openai/v1/chat/completions" || gjson.GetBytes(r.Body, "model").Str != "my-gpt4o-mini" {
		t.Errorf("v1 request %s %s", r.Path, gjson.GetBytes(r.Body, "model").Raw)
	}
}

// postRaw sends a chat request body to the gateway and returns the answer.
func postRaw(t *testing.T, gw, body string) (*http.Response, []byte) {
	t.Helper()
	return servertest.Post(t, gw, body)
}

func TestEndToEndErrors(t *testing.T) {
	contentFilter, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(fixture(t, "translation/openai_error_from_azure_content_filter.http"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantFilterBody, _ := io.ReadAll(contentFilter.Body)
	tests := []struct {
		name       string
		reply      pt.Reply
		body       string
		status     int
		retryAfter string
		errType    string
		code       string
		param      string
		wantBody   []byte
	}{
		{"429 rate limited", pt.JSON(429, fixture(t, "azure/error_rate_limit_429.json")), "",
			429, "60", "rate_limit_error", "upstream_rate_limited", "", nil},
		{"401 is the gateway's problem", pt.JSON(401, fixture(t, "azure/error_unauthorized_401.json")), "",
			502, "", "upstream_error", "upstream_auth_failed", "", nil},
		{"content filter", pt.JSON(400, fixture(t, "azure/error_content_filter_400.json")), "",
			contentFilter.StatusCode, "", "invalid_request_error", "content_filter", "prompt", wantFilterBody},
		{"deployment not found", pt.JSON(404, fixture(t, "azure/error_deployment_not_found_404.json")), "",
			404, "", "invalid_request_error", "model_not_found", "model", nil},
		{"refused field", pt.JSON(200, fixture(t, "azure/response_text.json")),
			`{"model":"` + e2eModel + `","messages":[{"role":"user","content":"hi"}],"web_search_options":{}}`,
			400, "", "invalid_request_error", "unsupported_parameter", "web_search_options", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gw, up := startGateway(t, "2024-10-21", func(pt.Recorded) pt.Reply { return tc.reply })
			body := tc.body
			if body == "" {
				body = `{"model":"` + e2eModel + `","messages":[{"role":"user","content":"hi"}]}`
			}
			resp, got := postRaw(t, gw, body)
			e := gjson.GetBytes(got, "error")
			if resp.StatusCode != tc.status || resp.Header.Get("Retry-After") != tc.retryAfter ||
				e.Get("type").Str != tc.errType || e.Get("code").Str != tc.code || e.Get("param").Str != tc.param {
				t.Errorf("status %d retry-after %q body %s", resp.StatusCode, resp.Header.Get("Retry-After"), got)
			}
			if tc.wantBody != nil {
				sameJSON(t, "error body", tc.wantBody, got)
			}
			if strings.Contains(string(got), testKey) || strings.Contains(string(got), "subscription key") {
				t.Errorf("error body shows upstream credential text: %s", got)
			}
			if tc.param == "web_search_options" && len(up.Requests()) != 0 {
				t.Error("a refused request reached the upstream")
			}
		})
	}

	// The same 429 through the SDK.
	gw, _ := startGateway(t, "2024-10-21", func(pt.Recorded) pt.Reply { return pt.JSON(429, fixture(t, "azure/error_rate_limit_429.json")) })
	_, err = servertest.Client(gw).CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{Model: e2eModel,
		Messages: []goopenai.ChatCompletionMessage{{Role: goopenai.ChatMessageRoleUser, Content: "hi"}}})
	var apiErr *goopenai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 429 || apiErr.Code != "upstream_rate_limited" {
		t.Errorf("SDK error %v", err)
	}
}
