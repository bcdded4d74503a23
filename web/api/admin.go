package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tollgate-gw/tollgate/metering/pricing"
	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/keyring"
)

// Admin configures the admin API (CONTRACT §4). Without it the /admin
// routes are not served.
type Admin struct {
	// Store holds tiers, customers, keys and usage.
	Store store.Store
	// Keyring learns about keys created or revoked here at once, and about
	// tier and customer changes at its next reload.
	Keyring *keyring.Keyring
	// KeyHash is the SHA-256 of the admin key.
	KeyHash [32]byte
	// NewID makes ids for customers and keys; nil means random ids.
	NewID func(prefix string) string
}

// nameRE is what tier names may look like.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// registerAdmin adds the /admin routes.
func (s *Server) registerAdmin(e *echo.Echo, a *Admin) {
	g := e.Group("/admin", s.adminAuth(a.KeyHash))
	h := &adminHandlers{s: s, a: a}
	g.POST("/tiers", s.wrap(h.createTier))
	g.GET("/tiers", s.wrap(h.listTiers))
	g.GET("/tiers/:name", s.wrap(h.getTier))
	g.PATCH("/tiers/:name", s.wrap(h.patchTier))
	g.DELETE("/tiers/:name", s.wrap(h.deleteTier))
	g.POST("/customers", s.wrap(h.createCustomer))
	g.GET("/customers", s.wrap(h.listCustomers))
	g.GET("/customers/:id", s.wrap(h.getCustomer))
	g.PATCH("/customers/:id", s.wrap(h.patchCustomer))
	g.DELETE("/customers/:id", s.wrap(h.deleteCustomer))
	g.POST("/keys", s.wrap(h.createKey))
	g.GET("/keys", s.wrap(h.listKeys))
	g.GET("/keys/:id", s.wrap(h.getKey))
	g.DELETE("/keys/:id", s.wrap(h.revokeKey))
	g.GET("/usage", s.wrap(h.usage))
	g.POST("/cache/purge", s.wrap(h.purgeCache))
	g.GET("/usage/export", s.wrap(h.usageExport))
	g.GET("/providers", s.wrap(h.providers))
}

// adminAuth checks the admin bearer key in constant time.
func (s *Server) adminAuth(hash [32]byte) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key := bearer(c.Request())
			got := sha256.Sum256([]byte(key))
			if key == "" || subtle.ConstantTimeCompare(got[:], hash[:]) != 1 {
				st := &reqState{start: s.now(), id: s.requestID(c.Request()), err: errors.New("bad admin key")}
				c.Response().Header()["X-Request-Id"] = []string{st.id}
				s.writeError(c, errInvalidKey("Incorrect admin key provided."))
				s.logRequest(c, st)
				return nil
			}
			return next(c)
		}
	}
}

// adminHandlers serve the admin API.
type adminHandlers struct {
	s *Server
	a *Admin
}

// storeError maps store errors to answers.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "not_found", Message: what + " not found.", Err: err}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict",
			Message: what + " conflicts with an existing one or is still in use.", Err: err}
	}
	return errInternal(err)
}

// decodeJSON reads a JSON object body strictly: unknown fields are errors
// naming the field.
func (s *Server) decodeJSON(c echo.Context, v any) error {
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	if _, perr := parseObject(body); perr != nil {
		return perr
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return invalid(te.Field, "invalid_type", "Invalid type for '%s': expected %s.", te.Field, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return invalid(f, "unknown_parameter", "Unrecognized request argument supplied: %s.", f)
		}
		return invalid("", "invalid_json", "Could not decode the JSON body: %v.", err)
	}
	return nil
}

// tierJSON is a tier on the wire.
type tierJSON struct {
	Name             string      `json:"name"`
	RPM              int64       `json:"rpm"`
	RPD              int64       `json:"rpd"`
	TPM              int64       `json:"tpm"`
	TPD              int64       `json:"tpd"`
	MonthlyBudgetUSD json.Number `json:"monthly_budget_usd"`
	Models           []string    `json:"models"`
	CreatedAt        time.Time   `json:"created_at"`
	UpdatedAt        time.Time   `json:"updated_at"`
}

func tierOut(t *store.Tier) tierJSON {
	models := t.Models
	if models == nil {
		models = []string{}
	}
	return tierJSON{Name: t.Name, RPM: t.RPM, RPD: t.RPD, TPM: t.TPM, TPD: t.TPD,
		MonthlyBudgetUSD: json.Number(pricing.FormatUSD(t.MonthlyBudgetMicros * pricing.PicosPerMicro)),
		Models:           models, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// tierInput is a tier in a create or patch body; absent fields are nil.
type tierInput struct {
	Name             *string      `json:"name"`
	RPM              *int64       `json:"rpm"`
	RPD              *int64       `json:"rpd"`
	TPM              *int64       `json:"tpm"`
	TPD              *int64       `json:"tpd"`
	MonthlyBudgetUSD *json.Number `json:"monthly_budget_usd"`
	Models           *[]string    `json:"models"`
}

// apply validates in and copies its present fields onto t.
func (in *tierInput) apply(t *store.Tier) error {
	for _, f := range []struct {
		name string
		src  *int64
		dst  *int64
	}{{"rpm", in.RPM, &t.RPM}, {"rpd", in.RPD, &t.RPD}, {"tpm", in.TPM, &t.TPM}, {"tpd", in.TPD, &t.TPD}} {
		if f.src == nil {
			continue
		}
		if *f.src < 0 {
			return invalid(f.name, "invalid_value", "'%s' must be 0 (unlimited) or more.", f.name)
		}
		*f.dst = *f.src
	}
	if in.MonthlyBudgetUSD != nil {
		micros, err := pricing.ParseMicros(in.MonthlyBudgetUSD.String())
		if err != nil {
			return invalid("monthly_budget_usd", "invalid_value", "Invalid 'monthly_budget_usd': %v.", err)
		}
		t.MonthlyBudgetMicros = micros
	}
	if in.Models != nil {
		t.Models = append([]string{}, *in.Models...)
	}
	return nil
}

func (h *adminHandlers) createTier(c echo.Context, _ *reqState) error {
	var in tierInput
	if err := h.s.decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Name == nil || !nameRE.MatchString(*in.Name) {
		return invalid("name", "invalid_value", "'name' is required: 1 to 64 lowercase letters, digits, '.', '_' or '-'.")
	}
	t := &store.Tier{Name: *in.Name}
	if err := in.apply(t); err != nil {
		return err
	}
	if err := h.a.Store.CreateTier(c.Request().Context(), t); err != nil {
		return storeError(err, fmt.Sprintf("Tier %q", t.Name))
	}
	h.a.Keyring.Invalidate()
	return c.JSON(http.StatusCreated, tierOut(t))
}

func (h *adminHandlers) listTiers(c echo.Context, _ *reqState) error {
	tiers, err := h.a.Store.ListTiers(c.Request().Context())
	if err != nil {
		return errInternal(err)
	}
	out := make([]tierJSON, len(tiers))
	for i := range tiers {
		out[i] = tierOut(&tiers[i])
	}
	return c.JSON(http.StatusOK, listOf(out))
}

func (h *adminHandlers) getTier(c echo.Context, _ *reqState) error {
	t, err := h.a.Store.GetTier(c.Request().Context(), c.Param("name"))
	if err != nil {
		return storeError(err, fmt.Sprintf("Tier %q", c.Param("name")))
	}
	return c.JSON(http.StatusOK, tierOut(t))
}

func (h *adminHandlers) patchTier(c echo.Context, _ *reqState) error {
	ctx := c.Request().Context()
	t, err := h.a.Store.GetTier(ctx, c.Param("name"))
	if err != nil {
		return storeError(err, fmt.Sprintf("Tier %q", c.Param("name")))
	}
	var in tierInput
	if err := h.s.decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Name != nil && *in.Name != t.Name {
		return invalid("name", "invalid_value", "A tier cannot be renamed.")
	}
	if err := in.apply(t); err != nil {
		return err
	}
	if err := h.a.Store.UpdateTier(ctx, t); err != nil {
		return storeError(err, fmt.Sprintf("Tier %q", t.Name))
	}
	h.a.Keyring.Invalidate()
	return c.JSON(http.StatusOK, tierOut(t))
}

func (h *adminHandlers) deleteTier(c echo.Context, _ *reqState) error {
	name := c.Param("name")
	if err := h.a.Store.DeleteTier(c.Request().Context(), name); err != nil {
		return storeError(err, fmt.Sprintf("Tier %q", name))
	}
	h.a.Keyring.Invalidate()
	return c.JSON(http.StatusOK, map[string]any{"name": name, "deleted": true})
}

// listOf wraps a list as CONTRACT §4 wants it.
func listOf[T any](items []T) map[string][]T {
	if items == nil {
		items = []T{}
	}
	return map[string][]T{"data": items}
}

// purgeCache serves POST /admin/cache/purge {model?}: the cached answers
// of one public model, or all of them, are dropped.
func (h *adminHandlers) purgeCache(c echo.Context, _ *reqState) error {
	var in struct {
		Model string `json:"model"`
	}
	if c.Request().ContentLength != 0 {
		if err := h.s.decodeJSON(c, &in); err != nil {
			return err
		}
	}
	n := 0
	if h.s.cache != nil {
		var err error
		if n, err = h.s.cache.Store.Purge(c.Request().Context(), in.Model); err != nil {
			return errInternal(err)
		}
	}
	return c.JSON(http.StatusOK, map[string]int{"purged": n})
}
