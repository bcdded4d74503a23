package pricing

import (
	"errors"
	"math"
	"strings"
)

// ParseMicros parses a non-negative decimal number of USD written as text,
// such as "0.15", "2.5", "3" or ".075", into integer micro-USD without going
// through floating point. More than six decimal places are allowed only when
// the extra digits are zeros.
func ParseMicros(s string) (int64, error) {
	s = strings.TrimPrefix(s, "+")
	if strings.HasPrefix(s, "-") {
		return 0, errors.New("must not be negative")
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, errors.New("want a decimal number of USD like 0.15 or 2")
	}
	if len(frac) > 6 {
		if strings.Trim(frac[6:], "0") != "" {
			return 0, errors.New("more precise than 1 micro-USD (6 decimal places)")
		}
		frac = frac[:6]
	}
	frac += strings.Repeat("0", 6-len(frac))
	var n int64
	for _, c := range whole + frac {
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, errors.New("too large")
		}
		n = n*10 + d
	}
	return n, nil
}

// allDigits reports whether s consists of ASCII digits only; "" does.
func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
