// Package servertest runs the gateway's HTTP layer and router in front of
// one adapter, so that an adapter package can test itself end to end with
// an OpenAI SDK: client → HTTP layer → router → adapter → fake upstream.
package servertest

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/router"
	"github.com/tollgate-gw/tollgate/web/api"
)

// Start serves the client API with a as provider name (models are
// addressed "name/model") and returns the server's base URL; it is closed
// when the test ends.
func Start(t testing.TB, name string, a provider.Adapter) string {
	t.Helper()
	tb, err := router.New([]*router.Provider{{Name: name, Adapter: a}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(api.Options{Router: tb, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Post sends a raw chat completion request with the client key Client
// uses to a server started by Start, and returns the answer with its whole
// body.
func Post(t testing.TB, baseURL, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// testKey is the client key of Client and Post (the test server does not
// check keys).
const testKey = "tg-test-key"

// Client returns a go-openai client for a server started by Start.
func Client(baseURL string) *goopenai.Client {
	cfg := goopenai.DefaultConfig(testKey)
	cfg.BaseURL = baseURL + "/v1"
	return goopenai.NewClientWithConfig(cfg)
}
