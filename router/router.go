// Package router turns the model name a client sends into upstream targets
// and dispatches a request to one of them.
//
// A public model from the config has weighted targets (canary and A/B
// splits); a name of the form "provider/model" that matches no public model
// goes straight to that provider. The router applies each provider's
// timeout: the whole request for non-streaming calls, the idle time between
// chunks for streams.
//
// Dispatch retries retryable upstream failures with jittered backoff,
// prefers another healthy target of the same model, then tries the model's
// fallbacks; a circuit breaker per target (provider and upstream model)
// turns an outage into one fast failure. See dispatch.go and breaker.go.
package router

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// DefaultTimeout applies to a provider configured without a timeout.
const DefaultTimeout = 60 * time.Second

// Provider is one configured upstream with its adapter.
type Provider struct {
	// Name is the configured provider name.
	Name string
	// Adapter talks to the upstream.
	Adapter provider.Adapter
	// Timeout bounds a non-streaming call and the idle time between two
	// stream chunks; zero means DefaultTimeout.
	Timeout time.Duration
	// Type is the configured provider type (openai, anthropic, …); it is
	// only reported by Health and may be empty.
	Type string
}

// ModelSpec is one public model of the config.
type ModelSpec struct {
	// Name is the public model name clients send.
	Name string
	// Targets split the traffic by weight.
	Targets []TargetSpec
	// Fallbacks are public model names tried in order when every target
	// failed.
	Fallbacks []string
}

// TargetSpec is one weighted target of a public model.
type TargetSpec struct {
	// Provider is the configured provider name.
	Provider string
	// Model is the upstream model to ask the provider for.
	Model string
	// Weight is the target's share; zero takes no traffic.
	Weight int
}

// Target is a resolved upstream: a provider and the model to ask it for.
type Target struct {
	// Provider is the upstream provider.
	Provider *Provider
	// Model is the upstream model name.
	Model string
	// Weight is the target's share of its route's traffic.
	Weight int
	// b is the target's circuit breaker; nil means always allowed.
	b *breaker
}

// Route is what a public model name resolves to.
type Route struct {
	// Model is the public model name the client sent.
	Model string
	// Targets are the weighted upstream targets.
	Targets []Target
	// Fallbacks are public model names to try when every target failed.
	Fallbacks []string
	// Direct marks a "provider/model" address that matched no public model.
	Direct      bool
	totalWeight int
}

// Table resolves model names and dispatches requests. Its routes are
// immutable after New; its breakers keep their own locks. It is safe for
// concurrent use.
type Table struct {
	providers map[string]*Provider
	models    map[string]*Route
	listed    []string
	opts      Options
	breakers  *breakers
	// intN returns a uniform random number in [0, n); tests replace it.
	intN func(n int) int
}

// New builds a table with default Options. See NewWithOptions.
func New(providers []*Provider, models []ModelSpec) (*Table, error) {
	return NewWithOptions(providers, models, Options{})
}

// NewWithOptions builds a table from the providers and the public models,
// with the retry and breaker settings of opts. It checks that every target
// names a known provider and every fallback a known model.
func NewWithOptions(providers []*Provider, models []ModelSpec, opts Options) (*Table, error) {
	opts = opts.withDefaults()
	t := &Table{
		providers: make(map[string]*Provider, len(providers)),
		models:    make(map[string]*Route, len(models)),
		opts:      opts,
		breakers:  newBreakers(),
		intN:      rand.IntN,
	}
	for _, p := range providers {
		if p.Timeout <= 0 {
			p.Timeout = DefaultTimeout
		}
		if _, dup := t.providers[p.Name]; dup {
			return nil, fmt.Errorf("router: duplicate provider %q", p.Name)
		}
		t.providers[p.Name] = p
	}
	var errs []error
	for _, m := range models {
		r := &Route{Model: m.Name, Fallbacks: m.Fallbacks}
		for _, ts := range m.Targets {
			p, ok := t.providers[ts.Provider]
			if !ok {
				errs = append(errs, fmt.Errorf("router: model %q: unknown provider %q", m.Name, ts.Provider))
				continue
			}
			b := t.breakers.get(p, ts.Model, &t.opts, true)
			b.addPublic(m.Name)
			r.Targets = append(r.Targets, Target{Provider: p, Model: ts.Model, Weight: ts.Weight, b: b})
			r.totalWeight += ts.Weight
		}
		if r.totalWeight <= 0 && len(r.Targets) > 0 {
			errs = append(errs, fmt.Errorf("router: model %q: no target has a positive weight", m.Name))
		}
		t.models[m.Name] = r
	}
	for _, m := range models {
		for _, fb := range m.Fallbacks {
			if _, ok := t.models[fb]; !ok {
				errs = append(errs, fmt.Errorf("router: model %q: unknown fallback %q", m.Name, fb))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.listed = t.buildList()
	return t, nil
}

// buildList collects the names GET /v1/models shows: public models, then
// the "provider/model" names of providers that know their models.
func (t *Table) buildList() []string {
	names := make([]string, 0, len(t.models))
	for name := range t.models {
		names = append(names, name)
	}
	sort.Strings(names)
	var direct []string
	for name, p := range t.providers {
		if l, ok := p.Adapter.(provider.ModelLister); ok {
			for _, m := range l.Models() {
				full := name + "/" + m
				if _, shadowed := t.models[full]; !shadowed {
					direct = append(direct, full)
				}
			}
		}
	}
	sort.Strings(direct)
	return append(names, direct...)
}

// Resolve finds the route for a model name: a public model first, else a
// "provider/model" address. It reports false for an unknown model.
func (t *Table) Resolve(model string) (*Route, bool) {
	if r, ok := t.models[model]; ok {
		return r, true
	}
	name, upstream, ok := strings.Cut(model, "/")
	if !ok || upstream == "" {
		return nil, false
	}
	p, ok := t.providers[name]
	if !ok {
		return nil, false
	}
	b := t.breakers.get(p, upstream, &t.opts, false)
	if b != nil {
		b.addPublic(model)
	}
	return &Route{
		Model:       model,
		Targets:     []Target{{Provider: p, Model: upstream, Weight: 1, b: b}},
		Direct:      true,
		totalWeight: 1,
	}, true
}

// Models lists the model names clients may send, public models first, in a
// stable order. The caller must not modify the slice.
func (t *Table) Models() []string { return t.listed }

// Provider returns a configured provider by name.
func (t *Table) Provider(name string) (*Provider, bool) {
	p, ok := t.providers[name]
	return p, ok
}

// Pick chooses a target of r at random, in proportion to the weights,
// ignoring the breakers.
func (t *Table) Pick(r *Route) Target {
	if len(r.Targets) == 1 || r.totalWeight <= 0 {
		return r.Targets[0]
	}
	n := t.intN(r.totalWeight)
	for _, tg := range r.Targets {
		if n < tg.Weight {
			return tg
		}
		n -= tg.Weight
	}
	return r.Targets[len(r.Targets)-1]
}

// pickAmong chooses the index of a target of r by weight among those ok
// accepts; it reports false when ok accepts none. A target of weight zero
// takes no traffic, not even retries.
func (t *Table) pickAmong(r *Route, ok func(i int) bool) (int, bool) {
	total := 0
	for i, tg := range r.Targets {
		if tg.Weight > 0 && ok(i) {
			total += tg.Weight
		}
	}
	if total <= 0 {
		return 0, false
	}
	n := t.intN(total)
	last := 0
	for i, tg := range r.Targets {
		if tg.Weight <= 0 || !ok(i) {
			continue
		}
		if n < tg.Weight {
			return i, true
		}
		n -= tg.Weight
		last = i
	}
	return last, true
}
