package openai

import (
	"net/http"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

func TestAdapterSuite(t *testing.T) {
	pt.RunAdapterSuite(t, pt.Harness{
		New: func(t testing.TB, baseURL, apiKey string) provider.Adapter {
			a, err := New(provider.Config{Name: "openai", Type: "openai", BaseURL: baseURL + "/v1", APIKey: apiKey},
				provider.Deps{HTTPClient: &http.Client{Transport: &http.Transport{}}, Tokens: wordCounter{}})
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		Model:         "gpt-4o-mini",
		Text:          pt.JSON(200, pt.Fixture(t, "openai/response_text.json")),
		TextContent:   "Bonjour ! Comment puis-je vous aider aujourd'hui ?",
		TextUsage:     provider.Usage{PromptTokens: 22, CompletionTokens: 12, TotalTokens: 34},
		Stream:        pt.SSE(pt.Fixture(t, "openai/stream_text.sse")),
		StreamContent: "Bonjour ! Comment puis-je vous aider aujourd'hui ?",
		StreamUsage:   provider.Usage{PromptTokens: 22, CompletionTokens: 12, TotalTokens: 34},
		Unauthorized:  pt.JSON(401, pt.Fixture(t, "openai/error_invalid_api_key_401.json")),
		RateLimited:   pt.HTTP(t, pt.Fixture(t, "openai/http_429_rate_limit.http")),
		ServerError:   pt.JSON(500, []byte(`{"error":{"message":"The server had an error","type":"server_error"}}`)),
		RetryAfter:    time.Second,
	})
}
