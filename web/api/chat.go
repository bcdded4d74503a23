package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tollgate-gw/tollgate/metering"
	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/sse"
	"github.com/tollgate-gw/tollgate/router"
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
	if p.Stream {
		return s.chatStream(c, st, route, req)
	}
	resp, res, err := s.router.ChatCompletion(c.Request().Context(), route, req)
	if err != nil {
		return s.fail(c, st, route, res, err)
	}
	return s.answer(c, st, res, resp.Body, resp.Model, &resp.Usage)
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

// chatStream relays a streaming answer chunk by chunk, flushing each as it
// arrives. An upstream failure before the first chunk is an ordinary error
// response; after it, an error event followed by [DONE].
func (s *Server) chatStream(c echo.Context, st *reqState, route *router.Route, req *provider.ChatRequest) error {
	ctx := c.Request().Context()
	stream, res, err := s.router.ChatCompletionStream(ctx, route, req)
	if err != nil {
		return s.fail(c, st, route, res, err)
	}
	st.provider, st.upstream = res.Provider, res.Model
	defer stream.Close()
	first, err := stream.Next()
	if err != nil && err != io.EOF {
		e := errorFor(err, st.model, route.Direct)
		u := stream.Usage()
		s.record(ctx, st, &u, e.Status, err)
		return e
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

	streamErr := s.relay(w, stream, first, err, req.IncludeUsage)
	u := stream.Usage()
	if streamErr != nil && ctx.Err() != nil {
		st.err = streamErr
		s.record(ctx, st, &u, statusClientClosed, streamErr)
		return nil
	}
	st.err = streamErr
	s.record(ctx, st, &u, http.StatusOK, streamErr)
	return nil
}

// relay writes the stream to the client. It returns the error that ended
// the stream early, if any; an upstream failure is also sent to the client
// as an error event.
func (s *Server) relay(w *echo.Response, stream provider.Stream, c provider.Chunk, err error, includeUsage bool) error {
	for err == nil {
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

// record hands the request's usage to the metering seam, once, with a
// context that outlives the client.
func (s *Server) record(ctx context.Context, st *reqState, u *provider.Usage, status int, err error) {
	ev := &metering.Event{
		RequestID:      st.id,
		KeyID:          st.keyID,
		CustomerID:     st.customerID,
		Endpoint:       st.endpoint,
		Model:          st.model,
		Provider:       st.provider,
		UpstreamModel:  st.upstream,
		Stream:         st.stream,
		Status:         status,
		Err:            err,
		ClientCanceled: status == statusClientClosed,
		Start:          st.start,
		Latency:        s.now().Sub(st.start),
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
