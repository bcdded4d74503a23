package providertest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"
	"go.uber.org/goleak"

	"github.com/tollgate-gw/tollgate/provider"
)

// Harness describes one adapter to the shared suite: how to build it
// against a fake upstream, and the provider's own wire answers (usually
// fixtures) for each scenario with what the client must see.
type Harness struct {
	// New builds the adapter for a fake upstream at baseURL (scheme and
	// host, no path) that must be sent apiKey.
	New func(t testing.TB, baseURL, apiKey string) provider.Adapter
	// Model is the upstream model to request.
	Model string

	// Text is a non-streaming answer, with the content and usage the client
	// must get from it.
	Text        Reply
	TextContent string
	TextUsage   provider.Usage
	// Stream is a streaming answer, with its content and exact usage.
	Stream        Reply
	StreamContent string
	StreamUsage   provider.Usage
	// Unauthorized, RateLimited and ServerError are the provider's 401,
	// 429 and 5xx answers; RetryAfter is what RateLimited must yield.
	Unauthorized, RateLimited, ServerError Reply
	RetryAfter                             time.Duration
}

// suiteRequest is the OpenAI request every scenario sends.
const suiteRequest = `{"model":"public","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello in French."}]}`

// suiteKey is the upstream key; it must never show in an error.
const suiteKey = "sk-suite-secret-0123456789"

// RunAdapterSuite runs the behaviour every adapter must have: a unary
// answer and a stream translated to OpenAI's shapes with exact usage,
// 401/429/5xx mapped to the right kinds without leaking the key, a
// cancelled stream closing the upstream request, and no goroutine left
// behind.
func RunAdapterSuite(t *testing.T, h Harness) {
	t.Helper()
	t.Run("unary", func(t *testing.T) { suiteUnary(t, h) })
	t.Run("stream", func(t *testing.T) { suiteStream(t, h) })
	t.Run("errors", func(t *testing.T) { suiteErrors(t, h) })
	t.Run("cancel", func(t *testing.T) { suiteCancel(t, h) })
}

func suiteAdapter(t *testing.T, h Harness, reply Reply) (provider.Adapter, *Upstream) {
	t.Helper()
	up := NewUpstream(t, func(Recorded) Reply { return reply })
	return h.New(t, up.URL, suiteKey), up
}

func suiteReq(h Harness, stream bool) *provider.ChatRequest {
	body := suiteRequest
	if stream {
		body = strings.Replace(body, `{`, `{"stream":true,`, 1)
	}
	return &provider.ChatRequest{Model: h.Model, Body: []byte(body), Stream: stream}
}

func suiteUnary(t *testing.T, h Harness) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a, up := suiteAdapter(t, h, h.Text)
	resp, err := a.ChatCompletion(context.Background(), suiteReq(h, false))
	if err != nil {
		t.Fatalf("ChatCompletion: %v", err)
	}
	var out goopenai.ChatCompletionResponse
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatalf("answer is not an OpenAI chat.completion: %v\n%s", err, resp.Body)
	}
	if out.Object != "chat.completion" || out.ID == "" || out.Created == 0 || len(out.Choices) == 0 {
		t.Errorf("answer lacks OpenAI fields: %s", resp.Body)
	}
	if got := out.Choices[0].Message.Content; got != h.TextContent {
		t.Errorf("content %q, want %q", got, h.TextContent)
	}
	if resp.Usage != h.TextUsage {
		t.Errorf("usage %+v, want %+v", resp.Usage, h.TextUsage)
	}
	if out.Usage.PromptTokens != h.TextUsage.PromptTokens || out.Usage.CompletionTokens != h.TextUsage.CompletionTokens {
		t.Errorf("body usage %+v disagrees with %+v", out.Usage, h.TextUsage)
	}
	if len(up.Requests()) != 1 {
		t.Errorf("%d upstream requests, want 1", len(up.Requests()))
	}
	up.Close()
}

func suiteStream(t *testing.T, h Harness) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a, up := suiteAdapter(t, h, h.Stream)
	s, err := a.ChatCompletionStream(context.Background(), suiteReq(h, true))
	if err != nil {
		t.Fatalf("ChatCompletionStream: %v", err)
	}
	var (
		text      strings.Builder
		sawRole   bool
		usageSeen bool
		id        string
		n         int
	)
	for {
		c, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d chunks: %v", n, err)
		}
		n++
		var ch goopenai.ChatCompletionStreamResponse
		if err := json.Unmarshal(c.Data, &ch); err != nil {
			t.Fatalf("chunk is not an OpenAI chunk: %v\n%s", err, c.Data)
		}
		if ch.Object != "chat.completion.chunk" && ch.Object != "" {
			t.Errorf("object %q", ch.Object)
		}
		if id == "" {
			id = ch.ID
		} else if ch.ID != id && ch.ID != "" {
			t.Errorf("chunk id changed from %q to %q", id, ch.ID)
		}
		if c.UsageOnly {
			usageSeen = true
			if len(ch.Choices) != 0 || ch.Usage == nil {
				t.Errorf("usage chunk has choices or no usage: %s", c.Data)
			}
			continue
		}
		for _, choice := range ch.Choices {
			if choice.Delta.Role == "assistant" {
				sawRole = true
			}
			if choice.Delta.Content != "" && !sawRole {
				t.Errorf("content before the role chunk: %s", c.Data)
			}
			text.WriteString(choice.Delta.Content)
		}
	}
	if text.String() != h.StreamContent {
		t.Errorf("streamed %q, want %q", text.String(), h.StreamContent)
	}
	if !usageSeen {
		t.Error("no usage chunk")
	}
	if u := s.Usage(); u != h.StreamUsage {
		t.Errorf("usage %+v, want %+v", u, h.StreamUsage)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	up.Close()
}

func suiteErrors(t *testing.T, h Harness) {
	tests := []struct {
		name  string
		reply Reply
		kind  provider.Kind
	}{
		{"401", h.Unauthorized, provider.KindAuth},
		{"429", h.RateLimited, provider.KindRateLimited},
		{"5xx", h.ServerError, provider.KindServer},
	}
	for _, tc := range tests {
		for _, stream := range []bool{false, true} {
			name := tc.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				a, up := suiteAdapter(t, h, tc.reply)
				var err error
				if stream {
					var s provider.Stream
					s, err = a.ChatCompletionStream(context.Background(), suiteReq(h, true))
					if err == nil {
						s.Close()
					}
				} else {
					_, err = a.ChatCompletion(context.Background(), suiteReq(h, false))
				}
				pe, ok := provider.AsError(err)
				if !ok {
					t.Fatalf("err = %v, want *provider.Error", err)
				}
				if pe.Kind != tc.kind {
					t.Errorf("kind %v, want %v (%v)", pe.Kind, tc.kind, pe)
				}
				if tc.kind == provider.KindRateLimited && pe.RetryAfter != h.RetryAfter {
					t.Errorf("RetryAfter %v, want %v", pe.RetryAfter, h.RetryAfter)
				}
				if strings.Contains(pe.Error(), suiteKey) || strings.Contains(pe.Message, "sk-") {
					t.Errorf("error leaks the key: %v", pe)
				}
				if pe.Message == "" {
					t.Error("empty message")
				}
				up.Close()
			})
		}
	}
}

func suiteCancel(t *testing.T, h Harness) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	hang := h.Stream
	if len(hang.Events) > 2 {
		hang.Events = hang.Events[:2]
	}
	hang.Hang = true
	a, up := suiteAdapter(t, h, hang)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := a.ChatCompletionStream(ctx, suiteReq(h, true))
	if err != nil {
		t.Fatalf("ChatCompletionStream: %v", err)
	}
	if _, err := s.Next(); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	cancel()
	done := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			_, err = s.Next()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if errors.Is(err, io.EOF) {
			t.Error("a cancelled stream ended cleanly")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after cancellation")
	}
	select {
	case <-up.Canceled():
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream never saw the cancellation")
	}
	if u := s.Usage(); u.PromptTokens == 0 && u.CompletionTokens == 0 {
		t.Errorf("no usage after cancellation: %+v", u)
	}
	s.Close()
	up.Close()
}
