// Package api is Tollgate's HTTP layer: the OpenAI-compatible client API
// (/v1), the health endpoints, and the one place that turns errors into
// OpenAI's error envelope. It is the only package besides the web UI that
// knows the HTTP framework (echo); the request flows from here to the
// router, the providers and the metering seam.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tollgate-gw/tollgate/metering"
	"github.com/tollgate-gw/tollgate/metering/limits"
	"github.com/tollgate-gw/tollgate/router"
	"github.com/tollgate-gw/tollgate/router/cache"
	"github.com/tollgate-gw/tollgate/store/keyring"
)

// DefaultMaxBodyBytes is the request body limit when Options leaves it
// unset (CONTRACT §2 limits.max_body_bytes).
const DefaultMaxBodyBytes = 10 << 20

// Options configure a Server. Router is required; everything else has a
// working zero value.
type Options struct {
	// Router resolves model names and dispatches requests.
	Router *router.Table
	// Meter admits requests against their key's limits and meters what
	// they used; nil admits everything and logs usage at debug level.
	Meter Meter
	// Logger receives the request log lines; nil means slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Ready reports whether the gateway's dependencies answer; nil means
	// always ready.
	Ready func(ctx context.Context) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Keys resolves client keys; nil serves /v1 without keys (tests and
	// embedding only: the gateway always sets it).
	Keys *keyring.Keyring
	// Admin enables the admin API; nil leaves /admin unserved.
	Admin *Admin
	// Cache answers identical chat requests from the response cache; nil
	// disables it (every answer says BYPASS).
	Cache *cache.Cache
	// CacheScope is who shares cached answers: "global", "customer" (the
	// default) or "key".
	CacheScope string
}

// Server serves the client API. Create it with New; it is safe for
// concurrent use.
type Server struct {
	echo    *echo.Echo
	router  *router.Table
	meter   Meter
	log     *slog.Logger
	maxBody int64
	ready   func(ctx context.Context) error
	now     func() time.Time
	started int64
	keys    *keyring.Keyring
	// cache and cacheScope are Options.Cache and Options.CacheScope.
	cache      *cache.Cache
	cacheScope string

	idPrefix string
	idSeq    atomic.Uint64
}

// New builds the server and its routes.
func New(o Options) (*Server, error) {
	if o.Router == nil {
		return nil, errors.New("api: a router is required")
	}
	s := &Server{
		router:     o.Router,
		meter:      o.Meter,
		log:        o.Logger,
		maxBody:    o.MaxBodyBytes,
		ready:      o.Ready,
		now:        o.Now,
		keys:       o.Keys,
		cache:      o.Cache,
		cacheScope: o.CacheScope,
	}
	if s.meter == nil {
		s.meter = &metering.Meter{Logger: s.log}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.started = s.now().Unix()
	var seed [6]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("api: request id seed: %w", err)
	}
	s.idPrefix = "req_" + hex.EncodeToString(seed[:])

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.HTTPErrorHandler = s.routeError
	e.POST("/v1/chat/completions", s.wrap(s.chatCompletions))
	e.POST("/v1/embeddings", s.wrap(s.embeddings))
	e.GET("/v1/models", s.wrap(s.listModels))
	e.GET("/v1/models/*", s.wrap(s.getModel))
	if o.Admin != nil {
		if o.Admin.Store == nil || o.Admin.Keyring == nil {
			return nil, errors.New("api: the admin API needs a store and a keyring")
		}
		s.registerAdmin(e, o.Admin)
	}
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	s.echo = e
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// reqState is what one request's log line and usage event are made of.
type reqState struct {
	// id is the request id answered in x-request-id and logged: the
	// client's X-Request-ID when it sent a sane one, else eventID.
	id string
	// eventID is the gateway's own id of the request, unique: the usage
	// ledger's idempotency key, which a client's id cannot be (a client
	// may send the same one twice, and must be billed twice).
	eventID   string
	start     time.Time
	endpoint  string
	model     string
	provider  string
	upstream  string
	stream    bool
	cache     string
	tokensIn  int
	tokensOut int
	estimated bool
	err       error
	// keyID and customerID identify the client once authenticated.
	keyID      string
	customerID string
	// adm is the request's admission, settled when it is metered.
	adm *metering.Admission
	// cacheHit marks an answer served from the response cache.
	cacheHit bool
}

// Meter admits and meters requests; metering.Meter implements it.
type Meter interface {
	Admit(ctx context.Context, p *keyring.Principal, model string, body []byte) (*metering.Admission, limits.Decision, error)
	Done(ctx context.Context, adm *metering.Admission, ev *metering.Event)
}

// handlerFunc is a client API handler: it writes the success answer and
// returns any failure, which wrap writes as an envelope.
type handlerFunc func(c echo.Context, st *reqState) error

// wrap gives a handler its request id, recovers its panics, writes its
// error, and logs one line for the request.
func (s *Server) wrap(fn handlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		st := &reqState{start: s.now(), cache: cacheBypass}
		st.id, st.eventID = s.requestIDs(c.Request())
		h := c.Response().Header()
		h["X-Request-Id"] = []string{st.id}
		h[hdrCache] = []string{cacheBypass} // handlers that consult the cache overwrite it
		err := s.invoke(fn, c, st)
		if err != nil {
			st.err = err
			s.writeError(c, errorFor(err, st.model, false))
		}
		s.logRequest(c, st)
		return nil
	}
}

// invoke runs h, turning a panic into an error.
func (s *Server) invoke(h handlerFunc, c echo.Context, st *reqState) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic in handler", "request_id", st.id, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = errInternal(fmt.Errorf("panic: %v", r))
		}
	}()
	return h(c, st)
}

// writeError writes the envelope unless the answer has already started;
// a client that went away gets nothing.
func (s *Server) writeError(c echo.Context, e *Error) {
	resp := c.Response()
	if resp.Committed || e.Status == statusClientClosed {
		if !resp.Committed {
			resp.Status = e.Status
		}
		return
	}
	if e.RetryAfter > 0 {
		resp.Header().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	_ = c.JSONBlob(e.Status, e.body())
}

// routeError answers requests echo could not route (unknown path, wrong
// method) in OpenAI's envelope.
func (s *Server) routeError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	st := &reqState{start: s.now(), id: s.requestID(c.Request()), err: err}
	c.Response().Header()["X-Request-Id"] = []string{st.id}
	if strings.HasPrefix(c.Request().URL.Path, "/v1/") {
		c.Response().Header()[hdrCache] = []string{cacheBypass}
	}
	var he *echo.HTTPError
	e := errInternal(err)
	if errors.As(err, &he) {
		r := c.Request()
		e = &Error{Status: he.Code, Type: "invalid_request_error", Code: "unknown_url",
			Message: fmt.Sprintf("Unknown request URL: %s %s.", r.Method, r.URL.Path)}
		if he.Code == http.StatusMethodNotAllowed {
			e.Code = "method_not_allowed"
			e.Message = fmt.Sprintf("Method %s is not allowed for %s.", r.Method, r.URL.Path)
		}
	}
	s.writeError(c, e)
	s.logRequest(c, st)
}

// requestID keeps the client's X-Request-ID when it is sane (1 to 128
// characters of letters, digits and -_.:) and makes one otherwise.
func (s *Server) requestID(r *http.Request) string {
	id, _ := s.requestIDs(r)
	return id
}

// requestIDs returns the request's id (as requestID) and the gateway's own
// id for it, which are the same unless the client sent its own.
func (s *Server) requestIDs(r *http.Request) (id, own string) {
	own = s.idPrefix + strconv.FormatUint(s.idSeq.Add(1), 36)
	if v := r.Header.Get("X-Request-Id"); saneID(v) {
		return v, own
	}
	return own, own
}

func saneID(v string) bool {
	if v == "" || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// logRequest writes the request's one log line.
func (s *Server) logRequest(c echo.Context, st *reqState) {
	ctx := c.Request().Context()
	status := c.Response().Status
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.String("request_id", st.id),
		slog.String("method", c.Request().Method),
		slog.String("path", c.Request().URL.Path),
		slog.Int("status", status),
		slog.Float64("latency_ms", float64(s.now().Sub(st.start).Microseconds())/1000),
	)
	if st.eventID != "" && st.eventID != st.id {
		// The client named the request; the ledger knows it by this id.
		attrs = append(attrs, slog.String("event_id", st.eventID))
	}
	if st.model != "" {
		attrs = append(attrs, slog.String("model", st.model))
	}
	if st.provider != "" {
		attrs = append(attrs,
			slog.String("provider", st.provider),
			slog.String("upstream_model", st.upstream),
			slog.Bool("stream", st.stream),
			slog.Int("prompt_tokens", st.tokensIn),
			slog.Int("completion_tokens", st.tokensOut),
			slog.Bool("tokens_estimated", st.estimated),
		)
	}
	if st.cache != "" {
		attrs = append(attrs, slog.String("cache", st.cache))
	}
	if st.keyID != "" {
		attrs = append(attrs, slog.String("key_id", st.keyID), slog.String("customer_id", st.customerID))
	}
	if st.err != nil {
		attrs = append(attrs, slog.String("error", st.err.Error()))
	}
	s.log.LogAttrs(ctx, level, "request", attrs...)
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, []byte(`{"status":"ok"}`))
}

func (s *Server) readyz(c echo.Context) error {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log.Warn("not ready", "error", err)
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		}
	}
	return c.JSONBlob(http.StatusOK, []byte(`{"status":"ok"}`))
}
