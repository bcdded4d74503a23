package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpand(t *testing.T) {
	env := envOf(map[string]string{"A": "alpha", "B": "b$${x}", "EMPTY": ""})
	tests := []struct {
		in       string
		want     string
		problems []string
	}{
		{"plain", "plain", nil},
		{"${A}", "alpha", nil},
		{"x-${A}-${A}-y", "x-alpha-alpha-y", nil},
		{"${B}", "b$${x}", nil}, // values are not expanded again
		{"${MISSING:-fallback}", "fallback", nil},
		{"${MISSING:-}", "", nil},
		{"${EMPTY:-used}", "used", nil},
		{"${A:-unused}", "alpha", nil},
		{"${MISSING:-a:-b}", "a:-b", nil},
		{"$${A}", "${A}", nil},
		{"$$${A}", "$${A}", nil},
		{"$${A} and ${A}", "${A} and alpha", nil},
		{"$A $ $$ {A} $}", "$A $ $$ {A} $}", nil},
		{"${MISSING}", "", []string{"environment variable MISSING is not set (write ${MISSING:-default} to make it optional)"}},
		{"${EMPTY}", "", []string{"environment variable EMPTY is not set (write ${EMPTY:-default} to make it optional)"}},
		{"${A", "", []string{`unterminated "${" (write "$${" for a literal "${")`}},
		{"${}", "", []string{`invalid variable reference in "${...}" (want ${NAME} or ${NAME:-default}, NAME of letters, digits and "_")`}},
		{"${A B}", "", []string{`invalid variable reference in "${...}" (want ${NAME} or ${NAME:-default}, NAME of letters, digits and "_")`}},
		{"${9A}", "", []string{`invalid variable reference in "${...}" (want ${NAME} or ${NAME:-default}, NAME of letters, digits and "_")`}},
		{"${A:?err}", "", []string{"unsupported form ${A:...} (want ${NAME} or ${NAME:-default})"}},
		{"${X:-${A}}", "}", []string{"nested reference in the default of ${X:-...} is not supported"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, problems := expand(tt.in, env)
			if len(tt.problems) == 0 && got != tt.want {
				t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if diff := cmp.Diff(tt.problems, problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
