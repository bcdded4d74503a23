package config

import (
	"errors"
	"testing"
)

// envOf returns a getenv over m, so tests never read the real environment.
func envOf(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// problemLines returns the formatted problems of err, which must be a
// *ValidationError.
func problemLines(t *testing.T, err error) []string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v (%T), want *ValidationError", err, err)
	}
	lines := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		lines[i] = p.String()
	}
	return lines
}

// mustParse parses src as "t.yaml" and fails the test on error.
func mustParse(t *testing.T, src string, env map[string]string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(src), "t.yaml", envOf(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}
