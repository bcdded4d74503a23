package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// runStream translates an upstream SSE transcript and returns the chunks
// as an OpenAI SSE body (with [DONE] after a clean end), the stream, and
// the error that ended it (nil after io.EOF).
func runStream(t *testing.T, a *Adapter, transcript []byte, logprobs bool) (string, *stream, error) {
	t.Helper()
	s := newStream(a, &provider.ChatRequest{Model: "gemini-2.5-flash", Body: []byte(`{"model":"m","messages":[{"role":"user","content":"Say hello in French."}]}`), Stream: true},
		io.NopCloser(bytes.NewReader(transcript)), logprobs)
	defer s.Close()
	var out strings.Builder
	usageChunks := 0
	for {
		c, err := s.Next()
		if errors.Is(err, io.EOF) {
			out.WriteString("data: [DONE]\n\n")
			if usageChunks != 1 {
				t.Errorf("%d usage chunks, want 1", usageChunks)
			}
			return out.String(), s, nil
		}
		if err != nil {
			return out.String(), s, err
		}
		if c.UsageOnly {
			usageChunks++
		}
		out.WriteString("data: ")
		out.Write(c.Data)
		out.WriteString("\n\n")
	}
}

// chunkList parses an OpenAI SSE body into normalised chunks. Tool-call
// deltas of one call are merged, so that the gateway's start-then-
// arguments pair compares equal to a fixture's single delta.
func chunkList(t *testing.T, body string) []any {
	t.Helper()
	var out []any
	for _, line := range pt.Lines(body) {
		if line == "[DONE]" {
			out = append(out, "[DONE]")
			continue
		}
		v := parseJSON(t, []byte(line)).(map[string]any)
		if len(out) > 0 && mergeToolDelta(out[len(out)-1], v) {
			continue
		}
		out = append(out, v)
	}
	return normalize(out).([]any)
}

// toolDelta returns the first tool call of a chunk's first choice delta.
func toolDelta(c any) map[string]any {
	m, _ := c.(map[string]any)
	choices, _ := m["choices"].([]any)
	if len(choices) == 0 {
		return nil
	}
	delta, _ := choices[0].(map[string]any)["delta"].(map[string]any)
	calls, _ := delta["tool_calls"].([]any)
	if len(calls) != 1 {
		return nil
	}
	tc, _ := calls[0].(map[string]any)
	return tc
}

// mergeToolDelta appends cur's argument fragment to prev when both are
// deltas of the same tool call and cur has no id of its own.
func mergeToolDelta(prev any, cur map[string]any) bool {
	p, c := toolDelta(prev), toolDelta(cur)
	if p == nil || c == nil || c["id"] != nil {
		return false
	}
	if p["index"].(json.Number).String() != c["index"].(json.Number).String() {
		return false
	}
	pf := p["function"].(map[string]any)
	cf := c["function"].(map[string]any)
	pf["arguments"] = pf["arguments"].(string) + cf["arguments"].(string)
	return true
}

func TestStreamGolden(t *testing.T) {
	tests := []struct {
		name, golden string
		usage        provider.Usage
	}{
		{"text", "translation/openai_from_gemini_stream_text.sse",
			provider.Usage{PromptTokens: 9, CompletionTokens: 44, TotalTokens: 53, ReasoningTokens: 31}},
		{"function_call", "translation/openai_from_gemini_stream_function_call.sse",
			provider.Usage{PromptTokens: 96, CompletionTokens: 81, TotalTokens: 177, ReasoningTokens: 57}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, "http://unused.invalid", nil)
			in := readTestdata(t, "gemini/stream_"+tc.name+".sse")
			if !bytes.Contains(in, []byte("\r\n")) {
				t.Fatal("fixture is not CRLF framed")
			}
			got, s, err := runStream(t, a, in, false)
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if *update {
				if err := os.WriteFile(filepath.Join("testdata", tc.golden), []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := string(readTestdata(t, tc.golden))
			if d := cmp.Diff(chunkList(t, want), chunkList(t, got)); d != "" {
				t.Errorf("mismatch (-want +got):\n%s\ngot:\n%s", d, got)
			}
			if u := s.Usage(); u != tc.usage {
				t.Errorf("usage %+v, want %+v", u, tc.usage)
			}
			if s.Model() != "gemini-2.5-flash" {
				t.Errorf("model %q", s.Model())
			}
		})
	}
}

func TestStreamToolCallChunks(t *testing.T) {
	a := newTestAdapter(t, "http://unused.invalid", nil)
	got, _, err := runStream(t, a, readTestdata(t, "gemini/stream_function_call.sse"), false)
	if err != nil {
		t.Fatal(err)
	}
	lines := pt.Lines(got)
	// role, start+args, start+args, finish, usage, [DONE]
	if len(lines) != 8 {
		t.Fatalf("%d chunks:\n%s", len(lines), got)
	}
	var start struct {
		Choices []struct {
			Delta struct {
				ToolCalls []struct {
					Index    int
					ID       string
					Function struct{ Name, Arguments string }
				} `json:"tool_calls"`
			}
		}
	}
	if err := json.Unmarshal([]byte(lines[1]), &start); err != nil {
		t.Fatal(err)
	}
	tc := start.Choices[0].Delta.ToolCalls[0]
	if sig, ok := signatureFromID(tc.ID); !ok || sig != fixtureSignature || tc.Index != 0 || tc.Function.Name != "get_weather" {
		t.Errorf("first tool start %s", lines[1])
	}
	if !strings.Contains(lines[2], `"arguments":"{\"city\":\"Paris\",\"unit\":\"celsius\"}"`) || !strings.Contains(lines[2], `"tool_calls":[{"index":0,"function":{"arguments"`) {
		t.Errorf("first tool args %s", lines[2])
	}
	if !strings.Contains(lines[3], `"index":1,"id":"call_GEN_1"`) {
		t.Errorf("second tool start %s", lines[3])
	}
}

// geminiSSE frames events as Gemini does (CRLF, no terminator).
func geminiSSE(events ...string) []byte {
	var b strings.Builder
	for _, e := range events {
		b.WriteString("data: " + e + "\r\n\r\n")
	}
	return []byte(b.String())
}

func TestStreamCases(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		want   []string // data payloads, normalised
		usage  provider.Usage
	}{
		{"prompt blocked",
			[]string{`{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":14,"totalTokenCount":14},"modelVersion":"g","responseId":"r"}`},
			[]string{
				`{"id":"r","object":"chat.completion.chunk","model":"g","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"r","object":"chat.completion.chunk","model":"g","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"content_filter"}],"usage":null}`,
				`{"id":"r","object":"chat.completion.chunk","model":"g","choices":[],"usage":{"prompt_tokens":14,"completion_tokens":0,"total_tokens":14}}`,
				`[DONE]`},
			provider.Usage{PromptTokens: 14, TotalTokens: 14}},
		{"thoughts and two candidates, no id",
			[]string{
				`{"candidates":[{"content":{"parts":[{"text":"think","thought":true}]},"index":0},{"content":{"parts":[{"text":"B"}]},"index":1}]}`,
				`{"candidates":[{"content":{"parts":[{"text":"A"}]},"index":0,"finishReason":"MAX_TOKENS"},{"content":{"parts":[{"text":""}]},"index":1,"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":2,"thoughtsTokenCount":1,"totalTokenCount":5}}`},
			[]string{
				`{"id":"chatcmpl-GEN","object":"chat.completion.chunk","model":"gemini-2.5-flash","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-GEN","object":"chat.completion.chunk","model":"gemini-2.5-flash","choices":[{"index":0,"delta":{"reasoning_content":"think"},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-GEN","object":"chat.completion.chunk","model":"gemini-2.5-flash","choices":[{"index":1,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-GEN","object":"chat.completion.chunk","model":"gemini-2.5-flash","choices":[{"index":1,"delta":{"content":"B"},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-GEN","object":"chat.completion.chunk","model":"gemini-2.5-flash","choices":[{"index":0,"delta":{"content":"A"},"logprobs":null,"finish_reason":null}],"usage":null}`,
				`{"id":"chatcmpl-GEN","object":"chat.completion.chunk","model":"gemini-2.5-flash","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}],"usage":null}`,
				`{"id":"chatcmpl-GEN","object":"chat.completion.chunk","model":"gemini-2.5-flash","choices":[{"index":1,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`,
				`{"id":"chatcmpl-GEN","object":"chat.completion.chunk","model":"gemini-2.5-flash","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5,"completion_tokens_details":{"reasoning_tokens":1}}}`,
				`[DONE]`},
			provider.Usage{PromptTokens: 2, CompletionTokens: 3, TotalTokens: 5, ReasoningTokens: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, "http://unused.invalid", nil)
			got, s, err := runStream(t, a, geminiSSE(tc.events...), false)
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			var want strings.Builder
			for _, w := range tc.want {
				want.WriteString("data: " + w + "\n\n")
			}
			if d := cmp.Diff(chunkList(t, want.String()), chunkList(t, got)); d != "" {
				t.Errorf("mismatch (-want +got):\n%s\ngot:\n%s", d, got)
			}
			if u := s.Usage(); u != tc.usage {
				t.Errorf("usage %+v, want %+v", u, tc.usage)
			}
		})
	}
}

func TestStreamLogprobs(t *testing.T) {
	a := newTestAdapter(t, "http://unused.invalid", nil)
	ev := `{"candidates":[{"content":{"parts":[{"text":"Hi"}]},"finishReason":"STOP","logprobsResult":{"topCandidates":[{"candidates":[{"token":"Hi","logProbability":-0.5}]}],"chosenCandidates":[{"token":"Hi","logProbability":-0.5}]}}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1,"totalTokenCount":2}}`
	got, _, err := runStream(t, a, geminiSSE(ev), true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, `"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.5,"bytes":[72,105]}]}],"refusal":null}`) {
		t.Errorf("no logprobs on the content chunk:\n%s", got)
	}
}

func TestStreamErrors(t *testing.T) {
	text := `{"candidates":[{"content":{"parts":[{"text":"Bon"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":1,"totalTokenCount":10}}`
	tests := []struct {
		name      string
		body      []byte
		kind      provider.Kind
		estimated bool
	}{
		{"mid-stream error event", geminiSSE(text, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`), provider.KindServer, true},
		{"mid-stream rate limit", geminiSSE(text, `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}`), provider.KindRateLimited, true},
		{"truncated without finish", geminiSSE(text), provider.KindServer, true},
		{"cut inside an event", append(geminiSSE(text), "data: {\"candid"...), provider.KindServer, true},
		{"malformed function call", geminiSSE(text, `{"candidates":[{"content":{"parts":[]},"index":0,"finishReason":"MALFORMED_FUNCTION_CALL"}]}`), provider.KindServer, true},
		{"not json", geminiSSE(text, `{oops`), provider.KindServer, true},
		{"empty body", nil, provider.KindServer, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAdapter(t, "http://unused.invalid", nil)
			got, s, err := runStream(t, a, tc.body, false)
			pe, ok := provider.AsError(err)
			if !ok || pe.Kind != tc.kind {
				t.Fatalf("err = %v, want kind %v; chunks:\n%s", err, tc.kind, got)
			}
			if u := s.Usage(); u.Estimated != tc.estimated || u.PromptTokens == 0 {
				t.Errorf("usage after error %+v", u)
			}
			if _, again := s.Next(); again != err {
				t.Errorf("Next after the error = %v, want the same error", again)
			}
		})
	}
}

func TestStreamCloseTwice(t *testing.T) {
	a := newTestAdapter(t, "http://unused.invalid", nil)
	s := newStream(a, &provider.ChatRequest{Model: "m", Body: []byte(`{}`)}, io.NopCloser(bytes.NewReader(nil)), false)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStreamCancel(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply {
		r := pt.SSE(readTestdata(t, "gemini/stream_text.sse"))
		r.Events, r.Hang = r.Events[:1], true
		return r
	})
	a := newTestAdapter(t, up.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := a.ChatCompletionStream(ctx, &provider.ChatRequest{Model: "gemini-2.5-flash", Stream: true,
		Body: []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"Say hello in French."}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 { // role, content
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	_, err = s.Next()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel = %v, want context.Canceled", err)
	}
	u := s.Usage()
	if !u.Estimated || u.PromptTokens != 9 || u.CompletionTokens != 35 {
		t.Errorf("usage after cancel %+v", u)
	}
}
