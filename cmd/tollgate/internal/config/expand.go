package config

import (
	"fmt"
	"strings"
)

// expand replaces environment variable references in s, one scalar value of
// the config file:
//
//   - ${NAME} is the variable's value; an unset or empty variable is a
//     problem, so that a forgotten credential fails the start.
//   - ${NAME:-default} is the value, or default when the variable is unset
//     or empty; default may be empty and may not contain "${".
//   - $${ is a literal "${". Any other "$" is literal.
//
// It returns the expanded text and the problems found, which name variables
// but never quote values, since s may hold a secret.
func expand(s string, getenv func(string) string) (string, []string) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var (
		b        strings.Builder
		problems []string
	)
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' { // "$${" is a literal "${".
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		s = s[i+2:]
		end := strings.IndexByte(s, '}')
		if end < 0 {
			problems = append(problems, `unterminated "${" (write "$${" for a literal "${")`)
			break
		}
		value, problem := lookup(s[:end], getenv)
		if problem != "" {
			problems = append(problems, problem)
		}
		b.WriteString(value)
		s = s[end+1:]
	}
	return b.String(), problems
}

// lookup resolves the inside of one "${...}" reference.
func lookup(ref string, getenv func(string) string) (value, problem string) {
	name, def, hasDefault := strings.Cut(ref, ":-")
	if !validVarName(name) {
		if i := strings.IndexByte(name, ':'); i >= 0 && validVarName(name[:i]) {
			return "", fmt.Sprintf("unsupported form ${%s:...} (want ${NAME} or ${NAME:-default})", name[:i])
		}
		return "", `invalid variable reference in "${...}" (want ${NAME} or ${NAME:-default}, NAME of letters, digits and "_")`
	}
	if hasDefault && strings.Contains(def, "${") {
		return "", fmt.Sprintf("nested reference in the default of ${%s:-...} is not supported", name)
	}
	if v := getenv(name); v != "" {
		return v, ""
	}
	if hasDefault {
		return def, ""
	}
	return "", fmt.Sprintf("environment variable %s is not set (write ${%s:-default} to make it optional)", name, name)
}

// validVarName reports whether name is a shell-style variable name.
func validVarName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
