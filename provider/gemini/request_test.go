package gemini

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// fixtureSignature is the thoughtSignature of the Gemini fixtures.
const fixtureSignature = "CpUCAdHtim9fIxtureOnlyOpaqueThoughtSignatureBase64Q2FuIHJvdW5kLXRyaXAgdmVyYmF0aW0="

// translate runs the request translation of an OpenAI body for model.
func translate(t *testing.T, a *Adapter, body []byte, model string) ([]byte, error) {
	t.Helper()
	r, err := openaiwire.DecodeChatRequest(body)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	greq, err := a.translateRequest(context.Background(), r, body, model)
	if err != nil {
		return nil, err
	}
	out, err := marshal(greq)
	if err != nil {
		t.Fatal(err)
	}
	return out, nil
}

func TestRequestGolden(t *testing.T) {
	for _, name := range []string{"basic", "json_schema", "multimodal", "tools_first_turn", "tools_second_turn"} {
		t.Run(name, func(t *testing.T) {
			a := newTestAdapter(t, "http://unused.invalid", testFetcher(t))
			in := readTestdata(t, "openai/request_"+name+".json")
			if name == "tools_second_turn" {
				// The gateway handed out this id with the first turn's
				// answer, carrying the signature Gemini sent with the call.
				signed := "call_Q2nF7dYk" + sigMarker + encodeSignature(fixtureSignature)
				in = []byte(strings.ReplaceAll(string(in), "call_Q2nF7dYk3mWz8hLpR4sTvX1c", signed))
			}
			got, err := translate(t, a, in, "gemini-2.5-flash")
			if err != nil {
				t.Fatalf("translate: %v", err)
			}
			checkGoldenJSON(t, "gemini/request_"+name+".json", got)
		})
	}
}

func TestSignatureRoundTrip(t *testing.T) {
	a := newTestAdapter(t, "http://unused.invalid", nil)
	a.newID = openaiwire.NewID
	for _, sig := range []string{
		fixtureSignature,
		"AA==", "AAA=", "AAAA", "+/+/",
		"not base64 at all!", // carried verbatim as bytes
		"abc",                // unpadded: carried verbatim
	} {
		id := a.toolCallID(sig)
		if !strings.HasPrefix(id, "call_") || strings.ContainsAny(id, "+/=") {
			t.Errorf("id %q for %q is not id-safe", id, sig)
		}
		got, ok := signatureFromID(id)
		if !ok || got != sig {
			t.Errorf("signature of %q = %q, %v; want %q", id, got, ok, sig)
		}
	}
	plain := a.toolCallID("")
	if len(plain) != len("call_")+24 {
		t.Errorf("plain id %q", plain)
	}
	for _, id := range []string{plain, "toolu_01abc", "call_abc", "call_x__ts_", "call_x__ts_a", "call_x__ts_~!!"} {
		if sig, ok := signatureFromID(id); ok {
			t.Errorf("signatureFromID(%q) = %q, want none", id, sig)
		}
	}
}

// requestCase is an OpenAI body and the Gemini JSON it must become
// (compared as parsed JSON).
type requestCase struct {
	name, model, body, want string
}

// requestCases are the translation cases of TestRequestTranslation.
func requestCases() []requestCase {
	user := `"messages":[{"role":"user","content":"Hi"}]`
	userWant := `"contents":[{"role":"user","parts":[{"text":"Hi"}]}]`
	tool := `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}},{"type":"function","function":{"name":"g"}}]`
	toolWant := `"tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object"}},{"name":"g"}]}]`
	return []requestCase{
		{name: "sampling", body: `{"model":"m",` + user + `,"temperature":0.2,"top_p":0.9,"max_tokens":10,"stop":"END","n":2,"seed":42,"presence_penalty":0.5,"frequency_penalty":-0.5,"user":"u","logit_bias":{"1":2},"parallel_tool_calls":false,"service_tier":"auto","prediction":{"type":"content","content":"x"},"modalities":["text"]}`,
			want: `{` + userWant + `,"generationConfig":{"temperature":0.2,"topP":0.9,"maxOutputTokens":10,"stopSequences":["END"],"candidateCount":2,"seed":42,"presencePenalty":0.5,"frequencyPenalty":-0.5}}`},
		{name: "max_completion_tokens wins", body: `{"model":"m",` + user + `,"max_tokens":10,"max_completion_tokens":20}`,
			want: `{` + userWant + `,"generationConfig":{"maxOutputTokens":20}}`},
		{name: "big seed folds", body: `{"model":"m",` + user + `,"seed":4294967298}`,
			want: `{` + userWant + `,"generationConfig":{"seed":3}}`},
		{name: "json_object", body: `{"model":"m",` + user + `,"response_format":{"type":"json_object"}}`,
			want: `{` + userWant + `,"generationConfig":{"responseMimeType":"application/json"}}`},
		{name: "text format", body: `{"model":"m",` + user + `,"response_format":{"type":"text"}}`,
			want: `{` + userWant + `}`},
		{name: "logprobs", body: `{"model":"m",` + user + `,"logprobs":true,"top_logprobs":3}`,
			want: `{` + userWant + `,"generationConfig":{"responseLogprobs":true,"logprobs":3}}`},
		{name: "logprobs false", body: `{"model":"m",` + user + `,"logprobs":false,"top_logprobs":3}`,
			want: `{` + userWant + `}`},
		{name: "effort 2.5", model: "gemini-2.5-flash", body: `{"model":"m",` + user + `,"reasoning_effort":"medium"}`,
			want: `{` + userWant + `,"generationConfig":{"thinkingConfig":{"thinkingBudget":8192}}}`},
		{name: "effort none 2.5", model: "gemini-2.5-flash", body: `{"model":"m",` + user + `,"reasoning_effort":"none"}`,
			want: `{` + userWant + `,"generationConfig":{"thinkingConfig":{"thinkingBudget":0}}}`},
		{name: "effort 3", model: "gemini-3-pro-preview", body: `{"model":"m",` + user + `,"reasoning_effort":"minimal"}`,
			want: `{` + userWant + `,"generationConfig":{"thinkingConfig":{"thinkingLevel":"LOW"}}}`},
		{name: "tools without choice", body: `{"model":"m",` + user + `,` + tool + `}`,
			want: `{` + userWant + `,` + toolWant + `}`},
		{name: "tool_choice none", body: `{"model":"m",` + user + `,` + tool + `,"tool_choice":"none"}`,
			want: `{` + userWant + `,` + toolWant + `,"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`},
		{name: "tool_choice required", body: `{"model":"m",` + user + `,` + tool + `,"tool_choice":"required"}`,
			want: `{` + userWant + `,` + toolWant + `,"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`},
		{name: "tool_choice named", body: `{"model":"m",` + user + `,` + tool + `,"tool_choice":{"type":"function","function":{"name":"g"}}}`,
			want: `{` + userWant + `,` + toolWant + `,"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g"]}}}`},
		{name: "allowed_tools required", body: `{"model":"m",` + user + `,` + tool + `,"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"g"}}]}}}`,
			want: `{` + userWant + `,` + toolWant + `,"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g"]}}}`},
		{name: "allowed_tools auto", body: `{"model":"m",` + user + `,` + tool + `,"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"f"}}]}}}`,
			want: `{` + userWant + `,"tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object"}}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}}`},
		{name: "system parts and developer in order",
			body: `{"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"user","content":"Hi"},{"role":"developer","content":"c"}]}`,
			want: `{"systemInstruction":{"parts":[{"text":"a\nb"},{"text":"c"}]},` + userWant + `}`},
		{name: "tool results grouped, text wrapped, unknown json kept as text",
			body: `{"model":"m","messages":[{"role":"user","content":"Hi"},` +
				`{"role":"assistant","content":null,"tool_calls":[{"id":"a1","type":"function","function":{"name":"f","arguments":""}},{"id":"a2","type":"function","function":{"name":"g","arguments":"{ \"x\" : 1 }"}}]},` +
				`{"role":"tool","tool_call_id":"a1","content":"plain <text> & more"},{"role":"tool","tool_call_id":"a2","content":[{"type":"text","text":"[1,2]"}]},` +
				`{"role":"user","content":"thanks"}]}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"Hi"}]},` +
				`{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}},{"functionCall":{"name":"g","args":{"x":1}}}]},` +
				`{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"output":"plain <text> & more"}}},{"functionResponse":{"name":"g","response":{"output":"[1,2]"}}}]},` +
				`{"role":"user","parts":[{"text":"thanks"}]}]}`},
		{name: "empty assistant skipped, refusal kept",
			body: `{"model":"m","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":""},{"role":"user","content":"x"},{"role":"assistant","refusal":"No."}]}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"Hi"}]},{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"text":"No."}]}]}`},
		{name: "gemini 3 placeholder signature on unsigned calls", model: "gemini-3-flash-preview",
			body: `{"model":"m","messages":[{"role":"user","content":"Hi"},` +
				`{"role":"assistant","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"toolu_2","type":"function","function":{"name":"f","arguments":"{}"}}]},` +
				`{"role":"tool","tool_call_id":"toolu_1","content":"1"},{"role":"tool","tool_call_id":"toolu_2","content":"2"},` +
				`{"role":"assistant","tool_calls":[{"id":"call_abcdefgh__ts_QUJD","type":"function","function":{"name":"f","arguments":"{}"}}]},` +
				`{"role":"tool","tool_call_id":"call_abcdefgh__ts_QUJD","content":"3"}]}`,
			want: `{"contents":[{"role":"user","parts":[{"text":"Hi"}]},` +
				`{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"skip_thought_signature_validator"},{"functionCall":{"name":"f","args":{}}}]},` +
				`{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"output":"1"}}},{"functionResponse":{"name":"f","response":{"output":"2"}}}]},` +
				`{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"QUJD"}]},` +
				`{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"output":"3"}}}]}]}`},
		{name: "audio and pdf parts",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},{"type":"input_audio","input_audio":{"data":"SUQz","format":"mp3"}},{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0="}},{"type":"file","file":{"filename":"b.PDF","file_data":"JVBERi0="}}]}]}`,
			want: `{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"audio/wav","data":"UklGRg=="}},{"inlineData":{"mimeType":"audio/mp3","data":"SUQz"}},{"inlineData":{"mimeType":"application/pdf","data":"JVBERi0="}},{"inlineData":{"mimeType":"application/pdf","data":"JVBERi0="}}]}]}`},
	}
}

func TestRequestTranslation(t *testing.T) {
	for _, tc := range requestCases() {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, "http://unused.invalid", nil)
			model := tc.model
			if model == "" {
				model = "gemini-2.5-flash"
			}
			got, err := translate(t, a, []byte(tc.body), model)
			if err != nil {
				t.Fatalf("translate: %v", err)
			}
			if diff := cmp.Diff(parseJSON(t, []byte(tc.want)), parseJSON(t, got)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s\ngot: %s", diff, got)
			}
		})
	}
}

func TestRequestHTMLNotEscaped(t *testing.T) {
	a := newTestAdapter(t, "http://unused.invalid", nil)
	got, err := translate(t, a, []byte(`{"model":"m","messages":[{"role":"user","content":"a<b>&c"}]}`), "m")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), `"a<b>&c"`) {
		t.Errorf("text escaped: %s", got)
	}
}

func TestRefusals(t *testing.T) {
	user := `"messages":[{"role":"user","content":"Hi"}]`
	tests := []struct {
		name, body, param string
	}{
		{"audio", `{"model":"m",` + user + `,"audio":{"voice":"alloy","format":"wav"}}`, "audio"},
		{"modalities audio", `{"model":"m",` + user + `,"modalities":["text","audio"]}`, "modalities"},
		{"web search", `{"model":"m",` + user + `,"web_search_options":{}}`, "web_search_options"},
		{"functions", `{"model":"m",` + user + `,"functions":[{"name":"f"}]}`, "functions"},
		{"function_call", `{"model":"m",` + user + `,"function_call":"auto"}`, "function_call"},
		{"custom tool", `{"model":"m",` + user + `,"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type"},
		{"function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]},{"role":"user","content":"x"}]}`, "messages[0].content[0]"},
		{"url image without fetcher", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`, "messages[0].content[1].image_url"},
		{"ftp image", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://example.com/a.png"}}]}]}`, "messages[0].content[0].image_url"},
		{"file id", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-123"}}]}]}`, "messages[0].content[0].file.file_id"},
		{"file raw non-pdf", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"filename":"a.txt","file_data":"aGk="}}]}]}`, "messages[0].content[0].file.file_data"},
		{"unknown part", `{"model":"m","messages":[{"role":"user","content":[{"type":"video","video":{}}]}]}`, "messages[0].content[0].type"},
		{"bad arguments", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[1].tool_calls[0].function.arguments"},
		{"unknown tool_call_id", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"nope","content":"r"}]}`, "messages[1].tool_call_id"},
		{"response_format", `{"model":"m",` + user + `,"response_format":{"type":"grammar"}}`, "response_format.type"},
		{"reasoning_effort", `{"model":"m",` + user + `,"reasoning_effort":"extreme"}`, "reasoning_effort"},
		{"allowed_tools empty", `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}}`, "tool_choice.allowed_tools.tools"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, "http://127.0.0.1:1", nil) // never reached
			_, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "gemini-2.5-flash", Body: []byte(tc.body)})
			pe, ok := provider.AsError(err)
			if !ok {
				t.Fatalf("err = %v, want *provider.Error", err)
			}
			if pe.Kind != provider.KindInvalidRequest || pe.Status != http.StatusBadRequest || pe.Param != tc.param {
				t.Errorf("got kind %v status %d param %q, want invalid_request 400 %q (%v)", pe.Kind, pe.Status, pe.Param, tc.param, pe)
			}
			if pe.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestImageFetchFailure(t *testing.T) {
	a := newTestAdapter(t, "http://unused.invalid", testFetcher(t))
	body := `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/missing.png"}}]}]}`
	_, err := translate(t, a, []byte(body), "m")
	pe, ok := provider.AsError(err)
	if !ok || pe.Param != "messages[0].content[0].image_url" || pe.Status != 400 {
		t.Fatalf("err = %v", err)
	}
}

func TestRequestBodyIsNotModified(t *testing.T) {
	a := newTestAdapter(t, "http://unused.invalid", testFetcher(t))
	in := readTestdata(t, "openai/request_multimodal.json")
	before := string(in)
	if _, err := translate(t, a, in, "m"); err != nil {
		t.Fatal(err)
	}
	if string(in) != before {
		t.Error("request body modified")
	}
	var v map[string]any
	if err := json.Unmarshal(in, &v); err != nil {
		t.Fatal(err)
	}
}
