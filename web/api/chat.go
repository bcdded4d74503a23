package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tollgate-gw/tollgate/metering"
	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/sse"
	"github.com/tollgate-gw/tollgate/router"
	"github.com/tollgate-gw/tollgate/router/cache"
	"github.com/tollgate-gw/tollgate/store/keyring"
)

// Response header names (CONTRACT §3).
const (
	hdrCache    = "X-Tollgate-Cache"
	hdrProvider = "X-Tollgate-Provider"
	hdrModel    = "X-Tollgate-Model"
)

// cacheBypass is reported until the response cache exists.
const cacheBypass = "BYPASS"

// chatCompletions serves POST /v1/chat/completions.
func (s *Server) chatCompletions(c echo.Context, st *reqState) error {
	principal, err := s.authenticate(c, st)
	if err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	p, perr := parseChat(body)
	if perr != nil {
		return perr
	}
	st.model, st.stream, st.endpoint = p.Model, p.Stream, "chat.completions"
	route, err := s.resolve(principal, p.Model)
	if err != nil {
		return err
	}
	if err := s.admit(c, st, principal, p.Model, body); err != nil {
		return err
	}
	req := &provider.ChatRequest{Body: body, Stream: p.Stream, IncludeUsage: p.IncludeUsage}
	if s.cache != nil {
		return s.cachedChat(c, st, route, req, p.Model)
	}
	if p.Stream {
		_, err := s.chatStream(c, st, route, req, nil)
		if errors.Is(err, errAnswered) {
			return nil
		}
		return err
	}
	resp, res, err := s.router.ChatCompletion(c.Request().Context(), route, req)
	if err != nil {
		return s.fail(c, st, route, res, err)
	}
	return s.answer(c, st, res, resp.Body, resp.Model, &resp.Usage)
}

// cachedChat answers through the response cache: a hit (or the answer of
// an identical request in flight) is sent from the cache, as JSON or
// replayed as a stream, and metered as a cached request; a miss goes
// upstream once and is stored.
func (s *Server) cachedChat(c echo.Context, st *reqState, route *router.Route, req *provider.ChatRequest, model string) error {
	d, err := cache.ParseDirectives(c.Request().Header)
	if err != nil {
		return invalid(strings.ToLower(cache.HeaderCache), "invalid_value", "%v", err)
	}
	key, err := cache.Key(req.Body, model, cache.ScopeID(s.cacheScope, st.customerID, st.keyID))
	if err != nil {
		return errInternal(err)
	}
	var fresh router.Result
	res, err := s.cache.Do(c.Request().Context(), key, d, func() (*cache.Entry, error) {
		status := cache.Miss
		if !d.Lookup() {
			status = cache.Bypass
		}
		s.setCacheStatus(c, st, status)
		if req.Stream {
			return s.chatStream(c, st, route, req, &cache.Assembler{})
		}
		resp, r, err := s.router.ChatCompletion(c.Request().Context(), route, req)
		if err != nil {
			return nil, s.fail(c, st, route, r, err)
		}
		fresh = r
		return cache.FromResponse(resp, r.Provider, model, s.now()), nil
	})
	if res.StoreErr != nil {
		s.log.Warn("response cache unavailable", "request_id", st.id, "error", res.StoreErr)
	}
	switch {
	case errors.Is(err, errAnswered):
		return nil
	case err != nil:
		return err
	case res.Fresh && req.Stream:
		return nil // streamed and metered by chatStream
	case res.Fresh:
		return s.answer(c, st, fresh, res.Entry.Body, res.Entry.Model, &res.Entry.Usage)
	}
	s.setCacheStatus(c, st, cache.Hit)
	return s.answerFromCache(c, st, res.Entry, req)
}

// setCacheStatus sets x-tollgate-cache and the log's cache field.
func (s *Server) setCacheStatus(c echo.Context, st *reqState, status string) {
	st.cache = status
	c.Response().Header()[hdrCache] = []string{status}
}

// answerFromCache sends a cached answer, replayed as SSE when the client
// streams, and meters it as a cached request: tokens recorded, no
// upstream cost.
func (s *Server) answerFromCache(c echo.Context, st *reqState, e *cache.Entry, req *provider.ChatRequest) error {
	st.provider, st.upstream, st.cacheHit = e.Provider, e.Model, true
	s.setRouteHeaders(c, st)
	u := e.Usage
	if !req.Stream {
		err := c.Blob(http.StatusOK, echo.MIMEApplicationJSON, e.Body)
		s.record(c.Request().Context(), st, &u, http.StatusOK, nil)
		return err
	}
	chunks, err := cache.Replay(e, req.IncludeUsage)
	if err != nil {
		return errInternal(err)
	}
	w := c.Response()
	h := w.Header()
	h["Content-Type"] = []string{"text/event-stream"}
	h["Cache-Control"] = []string{"no-cache"}
	w.WriteHeader(http.StatusOK)
	for _, ch := range chunks {
		if err = sse.WriteData(w, ch); err != nil {
			break
		}
	}
	if err == nil {
		err = sse.WriteDone(w)
	}
	w.Flush()
	status := http.StatusOK
	if err != nil { // the client went away during the replay
		status, st.err = statusClientClosed, err
	}
	s.record(c.Request().Context(), st, &u, status, err)
	return nil
}

// fail meters a request whose upstream call failed and returns the
// client's error.
func (s *Server) fail(c echo.Context, st *reqState, route *router.Route, res router.Result, err error) error {
	st.provider, st.upstream = res.Provider, res.Model
	e := errorFor(err, st.model, route.Direct)
	s.record(c.Request().Context(), st, nil, e.Status, err)
	return e
}

// answer writes a whole upstream answer and meters it. model is the
// upstream's own name for the model, when it reported one.
func (s *Server) answer(c echo.Context, st *reqState, res router.Result, body []byte, model string, u *provider.Usage) error {
	st.provider, st.upstream = res.Provider, res.Model
	if model != "" {
		st.upstream = model
	}
	s.setRouteHeaders(c, st)
	err := c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	s.record(c.Request().Context(), st, u, http.StatusOK, nil) // after the answer: metering never delays it
	return err
}

// admit reserves the request against the key's limits, sets the
// x-ratelimit-* headers, and answers 429 when a limit refuses.
func (s *Server) admit(c echo.Context, st *reqState, p *keyring.Principal, model string, body []byte) error {
	adm, dec, err := s.meter.Admit(c.Request().Context(), p, model, body)
	if err != nil {
		return errInternal(err)
	}
	st.adm = adm
	h := c.Response().Header()
	dec.Headers.Apply(h.Set)
	if dec.Allowed {
		return nil
	}
	e := &Error{Status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "rate_limit_exceeded", RetryAfter: dec.RetryAfter,
		Message: fmt.Sprintf("Rate limit reached for this API key (%s). Try again in %s.", dec.Limit, retryAfterSeconds(dec.RetryAfter)+"s")}
	if dec.Quota {
		e.Type, e.Code = "insufficient_quota", "insufficient_quota"
		e.Message = fmt.Sprintf("You exceeded your current quota (%s). It resets in %ss.", dec.Limit, retryAfterSeconds(dec.RetryAfter))
	}
	return e
}

// errAnswered marks a streamed answer that was already written to the
// client but must not be cached or shared: it broke off, or it did not
// assemble into a whole answer.
var errAnswered = errors.New("api: answer sent, not cacheable")

// chatStream relays a streaming answer chunk by chunk, flushing each as it
// arrives. An upstream failure before the first chunk is an ordinary error
// response; after it, an error event followed by [DONE]. With asm, the
// chunks are also assembled into a cache entry, returned when the answer
// is complete (else errAnswered).
func (s *Server) chatStream(c echo.Context, st *reqState, route *router.Route, req *provider.ChatRequest, asm *cache.Assembler) (*cache.Entry, error) {
	ctx := c.Request().Context()
	stream, res, err := s.router.ChatCompletionStream(ctx, route, req)
	if err != nil {
		return nil, s.fail(c, st, route, res, err)
	}
	st.provider, st.upstream = res.Provider, res.Model
	defer stream.Close()
	first, err := stream.Next()
	if err != nil && err != io.EOF {
		e := errorFor(err, st.model, route.Direct)
		u := stream.Usage()
		s.record(ctx, st, &u, e.Status, err)
		return nil, e
	}
	if m := stream.Model(); m != "" {
		st.upstream = m
	}
	w := c.Response()
	h := w.Header()
	h["Content-Type"] = []string{"text/event-stream"}
	h["Cache-Control"] = []string{"no-cache"}
	h["X-Accel-Buffering"] = []string{"no"}
	s.setRouteHeaders(c, st)
	w.WriteHeader(http.StatusOK)

	streamErr := s.relay(w, stream, first, err, req.IncludeUsage, asm)
	u := stream.Usage()
	st.err = streamErr
	status := http.StatusOK
	if streamErr != nil && ctx.Err() != nil {
		status = statusClientClosed
	}
	s.record(ctx, st, &u, status, streamErr)
	if streamErr != nil || asm == nil {
		return nil, errAnswered
	}
	e, err := asm.Entry(u)
	if err != nil {
		s.log.Debug("streamed answer not cached", "request_id", st.id, "error", err)
		return nil, errAnswered
	}
	e.Provider, e.PublicModel, e.CreatedAt = st.provider, st.model, s.now()
	return e, nil
}

// relay writes the stream to the client (and to asm when set). It
// returns the error that ended the stream early, if any; an upstream
// failure is also sent to the client as an error event.
func (s *Server) relay(w *echo.Response, stream provider.Stream, c provider.Chunk, err error, includeUsage bool, asm *cache.Assembler) error {
	for err == nil {
		if asm != nil {
			if aerr := asm.Add(c.Data); aerr != nil {
				asm = nil // not cacheable; the client still gets every chunk
			}
		}
		if !c.UsageOnly || includeUsage {
			if werr := sse.WriteData(w, c.Data); werr != nil {
				return werr
			}
			w.Flush()
		}
		c, err = stream.Next()
	}
	if err == io.EOF {
		if werr := sse.WriteDone(w); werr != nil {
			return werr
		}
		w.Flush()
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	e := errorFor(err, "", false)
	_ = sse.WriteData(w, e.body())
	_ = sse.WriteDone(w)
	w.Flush()
	return err
}

// resolve finds the route of a model the principal may use. A model the
// key may not use is 403 even when it does not exist, so that keys cannot
// probe the gateway's model list.
func (s *Server) resolve(p *keyring.Principal, model string) (*router.Route, error) {
	if p != nil && !p.Allows(model) {
		return nil, errModelNotAllowed(model)
	}
	route, ok := s.router.Resolve(model)
	if !ok {
		return nil, errModelNotFound(model)
	}
	return route, nil
}

// setRouteHeaders names who answered.
func (s *Server) setRouteHeaders(c echo.Context, st *reqState) {
	h := c.Response().Header()
	if st.provider != "" {
		h[hdrProvider] = []string{st.provider}
	}
	if st.upstream != "" {
		h[hdrModel] = []string{st.upstream}
	}
}

// clientID returns the X-Request-ID the client sent, or "".
func clientID(st *reqState) string {
	if st.id == st.eventID {
		return ""
	}
	return st.id
}

// record hands the request's usage to the metering seam, once, with a
// context that outlives the client.
func (s *Server) record(ctx context.Context, st *reqState, u *provider.Usage, status int, err error) {
	ev := &metering.Event{
		RequestID:       st.eventID,
		ClientRequestID: clientID(st),
		KeyID:           st.keyID,
		CustomerID:      st.customerID,
		Endpoint:        st.endpoint,
		Model:           st.model,
		Provider:        st.provider,
		UpstreamModel:   st.upstream,
		Stream:          st.stream,
		CacheHit:        st.cacheHit,
		Status:          status,
		Err:             err,
		ClientCanceled:  status == statusClientClosed,
		Start:           st.start,
		Latency:         s.now().Sub(st.start),
	}
	if u != nil {
		ev.Usage = *u
		st.tokensIn, st.tokensOut, st.estimated = u.PromptTokens, u.CompletionTokens, u.Estimated
	}
	adm := st.adm
	if adm == nil {
		adm = &metering.Admission{}
	}
	s.meter.Done(context.WithoutCancel(ctx), adm, ev)
}

// readBody reads the request body within the size limit.
func (s *Server) readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	b, err := provider.ReadAll(r.Body, r.ContentLength, s.maxBody)
	if err != nil {
		if errors.Is(err, provider.ErrTooLarge) {
			return nil, errTooLarge(s.maxBody)
		}
		return nil, &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "invalid_request",
			Message: "Could not read the request body.", Err: err}
	}
	return b, nil
}
