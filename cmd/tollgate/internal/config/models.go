package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-gw/tollgate/metering/pricing"
)

// maxWeight bounds a target's weight so that sums cannot overflow.
const maxWeight = 1_000_000

// modelRefs remembers where a model's fallbacks were written, for the checks
// that need every model name first.
type modelRefs struct {
	path  string // "models[i].fallbacks"
	line  int    // line of the fallbacks value, or of the model
	lines []int  // line of each fallback
}

// models decodes the models list and checks names, targets and fallbacks.
// providers holds every configured provider name.
func (d *decoder) models(n *yaml.Node, providers map[string]bool) []Model {
	items := d.items(n, "models")
	if len(items) == 0 {
		return nil
	}
	out := make([]Model, 0, len(items))
	refs := make([]modelRefs, 0, len(items))
	index := map[string]int{}
	for i, item := range items {
		path := fmt.Sprintf("models[%d]", i)
		m, r := d.model(item, path, providers)
		out, refs = append(out, m), append(refs, r)
		if m.Name == "" {
			continue
		}
		if j, dup := index[m.Name]; dup {
			d.addf(m.Line, path+".name", "duplicate model name %q (first at line %d)", m.Name, out[j].Line)
		} else {
			index[m.Name] = i
		}
	}
	d.checkFallbacks(out, refs, index)
	d.checkCycles(out, refs, index)
	return out
}

// model decodes one models entry.
func (d *decoder) model(n *yaml.Node, path string, providers map[string]bool) (Model, modelRefs) {
	line := lineOf(n, 0)
	f, keyLines := d.fields(n, path, "name", "targets", "fallbacks", "pricing")
	m := Model{Line: line}
	r := modelRefs{path: path + ".fallbacks", line: max(keyLines["fallbacks"], line)}
	if f == nil {
		return m, r
	}
	m.Name, _ = d.required(f["name"], line, path+".name")
	m.Targets = d.targets(f["targets"], max(keyLines["targets"], line), path+".targets", providers)
	for i, item := range d.items(f["fallbacks"], r.path) {
		if name, ok := d.required(item, r.line, fmt.Sprintf("%s[%d]", r.path, i)); ok {
			m.Fallbacks = append(m.Fallbacks, name)
			r.lines = append(r.lines, item.Line)
		}
	}
	m.Pricing = d.pricing(f["pricing"], path+".pricing")
	return m, r
}

// targets decodes a model's weighted targets; line is that of the targets
// key, or of the model when it is absent.
func (d *decoder) targets(n *yaml.Node, line int, path string, providers map[string]bool) []Target {
	items := d.items(n, path)
	if len(items) == 0 {
		if !d.reported(path) {
			d.addf(line, path, "at least one target is required")
		}
		return nil
	}
	out := make([]Target, 0, len(items))
	total, unsure := 0, false // unsure: a weight could not be read
	for i, item := range items {
		tp := fmt.Sprintf("%s[%d]", path, i)
		f, _ := d.fields(item, tp, "provider", "model", "weight")
		if f == nil {
			unsure = true
			continue
		}
		var t Target
		itemLine := lineOf(item, line)
		if name, ok := d.required(f["provider"], itemLine, tp+".provider"); ok {
			t.Provider = name
			if !providers[name] {
				d.addf(f["provider"].Line, tp+".provider", "unknown provider %q%s", name, hint(name, sortedKeys(providers)))
			}
		}
		t.Model, _ = d.required(f["model"], itemLine, tp+".model")
		w, ok := d.integer(f["weight"], tp+".weight", 0, maxWeight, 1)
		unsure = unsure || !ok && d.reported(tp+".weight")
		t.Weight = int(w)
		total += t.Weight
		out = append(out, t)
	}
	if total == 0 && !unsure {
		d.addf(line, path, "at least one target needs a weight above zero")
	}
	return out
}

// pricing decodes a model's prices. A missing cached_input_per_mtok is the
// input price: cached tokens are never billed below the input price unless
// the file says so.
func (d *decoder) pricing(n *yaml.Node, path string) Pricing {
	f, _ := d.fields(n, path, "input_per_mtok", "output_per_mtok", "cached_input_per_mtok")
	var p Pricing
	price := func(key string) (int64, bool) {
		s, ok := d.text(f[key], path+"."+key)
		if !ok {
			return 0, false
		}
		v, err := pricing.ParseMicros(s)
		if err != nil {
			d.addf(f[key].Line, path+"."+key, "invalid price %q: %v", s, err)
			return 0, false
		}
		p.Set = true
		return v, true
	}
	p.InputPerMTok, _ = price("input_per_mtok")
	p.OutputPerMTok, _ = price("output_per_mtok")
	var cachedSet bool
	p.CachedInputPerMTok, cachedSet = price("cached_input_per_mtok")
	if !cachedSet && !d.reported(path+".cached_input_per_mtok") {
		p.CachedInputPerMTok = p.InputPerMTok
	}
	return p
}

// checkFallbacks checks that every fallback names another configured model,
// once.
func (d *decoder) checkFallbacks(models []Model, refs []modelRefs, index map[string]int) {
	var names []string
	for i, m := range models {
		for j, fb := range m.Fallbacks {
			path, line := fmt.Sprintf("%s[%d]", refs[i].path, j), refs[i].lines[j]
			switch _, known := index[fb]; {
			case fb == m.Name:
				d.addf(line, path, "a model cannot fall back to itself")
			case slices.Contains(m.Fallbacks[:j], fb):
				d.addf(line, path, "model %q is listed twice", fb)
			case !known:
				if names == nil {
					names = sortedKeys(index)
				}
				d.addf(line, path, "unknown model %q%s", fb, hint(fb, names))
			}
		}
	}
}

// checkCycles reports every fallback cycle (a -> b -> a) once, at the model
// of the cycle that comes first in the file.
func (d *decoder) checkCycles(models []Model, refs []modelRefs, index map[string]int) {
	const (
		unvisited = iota
		onStack
		done
	)
	state := make([]int, len(models))
	var stack []int
	seen := map[string]bool{}
	var visit func(i int)
	visit = func(i int) {
		state[i] = onStack
		stack = append(stack, i)
		for _, fb := range models[i].Fallbacks {
			j, ok := index[fb]
			if !ok || j == i {
				continue
			}
			switch state[j] {
			case unvisited:
				visit(j)
			case onStack:
				d.reportCycle(models, refs, stack[slices.Index(stack, j):], seen)
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
	}
	for i := range models {
		if state[i] == unvisited {
			visit(i)
		}
	}
}

// reportCycle reports the cycle of model indexes unless seen already.
func (d *decoder) reportCycle(models []Model, refs []modelRefs, cycle []int, seen map[string]bool) {
	start := slices.Index(cycle, slices.Min(cycle))
	rotated := append(slices.Clone(cycle[start:]), cycle[:start]...)
	names := make([]string, 0, len(rotated)+1)
	for _, i := range rotated {
		names = append(names, models[i].Name)
	}
	names = append(names, names[0])
	key := fmt.Sprint(rotated)
	if seen[key] {
		return
	}
	seen[key] = true
	first := rotated[0]
	d.addf(refs[first].line, refs[first].path, "fallback cycle %s", strings.Join(quoteAll(names), " -> "))
}

// quoteAll quotes each string.
func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
