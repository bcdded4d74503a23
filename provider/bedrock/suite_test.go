package bedrock

import (
	"net/http"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// TestAdapterSuite runs the shared adapter suite. The fake upstream speaks
// SSE, so the stream fixtures travel as SSE events of .jsonl lines and the
// transcoder turns each into a binary event-stream frame as it arrives:
// that keeps the suite's pacing and its cancellation test (which cuts the
// events and hangs) meaningful for Bedrock's binary stream.
// TestStreamCancel repeats the cancellation test on a real binary stream.
func TestAdapterSuite(t *testing.T) {
	pt.RunAdapterSuite(t, pt.Harness{
		New: func(t testing.TB, baseURL, apiKey string) provider.Adapter {
			a, err := newAdapter(provider.Config{Name: "bedrock", Type: "bedrock", Region: "us-east-1", BaseURL: baseURL, APIKey: apiKey},
				provider.Deps{HTTPClient: &http.Client{Transport: transcoder{next: &http.Transport{}}}, Tokens: wordCounter{}}, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		Model:         "anthropic.claude-3-5-sonnet-20240620-v1:0",
		Text:          pt.JSON(200, readFixture(t, "bedrock/converse_response.json")),
		TextContent:   "Paris: 18 °C and cloudy. Tokyo: 26 °C and sunny.",
		TextUsage:     provider.Usage{PromptTokens: 210, CompletionTokens: 19, TotalTokens: 229},
		Stream:        pt.Reply{Events: sseEvents(t, readFixture(t, "bedrock/converse_stream_text.jsonl"))},
		StreamContent: "Bonjour ! Comment puis-je vous aider aujourd'hui ?",
		StreamUsage:   provider.Usage{PromptTokens: 22, CompletionTokens: 12, TotalTokens: 34},
		Unauthorized:  pt.HTTP(t, readFixture(t, "bedrock/error_unrecognized_client_403.http")),
		RateLimited:   pt.HTTP(t, readFixture(t, "bedrock/error_throttling_429.http")),
		ServerError:   pt.HTTP(t, readFixture(t, "bedrock/error_service_unavailable_503.http")),
		RetryAfter:    3 * time.Second,
	})
}
