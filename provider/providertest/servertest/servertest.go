// Package servertest runs the gateway's HTTP layer and router in front of
// one adapter, so that an adapter package can test itself end to end with
// an OpenAI SDK: client → HTTP layer → router → adapter → fake upstream.
package servertest

import (
	"io"
	"log/slog"
	"net/http/httptest"
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

// Client returns a go-openai client for a server started by Start.
func Client(baseURL string) *goopenai.Client {
	cfg := goopenai.DefaultConfig("tg-test-key")
	cfg.BaseURL = baseURL + "/v1"
	return goopenai.NewClientWithConfig(cfg)
}
