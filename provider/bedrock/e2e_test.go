package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	goopenai "github.com/sashabaranov/go-openai"

	pt "github.com/tollgate-gw/tollgate/provider/providertest"
	"github.com/tollgate-gw/tollgate/provider/providertest/servertest"
)

// gateway serves the client API in front of a bedrock adapter whose
// upstream answers with handle.
func gateway(t *testing.T, handle func(pt.Recorded) pt.Reply) (string, *pt.Upstream) {
	t.Helper()
	up := pt.NewUpstream(t, handle)
	a := testAdapter(t, up.URL, &http.Transport{}, fakeImages{mediaType: "image/png", data: pixelPNG(t)})
	return servertest.Start(t, "bedrock", a), up
}

const e2eModel = "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"

func TestE2EText(t *testing.T) {
	url, up := gateway(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, readFixture(t, "bedrock/converse_response.json")) })
	resp, err := servertest.Client(url).CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model:    e2eModel,
		Messages: []goopenai.ChatCompletionMessage{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Weather?"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Paris: 18 °C and cloudy. Tokyo: 26 °C and sunny." || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("answer %+v", resp.Choices[0])
	}
	if resp.Usage.PromptTokens != 210 || resp.Usage.CompletionTokens != 19 || resp.Usage.TotalTokens != 229 {
		t.Errorf("usage %+v", resp.Usage)
	}
	if got := up.Requests(); len(got) != 1 || got[0].Path != "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse" {
		t.Errorf("upstream requests %+v", got)
	}
}

func TestE2EStream(t *testing.T) {
	url, _ := gateway(t, func(pt.Recorded) pt.Reply { return binaryReply(t, "bedrock/converse_stream_text.jsonl") })
	s, err := servertest.Client(url).CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model:         e2eModel,
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
	finish := ""
	for {
		ch, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ch.Usage != nil {
			usage = ch.Usage
		}
		for _, c := range ch.Choices {
			text.WriteString(c.Delta.Content)
			if c.FinishReason != "" {
				finish = string(c.FinishReason)
			}
		}
	}
	if text.String() != "Bonjour ! Comment puis-je vous aider aujourd'hui ?" || finish != "stop" {
		t.Errorf("streamed %q, finish %q", text.String(), finish)
	}
	if usage == nil || usage.PromptTokens != 22 || usage.CompletionTokens != 12 {
		t.Errorf("usage %+v", usage)
	}
}

// weatherTool is the shared scenario's tool.
var weatherTool = goopenai.Tool{Type: "function", Function: &goopenai.FunctionDefinition{
	Name:        "get_weather",
	Description: "Get the current weather for a city.",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string"}},"required":["city"]}`),
}}

func TestE2EToolRoundTrip(t *testing.T) {
	url, up := gateway(t, func(r pt.Recorded) pt.Reply {
		if strings.Contains(string(r.Body), "toolResult") {
			return pt.JSON(200, readFixture(t, "bedrock/converse_response.json"))
		}
		return pt.JSON(200, readFixture(t, "bedrock/converse_response_tool_use.json"))
	})
	client := servertest.Client(url)
	msgs := []goopenai.ChatCompletionMessage{
		{Role: "system", Content: "You are a concise weather assistant."},
		{Role: "user", Content: "What's the weather in Paris and Tokyo right now?"},
	}
	first, err := client.CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: e2eModel, Messages: msgs, Tools: []goopenai.Tool{weatherTool}, ToolChoice: "auto",
	})
	if err != nil {
		t.Fatal(err)
	}
	answer := first.Choices[0].Message
	if first.Choices[0].FinishReason != "tool_calls" || len(answer.ToolCalls) != 2 ||
		answer.ToolCalls[0].ID != "tooluse_Xk3mP9qRs2Tv5Wy8Zb1c" || answer.ToolCalls[1].Function.Arguments != `{"city":"Tokyo","unit":"celsius"}` {
		t.Fatalf("first turn %+v", first.Choices[0])
	}
	msgs = append(msgs, answer,
		goopenai.ChatCompletionMessage{Role: "tool", ToolCallID: answer.ToolCalls[0].ID, Content: `{"temp_c":18,"condition":"cloudy"}`},
		goopenai.ChatCompletionMessage{Role: "tool", ToolCallID: answer.ToolCalls[1].ID, Content: "26 °C, sunny"},
	)
	second, err := client.CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: e2eModel, Messages: msgs, Tools: []goopenai.Tool{weatherTool},
	})
	if err != nil {
		t.Fatal(err)
	}
	if second.Choices[0].Message.Content != "Paris: 18 °C and cloudy. Tokyo: 26 °C and sunny." {
		t.Errorf("second turn %+v", second.Choices[0])
	}
	reqs := up.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	var got converseRequest
	if err := json.Unmarshal(reqs[1].Body, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"system":[{"text":"You are a concise weather assistant."}],"messages":[
	 {"role":"user","content":[{"text":"What's the weather in Paris and Tokyo right now?"}]},
	 {"role":"assistant","content":[{"text":"I'll check both cities."},
	   {"toolUse":{"toolUseId":"tooluse_Xk3mP9qRs2Tv5Wy8Zb1c","name":"get_weather","input":{"city":"Paris","unit":"celsius"}}},
	   {"toolUse":{"toolUseId":"tooluse_Lp7nQ2wEr5Ty8Ui1Op4a","name":"get_weather","input":{"city":"Tokyo","unit":"celsius"}}}]},
	 {"role":"user","content":[
	   {"toolResult":{"toolUseId":"tooluse_Xk3mP9qRs2Tv5Wy8Zb1c","content":[{"json":{"temp_c":18,"condition":"cloudy"}}],"status":"success"}},
	   {"toolResult":{"toolUseId":"tooluse_Lp7nQ2wEr5Ty8Ui1Op4a","content":[{"text":"26 °C, sunny"}],"status":"success"}}]}],
	 "toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","description":"Get the current weather for a city.",
	   "inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string"}},"required":["city"]}}}}]}}`
	if d := jsonEqual(t, reqs[1].Body, []byte(want)); d != "" {
		t.Errorf("second upstream request (-want +got):\n%s", d)
	}
}

func TestE2EStreamToolCalls(t *testing.T) {
	url, _ := gateway(t, func(pt.Recorded) pt.Reply { return binaryReply(t, "bedrock/converse_stream_events.jsonl") })
	s, err := servertest.Client(url).CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model: e2eModel, Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "Weather in Paris?"}},
		Tools: []goopenai.Tool{weatherTool}, Stream: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var id, name, args string
	for {
		ch, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ch.Usage != nil {
			t.Error("usage chunk shown though the client did not ask")
		}
		for _, c := range ch.Choices {
			for _, tc := range c.Delta.ToolCalls {
				if tc.Index == nil || *tc.Index != 0 {
					t.Errorf("tool call index %v", tc.Index)
				}
				id += tc.ID
				name += tc.Function.Name
				args += tc.Function.Arguments
			}
		}
	}
	if id != "tooluse_Xk3mP9qRs2Tv5Wy8Zb1c" || name != "get_weather" {
		t.Errorf("tool call %q %q", id, name)
	}
	if d := jsonEqual(t, []byte(args), []byte(`{"city":"Paris","unit":"celsius"}`)); d != "" {
		t.Error(d)
	}
}

func TestE2EImage(t *testing.T) {
	url, up := gateway(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, readFixture(t, "bedrock/converse_response.json")) })
	const data = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	_, err := servertest.Client(url).CreateChatCompletion(context.Background(), goopenai.ChatCompletionRequest{
		Model: e2eModel,
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", MultiContent: []goopenai.ChatMessagePart{
			{Type: "text", Text: "What is this?"},
			{Type: "image_url", ImageURL: &goopenai.ChatMessageImageURL{URL: "data:image/png;base64," + data, Detail: "low"}},
			{Type: "image_url", ImageURL: &goopenai.ChatMessageImageURL{URL: "https://example.com/pixel.png"}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"messages":[{"role":"user","content":[{"text":"What is this?"},
	  {"image":{"format":"png","source":{"bytes":"` + data + `"}}},
	  {"image":{"format":"png","source":{"bytes":"` + data + `"}}}]}]}`
	if d := jsonEqual(t, up.Requests()[0].Body, []byte(want)); d != "" {
		t.Errorf("upstream request (-want +got):\n%s", d)
	}
}

// envelope is OpenAI's error body as a client sees it.
type envelope struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func TestE2EErrors(t *testing.T) {
	tests := []struct {
		name       string
		reply      pt.Reply
		body       string
		status     int
		typ, code  string
		param      string
		retryAfter string
	}{
		{name: "429", reply: pt.HTTP(t, readFixture(t, "bedrock/error_throttling_429.http")),
			status: 429, typ: "rate_limit_error", code: "upstream_rate_limited", retryAfter: "3"},
		{name: "403 credentials", reply: pt.HTTP(t, readFixture(t, "bedrock/error_unrecognized_client_403.http")),
			status: 502, typ: "upstream_error", code: "upstream_auth_failed"},
		{name: "400 validation", reply: pt.HTTP(t, readFixture(t, "bedrock/error_validation_400.http")),
			status: 400, typ: "invalid_request_error", code: "invalid_request"},
		{name: "503", reply: pt.HTTP(t, readFixture(t, "bedrock/error_service_unavailable_503.http")),
			status: 502, typ: "upstream_error", code: "upstream_error"},
		{name: "408 model timeout", reply: pt.HTTP(t, readFixture(t, "bedrock/error_model_timeout_408.http")),
			status: 504, typ: "upstream_error", code: "upstream_timeout"},
		{name: "n refused", body: `"n":2`, status: 400, typ: "invalid_request_error", code: "unsupported_parameter", param: "n"},
		{name: "logprobs refused", body: `"logprobs":true`, status: 400, typ: "invalid_request_error", code: "unsupported_parameter", param: "logprobs"},
	}
	for _, tc := range tests {
		for _, stream := range []bool{false, true} {
			name := tc.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				url, up := gateway(t, func(pt.Recorded) pt.Reply { return tc.reply })
				body := `{"model":"` + e2eModel + `","messages":[{"role":"user","content":"hi"}]`
				if stream {
					body += `,"stream":true`
				}
				if tc.body != "" {
					body += "," + tc.body
				}
				body += "}"
				resp, raw := servertest.Post(t, url, body)
				var env envelope
				if err := json.Unmarshal(raw, &env); err != nil {
					t.Fatalf("status %d, body %s", resp.StatusCode, raw)
				}
				if resp.StatusCode != tc.status || env.Error.Type != tc.typ || env.Error.Code == nil || *env.Error.Code != tc.code {
					t.Errorf("got %d %s", resp.StatusCode, raw)
				}
				if tc.param != "" && (env.Error.Param == nil || *env.Error.Param != tc.param) {
					t.Errorf("param: %s", raw)
				}
				if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
				}
				if strings.Contains(string(raw), "AKIA") || strings.Contains(string(raw), "br-test-key") {
					t.Errorf("credential leaked: %s", raw)
				}
				if tc.param != "" && len(up.Requests()) != 0 {
					t.Error("a refused request reached the upstream")
				}
			})
		}
	}
}

func TestE2EStreamException(t *testing.T) {
	url, _ := gateway(t, func(pt.Recorded) pt.Reply { return binaryReply(t, "bedrock/converse_stream_exception.jsonl") })
	s, err := servertest.Client(url).CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model: e2eModel, Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "hi"}}, Stream: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for {
		_, err := s.Recv()
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			t.Fatal("stream ended cleanly after an upstream exception")
		}
		if !strings.Contains(err.Error(), "Too many tokens") && !strings.Contains(err.Error(), "rate") {
			t.Errorf("err %v", err)
		}
		break
	}
}

func TestE2EEmbeddings(t *testing.T) {
	url, up := gateway(t, func(r pt.Recorded) pt.Reply {
		if strings.Contains(string(r.Body), "waiter") {
			return pt.JSON(200, []byte(`{"embedding":[-0.0321,0.0654,0.0098,0.0441],"inputTextTokenCount":6}`))
		}
		return pt.JSON(200, []byte(`{"embedding":[0.0123,-0.0456,0.0789,-0.0012],"inputTextTokenCount":5}`))
	})
	resp, err := servertest.Client(url).CreateEmbeddings(context.Background(), goopenai.EmbeddingRequestStrings{
		Model: "bedrock/amazon.titan-embed-text-v2:0", Input: []string{"The food was delicious.", "The waiter was friendly."}, Dimensions: 256,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || resp.Data[1].Index != 1 || resp.Data[1].Embedding[0] != float32(-0.0321) || resp.Usage.PromptTokens != 11 {
		t.Errorf("answer %+v", resp)
	}
	for _, r := range up.Requests() {
		if r.Path != "/model/amazon.titan-embed-text-v2:0/invoke" || !strings.Contains(string(r.Body), `"dimensions":256`) {
			t.Errorf("upstream request %s %s", r.Path, r.Body)
		}
	}
}
