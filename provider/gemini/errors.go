package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
)

// Google RPC detail types the classification reads.
const (
	typeErrorInfo    = "type.googleapis.com/google.rpc.ErrorInfo"
	typeRetryInfo    = "type.googleapis.com/google.rpc.RetryInfo"
	typeQuotaFailure = "type.googleapis.com/google.rpc.QuotaFailure"
)

// statusError turns an upstream answer with a non-200 status into a
// provider.Error, reading the Google RPC error body when there is one.
func (a *Adapter) statusError(status int, h http.Header, data []byte) *provider.Error {
	e := parseRPCError(data)
	if e == nil {
		e = &rpcError{}
	}
	return a.rpcErrorOf(status, h, e)
}

// parseRPCError reads {"error": {...}}, or the same wrapped in an array
// (what streamGenerateContent without alt=sse sends). It returns nil for
// anything else.
func parseRPCError(data []byte) *rpcError {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil
	}
	var env errorEnvelope
	if data[0] == '[' {
		var arr []errorEnvelope
		if json.Unmarshal(data, &arr) != nil || len(arr) == 0 {
			return nil
		}
		env = arr[0]
	} else if json.Unmarshal(data, &env) != nil {
		return nil
	}
	return env.Error
}

// rpcErrorOf classifies a Google RPC error received with an HTTP status
// (or, mid-stream, the status its code names). Authentication failures
// never carry the upstream's text, which may quote part of the key.
func (a *Adapter) rpcErrorOf(status int, h http.Header, e *rpcError) *provider.Error {
	kind := classify(status, e)
	pe := &provider.Error{Provider: a.name, Kind: kind, Status: status}
	msg := strings.TrimSpace(e.Message)
	switch kind {
	case provider.KindAuth:
		pe.Message = fmt.Sprintf("provider %q refused the gateway's credentials", a.name)
	case provider.KindInvalidRequest:
		pe.Type = "invalid_request_error"
		if msg == "" {
			msg = fmt.Sprintf("the request was rejected (status %d)", status)
		}
		pe.Message = a.name + ": " + msg
		if isContextLength(msg) {
			pe.Code = "context_length_exceeded"
		}
	case provider.KindRateLimited, provider.KindQuota:
		pe.RetryAfter = retryAfter(h, e)
		if msg == "" {
			msg = "rate limited"
		}
		pe.Message = a.name + ": " + msg
	default:
		if msg == "" {
			msg = fmt.Sprintf("failed (status %d)", status)
		}
		pe.Message = a.name + ": " + msg
	}
	return pe
}

// classify picks the kind of a Gemini error from its HTTP status, its
// RPC status and its details.
func classify(status int, e *rpcError) provider.Kind {
	for _, d := range e.Details {
		if d.Type == typeErrorInfo && strings.HasPrefix(d.Reason, "API_KEY_") {
			return provider.KindAuth
		}
	}
	switch e.Status {
	case "UNAUTHENTICATED", "PERMISSION_DENIED":
		return provider.KindAuth
	case "DEADLINE_EXCEEDED":
		return provider.KindTimeout
	case "RESOURCE_EXHAUSTED":
		if isQuotaExhausted(e) {
			return provider.KindQuota
		}
		return provider.KindRateLimited
	}
	if status == http.StatusTooManyRequests && isQuotaExhausted(e) {
		return provider.KindQuota
	}
	return provider.KindForStatus(status)
}

// isQuotaExhausted reports whether a RESOURCE_EXHAUSTED error is a daily
// quota rather than a per-minute rate limit: a QuotaFailure whose quota is
// counted per day. Such a quota comes back only the next day, so it is the
// gateway's account that is out of quota.
func isQuotaExhausted(e *rpcError) bool {
	for _, d := range e.Details {
		if d.Type != typeQuotaFailure {
			continue
		}
		for _, v := range d.Violations {
			id := v.QuotaID + " " + v.QuotaMetric
			if strings.Contains(id, "PerDay") || strings.Contains(id, "per_day") {
				return true
			}
		}
	}
	return false
}

// retryAfter is the upstream's retry hint: RetryInfo.retryDelay ("34s",
// "34.4s") in the body, else the Retry-After header.
func retryAfter(h http.Header, e *rpcError) time.Duration {
	for _, d := range e.Details {
		if d.Type != typeRetryInfo || d.RetryDelay == "" {
			continue
		}
		if dur, err := time.ParseDuration(d.RetryDelay); err == nil && dur > 0 {
			return dur
		}
	}
	if h == nil {
		return 0
	}
	return provider.ParseRetryAfter(h, time.Now())
}

// isContextLength reports whether a 400 message says the prompt is too
// long for the model.
func isContextLength(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "exceeds the maximum number of tokens") ||
		strings.Contains(m, "input token count") && strings.Contains(m, "exceeds")
}

// statusForRPC returns the HTTP status of an RPC error reported inside a
// stream: its code when that is an HTTP status, else one derived from its
// status name.
func statusForRPC(e *rpcError) int {
	if e.Code >= 400 && e.Code < 600 {
		return e.Code
	}
	switch e.Status {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return http.StatusBadRequest
	case "UNAUTHENTICATED":
		return http.StatusUnauthorized
	case "PERMISSION_DENIED":
		return http.StatusForbidden
	case "NOT_FOUND":
		return http.StatusNotFound
	case "RESOURCE_EXHAUSTED":
		return http.StatusTooManyRequests
	case "UNAVAILABLE":
		return http.StatusServiceUnavailable
	case "DEADLINE_EXCEEDED":
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// finishError is the error for a candidate that ended with a broken tool
// call (MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL,
// TOO_MANY_TOOL_CALLS): clients must not take the answer as complete.
func (a *Adapter) finishError(reason string) *provider.Error {
	what := map[string]string{
		"MALFORMED_FUNCTION_CALL": "a malformed function call",
		"UNEXPECTED_TOOL_CALL":    "a tool call although no tools were enabled",
		"TOO_MANY_TOOL_CALLS":     "too many consecutive tool calls",
	}[reason]
	return &provider.Error{Provider: a.name, Kind: provider.KindServer, Status: http.StatusBadGateway,
		Message: fmt.Sprintf("%s: the model produced %s (finish reason %s)", a.name, what, reason)}
}
