// Package router turns the model name a client sends into upstream targets
// and dispatches a request to one of them.
//
// A public model from the config has weighted targets (canary and A/B
// splits); a name of the form "provider/model" that matches no public model
// goes straight to that provider. The router applies each provider's
// timeout: the whole request for non-streaming calls, the idle time between
// chunks for streams.
package router

import (
	"context"
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
	Provider string
	Model    string
	// Weight is the target's share; zero takes no traffic.
	Weight int
}

// Target is a resolved upstream: a provider and the model to ask it for.
type Target struct {
	Provider *Provider
	Model    string
	Weight   int
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

// Table resolves model names. It is immutable after New and safe for
// concurrent use.
type Table struct {
	providers map[string]*Provider
	models    map[string]*Route
	listed    []string
	// intN returns a uniform random number in [0, n); tests replace it.
	intN func(n int) int
}

// New builds a table from the providers and the public models. It checks
// that every target names a known provider and every fallback a known model.
func New(providers []*Provider, models []ModelSpec) (*Table, error) {
	t := &Table{
		providers: make(map[string]*Provider, len(providers)),
		models:    make(map[string]*Route, len(models)),
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
			r.Targets = append(r.Targets, Target{Provider: p, Model: ts.Model, Weight: ts.Weight})
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
	return &Route{
		Model:       model,
		Targets:     []Target{{Provider: p, Model: upstream, Weight: 1}},
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

// Pick chooses a target of r at random, in proportion to the weights.
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

// ErrNoTarget is returned for a route without targets.
var ErrNoTarget = errors.New("router: model has no targets")

// Result says which target answered a dispatched request.
type Result struct {
	// Provider is the configured provider name of the target.
	Provider string
	// Model is the upstream model the target was asked for.
	Model string
}

// ChatCompletion sends a non-streaming request to a target of r, bounded by
// the provider's timeout.
func (t *Table) ChatCompletion(ctx context.Context, r *Route, req *provider.ChatRequest) (*provider.ChatResponse, Result, error) {
	if len(r.Targets) == 0 {
		return nil, Result{}, ErrNoTarget
	}
	tg := t.Pick(r)
	res := Result{Provider: tg.Provider.Name, Model: tg.Model}
	ctx, cancel := context.WithTimeoutCause(ctx, tg.Provider.Timeout, errUpstreamTimeout)
	defer cancel()
	req.Model = tg.Model
	resp, err := tg.Provider.Adapter.ChatCompletion(ctx, req)
	if err != nil {
		return nil, res, classifyTimeout(ctx, tg.Provider, err)
	}
	return resp, res, nil
}

// ChatCompletionStream starts a streaming request at a target of r. The
// returned stream fails with a timeout when the upstream stays silent for
// longer than the provider's timeout, before the first chunk or between
// two chunks; the caller must Close it.
func (t *Table) ChatCompletionStream(ctx context.Context, r *Route, req *provider.ChatRequest) (provider.Stream, Result, error) {
	if len(r.Targets) == 0 {
		return nil, Result{}, ErrNoTarget
	}
	tg := t.Pick(r)
	res := Result{Provider: tg.Provider.Name, Model: tg.Model}
	req.Model = tg.Model
	s, err := openIdleStream(ctx, tg.Provider, req)
	return s, res, err
}

// Embeddings sends an embeddings request to a target of r.
func (t *Table) Embeddings(ctx context.Context, r *Route, req *provider.EmbeddingsRequest) (*provider.EmbeddingsResponse, Result, error) {
	if len(r.Targets) == 0 {
		return nil, Result{}, ErrNoTarget
	}
	tg := t.Pick(r)
	res := Result{Provider: tg.Provider.Name, Model: tg.Model}
	e, ok := tg.Provider.Adapter.(provider.Embedder)
	if !ok {
		return nil, res, &provider.Error{Provider: tg.Provider.Name, Kind: provider.KindInvalidRequest, Status: 400,
			Message: fmt.Sprintf("provider %q does not offer embeddings", tg.Provider.Name), Code: "unsupported_model", Param: "model"}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, tg.Provider.Timeout, errUpstreamTimeout)
	defer cancel()
	req.Model = tg.Model
	resp, err := e.Embeddings(ctx, req)
	if err != nil {
		return nil, res, classifyTimeout(ctx, tg.Provider, err)
	}
	return resp, res, nil
}
