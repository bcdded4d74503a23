package pricing

import "testing"

func TestParseMicros(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{"0.15", 150000, ""},
		{"2.5", 2500000, ""},
		{"+2", 2000000, ""},
		{"5.", 5000000, ""},
		{".075", 75000, ""},
		{"0.000001", 1, ""},
		{"12.3400000000", 12340000, ""},
		{"0", 0, ""},
		{"9223372036854.775807", 9223372036854775807, ""},
		{"9223372036854.775808", 0, "too large"},
		{"0.0000001", 0, "more precise than 1 micro-USD (6 decimal places)"},
		{"-0", 0, "must not be negative"},
		{"", 0, "want a decimal number of USD like 0.15 or 2"},
		{".", 0, "want a decimal number of USD like 0.15 or 2"},
		{"1.2.3", 0, "want a decimal number of USD like 0.15 or 2"},
		{"1,5", 0, "want a decimal number of USD like 0.15 or 2"},
		{"١", 0, "want a decimal number of USD like 0.15 or 2"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMicros(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("ParseMicros(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseMicros(%q) = %d, %v, want %d", tt.in, got, err, tt.want)
			}
		})
	}
}
