package config

import (
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with the configuration, located as precisely as
// the source allows.
type Problem struct {
	// File is the config file's name; empty for environment variables.
	File string
	// Line is the 1-based line in File; zero when unknown.
	Line int
	// Path names the field, e.g. "providers[1].type" or "cache.ttl"; for an
	// environment variable it is the variable's name. Empty for problems of
	// the file as a whole, such as a YAML syntax error.
	Path string
	// Msg says what is wrong. It never contains a secret value.
	Msg string
}

// String formats p as "<file>:<line>: <path>: <msg>", leaving out the parts
// that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ValidationError holds every problem found in one configuration source.
// Parse, Load, Resolve and LoadEnv return it so that a user fixes all
// mistakes in one round instead of one per start.
type ValidationError struct {
	// Problems are ordered by line.
	Problems []Problem
}

// Error returns the problems one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// newValidationError returns nil when there are no problems, so that callers
// can return it directly as an error.
func newValidationError(problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
	return &ValidationError{Problems: problems}
}
