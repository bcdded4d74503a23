package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tollgate-gw/tollgate/provider"
)

// statusOverloaded is Anthropic's non-standard "overloaded" status.
const statusOverloaded = 529

// statusError turns an answer with a non-200 status into a
// provider.Error, reading Anthropic's error envelope when there is one
// (a 413 from the CDN in front of the API may not be JSON).
func (a *Adapter) statusError(resp *http.Response, data []byte) *provider.Error {
	var body struct {
		errorBody
		RequestID string `json:"request_id"`
	}
	if len(data) > 0 && json.Valid(data) {
		_ = json.Unmarshal(data, &body) // a foreign shape leaves the fields empty
	}
	requestID := resp.Header.Get("Request-Id")
	if requestID == "" {
		requestID = body.RequestID
	}
	pe := a.classify(resp.StatusCode, resp.Header, body.Error)
	if requestID != "" {
		pe.Err = errors.New("anthropic request-id " + requestID)
	}
	return pe
}

// streamError turns a stream's error event into a provider.Error with the
// status its type stands for.
func (a *Adapter) streamError(e *apiError) *provider.Error {
	return a.classify(statusForType(e.Type), nil, e)
}

// classify maps an Anthropic failure to a provider.Error: by the error
// type when there is one, else by the status. Authentication failures
// never carry the upstream's text; everything else keeps it, prefixed
// with the provider name.
func (a *Adapter) classify(status int, h http.Header, e *apiError) *provider.Error {
	var typ, msg string
	if e != nil {
		typ, msg = e.Type, e.Message
	}
	kind := kindForType(typ, status)
	if kind == provider.KindRateLimited && e != nil && e.Details != nil && e.Details.ErrorCode == "enforced_spend_limit_reached" {
		// A monthly spend cap: the gateway's account, not a passing limit.
		kind = provider.KindQuota
	}
	pe := &provider.Error{
		Provider:   a.name,
		Kind:       kind,
		Status:     status,
		RetryAfter: provider.ParseRetryAfter(h, a.now()),
	}
	switch {
	case kind == provider.KindAuth:
		pe.Message = fmt.Sprintf("provider %q refused the gateway's credentials", a.name)
	case msg != "":
		pe.Message = a.name + ": " + msg
	case kind == provider.KindInvalidRequest:
		pe.Message = fmt.Sprintf("provider %q rejected the request (status %d)", a.name, status)
	default:
		pe.Message = fmt.Sprintf("provider %q failed (status %d)", a.name, status)
	}
	if kind == provider.KindInvalidRequest {
		pe.Type = "invalid_request_error"
		switch {
		case typ == "request_too_large" || status == http.StatusRequestEntityTooLarge:
			pe.Code = "request_too_large"
		case contextTooLong(msg):
			pe.Code = "context_length_exceeded"
		}
	}
	return pe
}

// kindForType classifies Anthropic's error types (its errors page lists
// them with their statuses); an unknown type falls back to the status.
func kindForType(typ string, status int) provider.Kind {
	switch typ {
	case "authentication_error", "permission_error":
		return provider.KindAuth
	case "not_found_error":
		return provider.KindNotFound
	case "rate_limit_error":
		return provider.KindRateLimited
	case "billing_error":
		return provider.KindQuota
	case "overloaded_error", "api_error":
		return provider.KindServer
	case "timeout_error":
		return provider.KindTimeout
	case "invalid_request_error", "request_too_large":
		return provider.KindInvalidRequest
	}
	if status == statusOverloaded {
		return provider.KindServer
	}
	return provider.KindForStatus(status)
}

// statusForType is the HTTP status Anthropic uses for an error type; a
// stream error event carries only the type.
func statusForType(typ string) int {
	switch typ {
	case "invalid_request_error":
		return http.StatusBadRequest
	case "authentication_error":
		return http.StatusUnauthorized
	case "billing_error":
		return http.StatusPaymentRequired
	case "permission_error":
		return http.StatusForbidden
	case "not_found_error":
		return http.StatusNotFound
	case "request_too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limit_error":
		return http.StatusTooManyRequests
	case "timeout_error":
		return http.StatusGatewayTimeout
	case "overloaded_error":
		return statusOverloaded
	}
	return http.StatusInternalServerError
}

// contextTooLong recognises Anthropic's messages for a prompt over the
// model's context window ("prompt is too long: 201234 tokens > 200000
// maximum", "input length and `max_tokens` exceed context limit").
func contextTooLong(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "prompt is too long") || strings.Contains(m, "exceed context limit")
}

// transportError classifies a failure to talk to the upstream. A
// cancelled context is returned as is: the caller knows whether it was the
// client or its own deadline.
func (a *Adapter) transportError(ctx context.Context, op string, err error) error {
	return provider.TransportError(ctx, a.name, "anthropic", op, err)
}
