package mock

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	openai "github.com/sashabaranov/go-openai"
	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
)

// drain reads a whole stream, checking the invariants every chunk shares.
func drain(t *testing.T, s provider.Stream) []provider.Chunk {
	t.Helper()
	var chunks []provider.Chunk
	for {
		c, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c.Data = append([]byte(nil), c.Data...) // Data is reused by Next
		chunks = append(chunks, c)
	}
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("Next after EOF: %v", err)
	}
	return chunks
}

// streamed is one choice reassembled from chunks.
type streamed struct {
	role, content, finish string
	calls                 []openai.ToolCall
}

func TestStream(t *testing.T) {
	tests := []struct {
		name   string
		mc     provider.MockConfig
		body   string
		pieces int // content chunks per choice
	}{
		{"text", provider.MockConfig{}, `{"messages":[{"role":"user","content":"hello world, how are you?"}]}`, 4},
		{"three chunks", provider.MockConfig{Chunks: 3}, `{"messages":[{"role":"user","content":"hello world"}]}`, 3},
		{"short text", provider.MockConfig{Chunks: 20}, `{"messages":[{"role":"user","content":"hi"}]}`, 8},
		{"unicode", provider.MockConfig{Chunks: 7}, `{"messages":[{"role":"user","content":"こんにちは世界 🙂"}]}`, 7},
		{"n=2", provider.MockConfig{}, `{"messages":[{"role":"user","content":"hello world"}],"n":2}`, 4},
		{"truncated", provider.MockConfig{}, `{"messages":[{"role":"user","content":"one two three four five six"}],"max_tokens":4}`, 4},
		{"tool call", provider.MockConfig{}, fixture(t, "request_tools_first_turn.json"), 2},
		{"tool call n=3", provider.MockConfig{}, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"n":3}`, 2},
		{"tool results", provider.MockConfig{}, fixture(t, "request_tools_second_turn.json"), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			goroutines := runtime.NumGoroutine()
			resp, want := complete(t, newMock(t, tt.mc), tt.body)
			a := newMock(t, tt.mc)
			s, err := a.ChatCompletionStream(context.Background(), chatReq(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			chunks := drain(t, s)
			n := len(want.Choices)
			if len(chunks) != n*(tt.pieces+2)+1 {
				t.Errorf("%d chunks, want %d", len(chunks), n*(tt.pieces+2)+1)
			}
			got := reassemble(t, chunks, n, tt.pieces, want.Usage)
			for i, c := range want.Choices {
				w := streamed{role: "assistant", content: c.Message.Content, finish: string(c.FinishReason), calls: c.Message.ToolCalls}
				if diff := cmp.Diff(w, got[i], cmp.AllowUnexported(streamed{})); diff != "" {
					t.Errorf("choice %d (-non-stream +stream):\n%s", i, diff)
				}
			}
			if diff := cmp.Diff(resp.Usage, s.Usage()); diff != "" {
				t.Errorf("Usage() (-non-stream +stream):\n%s", diff)
			}
			if s.Model() != "echo" {
				t.Errorf("Model() = %q", s.Model())
			}
			for range 2 { // idempotent
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
			if _, err := s.Next(); err == nil || err == io.EOF {
				t.Errorf("Next after Close: %v", err)
			}
			if g := runtime.NumGoroutine(); g > goroutines {
				t.Errorf("goroutines: %d before, %d after", goroutines, g)
			}
		})
	}
}

// reassemble checks every chunk's envelope and phase and the final usage
// chunk against wantUsage, and merges the choices as a client would.
func reassemble(t *testing.T, chunks []provider.Chunk, n, pieces int, wantUsage openai.Usage) []streamed {
	t.Helper()
	got := make([]streamed, n)
	var id string
	for i, c := range chunks {
		var ch openai.ChatCompletionStreamResponse
		if err := json.Unmarshal(c.Data, &ch); err != nil {
			t.Fatalf("chunk %d: %v: %s", i, err, c.Data)
		}
		if i == 0 {
			id = ch.ID
		}
		if ch.ID != id || ch.Object != "chat.completion.chunk" || ch.Created != testCreated ||
			ch.Model != "echo" || ch.SystemFingerprint != "fp_mock" {
			t.Errorf("chunk %d envelope: %s", i, c.Data)
		}
		last := i == len(chunks)-1
		if c.UsageOnly != last {
			t.Errorf("chunk %d: UsageOnly = %v", i, c.UsageOnly)
		}
		if last {
			if len(ch.Choices) != 0 || ch.Usage == nil || !gjson.GetBytes(c.Data, "choices").IsArray() {
				t.Fatalf("usage chunk: %s", c.Data)
			}
			if diff := cmp.Diff(wantUsage, *ch.Usage); diff != "" {
				t.Errorf("usage chunk (-non-stream +stream):\n%s", diff)
			}
			continue
		}
		if u := gjson.GetBytes(c.Data, "usage"); !u.Exists() || u.Type != gjson.Null {
			t.Errorf("chunk %d: usage = %q, want null", i, u.Raw)
		}
		if len(ch.Choices) != 1 {
			t.Fatalf("chunk %d: %d choices", i, len(ch.Choices))
		}
		checkPhase(t, i, n, pieces, c.Data)
		mergeChoice(&got[ch.Choices[0].Index], ch.Choices[0])
	}
	return got
}

// checkPhase checks that chunk i holds the delta its position calls for:
// n role chunks, pieces×n content chunks, n finish chunks.
func checkPhase(t *testing.T, i, n, pieces int, data []byte) {
	t.Helper()
	delta := gjson.GetBytes(data, "choices.0.delta")
	finish := gjson.GetBytes(data, "choices.0.finish_reason")
	switch {
	case i < n:
		if r := delta.Get("role").Str; r != "assistant" || !delta.Get("content").Exists() || finish.Type != gjson.Null {
			t.Errorf("chunk %d is no role chunk: %s", i, data)
		}
	case i < n+pieces*n:
		if delta.Get("role").Exists() || finish.Type != gjson.Null {
			t.Errorf("chunk %d is no content chunk: %s", i, data)
		}
	default:
		if delta.Raw != "{}" || finish.Type != gjson.String {
			t.Errorf("chunk %d is no finish chunk: %s", i, data)
		}
	}
}

// mergeChoice accumulates one chunk choice, as a client would.
func mergeChoice(dst *streamed, c openai.ChatCompletionStreamChoice) {
	if c.Delta.Role != "" {
		dst.role = c.Delta.Role
	}
	dst.content += c.Delta.Content
	if c.FinishReason != "" {
		dst.finish = string(c.FinishReason)
	}
	for _, tc := range c.Delta.ToolCalls {
		i := *tc.Index
		for len(dst.calls) <= i {
			dst.calls = append(dst.calls, openai.ToolCall{})
		}
		d := &dst.calls[i]
		if tc.ID != "" {
			d.ID, d.Type = tc.ID, tc.Type
		}
		d.Function.Name += tc.Function.Name
		d.Function.Arguments += tc.Function.Arguments
	}
}

// TestStreamGolden pins the exact bytes of a short stream.
func TestStreamGolden(t *testing.T) {
	a := newMock(t, provider.MockConfig{Chunks: 2})
	a.idPrefix = "test"
	s, err := a.ChatCompletionStream(context.Background(), chatReq(`{"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	const head = `{"id":"chatcmpl-test1","object":"chat.completion.chunk","created":1755694800,"model":"echo","system_fingerprint":"fp_mock","choices":[`
	p := counter.CountChat("echo", []byte(`{"messages":[{"role":"user","content":"hi"}]}`))
	c := counter.CountText("echo", "echo: hi")
	want := []string{
		head + `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`,
		head + `{"index":0,"delta":{"content":"echo"},"logprobs":null,"finish_reason":null}],"usage":null}`,
		head + `{"index":0,"delta":{"content":": hi"},"logprobs":null,"finish_reason":null}],"usage":null}`,
		head + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`,
		head + `],"usage":{"prompt_tokens":` + strconv.Itoa(p) + `,"completion_tokens":` + strconv.Itoa(c) + `,"total_tokens":` + strconv.Itoa(p+c) +
			`,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
	}
	var got []string
	for _, ch := range drain(t, s) {
		got = append(got, string(ch.Data))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stream (-want +got):\n%s", diff)
	}
}

func TestStreamCancel(t *testing.T) {
	const body = `{"messages":[{"role":"user","content":"one two three four five six seven eight"}]}`
	a := newMock(t, provider.MockConfig{ChunkDelay: time.Hour, Chunks: 4})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := a.ChatCompletionStream(ctx, chatReq(body))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Next(); err != nil { // role chunk: no delay before it
		t.Fatal(err)
	}
	if u := s.Usage(); u.CompletionTokens != 0 || !u.Estimated {
		t.Errorf("usage after role chunk: %+v", u)
	}
	// Emit two content chunks by shortening the delay, then cancel while
	// the third waits for an hour.
	ms := s.(*stream)
	ms.delay = 0
	var content string
	for range 2 {
		c, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		content += gjson.GetBytes(c.Data, "choices.0.delta.content").Str
	}
	ms.delay = time.Hour
	timer := time.AfterFunc(20*time.Millisecond, cancel)
	defer timer.Stop()
	start := time.Now()
	_, err = s.Next()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Next returned after %v", d)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Next: %v, want context.Canceled", err)
	}
	if _, err2 := s.Next(); !errors.Is(err2, context.Canceled) {
		t.Errorf("second Next: %v", err2)
	}
	p := counter.CountChat("echo", []byte(body))
	c := counter.CountText("echo", content)
	want := provider.Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c, Estimated: true}
	if diff := cmp.Diff(want, s.Usage()); diff != "" {
		t.Errorf("partial usage (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix("echo: one two three four five six seven eight", content) || c == 0 {
		t.Errorf("emitted %q", content)
	}
}

func TestStreamCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := newMock(t, provider.MockConfig{})
	if _, err := a.ChatCompletionStream(ctx, chatReq(`{"messages":[]}`)); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

func TestSplitOffsets(t *testing.T) {
	tests := []struct {
		text string
		k    int
		want []string
	}{
		{"", 4, nil},
		{"ab", 4, []string{"a", "b"}},
		{"abcdefgh", 4, []string{"ab", "cd", "ef", "gh"}},
		{"abcdefghij", 4, []string{"ab", "cde", "fg", "hij"}},
		{"é漢字🙂", 2, []string{"é漢", "字🙂"}},
	}
	for _, tt := range tests {
		offs := splitOffsets(tt.text, tt.k)
		var got []string
		for i := 0; i+1 < len(offs); i++ {
			got = append(got, tt.text[offs[i]:offs[i+1]])
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("splitOffsets(%q, %d) (-want +got):\n%s", tt.text, tt.k, diff)
		}
	}
}

func BenchmarkChatCompletion(b *testing.B) {
	a := newMock(b, provider.MockConfig{})
	req := chatReq(fixture(b, "request_basic.json"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.ChatCompletion(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStream(b *testing.B) {
	a := newMock(b, provider.MockConfig{})
	req := chatReq(fixture(b, "request_basic.json"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s, err := a.ChatCompletionStream(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
		s.Usage()
		s.Close()
	}
}
