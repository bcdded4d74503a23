package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder walks the YAML node tree of one config file, expanding and
// converting scalars and collecting every problem with its line.
type decoder struct {
	file     string
	getenv   func(string) string
	problems []Problem
}

// addf records a problem.
func (d *decoder) addf(line int, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// reported reports whether a problem was already recorded for path.
func (d *decoder) reported(path string) bool {
	for _, p := range d.problems {
		if p.Path == path {
			return true
		}
	}
	return false
}

// deref follows alias nodes ("*name") to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is absent or an unquoted null ("", "~", "null").
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// lineOf returns n's line, or fallback when n is absent.
func lineOf(n *yaml.Node, fallback int) int {
	if n == nil || n.Line == 0 {
		return fallback
	}
	return n.Line
}

// describe names n's kind for messages; it never shows a value.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	default:
		return "something else"
	}
}

// join appends key to path, bracketing and quoting keys that would make the
// path ambiguous.
func join(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	default:
		return path + "." + key
	}
}

// fields checks that n is a mapping whose keys are all among known and
// returns the value node and the key's line of each key present. An absent
// or null n is an empty mapping; a node of another kind is a problem and
// yields nil maps, so that callers can skip the object's own checks.
func (d *decoder) fields(n *yaml.Node, path string, known ...string) (map[string]*yaml.Node, map[string]int) {
	n = deref(n)
	if isNull(n) {
		return map[string]*yaml.Node{}, map[string]int{}
	}
	if n.Kind != yaml.MappingNode {
		d.addf(n.Line, path, "want a mapping, got %s", describe(n))
		return nil, nil
	}
	vals, lines := make(map[string]*yaml.Node, len(known)), make(map[string]int, len(known))
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.addf(k.Line, path, "want a plain key, got %s", describe(k))
			continue
		}
		key, kp := k.Value, join(path, k.Value)
		switch line, dup := first[key]; {
		case key == "<<" && k.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0:
			d.addf(k.Line, path, "merge keys (<<) are not supported; repeat the fields or use an alias for the whole value")
		case dup:
			d.addf(k.Line, kp, "duplicate key (first at line %d)", line)
		case !slices.Contains(known, key):
			d.addf(k.Line, kp, "unknown key%s", hint(key, known))
		default:
			vals[key], lines[key] = v, k.Line
		}
		if _, dup := first[key]; !dup {
			first[key] = k.Line
		}
	}
	return vals, lines
}

// items returns the elements of the list n; an absent or null n is empty.
func (d *decoder) items(n *yaml.Node, path string) []*yaml.Node {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.addf(n.Line, path, "want a list, got %s", describe(n))
		return nil
	}
	return n.Content
}

// text returns the expanded text of the scalar n. ok is false when n is
// absent, null or empty after expansion (all meaning "not set"), or when a
// problem was reported. Messages never quote the value.
func (d *decoder) text(n *yaml.Node, path string) (s string, ok bool) {
	line := lineOf(n, 0)
	n = deref(n)
	if isNull(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.addf(line, path, "want a single value, got %s", describe(n))
		return "", false
	}
	s, problems := expand(n.Value, d.getenv)
	for _, p := range problems {
		d.addf(line, path, "%s", p)
	}
	if len(problems) > 0 {
		return "", false
	}
	return s, s != ""
}

// required is text for a field that must be set; parentLine locates the
// problem when the key is missing altogether.
func (d *decoder) required(n *yaml.Node, parentLine int, path string) (string, bool) {
	before := len(d.problems)
	s, ok := d.text(n, path)
	switch {
	case ok || len(d.problems) > before:
	case n == nil:
		d.addf(parentLine, path, "missing (required)")
	default:
		d.addf(n.Line, path, "must not be empty")
	}
	return s, ok
}

// integer returns the decimal integer n, or def when n is not set. Values
// outside [lo, hi] are problems.
func (d *decoder) integer(n *yaml.Node, path string, lo, hi, def int64) (int64, bool) {
	s, ok := d.text(n, path)
	if !ok {
		return def, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		d.addf(n.Line, path, "want an integer, got %q", s)
	case v < lo:
		d.addf(n.Line, path, "must be at least %d, got %d", lo, v)
	case v > hi:
		d.addf(n.Line, path, "must be at most %d, got %d", hi, v)
	default:
		return v, true
	}
	return def, false
}

// boolean returns the boolean n (true or false, any case), or def when n is
// not set.
func (d *decoder) boolean(n *yaml.Node, path string, def bool) bool {
	s, ok := d.text(n, path)
	switch {
	case !ok:
		return def
	case strings.EqualFold(s, "true"):
		return true
	case strings.EqualFold(s, "false"):
		return false
	}
	d.addf(n.Line, path, "want true or false, got %q", s)
	return def
}

// duration returns the duration n, or def when n is not set. It must be
// positive when positive is set, else non-negative.
func (d *decoder) duration(n *yaml.Node, path string, positive bool, def time.Duration) time.Duration {
	s, ok := d.text(n, path)
	if !ok {
		return def
	}
	v, err := parseDuration(s)
	switch {
	case err != nil:
		d.addf(n.Line, path, "invalid duration %q (want Go syntax like 60s, 1h or 250ms, or whole seconds)", s)
	case v < 0:
		d.addf(n.Line, path, "must not be negative, got %s", s)
	case v == 0 && positive:
		d.addf(n.Line, path, "must be greater than zero")
	default:
		return v
	}
	return def
}

// parseDuration parses Go duration syntax; a bare integer means seconds.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(time.Duration(1<<63-1)/time.Second) || n < -int64(time.Duration(1<<63-1)/time.Second) {
			return 0, strconv.ErrRange
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// hint suggests the known word closest to word, within edit distance 2, as
// ` (did you mean "x"?)`; it returns "" when nothing is close.
func hint(word string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(word, k); dist < bestDist && dist < len(word) {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 { // far from any known word; stay cheap
		return max(len(ra), len(rb))
	}
	prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
