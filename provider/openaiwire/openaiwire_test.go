package openaiwire

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	goopenai "github.com/sashabaranov/go-openai"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

func TestDecodeFixtures(t *testing.T) {
	for _, name := range []string{"request_basic", "request_tools_first_turn", "request_tools_second_turn", "request_multimodal", "request_json_schema"} {
		t.Run(name, func(t *testing.T) {
			r, err := DecodeChatRequest(pt.Fixture(t, "openai/"+name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if r.Model == "" || len(r.Messages) == 0 {
				t.Errorf("decoded %+v", r)
			}
		})
	}
	r, _ := DecodeChatRequest(pt.Fixture(t, "openai/request_tools_second_turn.json"))
	if got := r.Messages[2].ToolCalls; len(got) != 2 || got[0].ID == "" || got[1].Function.Name != "get_weather" {
		t.Errorf("tool calls %+v", got)
	}
	if r.Messages[3].ToolCallID == "" {
		t.Error("tool_call_id lost")
	}
	m, _ := DecodeChatRequest(pt.Fixture(t, "openai/request_multimodal.json"))
	var images int
	for _, p := range m.Messages[len(m.Messages)-1].Content.Parts {
		if p.Type == "image_url" && p.ImageURL != nil && p.ImageURL.URL != "" {
			images++
		}
	}
	if images != 2 {
		t.Errorf("%d images decoded", images)
	}
	j, _ := DecodeChatRequest(pt.Fixture(t, "openai/request_json_schema.json"))
	if j.ResponseFormat == nil || j.ResponseFormat.JSONSchema == nil || len(j.ResponseFormat.JSONSchema.Schema) == 0 {
		t.Errorf("response_format %+v", j.ResponseFormat)
	}
}

func TestUnionFields(t *testing.T) {
	r, err := DecodeChatRequest([]byte(`{"model":"m","messages":[
		{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
		{"role":"user","content":"hi"},{"role":"assistant","content":null}],
		"stop":"END","tool_choice":{"type":"function","function":{"name":"f"}},"max_tokens":5,"max_completion_tokens":7,"user":"u"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Messages[0].Content.PlainText(); got != "a\nb" {
		t.Errorf("PlainText %q", got)
	}
	if r.Messages[1].Content.Text != "hi" || r.Messages[1].Content.IsParts || r.Messages[2].Content.IsParts {
		t.Errorf("content %+v", r.Messages)
	}
	if diff := cmp.Diff(Stop{"END"}, r.Stop); diff != "" {
		t.Error(diff)
	}
	if r.ToolChoice.Mode != "function" || r.ToolChoice.Function != "f" {
		t.Errorf("tool_choice %+v", r.ToolChoice)
	}
	if n, ok := r.MaxOutputTokens(); !ok || n != 7 {
		t.Errorf("MaxOutputTokens %d %v", n, ok)
	}
	if r.EndUser() != "u" {
		t.Errorf("EndUser %q", r.EndUser())
	}
	for body, want := range map[string]string{`"auto"`: "auto", `"none"`: "none", `"required"`: "required"} {
		var tc ToolChoice
		if err := json.Unmarshal([]byte(body), &tc); err != nil || tc.Mode != want {
			t.Errorf("%s: %+v %v", body, tc, err)
		}
	}
	var s Stop
	if err := json.Unmarshal([]byte(`["a","b"]`), &s); err != nil || len(s) != 2 {
		t.Errorf("stop array %v %v", s, err)
	}
	if err := json.Unmarshal([]byte(`null`), &s); err != nil || s != nil {
		t.Errorf("stop null %v %v", s, err)
	}
}

func TestParseDataURL(t *testing.T) {
	tests := []struct {
		in, mt, data string
		ok           bool
	}{
		{"data:image/png;base64,AAAA", "image/png", "AAAA", true},
		{"data:image/jpeg;BASE64,/9j/", "image/jpeg", "/9j/", true},
		{"data:image/png,AAAA", "", "", false},
		{"https://example.com/a.png", "", "", false},
		{"data:image/png;base64", "", "", false},
	}
	for _, tc := range tests {
		mt, data, ok := ParseDataURL(tc.in)
		if mt != tc.mt || data != tc.data || ok != tc.ok {
			t.Errorf("%s: %q %q %v", tc.in, mt, data, ok)
		}
	}
}

func TestParseArguments(t *testing.T) {
	for in, want := range map[string]string{"": "{}", "  ": "{}", `{"a":1}`: `{"a":1}`, ` {"a":1} `: `{"a":1}`} {
		got, err := ParseArguments(in)
		if err != nil || string(got) != want {
			t.Errorf("%q: %s %v", in, got, err)
		}
	}
	for _, bad := range []string{`[1]`, `"x"`, `{"a":`, `42`} {
		if _, err := ParseArguments(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestChatCompletionMarshal(t *testing.T) {
	text := "Bonjour"
	c := &ChatCompletion{ID: "msg_1", Created: 1755694800, Model: "claude",
		Choices: []Choice{{Message: ResponseMessage{Content: &text, ToolCalls: []ToolCall{{ID: "call_1", Type: "function",
			Function: FunctionCall{Name: "f", Arguments: `{"a":1}`}}}}, FinishReason: FinishToolCalls}},
		Usage: NewUsage(provider.Usage{PromptTokens: 3, CompletionTokens: 4, CachedTokens: 1, ReasoningTokens: 2})}
	b := c.Marshal()
	var out goopenai.ChatCompletionResponse
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Object != "chat.completion" || out.Choices[0].Message.Role != "assistant" || out.Usage.TotalTokens != 7 ||
		out.Usage.PromptTokensDetails.CachedTokens != 1 || out.Usage.CompletionTokensDetails.ReasoningTokens != 2 {
		t.Errorf("decoded %+v", out)
	}
	for _, want := range []string{`"logprobs":null`, `"refusal":null`, `"finish_reason":"tool_calls"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

func TestChunksMatchFixtureShape(t *testing.T) {
	c := &Chunks{ID: "msg_01Xc3Vb6Nm9Qw2Er5Ty8Ui1O", Created: 1755694800, Model: "claude-sonnet-4-5-20250929"}
	want := pt.Lines(string(pt.Fixture(t, "translation/openai_from_anthropic_stream_text.sse")))
	// Each slice is valid until the next call: copy before calling again.
	var got []string
	got = append(got, string(c.Role(0)))
	got = append(got, string(c.Content(0, "Bonjour")))
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("chunk %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	fin := string(c.Finish(0, FinishStop))
	if !strings.Contains(fin, `"delta":{},"logprobs":null,"finish_reason":"stop"`) {
		t.Errorf("finish chunk %s", fin)
	}
	for _, build := range []func() []byte{
		func() []byte { return c.Reasoning(0, "hmm \"quoted\"\n") },
		func() []byte { return c.ToolCallStart(0, 1, "call_1", "get_weather") },
		func() []byte { return c.ToolCallArgs(0, 1, `{"city":`) },
		func() []byte {
			return c.Usage(provider.Usage{PromptTokens: 1, CompletionTokens: 2, CacheWriteTokens: 3})
		},
	} {
		b := build()
		var ch goopenai.ChatCompletionStreamResponse
		if err := json.Unmarshal(b, &ch); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if ch.ID != c.ID || ch.Model != c.Model || ch.Object != "chat.completion.chunk" {
			t.Errorf("chunk header %s", b)
		}
	}
	u := c.Usage(provider.Usage{PromptTokens: 1, CompletionTokens: 2})
	if !strings.Contains(string(u), `"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}`) {
		t.Errorf("usage chunk %s", u)
	}
}

func TestNewIDAndUnsupported(t *testing.T) {
	a, b := NewID("call_"), NewID("call_")
	if a == b || len(a) != 29 || !strings.HasPrefix(a, "call_") {
		t.Errorf("ids %q %q", a, b)
	}
	e := Unsupported("anthropic", "n", "n=%d is not supported", 2)
	if e.Kind != provider.KindInvalidRequest || e.Status != 400 || e.Param != "n" || e.Message != "n=2 is not supported" {
		t.Errorf("%+v", e)
	}
}
