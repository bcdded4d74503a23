package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// errUpstreamTimeout is the cancellation cause the router sets when a
// provider's timeout runs out, so that it can tell its own deadline from a
// client that went away.
var errUpstreamTimeout = errors.New("upstream timeout")

// classifyTimeout turns a failure caused by the router's own deadline into
// a provider.Error of KindTimeout. Any other error is returned unchanged,
// including the cancellation of a client that went away.
func classifyTimeout(ctx context.Context, p *Provider, err error) error {
	if err == nil || !errors.Is(context.Cause(ctx), errUpstreamTimeout) {
		return err
	}
	return &provider.Error{
		Provider: p.Name,
		Kind:     provider.KindTimeout,
		Message:  fmt.Sprintf("provider %q did not answer within %s", p.Name, p.Timeout),
		Err:      err,
	}
}

// idleStream enforces the provider's timeout as an idle timeout: the clock
// runs only while the gateway waits for the upstream, not while it writes
// to a slow client.
type idleStream struct {
	provider.Stream
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	p      *Provider
	done   bool
}

// openIdleStream starts a stream with p's timeout applied to the wait for
// the response headers and to every wait for a chunk after that.
func openIdleStream(ctx context.Context, p *Provider, req *provider.ChatRequest) (provider.Stream, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(p.Timeout, func() { cancel(errUpstreamTimeout) })
	s, err := p.Adapter.ChatCompletionStream(ctx, req)
	if err != nil {
		timer.Stop()
		err = classifyTimeout(ctx, p, err)
		cancel(nil)
		return nil, err
	}
	timer.Stop()
	return &idleStream{Stream: s, ctx: ctx, cancel: cancel, timer: timer, p: p}, nil
}

// Next waits at most the provider's timeout for the next chunk.
func (s *idleStream) Next() (provider.Chunk, error) {
	if s.done {
		return provider.Chunk{}, io.EOF
	}
	s.timer.Reset(s.p.Timeout)
	c, err := s.Stream.Next()
	s.timer.Stop()
	if err != nil {
		if err != io.EOF {
			err = classifyTimeout(s.ctx, s.p, err)
		}
		return c, err
	}
	return c, nil
}

// Close stops the timer, closes the upstream stream and releases its
// context.
func (s *idleStream) Close() error {
	if s.done {
		return nil
	}
	s.done = true
	s.timer.Stop()
	err := s.Stream.Close()
	s.cancel(nil)
	return err
}
