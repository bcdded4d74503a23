package gemini

import (
	"net/http"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

func TestAdapterSuite(t *testing.T) {
	usage := provider.Usage{PromptTokens: 9, CompletionTokens: 44, TotalTokens: 53, ReasoningTokens: 31}
	pt.RunAdapterSuite(t, pt.Harness{
		New: func(t testing.TB, baseURL, apiKey string) provider.Adapter {
			a, err := New(provider.Config{Name: "gemini", Type: "gemini", BaseURL: baseURL, APIKey: apiKey},
				provider.Deps{HTTPClient: &http.Client{Transport: &http.Transport{}}, Tokens: wordCounter{}})
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		Model:         "gemini-2.5-flash",
		Text:          pt.JSON(200, readTestdata(t, "gemini/response_text.json")),
		TextContent:   "Bonjour ! Comment puis-je vous aider aujourd'hui ?",
		TextUsage:     usage,
		Stream:        pt.SSE(readTestdata(t, "gemini/stream_text.sse")),
		StreamContent: "Bonjour ! Comment puis-je vous aider aujourd'hui ?",
		StreamUsage:   usage,
		// Gemini reports a bad key as 400 INVALID_ARGUMENT + API_KEY_INVALID.
		Unauthorized: pt.JSON(400, readTestdata(t, "gemini/error_invalid_api_key_400.json")),
		RateLimited:  pt.JSON(429, readTestdata(t, "gemini/error_rate_limit_429.json")),
		ServerError:  pt.JSON(503, readTestdata(t, "gemini/error_unavailable_503.json")),
		RetryAfter:   34 * time.Second,
	})
}
