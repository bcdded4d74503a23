package azure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// readStream reads a stream to its end, copying each chunk.
func readStream(t *testing.T, s provider.Stream) ([]provider.Chunk, error) {
	t.Helper()
	var out []provider.Chunk
	for {
		c, err := s.Next()
		if err != nil {
			return out, err
		}
		c.Data = bytes.Clone(c.Data)
		out = append(out, c)
	}
}

// goldenSSE compares a chunk sequence with testdata/golden/name (the SSE a
// client asking for usage would get), chunk by chunk as parsed JSON, or
// rewrites the file under -update.
func goldenSSE(t *testing.T, name string, chunks []provider.Chunk) {
	t.Helper()
	var b bytes.Buffer
	for _, c := range chunks {
		b.WriteString("data: ")
		b.Write(c.Data)
		b.WriteString("\n\n")
	}
	b.WriteString("data: [DONE]\n\n")
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run with -update)", name, err)
	}
	w, g := pt.Lines(string(want)), pt.Lines(b.String())
	if len(w) != len(g) {
		t.Fatalf("golden %s: %d events, want %d:\n%s", name, len(g), len(w), b.String())
	}
	for i := range w {
		if w[i] == "[DONE]" || g[i] == "[DONE]" {
			if w[i] != g[i] {
				t.Errorf("event %d: %s, want %s", i, g[i], w[i])
			}
			continue
		}
		sameJSON(t, name+" event "+strconv.Itoa(i), []byte(w[i]), []byte(g[i]))
	}
}

// withoutUsageChunk drops the usage chunk from an Azure transcript, as an
// api-version that cannot be asked for usage would send it.
func withoutUsageChunk(transcript []byte) []byte {
	var out [][]byte
	for _, ev := range bytes.Split(transcript, []byte("\n\n")) {
		if !bytes.Contains(ev, []byte(`"usage":{`)) {
			out = append(out, ev)
		}
	}
	return bytes.Join(out, []byte("\n\n"))
}

func TestStreamGoldens(t *testing.T) {
	tools := append(bytes.Clone(bytes.SplitAfter(fixture(t, "azure/stream_text.sse"), []byte("\n\n"))[0]),
		fixture(t, "openai/chunk_sequence_tools.sse")...)
	tests := []struct {
		name, version string
		transcript    []byte
		usage         provider.Usage
		content       string
		finish        string
	}{
		{"stream_text", "2024-10-21", fixture(t, "azure/stream_text.sse"),
			provider.Usage{PromptTokens: 22, CompletionTokens: 12, TotalTokens: 34},
			"Bonjour ! Comment puis-je vous aider aujourd'hui ?", "stop"},
		// Before 2024-09-01-preview Azure cannot be asked for usage: the
		// adapter counts it (9 prompt tokens by the test counter, 8 words)
		// and sends the usage chunk itself.
		{"stream_text_no_usage", "2024-06-01", withoutUsageChunk(fixture(t, "azure/stream_text.sse")),
			provider.Usage{PromptTokens: 9, CompletionTokens: 8, TotalTokens: 17, Estimated: true},
			"Bonjour ! Comment puis-je vous aider aujourd'hui ?", "stop"},
		{"stream_tools", "v1", tools,
			provider.Usage{PromptTokens: 142, CompletionTokens: 58, TotalTokens: 200}, "", "tool_calls"},
		{"stream_output_filtered", "2025-04-01-preview", fixture(t, "azure/stream_output_filtered.sse"),
			provider.Usage{PromptTokens: 19, CompletionTokens: 3, TotalTokens: 22}, "The story begins", "content_filter"},
		// A stream with nothing in it still ends with a usage chunk, with a
		// generated id, the gateway's clock and the deployment as model.
		{"stream_empty", "2024-06-01", []byte("data: [DONE]\n\n"),
			provider.Usage{PromptTokens: 9, TotalTokens: 9, Estimated: true}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.SSE(tc.transcript) })
			a := newTestAdapter(t, up.URL, tc.version)
			s, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "my-deployment", Stream: true,
				Body: []byte(`{"model":"chat","messages":[{"role":"user","content":"hi"}],"stream":true}`)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			chunks, err := readStream(t, s)
			if err != io.EOF {
				t.Fatalf("stream ended with %v after %d chunks", err, len(chunks))
			}
			goldenSSE(t, tc.name+".sse", chunks)
			checkChunks(t, chunks, tc.content, tc.finish)
			if diff := cmp.Diff(tc.usage, s.Usage()); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}

// checkChunks checks what every client relies on: an id on every chunk,
// the role first, the text, the finish reason, tool arguments that parse,
// and exactly one usage chunk, last.
func checkChunks(t *testing.T, chunks []provider.Chunk, content, finish string) {
	t.Helper()
	var (
		text, finishes strings.Builder
		args           = map[int]string{}
	)
	for i, c := range chunks {
		var ch struct {
			ID      string `json:"id"`
			Choices []struct {
				Delta struct {
					Role      string  `json:"role"`
					Content   *string `json:"content"`
					ToolCalls []struct {
						Index    int `json:"index"`
						Function struct {
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(c.Data, &ch); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if ch.ID == "" {
			t.Errorf("chunk %d has no id: %s", i, c.Data)
		}
		if last := i == len(chunks)-1; c.UsageOnly != last {
			t.Errorf("chunk %d UsageOnly = %v", i, c.UsageOnly)
		}
		if i == 0 && len(chunks) > 1 && (len(ch.Choices) == 0 || ch.Choices[0].Delta.Role != "assistant") {
			t.Errorf("first chunk is not the role chunk: %s", c.Data)
		}
		for _, choice := range ch.Choices {
			if choice.Delta.Content != nil {
				text.WriteString(*choice.Delta.Content)
			}
			if choice.FinishReason != nil {
				finishes.WriteString(*choice.FinishReason)
			}
			for _, tc := range choice.Delta.ToolCalls {
				args[tc.Index] += tc.Function.Arguments
			}
		}
	}
	if text.String() != content || finishes.String() != finish {
		t.Errorf("content %q finish %q, want %q %q", text.String(), finishes.String(), content, finish)
	}
	for i, a := range args {
		if !json.Valid([]byte(a)) {
			t.Errorf("tool call %d arguments %q are not JSON", i, a)
		}
	}
}

func TestStreamMidStreamErrors(t *testing.T) {
	role := bytes.SplitAfter(fixture(t, "azure/stream_text.sse"), []byte("\n\n"))
	tests := []struct {
		name  string
		event string
		kind  provider.Kind
		retry time.Duration
	}{
		{"rate limit by code", `data: {"error":{"code":"429","message":"Rate limit reached. Please retry after 5 seconds."}}`,
			provider.KindRateLimited, 5 * time.Second},
		{"server error", `data: {"error":{"code":"InternalServerError","message":"The server had an error."}}`,
			provider.KindServer, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			transcript := append(bytes.Join(role[:3], nil), tc.event+"\n\n"...)
			up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.SSE(transcript) })
			a := newTestAdapter(t, up.URL, "2024-10-21")
			s, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "d",
				Body: []byte(`{"model":"x","messages":[{"role":"user","content":"hi"}],"stream":true}`)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			chunks, err := readStream(t, s)
			pe, ok := provider.AsError(err)
			if !ok || pe.Kind != tc.kind || pe.RetryAfter != tc.retry {
				t.Fatalf("err = %v, want %v with retry %v", err, tc.kind, tc.retry)
			}
			if len(chunks) != 2 {
				t.Errorf("%d chunks before the error, want the role and one text chunk", len(chunks))
			}
			if c, err := s.Next(); err != io.EOF || c.UsageOnly {
				t.Errorf("Next after the error = %+v, %v; want io.EOF and no made-up usage chunk", c, err)
			}
			if u := s.Usage(); !u.Estimated || u.CompletionTokens != 1 {
				t.Errorf("usage of a broken stream %+v", u)
			}
		})
	}
}

func TestStreamCancel(t *testing.T) {
	r := pt.SSE(fixture(t, "azure/stream_text.sse"))
	r.Events = r.Events[:3] // prompt filter, role, "Bonjour"
	r.Hang = true
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return r })
	a := newTestAdapter(t, up.URL, "2024-10-21")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := a.ChatCompletionStream(ctx, &provider.ChatRequest{Model: "d", Body: []byte(`{"model":"x","messages":[],"stream":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if _, err := s.Next(); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if u := s.Usage(); !u.Estimated || u.CompletionTokens != 1 || u.PromptTokens != 9 {
		t.Errorf("usage after cancel %+v, want the one word produced", u)
	}
	if s.Model() != "gpt-4o-mini-2024-07-18" {
		t.Errorf("model %q", s.Model())
	}
}
