// Package pricing turns token counts into cost. Prices are integer
// micro-USD per million tokens, which is exactly one pico-USD per token, so
// a request's cost in pico-USD is an exact integer: tokens × price. Nothing
// is rounded per request, and sums over any period are exact.
package pricing

import "github.com/tollgate-gw/tollgate/provider"

// Price is a model's price in micro-USD per million tokens (the config's
// USD figures × 1e6). Set is false for a model without a price.
type Price struct {
	InputPerMTok       int64
	OutputPerMTok      int64
	CachedInputPerMTok int64
	Set                bool
}

// Cost is the cost of usage u in pico-USD, and whether it is known. Cached
// prompt tokens are billed at the cached price, the rest of the prompt at
// the input price, completion tokens (reasoning included) at the output
// price. A model without a price has an unknown cost (false), never a cost
// of zero.
func (p Price) Cost(u provider.Usage) (picos int64, known bool) {
	if !p.Set {
		return 0, false
	}
	cached := min(int64(u.CachedTokens), int64(u.PromptTokens))
	uncached := int64(u.PromptTokens) - cached
	return uncached*p.InputPerMTok + cached*p.CachedInputPerMTok + int64(u.CompletionTokens)*p.OutputPerMTok, true
}

// Estimate is the cost of a reservation of tokens, all billed at the higher
// of the input and output prices: an upper bound for admission against a
// budget.
func (p Price) Estimate(tokens int64) int64 {
	if !p.Set {
		return 0
	}
	return tokens * max(p.InputPerMTok, p.OutputPerMTok)
}

// PicosPerMicro converts budgets (micro-USD) to costs (pico-USD).
const PicosPerMicro = 1_000_000

// FormatUSD renders pico-USD as an exact decimal USD string with no
// trailing zeros beyond what is needed ("0.0000033", "12.5", "0").
func FormatUSD(picos int64) string {
	neg := picos < 0
	if neg {
		picos = -picos
	}
	whole, frac := picos/1e12, picos%1e12
	s := itoa(whole)
	if frac != 0 {
		digits := []byte(itoa(frac + 1e12))[1:] // 12 digits, zero padded
		for len(digits) > 0 && digits[len(digits)-1] == '0' {
			digits = digits[:len(digits)-1]
		}
		s += "." + string(digits)
	}
	if neg {
		s = "-" + s
	}
	return s
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
