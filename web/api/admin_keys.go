package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tollgate-gw/tollgate/provider/openaiwire"
	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/keyring"
)

// customerJSON is a customer on the wire.
type customerJSON struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Tier       string    `json:"tier"`
	ExternalID string    `json:"external_id"`
	CreatedAt  time.Time `json:"created_at"`
}

func customerOut(c *store.Customer) customerJSON {
	return customerJSON{ID: c.ID, Name: c.Name, Tier: c.Tier, ExternalID: c.ExternalID, CreatedAt: c.CreatedAt}
}

// customerInput is a customer in a create or patch body.
type customerInput struct {
	Name       *string `json:"name"`
	Tier       *string `json:"tier"`
	ExternalID *string `json:"external_id"`
}

func (h *adminHandlers) newID(prefix string) string {
	if h.a.NewID != nil {
		return h.a.NewID(prefix)
	}
	return openaiwire.NewID(prefix)
}

// checkTier answers 400 naming param when the tier does not exist.
func (h *adminHandlers) checkTier(c echo.Context, param, name string) error {
	if _, err := h.a.Store.GetTier(c.Request().Context(), name); err != nil {
		if isNotFound(err) {
			return invalid(param, "invalid_value", "Tier %q does not exist.", name)
		}
		return errInternal(err)
	}
	return nil
}

func (h *adminHandlers) createCustomer(c echo.Context, _ *reqState) error {
	var in customerInput
	if err := h.s.decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Name == nil || *in.Name == "" {
		return invalid("name", "missing_required_parameter", "Missing required parameter: 'name'.")
	}
	if in.Tier == nil || *in.Tier == "" {
		return invalid("tier", "missing_required_parameter", "Missing required parameter: 'tier'.")
	}
	if err := h.checkTier(c, "tier", *in.Tier); err != nil {
		return err
	}
	cu := &store.Customer{ID: h.newID("cus_"), Name: *in.Name, Tier: *in.Tier}
	if in.ExternalID != nil {
		cu.ExternalID = *in.ExternalID
	}
	if err := h.a.Store.CreateCustomer(c.Request().Context(), cu); err != nil {
		return storeError(err, "Customer")
	}
	h.a.Keyring.Invalidate()
	return c.JSON(http.StatusCreated, customerOut(cu))
}

func (h *adminHandlers) listCustomers(c echo.Context, _ *reqState) error {
	list, err := h.a.Store.ListCustomers(c.Request().Context())
	if err != nil {
		return errInternal(err)
	}
	out := make([]customerJSON, len(list))
	for i := range list {
		out[i] = customerOut(&list[i])
	}
	return c.JSON(http.StatusOK, listOf(out))
}

func (h *adminHandlers) getCustomer(c echo.Context, _ *reqState) error {
	cu, err := h.a.Store.GetCustomer(c.Request().Context(), c.Param("id"))
	if err != nil {
		return storeError(err, "Customer")
	}
	return c.JSON(http.StatusOK, customerOut(cu))
}

func (h *adminHandlers) patchCustomer(c echo.Context, _ *reqState) error {
	ctx := c.Request().Context()
	cu, err := h.a.Store.GetCustomer(ctx, c.Param("id"))
	if err != nil {
		return storeError(err, "Customer")
	}
	var in customerInput
	if err := h.s.decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Name != nil {
		if *in.Name == "" {
			return invalid("name", "invalid_value", "'name' must not be empty.")
		}
		cu.Name = *in.Name
	}
	if in.Tier != nil {
		if err := h.checkTier(c, "tier", *in.Tier); err != nil {
			return err
		}
		cu.Tier = *in.Tier
	}
	if in.ExternalID != nil {
		cu.ExternalID = *in.ExternalID
	}
	if err := h.a.Store.UpdateCustomer(ctx, cu); err != nil {
		return storeError(err, "Customer")
	}
	h.a.Keyring.Invalidate()
	return c.JSON(http.StatusOK, customerOut(cu))
}

func (h *adminHandlers) deleteCustomer(c echo.Context, _ *reqState) error {
	id := c.Param("id")
	if err := h.a.Store.DeleteCustomer(c.Request().Context(), id); err != nil {
		return storeError(err, "Customer")
	}
	h.a.Keyring.Invalidate()
	return c.JSON(http.StatusOK, map[string]any{"id": id, "deleted": true})
}

// keyJSON is a key on the wire; Key (the plaintext) only in the answer
// that created it.
type keyJSON struct {
	ID         string     `json:"id"`
	Key        string     `json:"key,omitempty"`
	Prefix     string     `json:"prefix"`
	CustomerID string     `json:"customer_id"`
	Name       string     `json:"name"`
	Tier       string     `json:"tier"`
	Models     []string   `json:"models"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	CreatedAt  time.Time  `json:"created_at"`
}

func keyOut(k *store.Key) keyJSON {
	models := k.Models
	if models == nil {
		models = []string{}
	}
	return keyJSON{ID: k.ID, Prefix: k.Prefix, CustomerID: k.CustomerID, Name: k.Name, Tier: k.Tier,
		Models: models, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, CreatedAt: k.CreatedAt}
}

// keyInput is a key creation body.
type keyInput struct {
	CustomerID string     `json:"customer_id"`
	Name       string     `json:"name"`
	Tier       string     `json:"tier"`
	Models     []string   `json:"models"`
	ExpiresAt  *time.Time `json:"expires_at"`
}

func (h *adminHandlers) createKey(c echo.Context, _ *reqState) error {
	var in keyInput
	if err := h.s.decodeJSON(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if in.CustomerID == "" {
		return invalid("customer_id", "missing_required_parameter", "Missing required parameter: 'customer_id'.")
	}
	if _, err := h.a.Store.GetCustomer(ctx, in.CustomerID); err != nil {
		if isNotFound(err) {
			return invalid("customer_id", "invalid_value", "Customer %q does not exist.", in.CustomerID)
		}
		return errInternal(err)
	}
	if in.Tier != "" {
		if err := h.checkTier(c, "tier", in.Tier); err != nil {
			return err
		}
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(h.s.now()) {
		return invalid("expires_at", "invalid_value", "'expires_at' must be in the future.")
	}
	plain, hash, prefix, err := keyring.Generate()
	if err != nil {
		return errInternal(err)
	}
	k := &store.Key{ID: h.newID("key_"), Hash: hash, Prefix: prefix, CustomerID: in.CustomerID, Name: in.Name,
		Tier: in.Tier, Models: in.Models, ExpiresAt: in.ExpiresAt}
	if err := h.a.Store.CreateKey(ctx, k); err != nil {
		return storeError(err, "Key")
	}
	if err := h.a.Keyring.Put(ctx, *k); err != nil {
		h.s.log.Warn("new key not usable here until the next key poll", "key_id", k.ID, "error", err)
	}
	out := keyOut(k)
	out.Key = plain
	return c.JSON(http.StatusCreated, out)
}

func (h *adminHandlers) listKeys(c echo.Context, _ *reqState) error {
	list, err := h.a.Store.ListKeys(c.Request().Context(), store.KeyFilter{CustomerID: c.QueryParam("customer_id")})
	if err != nil {
		return errInternal(err)
	}
	out := make([]keyJSON, len(list))
	for i := range list {
		out[i] = keyOut(&list[i])
	}
	return c.JSON(http.StatusOK, listOf(out))
}

func (h *adminHandlers) getKey(c echo.Context, _ *reqState) error {
	k, err := h.a.Store.GetKey(c.Request().Context(), c.Param("id"))
	if err != nil {
		return storeError(err, "Key")
	}
	return c.JSON(http.StatusOK, keyOut(k))
}

// revokeKey revokes (never deletes: usage keeps pointing at it).
func (h *adminHandlers) revokeKey(c echo.Context, _ *reqState) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	if err := h.a.Store.RevokeKey(ctx, id, h.s.now()); err != nil {
		return storeError(err, "Key")
	}
	k, err := h.a.Store.GetKey(ctx, id)
	if err != nil {
		return storeError(err, "Key")
	}
	if err := h.a.Keyring.Put(ctx, *k); err != nil {
		h.s.log.Warn("keyring reload failed after a revocation", "key_id", k.ID, "error", err)
	}
	return c.JSON(http.StatusOK, keyOut(k))
}
