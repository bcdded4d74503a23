package anthropic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// transcript streams reply through the adapter and renders what Next
// returned as SSE: one data line per chunk, then "data: [DONE]" after
// io.EOF or an "error:" line describing the error.
func transcript(t *testing.T, reply pt.Reply) ([]byte, provider.Stream) {
	t.Helper()
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return reply })
	a := newTestAdapter(t, "anthropic", up.URL, "k")
	s, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{
		Model: "claude-sonnet-4-5", Body: []byte(`{"model":"public","stream":true,"messages":[{"role":"user","content":"Say hello in French."}]}`), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var b bytes.Buffer
	for {
		c, err := s.Next()
		if errors.Is(err, io.EOF) {
			b.WriteString("data: [DONE]\n\n")
			break
		}
		if err != nil {
			pe, ok := provider.AsError(err)
			if !ok {
				t.Fatalf("Next: %v", err)
			}
			fmt.Fprintf(&b, "error: kind=%v status=%d message=%q\n", pe.Kind, pe.Status, pe.Message)
			break
		}
		fmt.Fprintf(&b, "data: %s\n\n", c.Data)
		var isUsage bool
		if bytes.Contains(c.Data, []byte(`"choices":[]`)) {
			isUsage = true
		}
		if c.UsageOnly != isUsage {
			t.Errorf("UsageOnly %v on %s", c.UsageOnly, c.Data)
		}
	}
	return b.Bytes(), s
}

// TestStreamGolden compares stream translations with the expected
// gateway output: the translation fixtures for text and tools (the
// client asked for usage there, so every chunk shows), our own goldens
// for thinking and for a mid-stream error.
func TestStreamGolden(t *testing.T) {
	tests := []struct {
		in, golden string
		usage      provider.Usage
	}{
		{"stream_text", "golden/openai_from_anthropic_stream_text.sse", provider.Usage{PromptTokens: 21, CompletionTokens: 18, TotalTokens: 39}},
		{"stream_tool_use", "golden/openai_from_anthropic_stream_tool_use.sse", provider.Usage{PromptTokens: 412, CompletionTokens: 96, TotalTokens: 508}},
		{"stream_thinking", "golden/adapter_stream_thinking.sse", provider.Usage{PromptTokens: 48, CompletionTokens: 41, TotalTokens: 89}},
		// Broken off: the prompt from message_start, the completion counted
		// locally (one word) over Anthropic's provisional 1.
		{"stream_error", "golden/adapter_stream_error.sse", provider.Usage{PromptTokens: 21, CompletionTokens: 1, TotalTokens: 22, Estimated: true}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, s := transcript(t, pt.SSE(readTestdata(t, "anthropic/"+tc.in+".sse")))
			checkGoldenSSE(t, tc.golden, got)
			if u := s.Usage(); u != tc.usage {
				t.Errorf("usage %+v, want %+v", u, tc.usage)
			}
			if m := s.Model(); m != "claude-sonnet-4-5-20250929" {
				t.Errorf("model %q", m)
			}
		})
	}
}

// events builds an SSE reply from Anthropic event payloads; each event's
// name is its type.
func events(payloads ...string) pt.Reply {
	var b strings.Builder
	for _, p := range payloads {
		typ := p[strings.Index(p, `"type":"`)+8:]
		typ = typ[:strings.IndexByte(typ, '"')]
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", typ, p)
	}
	return pt.SSE([]byte(b.String()))
}

const (
	evStart    = `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":1}}}`
	evText     = `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`
	evHello    = `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there"}}`
	evStop0    = `{"type":"content_block_stop","index":0}`
	evDelta    = `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}`
	evMsgStop  = `{"type":"message_stop"}`
	chunkStart = `{"id":"msg_1","object":"chat.completion.chunk","created":1755694800,"model":"claude-x","choices":[{"index":0,"delta":`
)

// chunkLine renders an expected chunk line for msg_1/claude-x.
func chunkLine(delta, finish string) string {
	return "data: " + chunkStart + delta + `,"logprobs":null,"finish_reason":` + finish + `}],"usage":null}` + "\n\n"
}

func TestStreamEdgeCases(t *testing.T) {
	role := chunkLine(`{"role":"assistant","content":""}`, "null")
	hello := chunkLine(`{"content":"Hello there"}`, "null")
	stop := chunkLine(`{}`, `"stop"`)
	usage := `data: {"id":"msg_1","object":"chat.completion.chunk","created":1755694800,"model":"claude-x","choices":[],"usage":{"prompt_tokens":15,"completion_tokens":7,"total_tokens":22,"prompt_tokens_details":{"cached_tokens":5}}}` + "\n\n"
	tests := []struct {
		name  string
		reply pt.Reply
		want  string
	}{
		{"complete", events(evStart, evText, evHello, evStop0, evDelta, evMsgStop), role + hello + stop + usage + "data: [DONE]\n\n"},
		{"body ends after message_delta", events(evStart, evText, evHello, evStop0, evDelta), role + hello + stop + usage + "data: [DONE]\n\n"},
		{"message_stop without message_delta", events(evStart, evText, evHello, evStop0, evMsgStop),
			role + hello + stop + strings.Replace(usage, `"completion_tokens":7,"total_tokens":22`, `"completion_tokens":1,"total_tokens":16`, 1) + "data: [DONE]\n\n"},
		{"body ends early", events(evStart, evText, evHello),
			role + hello + `error: kind=server status=0 message="provider \"anthropic\" ended the stream before the answer was complete"` + "\n"},
		{"no message_start", events(evText, evHello),
			`error: kind=server status=0 message="provider \"anthropic\" sent a malformed stream: \"content_block_start\" before message_start"` + "\n"},
		{"not JSON", pt.SSE([]byte("event: message_start\ndata: {oops\n\n")),
			`error: kind=server status=0 message="provider \"anthropic\" sent a malformed stream: an event is not JSON"` + "\n"},
		{"error event kinds", events(evStart, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`),
			role + `error: kind=rate_limited status=429 message="anthropic: slow down"` + "\n"},
		{"invalid request mid-stream", events(evStart, `{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}`),
			role + `error: kind=invalid_request status=400 message="anthropic: bad"` + "\n"},
		{"tool input given whole, server tools skipped", events(evStart,
			`{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"q\":1}"}}`,
			`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"f","input":{"a": 1}}}`,
			`{"type":"content_block_delta","index":1,"delta":{"type":"signature_delta","signature":"x"}}`,
			`{"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{}}}`,
			`{"type":"some_future_event"}`,
			`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":7}}`, evMsgStop),
			role +
				chunkLine(`{"tool_calls":[{"index":0,"id":"toolu_9","type":"function","function":{"name":"f","arguments":""}}]}`, "null") +
				chunkLine(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}`, "null") +
				chunkLine(`{}`, `"tool_calls"`) + usage + "data: [DONE]\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, s := transcript(t, tc.reply)
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			// Errors are sticky.
			if _, err := s.Next(); err == nil {
				t.Error("Next after the end returned no error")
			}
		})
	}
}

// TestStreamErrorStatus checks that an upstream refusal of a stream is an
// error from ChatCompletionStream, not from Next.
func TestStreamErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply pt.Reply
		kind  provider.Kind
	}{
		{"529", pt.JSON(529, readTestdata(t, "anthropic/error_overloaded_529.json")), provider.KindServer},
		{"200 with a JSON error", pt.JSON(200, readTestdata(t, "anthropic/error_overloaded_529.json")), provider.KindServer},
		{"400", pt.JSON(400, readTestdata(t, "anthropic/error_invalid_request_400.json")), provider.KindInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return tc.reply })
			a := newTestAdapter(t, "anthropic", up.URL, "k")
			_, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(basicRequest), Stream: true})
			if pe, ok := provider.AsError(err); !ok || pe.Kind != tc.kind {
				t.Errorf("err = %v, want kind %v", err, tc.kind)
			}
		})
	}
}

// TestStreamRefusedBeforeSending checks that a request refusal happens
// before any upstream call.
func TestStreamRefusedBeforeSending(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.Reply{} })
	a := newTestAdapter(t, "anthropic", up.URL, "k")
	_, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "m", Stream: true,
		Body: []byte(`{"model":"x","n":3,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)})
	if pe, ok := provider.AsError(err); !ok || pe.Param != "n" {
		t.Errorf("err = %v", err)
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("%d upstream requests", n)
	}
}

// TestStreamUpstreamBody checks that a stream request asks Anthropic for
// a stream.
func TestStreamUpstreamBody(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.SSE(readTestdata(t, "anthropic/stream_text.sse")) })
	a := newTestAdapter(t, "anthropic", up.URL, "k")
	s, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "m", Stream: true,
		Body: []byte(`{"model":"x","stream":true,"messages":[{"role":"user","content":"hi"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	r := up.Requests()[0]
	if !bytes.Contains(r.Body, []byte(`"stream":true`)) || r.Header.Get("Accept") != "text/event-stream" {
		t.Errorf("body %s, accept %q", r.Body, r.Header.Get("Accept"))
	}
	if _, err := s.Next(); err == nil {
		t.Error("Next after Close returned no error")
	}
}

// TestStreamCancel checks that a cancelled stream reports the context's
// error and an estimated usage of what was produced.
func TestStreamCancel(t *testing.T) {
	reply := events(evStart, evText, evHello)
	reply.Hang = true
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return reply })
	a := newTestAdapter(t, "anthropic", up.URL, "k")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := a.ChatCompletionStream(ctx, &provider.ChatRequest{Model: "m", Body: []byte(basicRequest), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 { // role, "Hello there"
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if _, err := s.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	want := provider.Usage{PromptTokens: 15, CompletionTokens: 2, TotalTokens: 17, CachedTokens: 5, Estimated: true}
	if u := s.Usage(); u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
}
