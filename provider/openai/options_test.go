package openai

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// newWithOptions builds an adapter with o against up.
func newWithOptions(t *testing.T, up *pt.Upstream, o Options) *Adapter {
	t.Helper()
	a, err := NewWithOptions(provider.Config{Name: "up", Type: "openai-compatible", BaseURL: up.URL, APIKey: "key-123"},
		provider.Deps{HTTPClient: &http.Client{}, Tokens: wordCounter{}}, o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestOptionsURLsAndAuthHeader(t *testing.T) {
	up := pt.NewUpstream(t, func(r pt.Recorded) pt.Reply {
		if strings.HasSuffix(r.Path, "/embeddings") {
			return pt.JSON(200, pt.Fixture(t, "openai/embeddings_response.json"))
		}
		return pt.JSON(200, pt.Fixture(t, "openai/response_text.json"))
	})
	a := newWithOptions(t, up, Options{
		ChatURL:       func(m string) string { return up.URL + "/d/" + m + "/chat?v=1" },
		EmbeddingsURL: func(m string) string { return up.URL + "/d/" + m + "/emb" },
		AuthHeader:    "api-key",
	})
	ctx := context.Background()
	if _, err := a.ChatCompletion(ctx, &provider.ChatRequest{Model: "dep1", Body: []byte(`{"model":"x","messages":[]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Embeddings(ctx, &provider.EmbeddingsRequest{Model: "dep2", Body: pt.Fixture(t, "openai/embeddings_request.json")}); err != nil {
		t.Fatal(err)
	}
	reqs := up.Requests()
	if reqs[0].Path != "/d/dep1/chat" || reqs[0].Query != "v=1" || reqs[1].Path != "/d/dep2/emb" {
		t.Errorf("paths %s?%s, %s", reqs[0].Path, reqs[0].Query, reqs[1].Path)
	}
	for _, r := range reqs {
		if r.Header.Get("Api-Key") != "key-123" || r.Header.Get("Authorization") != "" {
			t.Errorf("auth headers %v", r.Header)
		}
	}
}

func TestOptionsEditChat(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.SSE(pt.Fixture(t, "openai/stream_text.sse")) })
	var gotStream []bool
	refuse := errors.New("refused")
	a := newWithOptions(t, up, Options{EditChat: func(req *provider.ChatRequest, body []byte, stream bool) ([]byte, error) {
		gotStream = append(gotStream, stream)
		if strings.Contains(string(body), "refuse-me") {
			return nil, refuse
		}
		// The adapter's own edits are already there.
		if !strings.Contains(string(body), `"model":"m"`) {
			t.Errorf("hook saw the body before the model edit: %s", body)
		}
		return []byte(`{"edited":true}`), nil
	}})
	s, err := a.ChatCompletionStream(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(`{"model":"x","messages":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := string(up.Requests()[0].Body); got != `{"edited":true}` {
		t.Errorf("upstream body %s", got)
	}
	_, err = a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(`{"model":"x","refuse-me":1}`)})
	if !errors.Is(err, refuse) {
		t.Errorf("err = %v, want the hook's error", err)
	}
	if len(up.Requests()) != 1 {
		t.Error("a refused request reached the upstream")
	}
	if len(gotStream) != 2 || !gotStream[0] || gotStream[1] {
		t.Errorf("stream flags %v", gotStream)
	}
}

func TestOptionsClassify(t *testing.T) {
	tests := []struct {
		name   string
		reply  pt.Reply
		kind   provider.Kind
		retry  time.Duration
		hidden bool
	}{
		{"hint used without header", pt.JSON(429, []byte(`{"error":{"code":"429","message":"retry after 7 seconds"}}`)),
			provider.KindRateLimited, 7 * time.Second, false},
		{"header wins over hint", pt.Reply{Status: 429, Header: http.Header{"Retry-After": {"2"}},
			Body: []byte(`{"error":{"code":"429","message":"retry after 7 seconds"}}`)}, provider.KindRateLimited, 2 * time.Second, false},
		{"kind changed to auth hides the text", pt.JSON(400, []byte(`{"error":{"code":"BadKey","message":"key key-123 is bad"}}`)),
			provider.KindAuth, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return tc.reply })
			var info ErrorInfo
			a := newWithOptions(t, up, Options{Classify: func(e ErrorInfo, k provider.Kind) (provider.Kind, time.Duration) {
				info = e
				if e.Code == "BadKey" {
					return provider.KindAuth, 0
				}
				return k, 7 * time.Second
			}})
			_, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(`{}`)})
			pe, ok := provider.AsError(err)
			if !ok || pe.Kind != tc.kind || pe.RetryAfter != tc.retry {
				t.Fatalf("err = %v (retry %v), want %v with %v", err, pe.RetryAfter, tc.kind, tc.retry)
			}
			if info.Status != tc.reply.Status || info.Message == "" || info.Header == nil {
				t.Errorf("classify saw %+v", info)
			}
			if tc.hidden && strings.Contains(pe.Error(), "key-123") {
				t.Errorf("upstream text leaked: %v", pe)
			}
		})
	}
}
