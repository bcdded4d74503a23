package pricing

import (
	"testing"

	"github.com/tollgate-gw/tollgate/provider"
)

func TestCost(t *testing.T) {
	// gpt-4o-mini-like prices: 0.15 / 0.60 / 0.075 USD per 1M tokens.
	p := Price{InputPerMTok: 150_000, OutputPerMTok: 600_000, CachedInputPerMTok: 75_000, Set: true}
	tests := []struct {
		u    provider.Usage
		want int64
	}{
		{provider.Usage{PromptTokens: 22, CompletionTokens: 12}, 22*150_000 + 12*600_000},
		{provider.Usage{PromptTokens: 1632, CachedTokens: 1536, CompletionTokens: 40}, 96*150_000 + 1536*75_000 + 40*600_000},
		{provider.Usage{PromptTokens: 5, CachedTokens: 9}, 5 * 75_000}, // cached never exceeds prompt
		{provider.Usage{}, 0},
	}
	for _, tc := range tests {
		got, known := p.Cost(tc.u)
		if !known || got != tc.want {
			t.Errorf("%+v: %d %v, want %d", tc.u, got, known, tc.want)
		}
	}
	if c, known := (Price{}).Cost(provider.Usage{PromptTokens: 10}); known || c != 0 {
		t.Errorf("unpriced: %d %v", c, known)
	}
	if got := p.Estimate(1000); got != 1000*600_000 {
		t.Errorf("Estimate %d", got)
	}
}

func TestFormatUSD(t *testing.T) {
	for picos, want := range map[int64]string{
		0: "0", 1: "0.000000000001", 3_300_000: "0.0000033", 1e12: "1", 12_500_000_000_000: "12.5",
		-2_000_000: "-0.000002", 10_200_000_000_000: "10.2",
	} {
		if got := FormatUSD(picos); got != want {
			t.Errorf("FormatUSD(%d) = %q, want %q", picos, got, want)
		}
	}
}
