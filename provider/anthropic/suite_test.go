package anthropic

import (
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

func TestAdapterSuite(t *testing.T) {
	pt.RunAdapterSuite(t, pt.Harness{
		New: func(t testing.TB, baseURL, apiKey string) provider.Adapter {
			return newTestAdapter(t, "anthropic", baseURL, apiKey)
		},
		Model:         "claude-sonnet-4-5",
		Text:          pt.JSON(200, readTestdata(t, "anthropic/response_text.json")),
		TextContent:   "Bonjour ! Comment puis-je vous aider aujourd'hui ?",
		TextUsage:     provider.Usage{PromptTokens: 21, CompletionTokens: 18, TotalTokens: 39},
		Stream:        pt.SSE(readTestdata(t, "anthropic/stream_text.sse")),
		StreamContent: "Bonjour ! Comment puis-je vous aider aujourd'hui ?",
		StreamUsage:   provider.Usage{PromptTokens: 21, CompletionTokens: 18, TotalTokens: 39},
		Unauthorized:  pt.JSON(401, readTestdata(t, "anthropic/error_authentication_401.json")),
		RateLimited:   pt.HTTP(t, readTestdata(t, "anthropic/http_429_rate_limit.http")),
		ServerError:   pt.JSON(529, readTestdata(t, "anthropic/error_overloaded_529.json")),
		RetryAfter:    14 * time.Second,
	})
}
