package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// statusClientClosed is logged (never sent) when the client went away.
const statusClientClosed = 499

// Error is a client-facing failure: an HTTP status and OpenAI's error
// envelope. Handlers return it (or any error, mapped by errorFor) and one
// place writes it.
type Error struct {
	Status  int
	Message string
	Type    string
	Code    string
	Param   string
	// RetryAfter, when positive, is sent as Retry-After in whole seconds.
	RetryAfter time.Duration
	// Err is the cause, for the log line only.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// envelope is OpenAI's error body; param and code are null when empty.
type envelope struct {
	Error envelopeBody `json:"error"`
}

type envelopeBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// body renders the envelope.
func (e *Error) body() []byte {
	b, err := json.Marshal(envelope{Error: envelopeBody{
		Message: e.Message, Type: e.Type, Param: nullable(e.Param), Code: nullable(e.Code),
	}})
	if err != nil { // cannot happen: only strings
		return []byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`)
	}
	return b
}

// invalid is a 400 invalid_request_error naming the offending parameter.
func invalid(param, code, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: code, Param: param,
		Message: fmt.Sprintf(format, args...)}
}

// Contract §3 error values for the gateway's own situations.
func errModelNotFound(model string) *Error {
	return &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
		Message: fmt.Sprintf("The model %q does not exist or you do not have access to it.", model)}
}

func errTooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
		Message: fmt.Sprintf("Request body is larger than the limit of %d bytes.", limit)}
}

func errInternal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Type: "server_error", Code: "internal_error",
		Message: "The gateway had an internal error while processing the request.", Err: err}
}

// errorFor maps any error from the request path to its client answer.
// direct says the client addressed "provider/model", so an upstream's
// unknown model is the client's unknown model, not the gateway's broken
// route.
func errorFor(err error, model string, direct bool) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	if pe, ok := provider.AsError(err); ok {
		return upstreamError(pe, model, direct)
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Status: statusClientClosed, Type: "invalid_request_error", Code: "client_closed",
			Message: "The client closed the request.", Err: err}
	}
	return errInternal(err)
}

// upstreamError maps a classified upstream failure (CONTRACT §3).
func upstreamError(pe *provider.Error, model string, direct bool) *Error {
	e := &Error{Status: http.StatusBadGateway, Type: "upstream_error", Code: "upstream_error", Message: pe.Message, Err: pe}
	switch pe.Kind {
	case provider.KindInvalidRequest:
		e.Status = pe.Status
		if e.Status < 400 || e.Status > 499 || e.Status == http.StatusUnprocessableEntity {
			e.Status = http.StatusBadRequest
		}
		e.Type = "invalid_request_error"
		e.Code = pe.Code
		if e.Code == "" {
			e.Code = "invalid_request"
		}
		if e.Status == http.StatusRequestEntityTooLarge {
			e.Code = "request_too_large"
		}
		e.Param = pe.Param
	case provider.KindAuth:
		e.Code = "upstream_auth_failed"
	case provider.KindNotFound:
		if direct {
			*e = *errModelNotFound(model)
			e.Err = pe
		}
	case provider.KindRateLimited:
		e.Status = http.StatusTooManyRequests
		e.Type = "rate_limit_error"
		e.Code = "upstream_rate_limited"
		e.RetryAfter = pe.RetryAfter
	case provider.KindTimeout:
		e.Status = http.StatusGatewayTimeout
		e.Code = "upstream_timeout"
	}
	return e
}

// retryAfterSeconds renders d as whole seconds, rounded up.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}
