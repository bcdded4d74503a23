package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// translate runs the request translation on an OpenAI body and returns
// the Anthropic JSON.
func translate(t *testing.T, model string, body []byte) ([]byte, error) {
	t.Helper()
	a := newTestAdapter(t, "anthropic", "http://unused", "k")
	var stream struct {
		Stream bool `json:"stream"`
	}
	if err := json.Unmarshal(body, &stream); err != nil {
		t.Fatal(err)
	}
	return a.buildRequest(&provider.ChatRequest{Model: model, Body: body, Stream: stream.Stream}, stream.Stream)
}

// TestRequestGolden translates the shared OpenAI request fixtures and
// compares them with the Anthropic ones. anthropic/request_json_schema.json
// was written assuming a default max_tokens of 1024; the adapter's default
// is DefaultMaxTokens (4096), so our copy of that golden says 4096.
func TestRequestGolden(t *testing.T) {
	for _, name := range []string{"basic", "json_schema", "multimodal", "tools_first_turn", "tools_second_turn"} {
		t.Run(name, func(t *testing.T) {
			got, err := translate(t, "claude-sonnet-4-5", readTestdata(t, "openai/request_"+name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "anthropic/request_"+name+".json", got)
		})
	}
}

// decodeOut decodes a translated request for field checks.
func decodeOut(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// jsonOf re-encodes v compactly, for comparing parts of a request.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRequestTranslation(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string
		want  string
	}{
		{"default max_tokens", `{"messages":[{"role":"user","content":"hi"}]}`, "max_tokens", `4096`},
		{"max_tokens fallback", `{"max_tokens":77,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens", `77`},
		{"max_completion_tokens wins", `{"max_tokens":77,"max_completion_tokens":55,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens", `55`},
		{"all system messages in order",
			`{"messages":[{"role":"system","content":"one"},{"role":"user","content":"hi"},{"role":"developer","content":[{"type":"text","text":"two"},{"type":"text","text":"three"}]},{"role":"user","content":"again"}]}`,
			"system", `[{"type":"text","text":"one"},{"type":"text","text":"two"},{"type":"text","text":"three"}]`},
		{"consecutive user turns merged",
			`{"messages":[{"role":"user","content":"a"},{"role":"system","content":"s"},{"role":"user","content":"b"}]}`,
			"messages", `[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]`},
		{"tool results first in their user turn",
			`{"messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":""}}]},{"role":"user","content":"also this"},{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"r1"}]}]}`,
			"messages", `[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"c1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":"r1"},{"type":"text","text":"also this"}]}]`},
		{"assistant without text",
			`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}}]}]}`,
			"messages", `[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"c1","name":"f","input":{"a":1}}]}]`},
		{"assistant refusal as text",
			`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":null,"refusal":"I can't help with that."},{"role":"user","content":"ok"}]}`,
			"messages", `[{"role":"user","content":"q"},{"role":"assistant","content":"I can't help with that."},{"role":"user","content":"ok"}]`},
		{"stop string", `{"stop":"END","messages":[{"role":"user","content":"hi"}]}`, "stop_sequences", `["END"]`},
		{"safety_identifier beats user", `{"user":"u1","safety_identifier":"s1","messages":[{"role":"user","content":"hi"}]}`, "metadata", `{"user_id":"s1"}`},
		{"tool_choice none", `{"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","messages":[{"role":"user","content":"hi"}]}`, "tool_choice", `{"type":"none"}`},
		{"tool_choice required", `{"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","messages":[{"role":"user","content":"hi"}]}`, "tool_choice", `{"type":"any"}`},
		{"tool_choice function", `{"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}},"messages":[{"role":"user","content":"hi"}]}`, "tool_choice", `{"name":"f","type":"tool"}`},
		{"parallel_tool_calls false alone", `{"tools":[{"type":"function","function":{"name":"f"}}],"parallel_tool_calls":false,"messages":[{"role":"user","content":"hi"}]}`, "tool_choice", `{"disable_parallel_tool_use":true,"type":"auto"}`},
		{"parallel_tool_calls false with required", `{"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","parallel_tool_calls":false,"messages":[{"role":"user","content":"hi"}]}`, "tool_choice", `{"disable_parallel_tool_use":true,"type":"any"}`},
		{"tool without parameters", `{"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}`, "tools", `[{"input_schema":{"properties":{},"type":"object"},"name":"f"}]`},
		{"no tools, no tool_choice", `{"tool_choice":"auto","parallel_tool_calls":false,"messages":[{"role":"user","content":"hi"}]}`, "tool_choice", `null`},
		{"json_object instruction", `{"response_format":{"type":"json_object"},"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}]}`, "system",
			`[{"type":"text","text":"s"},{"type":"text","text":` + jsonString(jsonObjectInstruction) + `}]`},
		{"reasoning_effort default limit", `{"reasoning_effort":"low","messages":[{"role":"user","content":"hi"}]}`, "thinking", `{"budget_tokens":2048,"type":"enabled"}`},
		{"reasoning_effort raises max_tokens", `{"reasoning_effort":"low","messages":[{"role":"user","content":"hi"}]}`, "max_tokens", `6144`},
		{"reasoning_effort fits client limit", `{"reasoning_effort":"high","max_completion_tokens":3000,"messages":[{"role":"user","content":"hi"}]}`, "thinking", `{"budget_tokens":2999,"type":"enabled"}`},
		{"reasoning_effort none", `{"reasoning_effort":"none","messages":[{"role":"user","content":"hi"}]}`, "thinking", `null`},
		{"thinking off in a tool loop",
			`{"reasoning_effort":"low","messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}]}`,
			"thinking", `null`},
		{"https image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.test/a.jpg"}}]}]}`, "messages",
			`[{"role":"user","content":[{"source":{"type":"url","url":"https://x.test/a.jpg"},"type":"image"}]}]`},
		{"pdf file", `{"messages":[{"role":"user","content":[{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBE"}}]}]}`, "messages",
			`[{"role":"user","content":[{"source":{"data":"JVBE","media_type":"application/pdf","type":"base64"},"type":"document"}]}]`},
		{"tuning fields dropped", `{"seed":1,"presence_penalty":1,"frequency_penalty":1,"logit_bias":{"1":2},"service_tier":"auto","prediction":{"type":"content","content":"x"},"n":1,"logprobs":false,"modalities":["text"],"messages":[{"role":"user","content":"hi"}]}`, "",
			`{"max_tokens":4096,"messages":[{"content":"hi","role":"user"}],"model":"m"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := translate(t, "m", []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			m := decodeOut(t, got)
			var v any = m
			if tc.field != "" {
				v = m[tc.field]
			}
			var want any
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if s, w := jsonOf(t, v), jsonOf(t, want); s != w {
				t.Errorf("%s = %s, want %s", tc.field, s, w)
			}
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestRequestRefusals checks that every field Anthropic cannot honour is
// refused with a 400 that names it, before anything is sent.
func TestRequestRefusals(t *testing.T) {
	user := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, body, param string
	}{
		{"n", `{"n":2,` + user + `}`, "n"},
		{"temperature", `{"temperature":1.5,` + user + `}`, "temperature"},
		{"logprobs", `{"logprobs":true,` + user + `}`, "logprobs"},
		{"top_logprobs", `{"top_logprobs":3,` + user + `}`, "top_logprobs"},
		{"audio", `{"audio":{"voice":"alloy","format":"mp3"},` + user + `}`, "audio"},
		{"modalities", `{"modalities":["text","audio"],` + user + `}`, "modalities"},
		{"web_search_options", `{"web_search_options":{},` + user + `}`, "web_search_options"},
		{"functions", `{"functions":[{"name":"f"}],` + user + `}`, "functions"},
		{"function_call", `{"function_call":"auto",` + user + `}`, "function_call"},
		{"response_format type", `{"response_format":{"type":"xml"},` + user + `}`, "response_format.type"},
		{"json_schema without schema", `{"response_format":{"type":"json_schema","json_schema":{"name":"x"}},` + user + `}`, "response_format.json_schema.schema"},
		{"reasoning_effort unknown", `{"reasoning_effort":"extreme",` + user + `}`, "reasoning_effort"},
		{"reasoning_effort too little room", `{"reasoning_effort":"low","max_tokens":500,` + user + `}`, "reasoning_effort"},
		{"tool type", `{"tools":[{"type":"custom","custom":{"name":"x"}}],` + user + `}`, "tools[0].type"},
		{"allowed_tools", `{"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"allowed_tools"},` + user + `}`, "tool_choice"},
		{"bad arguments", `{"messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"b","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}`,
			"messages[1].tool_calls[1].function.arguments"},
		{"array arguments", `{"messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
			"messages[1].tool_calls[0].function.arguments"},
		{"role", `{"messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
		{"audio part", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA","format":"wav"}}]}]}`, "messages[0].content[0].type"},
		{"image type", `{"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"data:image/bmp;base64,AA"}}]}]}`, "messages[0].content[1].image_url.url"},
		{"image scheme", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"file id", `{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`, "messages[0].content[0].file.file_id"},
		{"non-pdf file", `{"messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:text/plain;base64,AA"}}]}]}`, "messages[0].content[0].file.file_data"},
		{"system image", `{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[0].content[0].type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := translate(t, "m", []byte(tc.body))
			pe, ok := provider.AsError(err)
			if !ok {
				t.Fatalf("err = %v, want *provider.Error", err)
			}
			if pe.Kind != provider.KindInvalidRequest || pe.Status != 400 || pe.Type != "invalid_request_error" {
				t.Errorf("got %+v, want a 400 invalid_request_error", pe)
			}
			if pe.Param != tc.param {
				t.Errorf("param %q, want %q (%s)", pe.Param, tc.param, pe.Message)
			}
			if pe.Message == "" || strings.Contains(pe.Message, "%!") {
				t.Errorf("bad message %q", pe.Message)
			}
		})
	}
}

// TestRequestDoesNotModifyBody checks that the client's body is left as
// it was (it may be retried on another target).
func TestRequestDoesNotModifyBody(t *testing.T) {
	body := readTestdata(t, "openai/request_tools_second_turn.json")
	before := string(body)
	if _, err := translate(t, "m", body); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, string(body)); d != "" {
		t.Errorf("body changed:\n%s", d)
	}
}

// TestThinkingBudgets checks every documented effort level.
func TestThinkingBudgets(t *testing.T) {
	for _, effort := range []string{"minimal", "low", "medium", "high", "xhigh"} {
		b, ok := thinkingBudget(effort)
		if !ok || b < minThinkingBudget {
			t.Errorf("%s: budget %d, %v", effort, b, ok)
		}
		out, err := translateRequest("anthropic", "m", &openaiwire.ChatRequest{ReasoningEffort: effort,
			Messages: []openaiwire.Message{{Role: "user", Content: openaiwire.Content{Text: "hi"}}}}, false)
		if err != nil {
			t.Fatal(err)
		}
		if out.Thinking == nil || out.Thinking.BudgetTokens >= out.MaxTokens {
			t.Errorf("%s: thinking %+v with max_tokens %d", effort, out.Thinking, out.MaxTokens)
		}
	}
}
