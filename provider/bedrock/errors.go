package bedrock

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tollgate-gw/tollgate/provider"
)

// errorKinds classifies AWS error types (as in x-amzn-ErrorType). Types
// not listed are classified by status.
var errorKinds = map[string]provider.Kind{
	"ValidationException":                 provider.KindInvalidRequest,
	"AccessDeniedException":               provider.KindAuth,
	"UnrecognizedClientException":         provider.KindAuth,
	"InvalidSignatureException":           provider.KindAuth,
	"SignatureDoesNotMatch":               provider.KindAuth,
	"IncompleteSignature":                 provider.KindAuth,
	"IncompleteSignatureException":        provider.KindAuth,
	"InvalidClientTokenId":                provider.KindAuth,
	"MissingAuthenticationToken":          provider.KindAuth,
	"MissingAuthenticationTokenException": provider.KindAuth,
	"ExpiredToken":                        provider.KindAuth,
	"ExpiredTokenException":               provider.KindAuth,
	"RequestExpired":                      provider.KindAuth,
	"NotAuthorized":                       provider.KindAuth,
	"ResourceNotFoundException":           provider.KindNotFound,
	"ThrottlingException":                 provider.KindRateLimited,
	"TooManyRequestsException":            provider.KindRateLimited,
	"ServiceQuotaExceededException":       provider.KindQuota,
	"ModelTimeoutException":               provider.KindTimeout,
	"ModelNotReadyException":              provider.KindServer,
	"ModelErrorException":                 provider.KindServer,
	"ModelStreamErrorException":           provider.KindServer,
	"ServiceUnavailableException":         provider.KindServer,
	"InternalServerException":             provider.KindServer,
	"InternalFailure":                     provider.KindServer,
}

// streamExceptionStatus is the HTTP status each ConverseStream exception
// stands for (API reference, ConverseStreamOutput).
var streamExceptionStatus = map[string]int{
	"ValidationException":         http.StatusBadRequest,
	"ThrottlingException":         http.StatusTooManyRequests,
	"ModelStreamErrorException":   http.StatusFailedDependency,
	"InternalServerException":     http.StatusInternalServerError,
	"ServiceUnavailableException": http.StatusServiceUnavailable,
}

// statusError turns an upstream answer with a non-200 status into a
// provider.Error.
func (a *Adapter) statusError(status int, h http.Header, data []byte) *provider.Error {
	var body errorBody
	if len(data) > 0 {
		_ = json.Unmarshal(data, &body) // a body that is not JSON leaves the fields empty
	}
	typ := errorType(h.Get("X-Amzn-Errortype"))
	if typ == "" {
		typ = errorType(body.Type)
	}
	if typ == "" {
		typ = errorType(body.Code)
	}
	msg := body.Message
	if msg == "" {
		msg = body.MessageUpper
	}
	pe := a.classify(status, typ, msg)
	pe.RetryAfter = provider.ParseRetryAfter(h, a.now())
	return pe
}

// errorType normalises an AWS error type: the header may carry a
// ":namespace" suffix and __type a "namespace#" prefix.
func errorType(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// classify builds the provider.Error for an AWS error type and message.
// Authentication failures never carry the upstream text, which may quote
// part of the gateway's credential.
func (a *Adapter) classify(status int, typ, msg string) *provider.Error {
	kind, ok := errorKinds[typ]
	if !ok {
		kind = provider.KindForStatus(status)
	}
	lower := strings.ToLower(msg)
	if kind == provider.KindRateLimited && strings.Contains(lower, "per day") {
		// Bedrock reports an exhausted daily token quota as throttling.
		kind = provider.KindQuota
	}
	pe := &provider.Error{Provider: a.name, Kind: kind, Status: status}
	detail := fmt.Sprintf("status %d", status)
	if typ != "" {
		detail += ", " + typ
	}
	switch kind {
	case provider.KindAuth:
		pe.Message = fmt.Sprintf("provider %q refused the gateway's credentials (%s)", a.name, detail)
	case provider.KindInvalidRequest:
		pe.Type = "invalid_request_error"
		pe.Message = msg
		if pe.Message == "" {
			pe.Message = fmt.Sprintf("provider %q rejected the request (%s)", a.name, detail)
		}
		if contextTooLong(lower) {
			pe.Code = "context_length_exceeded"
		}
	default:
		pe.Message = fmt.Sprintf("provider %q failed (%s)", a.name, detail)
		if msg != "" {
			pe.Message += ": " + msg
		}
	}
	return pe
}

// contextTooLong recognises Bedrock's messages for a prompt over the
// model's context window.
func contextTooLong(lowerMsg string) bool {
	for _, s := range [...]string{"input is too long", "too many input tokens", "context window", "context length", "prompt is too long"} {
		if strings.Contains(lowerMsg, s) {
			return true
		}
	}
	return false
}

// streamException turns an exception frame of ConverseStream into a
// provider.Error. typ is the :exception-type header (lowerCamelCase, as
// the union member: throttlingException); payload is its JSON body.
func (a *Adapter) streamException(typ string, payload []byte) *provider.Error {
	var body errorBody
	_ = json.Unmarshal(payload, &body) // a payload that is not JSON leaves the fields empty
	msg := body.Message
	if msg == "" {
		msg = body.MessageUpper
	}
	if typ != "" {
		typ = strings.ToUpper(typ[:1]) + typ[1:]
	}
	status, ok := streamExceptionStatus[typ]
	if !ok {
		status = http.StatusInternalServerError
		if k, known := errorKinds[typ]; known && k == provider.KindAuth {
			status = http.StatusForbidden
		}
	}
	return a.classify(status, typ, msg)
}
