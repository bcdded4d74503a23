package router

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// ErrNoTarget is returned for a route without targets.
var ErrNoTarget = errors.New("router: model has no targets")

// Result says which target answered a dispatched request, or which one
// was tried last when the request failed.
type Result struct {
	// Provider is the configured provider name of the target.
	Provider string
	// Model is the upstream model the target was asked for.
	Model string
	// Attempts counts the upstream calls made, retries and fallbacks
	// included; zero when no target could be tried.
	Attempts int
}

// ChatCompletion sends a non-streaming request to a target of r, each
// attempt bounded by its provider's timeout, with retries and fallbacks
// (see dispatch).
func (t *Table) ChatCompletion(ctx context.Context, r *Route, req *provider.ChatRequest) (*provider.ChatResponse, Result, error) {
	return dispatch(ctx, t, r, func(ctx context.Context, tg Target) (*provider.ChatResponse, error) {
		ctx, cancel := context.WithTimeoutCause(ctx, tg.Provider.Timeout, errUpstreamTimeout)
		defer cancel()
		rq := *req
		rq.Model = tg.Model
		resp, err := tg.Provider.Adapter.ChatCompletion(ctx, &rq)
		if err != nil {
			return nil, classifyTimeout(ctx, tg.Provider, err)
		}
		req.Model = tg.Model
		return resp, nil
	})
}

// ChatCompletionStream starts a streaming request at a target of r. Retries
// and fallbacks happen only while the stream is being opened; once a
// Stream is returned the request is committed to its target and is never
// retried, whatever Next reports, because the client may already have
// received part of the answer. The returned stream fails with a timeout
// when the upstream stays silent for longer than the provider's timeout,
// before the first chunk or between two chunks; the caller must Close it.
func (t *Table) ChatCompletionStream(ctx context.Context, r *Route, req *provider.ChatRequest) (provider.Stream, Result, error) {
	return dispatch(ctx, t, r, func(ctx context.Context, tg Target) (provider.Stream, error) {
		rq := *req
		rq.Model = tg.Model
		s, err := openIdleStream(ctx, tg.Provider, &rq)
		if err == nil {
			req.Model = tg.Model
		}
		return s, err
	})
}

// Embeddings sends an embeddings request to a target of r, with retries
// and fallbacks like ChatCompletion.
func (t *Table) Embeddings(ctx context.Context, r *Route, req *provider.EmbeddingsRequest) (*provider.EmbeddingsResponse, Result, error) {
	return dispatch(ctx, t, r, func(ctx context.Context, tg Target) (*provider.EmbeddingsResponse, error) {
		e, ok := tg.Provider.Adapter.(provider.Embedder)
		if !ok {
			return nil, &provider.Error{Provider: tg.Provider.Name, Kind: provider.KindInvalidRequest, Status: 400,
				Message: fmt.Sprintf("provider %q does not offer embeddings", tg.Provider.Name), Code: "unsupported_model", Param: "model"}
		}
		ctx, cancel := context.WithTimeoutCause(ctx, tg.Provider.Timeout, errUpstreamTimeout)
		defer cancel()
		rq := *req
		rq.Model = tg.Model
		resp, err := e.Embeddings(ctx, &rq)
		if err != nil {
			return nil, classifyTimeout(ctx, tg.Provider, err)
		}
		req.Model = tg.Model
		return resp, nil
	})
}

// dispatch runs call against r's targets, then against r's fallbacks in
// order (and theirs, each public model once), until one succeeds:
//
//   - A target is picked by weight among those whose breaker lets traffic
//     through; when every target of a model is open, the model fails fast.
//   - A retryable failure (rate limit, server error, timeout, connection)
//     is retried up to Options.MaxRetries times per model with jittered
//     exponential backoff, on another available target of the model when
//     there is one. An upstream Retry-After is waited for when the same
//     target is retried and it is at most Options.BackoffMax; a longer one
//     sends the request to another target or to the fallbacks instead.
//   - Authentication, quota and not-found failures are not retried on the
//     same target but may go to another target and then the fallbacks.
//   - A failure caused by the client's request, or the client going away,
//     is returned at once.
//   - No backoff sleeps past ctx's deadline.
//
// The error returned is the last upstream failure; when no target of any
// model could be tried, a KindServer error saying the circuits are open.
func dispatch[T any](ctx context.Context, t *Table, r *Route, call func(context.Context, Target) (T, error)) (T, Result, error) {
	var zero T
	if len(r.Targets) == 0 {
		return zero, Result{}, ErrNoTarget
	}
	d := &dispatcher[T]{t: t, call: call, seen: map[string]bool{r.Model: true}}
	queue := []*Route{r}
	for i := 0; i < len(queue); i++ {
		v, done, err := d.tryRoute(ctx, queue[i])
		if done {
			return v, d.res, err
		}
		for _, fb := range queue[i].Fallbacks {
			if fr, ok := t.models[fb]; ok && !d.seen[fb] && len(fr.Targets) > 0 {
				d.seen[fb] = true
				queue = append(queue, fr)
			}
		}
	}
	return zero, d.res, d.last
}

// dispatcher is the state of one dispatched request. It lives for one
// request and is not safe for concurrent use.
type dispatcher[T any] struct {
	t    *Table
	call func(context.Context, Target) (T, error)
	seen map[string]bool
	res  Result
	last error
}

// tryRoute tries the targets of one public model. done reports that the
// request is over (answered, or failed in a way no fallback can help);
// otherwise the caller moves on to the fallbacks.
func (d *dispatcher[T]) tryRoute(ctx context.Context, r *Route) (v T, done bool, err error) {
	opts := &d.t.opts
	excluded := make([]bool, len(r.Targets))
	avoid, retries, tried := -1, 0, false
	for {
		now := opts.Now()
		i, ok := d.t.pickAmong(r, func(i int) bool {
			return !excluded[i] && i != avoid && r.Targets[i].b.available(now)
		})
		if !ok && avoid >= 0 && !excluded[avoid] && r.Targets[avoid].b.available(now) {
			i, ok = avoid, true
		}
		if !ok {
			if !tried && d.last == nil {
				d.last = allOpenError(r)
			}
			return v, false, nil
		}
		tg := r.Targets[i]
		allowed, probe := tg.b.allow(now)
		if !allowed {
			excluded[i] = true
			continue
		}
		tried = true
		d.res = Result{Provider: tg.Provider.Name, Model: tg.Model, Attempts: d.res.Attempts + 1}
		start := opts.Now()
		v, err = d.call(ctx, tg)
		o := classify(ctx, err)
		tg.b.record(opts.Now(), o, probe, opts.Now().Sub(start), err)
		if err == nil {
			return v, true, nil
		}
		d.last = err
		if o == ignored {
			return v, true, err
		}
		pe, _ := provider.AsError(err)
		if pe != nil && !pe.Retryable() {
			excluded[i] = true // auth, quota, not found: another target may do
			continue
		}
		if retries >= opts.MaxRetries {
			return v, false, nil
		}
		retries++
		if !d.backoff(ctx, r, &excluded, &avoid, i, retries, pe) {
			return v, true, d.last
		}
	}
}

// backoff prepares and waits for retry number n after target i failed
// with a retryable error: it marks i to be avoided (or excluded, when its
// Retry-After is too long to wait) and sleeps the jittered backoff, or the
// Retry-After when i is the only target left. It reports false when the
// wait would pass ctx's deadline or ctx ended, so the request is over.
func (d *dispatcher[T]) backoff(ctx context.Context, r *Route, excluded *[]bool, avoid *int, i, n int, pe *provider.Error) bool {
	opts := &d.t.opts
	now := opts.Now()
	*avoid = i
	others := false
	for j := range r.Targets {
		if j != i && !(*excluded)[j] && r.Targets[j].Weight > 0 && r.Targets[j].b.available(now) {
			others = true
		}
	}
	wait := d.jitter(n)
	if pe != nil && pe.RetryAfter > 0 {
		switch {
		case pe.RetryAfter > opts.BackoffMax:
			(*excluded)[i] = true // not worth waiting for: move on
			if !others {
				return true // the caller finds nothing left and falls back
			}
		case !others:
			wait = max(wait, pe.RetryAfter)
		}
	}
	if dl, ok := ctx.Deadline(); ok && now.Add(wait).After(dl) {
		return false
	}
	if err := opts.Sleep(ctx, wait); err != nil {
		return false
	}
	return true
}

// jitter returns the backoff before retry n (1-based): BackoffBase doubled
// n-1 times, capped at BackoffMax, then drawn uniformly from its upper
// half.
func (d *dispatcher[T]) jitter(n int) time.Duration {
	opts := &d.t.opts
	b := opts.BackoffBase
	for k := 1; k < n && b < opts.BackoffMax; k++ {
		b *= 2
	}
	b = min(b, opts.BackoffMax)
	half := b / 2
	if half <= 0 {
		return b
	}
	return half + time.Duration(d.t.intN(int(half)+1))
}

// classify says what an attempt's error tells about its target: nothing
// when the client went away or sent a bad request, a failure for any other
// upstream error.
func classify(ctx context.Context, err error) outcome {
	if err == nil {
		return success
	}
	if ctx.Err() != nil {
		return ignored
	}
	if pe, ok := provider.AsError(err); ok && pe.Kind == provider.KindInvalidRequest {
		return ignored
	}
	return failure
}

// allOpenError is the fast failure of a model whose targets all have an
// open breaker.
func allOpenError(r *Route) error {
	name := ""
	if len(r.Targets) > 0 {
		name = r.Targets[0].Provider.Name
	}
	return &provider.Error{Provider: name, Kind: provider.KindServer, Status: 0,
		Message: fmt.Sprintf("all targets of %s are unavailable (circuit open)", r.Model)}
}
