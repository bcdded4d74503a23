package config

import "testing"

func TestHint(t *testing.T) {
	known := []string{"providers", "models", "cache", "limits", "server"}
	tests := []struct{ word, want string }{
		{"provider", ` (did you mean "providers"?)`},
		{"modles", ` (did you mean "models"?)`},
		{"cahce", ` (did you mean "cache"?)`},
		{"servers", ` (did you mean "server"?)`},
		{"x", ""},
		{"routes", ""},
	}
	for _, tt := range tests {
		t.Run(tt.word, func(t *testing.T) {
			if got := hint(tt.word, known); got != tt.want {
				t.Errorf("hint(%q) = %q, want %q", tt.word, got, tt.want)
			}
		})
	}
}
