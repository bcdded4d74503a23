package gemini

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tollgate-gw/tollgate/provider"
)

func TestResponseGolden(t *testing.T) {
	tests := []struct {
		name, golden string
		usage        provider.Usage
	}{
		{"text", "translation/openai_from_gemini_response_text.json",
			provider.Usage{PromptTokens: 9, CompletionTokens: 44, TotalTokens: 53, ReasoningTokens: 31}},
		{"function_call", "translation/openai_from_gemini_response_function_call.json",
			provider.Usage{PromptTokens: 96, CompletionTokens: 81, TotalTokens: 177, ReasoningTokens: 57}},
		{"cached", "translation/openai_from_gemini_response_cached.json",
			provider.Usage{PromptTokens: 4200, CompletionTokens: 19, TotalTokens: 4219, CachedTokens: 4096}},
		{"prompt_blocked", "translation/openai_from_gemini_response_prompt_blocked.json",
			provider.Usage{PromptTokens: 14, TotalTokens: 14}},
		{"max_tokens", "golden/openai_from_gemini_response_max_tokens.json",
			provider.Usage{PromptTokens: 9, CompletionTokens: 4, TotalTokens: 13}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, "http://unused.invalid", nil)
			resp, err := a.decodeResponse(readTestdata(t, "gemini/response_"+tc.name+".json"), "gemini-2.5-flash", false)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			checkGoldenJSON(t, tc.golden, resp.Body)
			if resp.Usage != tc.usage {
				t.Errorf("usage %+v, want %+v", resp.Usage, tc.usage)
			}
			if resp.Model != "gemini-2.5-flash" {
				t.Errorf("model %q", resp.Model)
			}
			if !strings.Contains(string(resp.Body), `"created":1755694800`) {
				t.Errorf("created not from the injected clock: %s", resp.Body)
			}
		})
	}
}

func TestResponseSignatureInToolCallID(t *testing.T) {
	a := newTestAdapter(t, "http://unused.invalid", nil)
	resp, err := a.decodeResponse(readTestdata(t, "gemini/response_function_call.json"), "m", false)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Choices []struct {
			Message struct {
				ToolCalls []struct{ ID string } `json:"tool_calls"`
			}
		}
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatal(err)
	}
	calls := out.Choices[0].Message.ToolCalls
	if len(calls) != 2 {
		t.Fatalf("calls %+v", calls)
	}
	if sig, ok := signatureFromID(calls[0].ID); !ok || sig != fixtureSignature {
		t.Errorf("first id %q carries %q, %v", calls[0].ID, sig, ok)
	}
	if calls[1].ID != "call_GEN_1" {
		t.Errorf("second id %q, want a plain id", calls[1].ID)
	}
}

func TestResponseCases(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"thoughts to reasoning_content, no id, no model",
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"hmm","thought":true},{"text":"Hi"},{"text":" there"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"thoughtsTokenCount":1,"toolUsePromptTokenCount":4,"totalTokenCount":10}}`,
			`{"id":"chatcmpl-GEN","object":"chat.completion","model":"req-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there","refusal":null,"reasoning_content":"hmm"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10,"completion_tokens_details":{"reasoning_tokens":1}}}`},
		{"two candidates, safety and other",
			`{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"SAFETY","index":0},{"content":{"parts":[{"text":"b"}]},"finishReason":"OTHER","index":1}],"modelVersion":"g","responseId":"r"}`,
			`{"id":"r","object":"chat.completion","model":"g","choices":[{"index":0,"message":{"role":"assistant","content":"a","refusal":null},"logprobs":null,"finish_reason":"content_filter"},{"index":1,"message":{"role":"assistant","content":"b","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}`},
		{"safety with no text",
			`{"candidates":[{"content":{"parts":[]},"finishReason":"SAFETY"}],"responseId":"r","modelVersion":"g"}`,
			`{"id":"r","object":"chat.completion","model":"g","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null},"logprobs":null,"finish_reason":"content_filter"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}`},
		{"function call without args, with text",
			`{"candidates":[{"content":{"parts":[{"text":"Calling."},{"functionCall":{"name":"now"}}]},"finishReason":"STOP"}],"responseId":"r","modelVersion":"g"}`,
			`{"id":"r","object":"chat.completion","model":"g","choices":[{"index":0,"message":{"role":"assistant","content":"Calling.","refusal":null,"tool_calls":[{"id":"call_GEN_0","type":"function","function":{"name":"now","arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, "http://unused.invalid", nil)
			resp, err := a.decodeResponse([]byte(tc.in), "req-model", false)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got := normalize(parseJSON(t, resp.Body))
			want := normalize(parseJSON(t, []byte(tc.want)))
			if d := diffJSON(want, got); d != "" {
				t.Errorf("mismatch (-want +got):\n%s\ngot: %s", d, resp.Body)
			}
		})
	}
}

func TestResponseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		kind     provider.Kind
	}{
		{"malformed function call", `{"candidates":[{"content":{"parts":[]},"finishReason":"MALFORMED_FUNCTION_CALL"}]}`, provider.KindServer},
		{"unexpected tool call", `{"candidates":[{"content":{"parts":[]},"finishReason":"UNEXPECTED_TOOL_CALL"}]}`, provider.KindServer},
		{"too many tool calls", `{"candidates":[{"content":{"parts":[]},"finishReason":"TOO_MANY_TOOL_CALLS"}]}`, provider.KindServer},
		{"no candidates", `{"usageMetadata":{"promptTokenCount":1}}`, provider.KindServer},
		{"not json", `<html>`, provider.KindServer},
		{"error in 200", `{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}`, provider.KindServer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, "http://unused.invalid", nil)
			_, err := a.decodeResponse([]byte(tc.in), "m", false)
			pe, ok := provider.AsError(err)
			if !ok || pe.Kind != tc.kind {
				t.Fatalf("err = %v, want kind %v", err, tc.kind)
			}
		})
	}
}

func TestResponseLogprobs(t *testing.T) {
	in := `{"candidates":[{"content":{"parts":[{"text":"Hi!"}]},"finishReason":"STOP","logprobsResult":{` +
		`"topCandidates":[{"candidates":[{"token":"Hi","logProbability":-0.1},{"token":"Hello","logProbability":-2.5}]},{"candidates":[{"token":"!","logProbability":-0.01}]}],` +
		`"chosenCandidates":[{"token":"Hi","logProbability":-0.1},{"token":"!","logProbability":-0.01}]}}],"responseId":"r","modelVersion":"g"}`
	a := newTestAdapter(t, "http://unused.invalid", nil)
	resp, err := a.decodeResponse([]byte(in), "m", true)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Choices []struct {
			Logprobs *struct {
				Content []struct {
					Token       string
					Logprob     float64
					Bytes       []int
					TopLogprobs []struct {
						Token   string
						Logprob float64
					} `json:"top_logprobs"`
				}
			}
		}
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatalf("%v\n%s", err, resp.Body)
	}
	lp := out.Choices[0].Logprobs
	if lp == nil || len(lp.Content) != 2 || lp.Content[0].Token != "Hi" || lp.Content[0].Logprob != -0.1 ||
		len(lp.Content[0].TopLogprobs) != 2 || lp.Content[0].TopLogprobs[1].Token != "Hello" ||
		len(lp.Content[0].Bytes) != 2 || lp.Content[1].Token != "!" {
		t.Errorf("logprobs %s", resp.Body)
	}
	// Not asked for: null.
	resp, err = a.decodeResponse([]byte(in), "m", false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp.Body), `"logprobs":null`) {
		t.Errorf("logprobs without asking: %s", resp.Body)
	}
}
