package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// translateBody runs the request translation on an OpenAI body.
func translateBody(t *testing.T, a *Adapter, body string) (*translation, error) {
	t.Helper()
	return a.translate(context.Background(), []byte(body))
}

func TestRequestGolden(t *testing.T) {
	a := testAdapter(t, "http://unused", http.DefaultTransport, fakeImages{mediaType: "image/png", data: pixelPNG(t)})
	tests := []struct {
		in string
		// fixture is a shared expected translation; golden a file of ours.
		fixture, golden string
	}{
		{in: "request_tools_second_turn.json", fixture: "bedrock/converse_request.json"},
		{in: "request_basic.json", golden: "request_basic.json"},
		{in: "request_tools_first_turn.json", golden: "request_tools_first_turn.json"},
		{in: "request_multimodal.json", golden: "request_multimodal.json"},
		{in: "request_json_schema.json", golden: "request_json_schema.json"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			body := readFixture(t, "openai/"+tc.in)
			orig := string(body)
			tr, err := a.translate(context.Background(), body)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != orig {
				t.Error("the client's body was modified")
			}
			if tc.fixture != "" {
				if d := jsonEqual(t, tr.body, readFixture(t, tc.fixture)); d != "" {
					t.Errorf("mismatch with %s (-want +got):\n%s", tc.fixture, d)
				}
				return
			}
			golden(t, tc.golden, tr.body)
		})
	}
}

func TestRequestJSONSchemaForcedTool(t *testing.T) {
	a := testAdapter(t, "http://unused", http.DefaultTransport, nil)
	tr, err := a.translate(context.Background(), readFixture(t, "openai/request_json_schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.jsonTool != "city_temp" {
		t.Errorf("jsonTool %q, want city_temp", tr.jsonTool)
	}
	var got converseRequest
	if err := json.Unmarshal(tr.body, &got); err != nil {
		t.Fatal(err)
	}
	tc := got.ToolConfig
	if tc == nil || len(tc.Tools) != 1 || tc.ToolChoice == nil || tc.ToolChoice.Tool == nil || tc.ToolChoice.Tool.Name != "city_temp" {
		t.Fatalf("toolConfig %s", tr.body)
	}
	if len(got.System) != 1 || got.System[0].Text != "Extract the city and temperature." {
		t.Errorf("developer message not in system: %+v", got.System)
	}
}

// translationCases are OpenAI bodies and the Converse bodies they become.
var translationCases = []struct {
	name string
	body string
	want string // JSON the Converse body must equal
}{
	{
		name: "systems anywhere, merged user turns",
		body: `{"model":"m","messages":[{"role":"system","content":"A"},{"role":"user","content":"hi"},{"role":"developer","content":[{"type":"text","text":"B"}]},{"role":"user","content":[{"type":"text","text":"again"}]}]}`,
		want: `{"system":[{"text":"A"},{"text":"B"}],"messages":[{"role":"user","content":[{"text":"hi"},{"text":"again"}]}]}`,
	},
	{
		name: "sampling",
		body: `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":10,"max_completion_tokens":20,"temperature":0.5,"top_p":0.9,"stop":"END","seed":7,"presence_penalty":1,"frequency_penalty":1,"logit_bias":{"1":2},"user":"u","service_tier":"auto","reasoning_effort":"low","parallel_tool_calls":false,"n":1,"logprobs":false,"prediction":{"type":"content","content":"x"},"modalities":["text"]}`,
		want: `{"messages":[{"role":"user","content":[{"text":"x"}]}],"inferenceConfig":{"maxTokens":20,"temperature":0.5,"topP":0.9,"stopSequences":["END"]}}`,
	},
	{
		name: "tool result as text, then a user message in the same turn",
		body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},{"role":"tool","tool_call_id":"call_1","content":"plain answer"},{"role":"user","content":"thanks"}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
		want: `{"messages":[{"role":"user","content":[{"text":"x"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"call_1","name":"f","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"call_1","content":[{"text":"plain answer"}],"status":"success"}},{"text":"thanks"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
	},
	{
		name: "tool results lead a merged user turn",
		body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"b","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a","content":"1"},{"role":"user","content":"also"},{"role":"tool","tool_call_id":"b","content":"2"}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
		want: `{"messages":[{"role":"user","content":[{"text":"x"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"a","name":"f","input":{}}},{"toolUse":{"toolUseId":"b","name":"f","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"a","content":[{"text":"1"}],"status":"success"}},{"toolResult":{"toolUseId":"b","content":[{"text":"2"}],"status":"success"}},{"text":"also"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
	},
	{
		name: "tool_choice required",
		body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"required"}`,
		want: `{"messages":[{"role":"user","content":[{"text":"x"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object"}}}}],"toolChoice":{"any":{}}}}`,
	},
	{
		name: "tool_choice function",
		body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		want: `{"messages":[{"role":"user","content":[{"text":"x"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","description":"d","inputSchema":{"json":{"type":"object"}}}}],"toolChoice":{"tool":{"name":"f"}}}}`,
	},
	{
		name: "tool_choice none drops the tools",
		body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`,
		want: `{"messages":[{"role":"user","content":[{"text":"x"}]}]}`,
	},
	{
		name: "tool_choice none keeps the tools when the history has tool blocks",
		body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}}]},{"role":"tool","tool_call_id":"c","content":"{\"ok\":true}"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`,
		want: `{"messages":[{"role":"user","content":[{"text":"x"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"c","name":"f","input":{"a":1}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"c","content":[{"json":{"ok":true}}],"status":"success"}}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}}]}}`,
	},
	{
		name: "json_object with tool_choice none",
		body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"json_response"}}],"tool_choice":"none","response_format":{"type":"json_object"}}`,
		want: `{"messages":[{"role":"user","content":[{"text":"x"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"json_response","inputSchema":{"json":{"type":"object","properties":{}}}}},{"toolSpec":{"name":"json_response_","description":"Give the answer as a JSON object.","inputSchema":{"json":{"type":"object"}}}}],"toolChoice":{"tool":{"name":"json_response_"}}}}`,
	},
	{
		name: "response_format text is nothing",
		body: `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"}}`,
		want: `{"messages":[{"role":"user","content":[{"text":"x"}]}]}`,
	},
	{
		name: "assistant text parts, refusal and empty content",
		body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"refusal","refusal":"no"}]},{"role":"user","content":"y"},{"role":"assistant","content":"","refusal":"I can't"}]}`,
		want: `{"messages":[{"role":"user","content":[{"text":"x"}]},{"role":"assistant","content":[{"text":"a"},{"text":"no"}]},{"role":"user","content":[{"text":"y"}]},{"role":"assistant","content":[{"text":"I can't"}]}]}`,
	},
	{
		name: "html characters are not escaped",
		body: `{"model":"m","messages":[{"role":"user","content":"<b>&</b>"}]}`,
		want: `{"messages":[{"role":"user","content":[{"text":"<b>&</b>"}]}]}`,
	},
	{
		name: "pdf document from a data URL",
		body: `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"filename":"Q3 report.v2.pdf","file_data":"data:application/pdf;base64,JVBERi0="}},{"type":"file","file":{"filename":"Q3 report.v2.pdf","file_data":"JVBERi0="}}]}]}`,
		want: `{"messages":[{"role":"user","content":[{"document":{"format":"pdf","name":"Q3 report v2","source":{"bytes":"JVBERi0="}}},{"document":{"format":"pdf","name":"Q3 report v2 (2)","source":{"bytes":"JVBERi0="}}}]}]}`,
	},
}

func TestRequestTranslation(t *testing.T) {
	a := testAdapter(t, "http://unused", http.DefaultTransport, nil)
	for _, tc := range translationCases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := translateBody(t, a, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if d := jsonEqual(t, tr.body, []byte(tc.want)); d != "" {
				t.Errorf("(-want +got):\n%s\n%s", d, tr.body)
			}
			if strings.Contains(string(tr.body), `\u003c`) {
				t.Errorf("HTML-escaped output: %s", tr.body)
			}
		})
	}
}

func TestRequestImages(t *testing.T) {
	png := pixelPNG(t)
	const dataURL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	body := func(url string) string {
		return `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"` + url + `"}}]}]}`
	}
	t.Run("data URL", func(t *testing.T) {
		a := testAdapter(t, "http://unused", http.DefaultTransport, nil)
		tr, err := translateBody(t, a, body(dataURL))
		if err != nil {
			t.Fatal(err)
		}
		want := `{"messages":[{"role":"user","content":[{"text":"look"},{"image":{"format":"png","source":{"bytes":"` + strings.TrimPrefix(dataURL, "data:image/png;base64,") + `"}}}]}]}`
		if d := jsonEqual(t, tr.body, []byte(want)); d != "" {
			t.Error(d)
		}
	})
	t.Run("fetched URL without a media type", func(t *testing.T) {
		a := testAdapter(t, "http://unused", http.DefaultTransport, fakeImages{data: png})
		tr, err := translateBody(t, a, body("https://example.com/pixel"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(tr.body), `"format":"png"`) {
			t.Errorf("body %s", tr.body)
		}
	})
	t.Run("fetched URL", func(t *testing.T) {
		a := testAdapter(t, "http://unused", http.DefaultTransport, fakeImages{mediaType: "image/jpeg; charset=binary", data: png})
		tr, err := translateBody(t, a, body("https://example.com/cat.jpg"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(tr.body), `"format":"jpeg"`) {
			t.Errorf("body %s", tr.body)
		}
	})
	refusals := []struct {
		name, url string
		images    provider.ImageFetcher
		param     string
	}{
		{"no fetcher", "https://example.com/cat.png", nil, "messages[0].content[1].image_url.url"},
		{"fetch fails", "https://example.com/cat.png", fakeImages{err: errors.New("private address")}, "messages[0].content[1].image_url.url"},
		{"fetched svg", "https://example.com/cat.svg", fakeImages{mediaType: "image/svg+xml", data: []byte("<svg/>")}, "messages[0].content[1].image_url"},
		{"data URL of bmp", "data:image/bmp;base64,Qk0=", nil, "messages[0].content[1].image_url"},
		{"bad base64", "data:image/png;base64,@@@", nil, "messages[0].content[1].image_url.url"},
		{"not base64", "data:image/png,abc", nil, "messages[0].content[1].image_url.url"},
		{"ftp", "ftp://example.com/cat.png", nil, "messages[0].content[1].image_url.url"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			a := testAdapter(t, "http://unused", http.DefaultTransport, tc.images)
			_, err := translateBody(t, a, body(tc.url))
			pe := asProviderError(t, err)
			if pe.Kind != provider.KindInvalidRequest || pe.Status != 400 || pe.Param != tc.param {
				t.Errorf("got %+v, want 400 on %s", pe, tc.param)
			}
		})
	}
	t.Run("fetcher's own provider error passes", func(t *testing.T) {
		want := &provider.Error{Provider: "imagefetch", Kind: provider.KindInvalidRequest, Status: 400, Param: "x"}
		a := testAdapter(t, "http://unused", http.DefaultTransport, fakeImages{err: want})
		_, err := translateBody(t, a, body("https://example.com/cat.png"))
		if !errors.Is(err, want) {
			t.Errorf("err %v", err)
		}
	})
}

func TestRequestRefusals(t *testing.T) {
	a := testAdapter(t, "http://unused", http.DefaultTransport, nil)
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	tests := []struct {
		body  string
		param string
	}{
		{`{"model":"m",` + msgs + `,"n":2}`, "n"},
		{`{"model":"m",` + msgs + `,"logprobs":true}`, "logprobs"},
		{`{"model":"m",` + msgs + `,"top_logprobs":3}`, "top_logprobs"},
		{`{"model":"m",` + msgs + `,"audio":{"voice":"alloy","format":"mp3"}}`, "audio"},
		{`{"model":"m",` + msgs + `,"modalities":["text","audio"]}`, "modalities"},
		{`{"model":"m",` + msgs + `,"web_search_options":{}}`, "web_search_options"},
		{`{"model":"m",` + msgs + `,"functions":[{"name":"f"}]}`, "functions"},
		{`{"model":"m",` + msgs + `,"function_call":"auto"}`, "function_call"},
		{`{"model":"m",` + msgs + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}}`, "tool_choice"},
		{`{"model":"m",` + msgs + `,"tools":[{"type":"function","function":{"name":"f"}}],"response_format":{"type":"json_object"}}`, "response_format"},
		{`{"model":"m",` + msgs + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto","response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"}}}}`, "response_format"},
		{`{"model":"m",` + msgs + `,"tools":[{"type":"custom","custom":{"name":"f"}}]}`, "tools[0].type"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`, "messages[0].content[0]"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, "messages[0].content[0].file.file_id"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"filename":"a.exe","file_data":"data:application/octet-stream;base64,AAAA"}}]}]}`, "messages[0].content[0].file.file_data"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"video_url","video_url":{"url":"x"}}]}]}`, "messages[0].content[0].type"},
		{`{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
		{`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[1].tool_calls[0].function.arguments"},
		{`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[1].tool_calls[0].id"},
		{`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]}`, "messages[1].tool_call_id"},
	}
	for _, tc := range tests {
		t.Run(tc.param, func(t *testing.T) {
			_, err := translateBody(t, a, tc.body)
			pe := asProviderError(t, err)
			if pe.Kind != provider.KindInvalidRequest || pe.Status != 400 || pe.Param != tc.param || pe.Message == "" {
				t.Errorf("got %+v, want a 400 naming %s", pe, tc.param)
			}
		})
	}
}

func TestUnsupportedIsOpenAIWireShape(t *testing.T) {
	a := testAdapter(t, "http://unused", http.DefaultTransport, nil)
	_, err := translateBody(t, a, `{"model":"m","messages":[],"n":3}`)
	pe := asProviderError(t, err)
	want := openaiwire.Unsupported("bedrock", "n", "x")
	if pe.Code != want.Code || pe.Type != want.Type {
		t.Errorf("code %q type %q", pe.Code, pe.Type)
	}
}
