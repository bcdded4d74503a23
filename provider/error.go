package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Kind classifies an upstream failure by what the client should be told and
// whether another attempt may succeed.
type Kind int

// The kinds of upstream failure, each with its client-facing answer
// (CONTRACT §3).
const (
	// KindServer is an upstream 5xx, overload or unusable answer: 502.
	KindServer Kind = iota
	// KindInvalidRequest is an upstream 4xx caused by the client's request
	// (bad parameter, context too long): passed back with its status.
	KindInvalidRequest
	// KindAuth means the upstream refused the gateway's own credentials:
	// 502 upstream_auth_failed, never 401.
	KindAuth
	// KindNotFound means the upstream does not know the model or deployment.
	KindNotFound
	// KindRateLimited is an upstream 429 rate limit: 429
	// upstream_rate_limited with the upstream's Retry-After.
	KindRateLimited
	// KindQuota means the gateway's own upstream account is out of credit
	// or quota: 502.
	KindQuota
	// KindTimeout means the upstream did not answer in time: 504.
	KindTimeout
	// KindConnection means the upstream could not be reached: 502.
	KindConnection
)

var kindNames = [...]string{"server", "invalid_request", "auth", "not_found", "rate_limited", "quota", "timeout", "connection"}

// String names the kind for logs and metrics.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Error is an upstream failure, classified. Message is safe to show to the
// client: adapters never copy credentials or upstream text that could echo
// them (authentication failures) into it.
type Error struct {
	// Provider is the configured provider name.
	Provider string
	// Kind classifies the failure.
	Kind Kind
	// Status is the upstream HTTP status, or 0 when there was no answer.
	Status int
	// Message describes the failure for the client.
	Message string
	// Type, Code and Param are the upstream's own error fields, mapped to
	// OpenAI's vocabulary where the upstream is not OpenAI. They are shown
	// to the client only for KindInvalidRequest.
	Type  string
	Code  string
	Param string
	// RetryAfter is the upstream's Retry-After, zero when absent.
	RetryAfter time.Duration
	// Err is the underlying cause, if any (for logs and errors.Is).
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	s := e.Provider + ": " + e.Kind.String()
	if e.Status != 0 {
		s += " (status " + strconv.Itoa(e.Status) + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same request may succeed on another attempt
// or another target: rate limits, server errors, timeouts and connection
// failures are; the client's own mistakes are not. Authentication, quota and
// not-found failures are worth a different target but not the same one.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindRateLimited, KindServer, KindTimeout, KindConnection:
		return true
	}
	return false
}

// AsError returns err as *Error if it is one.
func AsError(err error) (*Error, bool) {
	var pe *Error
	ok := errors.As(err, &pe)
	return pe, ok
}

// KindForStatus classifies an upstream HTTP status with no further detail.
// Adapters refine the result with what the error body says (an OpenAI 429
// with code insufficient_quota is KindQuota, a Gemini 400 API_KEY_INVALID is
// KindAuth).
func KindForStatus(status int) Kind {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return KindAuth
	case status == http.StatusNotFound:
		return KindNotFound
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status == http.StatusPaymentRequired:
		return KindQuota
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return KindTimeout
	case status >= 400 && status < 500:
		return KindInvalidRequest
	default:
		return KindServer
	}
}

// ParseRetryAfter reads Retry-After (seconds or an HTTP date) and the
// non-standard retry-after-ms from an upstream answer. It returns zero when
// neither is present or usable.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if ms := h.Get("Retry-After-Ms"); ms != "" {
		if f, err := strconv.ParseFloat(ms, 64); err == nil && f > 0 {
			return time.Duration(f * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Errorf builds an *Error of the given kind with a formatted message.
func Errorf(providerName string, kind Kind, format string, args ...any) *Error {
	return &Error{Provider: providerName, Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// TransportError classifies a failure to talk to an upstream, for
// adapters: a cancelled context is returned wrapped with its cause (the
// router knows whether its own deadline or the client's departure caused
// it); a network timeout is KindTimeout; anything else is KindConnection.
// pkg prefixes the wrapped message ("gemini: send request: …").
func TransportError(ctx context.Context, providerName, pkg, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %s: %w", pkg, op, context.Cause(ctx))
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Provider: providerName, Kind: KindTimeout,
			Message: fmt.Sprintf("provider %q timed out", providerName), Err: err}
	}
	return &Error{Provider: providerName, Kind: KindConnection,
		Message: fmt.Sprintf("could not reach provider %q", providerName), Err: err}
}
