package azure

import (
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

func TestAdapterSuite(t *testing.T) {
	pt.RunAdapterSuite(t, pt.Harness{
		New: func(t testing.TB, baseURL, apiKey string) provider.Adapter {
			a, err := New(provider.Config{Name: "azure", Type: "azure", BaseURL: baseURL, APIKey: apiKey, APIVersion: "2024-10-21"},
				testDeps())
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		Model:         "my-gpt4o-mini",
		Text:          pt.JSON(200, fixture(t, "azure/response_text.json")),
		TextContent:   "Bonjour ! Comment puis-je vous aider aujourd'hui ?",
		TextUsage:     provider.Usage{PromptTokens: 22, CompletionTokens: 12, TotalTokens: 34},
		Stream:        pt.SSE(fixture(t, "azure/stream_text.sse")),
		StreamContent: "Bonjour ! Comment puis-je vous aider aujourd'hui ?",
		StreamUsage:   provider.Usage{PromptTokens: 22, CompletionTokens: 12, TotalTokens: 34},
		Unauthorized:  pt.JSON(401, fixture(t, "azure/error_unauthorized_401.json")),
		// The fixture carries its delay in the message only ("Please retry
		// after 60 seconds"), as Azure writes it.
		RateLimited: pt.JSON(429, fixture(t, "azure/error_rate_limit_429.json")),
		ServerError: pt.JSON(500, []byte(`{"error":{"code":"InternalServerError","message":"The server had an error while processing your request. Sorry about that!"}}`)),
		RetryAfter:  60 * time.Second,
	})
}
