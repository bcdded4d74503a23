package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestParseChatValid(t *testing.T) {
	tests := []struct {
		name string
		body string
		want chatParams
	}{
		{"minimal", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, chatParams{Model: "m"}},
		{"stream with usage", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
			chatParams{Model: "m", Stream: true, IncludeUsage: true}},
		{"stream without usage", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`, chatParams{Model: "m", Stream: true}},
		{"max_completion_tokens wins", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":10,"max_completion_tokens":20}`,
			chatParams{Model: "m", MaxTokens: 20}},
		{"max_tokens", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":10}`, chatParams{Model: "m", MaxTokens: 10}},
		{"nulls are absent", `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":null,"n":null,"stop":null,"stream":null,"tools":null}`,
			chatParams{Model: "m"}},
		{"unknown fields pass", `{"model":"m","messages":[{"role":"user","content":"hi"}],"top_k":5,"guided_json":{"a":1},"reasoning_effort":"low"}`,
			chatParams{Model: "m"}},
		{"every role", `{"model":"m","messages":[
			{"role":"system","content":"s"},{"role":"developer","content":[{"type":"text","text":"d"}]},
			{"role":"user","content":[{"type":"text","text":"u"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA==","detail":"low"}},
				{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}},{"type":"file","file":{"file_id":"f"}}]},
			{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"call_1","content":"42"},
			{"role":"function","name":"f","content":null}]}`, chatParams{Model: "m"}},
		{"tools and formats", `{"model":"m","messages":[{"role":"user","content":"hi"}],
			"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}},{"type":"custom","custom":{"name":"x"}}],
			"tool_choice":{"type":"function","function":{"name":"get_weather"}},
			"response_format":{"type":"json_schema","json_schema":{"name":"out","schema":{"type":"object"}}},
			"temperature":0.2,"top_p":1,"n":2,"stop":["a","b"],"seed":-5,"logprobs":true,"top_logprobs":3,"user":"u","presence_penalty":-2}`,
			chatParams{Model: "m"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseChat([]byte(tc.body))
			if err != nil {
				t.Fatalf("parseChat: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseChatInvalid(t *testing.T) {
	const user = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name  string
		body  string
		param string
		code  string
	}{
		{"empty body", ``, "", "invalid_json"},
		{"not json", `{"model":`, "", "invalid_json"},
		{"array body", `[1,2]`, "", "invalid_json"},
		{"missing model", `{` + user + `}`, "model", "missing_required_parameter"},
		{"model not string", `{"model":5,` + user + `}`, "model", "invalid_type"},
		{"empty model", `{"model":"",` + user + `}`, "model", "invalid_type"},
		{"missing messages", `{"model":"m"}`, "messages", "missing_required_parameter"},
		{"messages not array", `{"model":"m","messages":"hi"}`, "messages", "invalid_type"},
		{"messages empty", `{"model":"m","messages":[]}`, "messages", "invalid_value"},
		{"message not object", `{"model":"m","messages":["hi"]}`, "messages[0]", "invalid_type"},
		{"missing role", `{"model":"m","messages":[{"content":"hi"}]}`, "messages[0].role", "missing_required_parameter"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, "messages[0].role", "invalid_value"},
		{"user without content", `{"model":"m","messages":[{"role":"user"}]}`, "messages[0].content", "missing_required_parameter"},
		{"content number", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content", "invalid_type"},
		{"part without type", `{"model":"m","messages":[{"role":"user","content":[{"text":"a"}]}]}`, "messages[0].content[0].type", "missing_required_parameter"},
		{"image without url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`,
			"messages[0].content[0].image_url.url", "missing_required_parameter"},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`,
			"messages[0].content[0].type", "invalid_value"},
		{"tool without id", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"tool","content":"x"}]}`,
			"messages[1].tool_call_id", "missing_required_parameter"},
		{"tool call arguments object", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{}}}]}]}`,
			"messages[0].tool_calls[0].function.arguments", "invalid_type"},
		{"temperature high", `{"model":"m",` + user + `,"temperature":3}`, "temperature", "invalid_value"},
		{"temperature string", `{"model":"m",` + user + `,"temperature":"hot"}`, "temperature", "invalid_type"},
		{"top_p", `{"model":"m",` + user + `,"top_p":1.5}`, "top_p", "invalid_value"},
		{"n zero", `{"model":"m",` + user + `,"n":0}`, "n", "invalid_value"},
		{"n fraction", `{"model":"m",` + user + `,"n":1.5}`, "n", "invalid_type"},
		{"max_tokens negative", `{"model":"m",` + user + `,"max_tokens":-1}`, "max_tokens", "invalid_value"},
		{"max_completion_tokens string", `{"model":"m",` + user + `,"max_completion_tokens":"5"}`, "max_completion_tokens", "invalid_type"},
		{"stream string", `{"model":"m",` + user + `,"stream":"yes"}`, "stream", "invalid_type"},
		{"stream_options without stream", `{"model":"m",` + user + `,"stream_options":{"include_usage":true}}`, "stream_options", "invalid_value"},
		{"include_usage string", `{"model":"m",` + user + `,"stream":true,"stream_options":{"include_usage":"yes"}}`, "stream_options.include_usage", "invalid_type"},
		{"stop number", `{"model":"m",` + user + `,"stop":5}`, "stop", "invalid_type"},
		{"stop array of numbers", `{"model":"m",` + user + `,"stop":["a",5]}`, "stop[1]", "invalid_type"},
		{"tools not array", `{"model":"m",` + user + `,"tools":{}}`, "tools", "invalid_type"},
		{"tool bad name", `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"bad name"}}]}`, "tools[0].function.name", "invalid_value"},
		{"tool params not object", `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]}`,
			"tools[0].function.parameters", "invalid_type"},
		{"tool_choice bad", `{"model":"m",` + user + `,"tool_choice":"always"}`, "tool_choice", "invalid_value"},
		{"tool_choice function without name", `{"model":"m",` + user + `,"tool_choice":{"type":"function"}}`, "tool_choice.function.name", "missing_required_parameter"},
		{"response_format bad type", `{"model":"m",` + user + `,"response_format":{"type":"xml"}}`, "response_format.type", "invalid_value"},
		{"json_schema without name", `{"model":"m",` + user + `,"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}`,
			"response_format.json_schema.name", "invalid_value"},
		{"user number", `{"model":"m",` + user + `,"user":5}`, "user", "invalid_type"},
		{"logprobs string", `{"model":"m",` + user + `,"logprobs":"yes"}`, "logprobs", "invalid_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseChat([]byte(tc.body))
			if err == nil {
				t.Fatal("parseChat accepted it")
			}
			if err.Status != http.StatusBadRequest || err.Type != "invalid_request_error" {
				t.Errorf("status %d type %q", err.Status, err.Type)
			}
			if err.Param != tc.param || err.Code != tc.code {
				t.Errorf("param %q code %q, want %q %q (%s)", err.Param, err.Code, tc.param, tc.code, err.Message)
			}
			if err.Message == "" {
				t.Error("empty message")
			}
			var env map[string]map[string]any
			if jerr := json.Unmarshal(err.body(), &env); jerr != nil {
				t.Fatal(jerr)
			}
			for _, k := range []string{"message", "type", "param", "code"} {
				if _, ok := env["error"][k]; !ok {
					t.Errorf("envelope lacks %q", k)
				}
			}
		})
	}
}

func TestParseEmbeddings(t *testing.T) {
	ok := []string{
		`{"model":"e","input":"hi"}`,
		`{"model":"e","input":["a","b"],"encoding_format":"base64","dimensions":8}`,
		`{"model":"e","input":[[1,2,3]]}`,
		`{"model":"e","input":[1,2,3]}`,
	}
	for _, b := range ok {
		if _, err := parseEmbeddings([]byte(b)); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	bad := map[string]string{
		`{"input":"hi"}`:                                                  "model",
		`{"model":"e"}`:                                                   "input",
		`{"model":"e","input":[]}`:                                        "input",
		`{"model":"e","input":{}}`:                                        "input",
		`{"model":"e","input":[{}]}`:                                      "input",
		`{"model":"e","input":"a","encoding_format":"hex"}`:               "encoding_format",
		`{"model":"e","input":"a","dimensions":0}`:                        "dimensions",
		`{"model":"e","input":["` + strings.Repeat(`a","`, 2048) + `a"]}`: "input",
	}
	for b, param := range bad {
		_, err := parseEmbeddings([]byte(b))
		if err == nil || err.Param != param {
			t.Errorf("%.60s: err %v, want param %q", b, err, param)
		}
	}
}

// FuzzParseChat checks that no input makes request decoding panic, and
// that what it accepts is a JSON object with a model and messages.
func FuzzParseChat(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
		`{"model":"m","messages":[],"n":1e400,"max_tokens":99999999999999999999}`,
		`[]`, `{`, `"\u0000"`, `{"model":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseChat(body)
		if err != nil {
			if err.Status != http.StatusBadRequest || !json.Valid(err.body()) {
				t.Fatalf("bad error %+v", err)
			}
			return
		}
		if p.Model == "" || !json.Valid(body) {
			t.Fatalf("accepted %q as %+v", body, p)
		}
		_, _ = parseEmbeddings(body)
	})
}
