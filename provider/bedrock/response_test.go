package bedrock

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

func TestResponseGolden(t *testing.T) {
	a := testAdapter(t, "http://unused", http.DefaultTransport, nil)
	const model = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	tests := []struct {
		in, jsonTool string
		usage        provider.Usage
		finish       string
	}{
		{in: "converse_response.json", usage: provider.Usage{PromptTokens: 210, CompletionTokens: 19, TotalTokens: 229}, finish: "stop"},
		{in: "converse_response_tool_use.json", finish: "tool_calls",
			usage: provider.Usage{PromptTokens: 1632, CompletionTokens: 112, TotalTokens: 1744, CachedTokens: 1536}},
		{in: "converse_response_max_tokens.json", finish: "length",
			usage: provider.Usage{PromptTokens: 32, CompletionTokens: 4, TotalTokens: 36, CacheWriteTokens: 10}},
		{in: "converse_response_reasoning.json", finish: "stop", usage: provider.Usage{PromptTokens: 30, CompletionTokens: 25, TotalTokens: 55}},
		{in: "converse_response_guardrail.json", finish: "content_filter", usage: provider.Usage{PromptTokens: 15, TotalTokens: 15}},
		{in: "converse_response_json_schema.json", jsonTool: "city_temp", finish: "stop",
			usage: provider.Usage{PromptTokens: 402, CompletionTokens: 40, TotalTokens: 442}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			req := &provider.ChatRequest{Model: model, Body: []byte(`{}`)}
			resp, err := a.translateResponse(readFixture(t, "bedrock/"+tc.in), req, tc.jsonTool)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "openai_from_bedrock_"+tc.in, resp.Body)
			if resp.Usage != tc.usage {
				t.Errorf("usage %+v, want %+v", resp.Usage, tc.usage)
			}
			if resp.Model != model {
				t.Errorf("model %q", resp.Model)
			}
			var cc openaiwire.ChatCompletion
			if err := json.Unmarshal(resp.Body, &cc); err != nil {
				t.Fatal(err)
			}
			if cc.Choices[0].FinishReason != tc.finish {
				t.Errorf("finish %q, want %q", cc.Choices[0].FinishReason, tc.finish)
			}
		})
	}
}

func TestResponseJSONModeContent(t *testing.T) {
	a := testAdapter(t, "http://unused", http.DefaultTransport, nil)
	resp, err := a.translateResponse(readFixture(t, "bedrock/converse_response_json_schema.json"),
		&provider.ChatRequest{Model: "m", Body: []byte(`{}`)}, "city_temp")
	if err != nil {
		t.Fatal(err)
	}
	var cc openaiwire.ChatCompletion
	if err := json.Unmarshal(resp.Body, &cc); err != nil {
		t.Fatal(err)
	}
	m := cc.Choices[0].Message
	if m.Content == nil || *m.Content != `{"city":"Paris","temp_c":18}` || len(m.ToolCalls) != 0 {
		t.Errorf("message %+v", m)
	}
}

func TestResponseMissingUsageIsEstimated(t *testing.T) {
	a := testAdapter(t, "http://unused", http.DefaultTransport, nil)
	resp, err := a.translateResponse([]byte(`{"output":{"message":{"role":"assistant","content":[{"text":"one two three"}]}},"stopReason":"end_turn"}`),
		&provider.ChatRequest{Model: "m", Body: []byte(`{"a": 1}`)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if u := resp.Usage; !u.Estimated || u.CompletionTokens != 3 || u.PromptTokens != 2 {
		t.Errorf("usage %+v", u)
	}
}

func TestResponseNotJSON(t *testing.T) {
	a := testAdapter(t, "http://unused", http.DefaultTransport, nil)
	_, err := a.translateResponse([]byte(`<html>`), &provider.ChatRequest{Model: "m"}, "")
	if pe := asProviderError(t, err); pe.Kind != provider.KindServer {
		t.Errorf("kind %v", pe.Kind)
	}
}

func TestFinishReason(t *testing.T) {
	tests := []struct {
		stop  string
		tools bool
		want  string
	}{
		{"end_turn", false, "stop"},
		{"stop_sequence", false, "stop"},
		{"max_tokens", false, "length"},
		{"model_context_window_exceeded", false, "length"},
		{"tool_use", true, "tool_calls"},
		{"tool_use", false, "stop"},
		{"end_turn", true, "tool_calls"},
		{"content_filtered", false, "content_filter"},
		{"guardrail_intervened", true, "content_filter"},
		{"something_new", false, "stop"},
		{"", false, "stop"},
	}
	for _, tc := range tests {
		if got := finishReason(tc.stop, tc.tools); got != tc.want {
			t.Errorf("finishReason(%q, %v) = %q, want %q", tc.stop, tc.tools, got, tc.want)
		}
	}
}
