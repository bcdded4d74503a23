package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
	"github.com/tollgate-gw/tollgate/provider/providertest/servertest"
)

// e2eModel addresses the adapter directly through the gateway.
const e2eModel = "gemini/gemini-2.5-flash"

// e2e starts a fake Gemini answering with handle, the gateway in front of
// the adapter, and returns a client and the upstream.
func e2e(t *testing.T, images provider.ImageFetcher, handle func(pt.Recorded) pt.Reply) (*goopenai.Client, string, *pt.Upstream) {
	t.Helper()
	up := pt.NewUpstream(t, handle)
	a := newTestAdapter(t, up.URL, images)
	a.newID = openaiwire.NewID
	url := servertest.Start(t, "gemini", a)
	return servertest.Client(url), url, up
}

// checkUpstreamRequest checks what every request to the fake Gemini must
// look like: the key in x-goog-api-key and nowhere in the URL.
func checkUpstreamRequest(t *testing.T, r pt.Recorded, method string) {
	t.Helper()
	if r.Header.Get("X-Goog-Api-Key") != testKey {
		t.Errorf("x-goog-api-key = %q", r.Header.Get("X-Goog-Api-Key"))
	}
	if strings.Contains(r.Path+r.Query, testKey) || r.Header.Get("Authorization") != "" {
		t.Errorf("key leaked into %s?%s or Authorization", r.Path, r.Query)
	}
	if want := "/v1beta/models/gemini-2.5-flash:" + method; r.Path != want {
		t.Errorf("path %q, want %q", r.Path, want)
	}
}

func TestEndToEndText(t *testing.T) {
	client, _, up := e2e(t, nil, func(pt.Recorded) pt.Reply {
		return pt.JSON(200, readTestdata(t, "gemini/response_text.json"))
	})
	resp, err := client.CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: e2eModel,
		Messages: []goopenai.ChatCompletionMessage{
			{Role: "system", Content: "You are a helpful assistant."},
			{Role: "user", Content: "Say hello in French."},
		},
		Temperature: 0.7,
		Stop:        []string{"\n\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Bonjour ! Comment puis-je vous aider aujourd'hui ?" || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("answer %+v", resp.Choices)
	}
	if resp.ID != "kT2lZ9mQH4e2nvgP3p6x8AQ" || resp.Model != "gemini-2.5-flash" {
		t.Errorf("id %q model %q", resp.ID, resp.Model)
	}
	if resp.Usage.PromptTokens != 9 || resp.Usage.CompletionTokens != 44 || resp.Usage.TotalTokens != 53 ||
		resp.Usage.CompletionTokensDetails == nil || resp.Usage.CompletionTokensDetails.ReasoningTokens != 31 {
		t.Errorf("usage %+v", resp.Usage)
	}
	reqs := up.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	checkUpstreamRequest(t, reqs[0], "generateContent")
	var sent generateRequest
	if err := json.Unmarshal(reqs[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.SystemInstruction == nil || *sent.SystemInstruction.Parts[0].Text != "You are a helpful assistant." ||
		sent.GenerationConfig == nil || *sent.GenerationConfig.Temperature != 0.7 || sent.GenerationConfig.StopSequences[0] != "\n\n" {
		t.Errorf("upstream request %s", reqs[0].Body)
	}
}

func TestEndToEndStream(t *testing.T) {
	client, _, up := e2e(t, nil, func(pt.Recorded) pt.Reply {
		return pt.SSE(readTestdata(t, "gemini/stream_text.sse"))
	})
	s, err := client.CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model:         e2eModel,
		Messages:      []goopenai.ChatCompletionMessage{{Role: "user", Content: "Say hello in French."}},
		StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var text strings.Builder
	var usage *goopenai.Usage
	finish := ""
	for {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != "qY7oZ9xWJ2K8nvgPm5u4iQ8" {
			t.Errorf("chunk id %q", c.ID)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
			if ch.FinishReason != "" {
				finish = string(ch.FinishReason)
			}
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	if text.String() != "Bonjour ! Comment puis-je vous aider aujourd'hui ?" || finish != "stop" {
		t.Errorf("streamed %q, finish %q", text.String(), finish)
	}
	if usage == nil || usage.PromptTokens != 9 || usage.CompletionTokens != 44 {
		t.Errorf("usage %+v", usage)
	}
	reqs := up.Requests()
	checkUpstreamRequest(t, reqs[0], "streamGenerateContent")
	if reqs[0].Query != "alt=sse" {
		t.Errorf("query %q", reqs[0].Query)
	}
}

// TestEndToEndToolRoundTrip streams a first turn that calls two tools,
// then sends the results back: Gemini must receive the calls with the
// thought signature it sent, and the results under the right names.
func TestEndToEndToolRoundTrip(t *testing.T) {
	var mu sync.Mutex
	turn := 0
	client, _, up := e2e(t, nil, func(pt.Recorded) pt.Reply {
		mu.Lock()
		defer mu.Unlock()
		turn++
		if turn == 1 {
			return pt.SSE(readTestdata(t, "gemini/stream_function_call.sse"))
		}
		return pt.JSON(200, readTestdata(t, "gemini/response_cached.json"))
	})
	var first goopenai.ChatCompletionRequest
	if err := json.Unmarshal(readTestdata(t, "openai/request_tools_first_turn.json"), &first); err != nil {
		t.Fatal(err)
	}
	first.Model = e2eModel
	calls := streamToolCalls(t, client, first)
	if len(calls) != 2 || calls[0].Function.Name != "get_weather" || calls[1].Function.Arguments != `{"city":"Tokyo","unit":"celsius"}` {
		t.Fatalf("tool calls %+v", calls)
	}
	if calls[0].ID == calls[1].ID || !strings.HasPrefix(calls[1].ID, "call_") || len(calls[1].ID) != 29 {
		t.Errorf("ids %q %q", calls[0].ID, calls[1].ID)
	}

	second := first
	second.Stream, second.StreamOptions = false, nil
	second.Messages = append(append([]goopenai.ChatCompletionMessage(nil), first.Messages...),
		goopenai.ChatCompletionMessage{Role: "assistant", ToolCalls: calls},
		goopenai.ChatCompletionMessage{Role: "tool", ToolCallID: calls[0].ID, Content: `{"temp_c":18,"condition":"cloudy"}`},
		goopenai.ChatCompletionMessage{Role: "tool", ToolCallID: calls[1].ID, Content: `{"temp_c":26,"condition":"sunny"}`},
	)
	resp, err := client.CreateChatCompletion(context.Background(), second)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Paris: 18 °C and cloudy. Tokyo: 26 °C and sunny." ||
		resp.Usage.PromptTokensDetails == nil || resp.Usage.PromptTokensDetails.CachedTokens != 4096 {
		t.Errorf("second answer %+v", resp)
	}

	reqs := up.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	checkUpstreamRequest(t, reqs[1], "generateContent")
	// What Gemini received is the fixture's second turn, apart from the
	// assistant text the first turn did not have.
	want := parseJSON(t, readTestdata(t, "gemini/request_tools_second_turn.json")).(map[string]any)
	model := want["contents"].([]any)[1].(map[string]any)
	model["parts"] = model["parts"].([]any)[1:]
	if d := diffJSON(normalize(want), normalize(parseJSON(t, reqs[1].Body))); d != "" {
		t.Errorf("second upstream request (-want +got):\n%s", d)
	}
}

// streamToolCalls streams req and assembles the tool calls of choice 0.
func streamToolCalls(t *testing.T, client *goopenai.Client, req goopenai.ChatCompletionRequest) []goopenai.ToolCall {
	t.Helper()
	s, err := client.CreateChatCompletionStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var calls []goopenai.ToolCall
	finish := ""
	for {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range c.Choices {
			if ch.FinishReason != "" {
				finish = string(ch.FinishReason)
			}
			for _, tc := range ch.Delta.ToolCalls {
				i := *tc.Index
				for len(calls) <= i {
					calls = append(calls, goopenai.ToolCall{Type: "function"})
				}
				if tc.ID != "" {
					calls[i].ID = tc.ID
				}
				calls[i].Function.Name += tc.Function.Name
				calls[i].Function.Arguments += tc.Function.Arguments
			}
		}
	}
	if finish != "tool_calls" {
		t.Errorf("finish %q", finish)
	}
	return calls
}

func TestEndToEndImages(t *testing.T) {
	fetcher := testFetcher(t)
	client, _, up := e2e(t, fetcher, func(pt.Recorded) pt.Reply {
		return pt.JSON(200, readTestdata(t, "gemini/response_text.json"))
	})
	_, err := client.CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: e2eModel,
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", MultiContent: []goopenai.ChatMessagePart{
			{Type: "text", Text: "Describe both images in one sentence each."},
			{Type: "image_url", ImageURL: &goopenai.ChatMessageImageURL{URL: "data:image/png;base64," + pixelPNG, Detail: "low"}},
			{Type: "image_url", ImageURL: &goopenai.ChatMessageImageURL{URL: "https://example.com/images/pixel.png"}},
		}}},
		//lint:ignore SA1019 the multimodal fixture uses the legacy max_tokens on purpose
		MaxTokens: 300,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := parseJSON(t, up.Requests()[0].Body)
	want := parseJSON(t, readTestdata(t, "gemini/request_multimodal.json"))
	if d := diffJSON(want, got); d != "" {
		t.Errorf("upstream request (-want +got):\n%s", d)
	}
	if len(fetcher.fetched) != 1 || fetcher.fetched[0] != "https://example.com/images/pixel.png" {
		t.Errorf("fetched %v", fetcher.fetched)
	}
}

// rawPost sends a chat request to the gateway and returns the status,
// the Retry-After header and the error envelope.
func rawPost(t *testing.T, url, body string) (int, string, map[string]any) {
	t.Helper()
	resp, b := servertest.Post(t, url, body)
	var env struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("not an error envelope: %s", b)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), env.Error
}

func TestEndToEndErrors(t *testing.T) {
	tests := []struct {
		name       string
		reply      pt.Reply
		body       string
		status     int
		retryAfter string
		typ, code  string
		param      any
	}{
		{name: "429", reply: pt.JSON(429, readTestdata(t, "gemini/error_rate_limit_429.json")),
			status: 429, retryAfter: "34", typ: "rate_limit_error", code: "upstream_rate_limited"},
		{name: "bad key", reply: pt.JSON(400, readTestdata(t, "gemini/error_invalid_api_key_400.json")),
			status: 502, typ: "upstream_error", code: "upstream_auth_failed"},
		{name: "503", reply: pt.JSON(503, readTestdata(t, "gemini/error_unavailable_503.json")),
			status: 502, typ: "upstream_error", code: "upstream_error"},
		{name: "invalid argument", reply: pt.JSON(400, readTestdata(t, "gemini/error_invalid_argument_400.json")),
			status: 400, typ: "invalid_request_error", code: "invalid_request"},
		{name: "refused field", body: `{"model":"` + e2eModel + `","messages":[{"role":"user","content":"x"}],"audio":{"voice":"alloy","format":"wav"},"modalities":["text","audio"]}`,
			status: 400, typ: "invalid_request_error", code: "unsupported_parameter", param: "audio"},
		{name: "url image without fetcher", body: `{"model":"` + e2eModel + `","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`,
			status: 400, typ: "invalid_request_error", code: "unsupported_parameter", param: "messages[0].content[0].image_url"},
	}
	for _, tc := range tests {
		for _, stream := range []bool{false, true} {
			name := tc.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				_, url, up := e2e(t, nil, func(pt.Recorded) pt.Reply { return tc.reply })
				body := tc.body
				if body == "" {
					body = `{"model":"` + e2eModel + `","messages":[{"role":"user","content":"Say hello in French."}]}`
				}
				if stream {
					body = strings.Replace(body, "{", `{"stream":true,`, 1)
				}
				status, ra, e := rawPost(t, url, body)
				if status != tc.status || ra != tc.retryAfter || e["type"] != tc.typ || e["code"] != tc.code || e["param"] != tc.param {
					t.Errorf("got %d retry-after %q %v, want %d %q %s/%s param %v", status, ra, e, tc.status, tc.retryAfter, tc.typ, tc.code, tc.param)
				}
				if msg, _ := e["message"].(string); strings.Contains(msg, "API key") || strings.Contains(msg, testKey) {
					t.Errorf("message leaks upstream auth text: %q", msg)
				}
				if tc.body != "" && len(up.Requests()) != 0 {
					t.Error("a refused request reached the upstream")
				}
			})
		}
	}
}

func TestEndToEndMidStreamError(t *testing.T) {
	_, url, _ := e2e(t, nil, func(pt.Recorded) pt.Reply {
		return pt.SSE(geminiSSE(
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"Bonjour"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":1,"totalTokenCount":10},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`,
			`{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`))
	})
	resp, b := servertest.Post(t, url, `{"model":"`+e2eModel+`","stream":true,"messages":[{"role":"user","content":"Say hello in French."}]}`)
	lines := pt.Lines(string(b))
	if resp.StatusCode != 200 || len(lines) != 4 {
		t.Fatalf("status %d, events:\n%s", resp.StatusCode, b)
	}
	if !strings.Contains(lines[1], `"content":"Bonjour"`) ||
		!strings.Contains(lines[2], `"error"`) || !strings.Contains(lines[2], `overloaded`) || !strings.Contains(lines[2], `"upstream_error"`) ||
		lines[3] != "[DONE]" {
		t.Errorf("events:\n%s", b)
	}
}
