package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tollgate-gw/tollgate/router"
)

// providerHealthJSON is one row of GET /admin/providers: one upstream
// target (a provider and an upstream model) with its circuit breaker state
// and its recent record. Providers that no public model targets and that
// no request addressed directly have no row.
type providerHealthJSON struct {
	Provider     string     `json:"provider"`
	Type         string     `json:"type,omitempty"`
	Model        string     `json:"model"`
	PublicModels []string   `json:"public_models"`
	State        string     `json:"state"`
	Requests     int        `json:"requests"`
	Errors       int        `json:"errors"`
	ErrorRate    float64    `json:"error_rate"`
	LatencyMS    float64    `json:"latency_ms"`
	LastError    *string    `json:"last_error"`
	LastErrorAt  *time.Time `json:"last_error_at"`
}

// providerHealthOut converts the router's health report to rows.
func providerHealthOut(hs []router.TargetHealth) []providerHealthJSON {
	out := make([]providerHealthJSON, len(hs))
	for i, h := range hs {
		row := providerHealthJSON{
			Provider: h.Provider, Type: h.Type, Model: h.Model, PublicModels: h.PublicModels,
			State: string(h.State), Requests: h.Requests, Errors: h.Errors, ErrorRate: h.ErrorRate,
			LatencyMS: float64(h.Latency.Microseconds()) / 1000,
		}
		if row.PublicModels == nil {
			row.PublicModels = []string{}
		}
		if h.LastError != "" {
			msg, at := h.LastError, h.LastErrorAt.UTC()
			row.LastError, row.LastErrorAt = &msg, &at
		}
		out[i] = row
	}
	return out
}

// providers answers GET /admin/providers: each target's breaker state,
// error rate over the router's rolling window and latency (an EWMA of
// successful calls).
func (h *adminHandlers) providers(c echo.Context, _ *reqState) error {
	return c.JSON(http.StatusOK, listOf(providerHealthOut(h.s.router.Health())))
}
