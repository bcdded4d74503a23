package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	goopenai "github.com/sashabaranov/go-openai"
	"github.com/tidwall/gjson"
)

// chatRaw posts a chat body with the client key and extra headers.
func (g *gw) chatRaw(t *testing.T, key, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestE2ECache(t *testing.T) {
	g, up := start(t)
	// go-openai omits zero-valued fields (temperature 0), so the bodies
	// here carry no sampling fields: the SDK's stream request below must
	// be the same request.
	body := `{"model":"chat","messages":[{"role":"user","content":"Say hello in French."}]}`
	reordered := `{"messages": [{"content": "Say hello in French.", "role": "user"}], "model": "chat", "user": "someone"}`

	_, h1, b1 := g.chatRaw(t, g.key, body, nil)
	_, h2, b2 := g.chatRaw(t, g.key, reordered, nil)
	if h1.Get("X-Tollgate-Cache") != "MISS" || h2.Get("X-Tollgate-Cache") != "HIT" || b1 != b2 {
		t.Fatalf("miss then hit: %q %q, same body %v", h1.Get("X-Tollgate-Cache"), h2.Get("X-Tollgate-Cache"), b1 == b2)
	}
	if h2.Get("X-Tollgate-Provider") != "up" || h2.Get("X-Tollgate-Model") == "" {
		t.Errorf("hit headers %v", h2)
	}
	if n := len(up.Requests()); n != 1 {
		t.Errorf("%d upstream requests, want 1", n)
	}
	// Directives: no-store bypasses; no-cache bypasses the lookup.
	for _, d := range []string{"no-store", "no-cache"} {
		_, h, _ := g.chatRaw(t, g.key, body, map[string]string{"X-Tollgate-Cache": d})
		if h.Get("X-Tollgate-Cache") != "BYPASS" {
			t.Errorf("%s: %q", d, h.Get("X-Tollgate-Cache"))
		}
	}
	if status, _, b := g.chatRaw(t, g.key, body, map[string]string{"X-Tollgate-Cache": "sometimes"}); status != 400 || !gjson.Get(b, "error.param").Exists() {
		t.Errorf("bad directive: %d %s", status, b)
	}
	// A streaming request is answered from the cached answer as SSE, with
	// the same content, and the usage chunk only when asked.
	s, err := g.client().CreateChatCompletionStream(context.Background(), goopenai.ChatCompletionRequest{
		Model: "chat", Stream: true, StreamOptions: &goopenai.StreamOptions{IncludeUsage: true},
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "Say hello in French."}}})
	if err != nil {
		t.Fatal(err)
	}
	text, usage := readStream(t, s)
	if s.Header().Get("X-Tollgate-Cache") != "HIT" || text != gjson.Get(b1, "choices.0.message.content").String() ||
		usage == nil || usage.TotalTokens != int(gjson.Get(b1, "usage.total_tokens").Int()) {
		t.Errorf("replayed stream: cache %q text %q usage %+v", s.Header().Get("X-Tollgate-Cache"), text, usage)
	}
	if n := len(up.Requests()); n != 3 { // the first miss and the two bypasses
		t.Errorf("%d upstream requests, want 3", n)
	}

	// Another customer never sees this customer's answers (scope customer).
	other := g.newKey(t, "enterprise")
	if _, h, _ := g.chatRaw(t, other, body, nil); h.Get("X-Tollgate-Cache") != "MISS" {
		t.Errorf("another tenant got %q", h.Get("X-Tollgate-Cache"))
	}

	// Purge by model empties it.
	if status, res := g.admin(t, http.MethodPost, "/admin/cache/purge", `{"model":"chat"}`); status != 200 || res.Get("purged").Int() < 2 {
		t.Errorf("purge: %d %s", status, res.Raw)
	}
	if _, h, _ := g.chatRaw(t, g.key, body, nil); h.Get("X-Tollgate-Cache") != "MISS" {
		t.Errorf("after purge: %q", h.Get("X-Tollgate-Cache"))
	}
}

func TestE2ECacheSingleFlight(t *testing.T) {
	g, up := start(t)
	body := `{"model":"up/slowish","messages":[{"role":"user","content":"once"}]}`
	var wg sync.WaitGroup
	statuses := make([]string, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, h, _ := g.chatRaw(t, g.key, body, nil)
			statuses[i] = h.Get("X-Tollgate-Cache")
		}()
	}
	wg.Wait()
	n := 0
	for _, r := range up.Requests() {
		if gjson.GetBytes(r.Body, "model").String() == "slowish" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("8 identical concurrent requests made %d upstream calls, want 1 (statuses %v)", n, statuses)
	}
}

// TestE2ECacheWithSDK sees MISS then HIT through go-openai, with the same
// answer.
func TestE2ECacheWithSDK(t *testing.T) {
	g, _ := start(t)
	req := goopenai.ChatCompletionRequest{Model: "chat", Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "SDK cache"}}}
	first, err := g.client().CreateChatCompletion(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := g.client().CreateChatCompletion(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if first.Header().Get("X-Tollgate-Cache") != "MISS" || second.Header().Get("X-Tollgate-Cache") != "HIT" ||
		first.Choices[0].Message.Content != second.Choices[0].Message.Content || first.ID != second.ID ||
		second.Usage.TotalTokens != first.Usage.TotalTokens {
		t.Errorf("MISS then HIT: %q %q", first.Header().Get("X-Tollgate-Cache"), second.Header().Get("X-Tollgate-Cache"))
	}
}
