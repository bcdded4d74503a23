package azure

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openai"
)

// retryAfterText finds the delay Azure writes into its 429 messages
// ("Please retry after 60 seconds.", "Try again in 20 seconds.").
var retryAfterText = regexp.MustCompile(`(?i)(?:retry after|try again in) (\d+(?:\.\d+)?) ?(?:seconds?|s\b)`)

// classify refines the OpenAI adapter's reading of an Azure error: Azure's
// quota code, the HTTP status Azure writes as the code of an error inside
// a stream ("429"), and the retry delay of a 429 whose headers carry none.
func classify(e openai.ErrorInfo, kind provider.Kind) (provider.Kind, time.Duration) {
	switch {
	case strings.EqualFold(e.Code, "InsufficientQuota") || e.Code == "insufficient_quota":
		kind = provider.KindQuota
	case e.Header == nil:
		// An error event inside a stream has no status of its own.
		if n, err := strconv.Atoi(e.Code); err == nil && n >= 400 && n < 600 {
			kind = provider.KindForStatus(n)
		}
	}
	if kind != provider.KindRateLimited {
		return kind, 0
	}
	return kind, retryDelay(e.Message)
}

// retryDelay reads the delay out of a rate-limit message, zero when it
// names none.
func retryDelay(msg string) time.Duration {
	m := retryAfterText.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	s, err := strconv.ParseFloat(m[1], 64)
	if err != nil || s <= 0 || s > 24*60*60 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}
