package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/keyring"
)

// bearer returns the API key of a request: "Authorization: Bearer <key>",
// else "api-key: <key>" (Azure's SDKs), else "x-api-key: <key>"
// (Anthropic's) — CONTRACT §3.
func bearer(r *http.Request) string {
	if v := r.Header.Get("Authorization"); v != "" {
		if scheme, key, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(key)
		}
		return ""
	}
	if v := r.Header.Get("Api-Key"); v != "" {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}

// errInvalidKey is CONTRACT §3's answer for a missing, unknown, revoked or
// expired key.
func errInvalidKey(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key", Message: msg}
}

// errModelNotAllowed is CONTRACT §3's answer for a model the key may not
// use.
func errModelNotAllowed(model string) *Error {
	return &Error{Status: http.StatusForbidden, Type: "permission_error", Code: "model_not_allowed", Param: "model",
		Message: "This API key is not allowed to use the model " + quote(model) + "."}
}

func quote(s string) string { return `"` + s + `"` }

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// authenticate resolves the request's key when keys are enforced. The
// key's text never reaches a log or an error message, only its id.
func (s *Server) authenticate(c echo.Context, st *reqState) (*keyring.Principal, error) {
	if s.keys == nil {
		return nil, nil
	}
	key := bearer(c.Request())
	if key == "" {
		return nil, errInvalidKey("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.")
	}
	p, err := s.keys.Lookup(key)
	switch {
	case errors.Is(err, keyring.ErrRevoked):
		return nil, errInvalidKey("This API key has been revoked.")
	case errors.Is(err, keyring.ErrExpired):
		return nil, errInvalidKey("This API key has expired.")
	case err != nil:
		return nil, errInvalidKey("Incorrect API key provided.")
	}
	st.keyID, st.customerID = p.KeyID, p.CustomerID
	return p, nil
}
