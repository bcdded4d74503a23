package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/internal/newid"
)

// now is the SQL for the time stamped on a created row (the transaction's
// start, one value for the statement); bump moves a row's updated_at
// strictly forward even when two changes share a microsecond.
const (
	now  = `now()`
	bump = `greatest(` + now + `, updated_at + interval '1 microsecond')`
)

const tierCols = `name, rpm, rpd, tpm, tpd, monthly_budget_micros, models, created_at, updated_at`

func scanTier(row pgx.Row) (store.Tier, error) {
	var t store.Tier
	err := row.Scan(&t.Name, &t.RPM, &t.RPD, &t.TPM, &t.TPD, &t.MonthlyBudgetMicros, &t.Models, &t.CreatedAt, &t.UpdatedAt)
	t.Models = orNil(t.Models)
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return t, err
}

// CreateTier inserts t and sets its CreatedAt and UpdatedAt; a taken name
// is store.ErrConflict.
func (s *Store) CreateTier(ctx context.Context, t *store.Tier) error {
	var created, updated time.Time
	err := s.pool.QueryRow(ctx, `INSERT INTO tiers (`+tierCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, `+now+`, `+now+`)
		RETURNING created_at, updated_at`,
		t.Name, t.RPM, t.RPD, t.TPM, t.TPD, t.MonthlyBudgetMicros, orEmpty(t.Models),
	).Scan(&created, &updated)
	if err != nil {
		return wrap("create tier", err)
	}
	t.CreatedAt, t.UpdatedAt = created.UTC(), updated.UTC()
	return nil
}

// GetTier returns the tier called name, or store.ErrNotFound.
func (s *Store) GetTier(ctx context.Context, name string) (*store.Tier, error) {
	t, err := scanTier(s.pool.QueryRow(ctx, `SELECT `+tierCols+` FROM tiers WHERE name = $1`, name))
	if err != nil {
		return nil, wrap("get tier", err)
	}
	return &t, nil
}

// ListTiers returns every tier, by name.
func (s *Store) ListTiers(ctx context.Context) ([]store.Tier, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tierCols+` FROM tiers ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, wrap("list tiers", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Tier, error) { return scanTier(r) })
	return out, wrap("list tiers", err)
}

// UpdateTier replaces the limits and models of the tier named t.Name and
// sets t's CreatedAt and UpdatedAt; store.ErrNotFound when there is none.
func (s *Store) UpdateTier(ctx context.Context, t *store.Tier) error {
	var created, updated time.Time
	err := s.pool.QueryRow(ctx, `UPDATE tiers SET rpm = $2, rpd = $3, tpm = $4, tpd = $5,
		monthly_budget_micros = $6, models = $7, updated_at = `+bump+`
		WHERE name = $1 RETURNING created_at, updated_at`,
		t.Name, t.RPM, t.RPD, t.TPM, t.TPD, t.MonthlyBudgetMicros, orEmpty(t.Models),
	).Scan(&created, &updated)
	if err != nil {
		return wrap("update tier", err)
	}
	t.CreatedAt, t.UpdatedAt = created.UTC(), updated.UTC()
	return nil
}

// DeleteTier deletes the tier called name: store.ErrNotFound when there is
// none, store.ErrConflict while a customer or key uses it.
func (s *Store) DeleteTier(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM tiers WHERE name = $1`, name)
	if err != nil {
		return wrap("delete tier", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("delete tier")
	}
	return nil
}

const customerCols = `id, name, tier, external_id, created_at, updated_at`

func scanCustomer(row pgx.Row) (store.Customer, error) {
	var c store.Customer
	err := row.Scan(&c.ID, &c.Name, &c.Tier, &c.ExternalID, &c.CreatedAt, &c.UpdatedAt)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, err
}

// CreateCustomer inserts c, giving it an ID ("cus_…") when it has none,
// and sets its CreatedAt and UpdatedAt. A taken ID or external ID, or an
// unknown tier, is store.ErrConflict.
func (s *Store) CreateCustomer(ctx context.Context, c *store.Customer) error {
	id := c.ID
	if id == "" {
		id = newid.New(newid.Customer)
	}
	var created, updated time.Time
	err := s.pool.QueryRow(ctx, `INSERT INTO customers (`+customerCols+`)
		VALUES ($1, $2, $3, $4, `+now+`, `+now+`) RETURNING created_at, updated_at`,
		id, c.Name, c.Tier, c.ExternalID,
	).Scan(&created, &updated)
	if err != nil {
		return wrap("create customer", err)
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, created.UTC(), updated.UTC()
	return nil
}

// GetCustomer returns the customer with the given id, or
// store.ErrNotFound.
func (s *Store) GetCustomer(ctx context.Context, id string) (*store.Customer, error) {
	c, err := scanCustomer(s.pool.QueryRow(ctx, `SELECT `+customerCols+` FROM customers WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("get customer", err)
	}
	return &c, nil
}

// ListCustomers returns every customer, oldest first.
func (s *Store) ListCustomers(ctx context.Context) ([]store.Customer, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+customerCols+` FROM customers ORDER BY created_at, id COLLATE "C"`)
	if err != nil {
		return nil, wrap("list customers", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Customer, error) { return scanCustomer(r) })
	return out, wrap("list customers", err)
}

// UpdateCustomer replaces the name, tier and external ID of the customer
// c.ID and sets c's CreatedAt and UpdatedAt: store.ErrNotFound when there
// is none, store.ErrConflict for an unknown tier or a taken external ID.
func (s *Store) UpdateCustomer(ctx context.Context, c *store.Customer) error {
	var created, updated time.Time
	err := s.pool.QueryRow(ctx, `UPDATE customers SET name = $2, tier = $3, external_id = $4,
		updated_at = `+bump+` WHERE id = $1 RETURNING created_at, updated_at`,
		c.ID, c.Name, c.Tier, c.ExternalID,
	).Scan(&created, &updated)
	if err != nil {
		return wrap("update customer", err)
	}
	c.CreatedAt, c.UpdatedAt = created.UTC(), updated.UTC()
	return nil
}

// DeleteCustomer deletes the customer with the given id: store.ErrNotFound
// when there is none, store.ErrConflict while it has keys (revoked ones
// included: keys are never deleted). Its usage stays in the ledger.
func (s *Store) DeleteCustomer(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM customers WHERE id = $1`, id)
	if err != nil {
		return wrap("delete customer", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("delete customer")
	}
	return nil
}

// GetSetting returns the setting called name, or store.ErrNotFound.
func (s *Store) GetSetting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	return v, wrap("get setting", err)
}

// PutSettingIfAbsent stores the setting unless one called name exists and
// reports whether it stored it; of concurrent callers exactly one wins.
func (s *Store) PutSettingIfAbsent(ctx context.Context, name, value string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING`, name, value)
	if err != nil {
		return false, wrap("put setting", err)
	}
	return tag.RowsAffected() == 1, nil
}
