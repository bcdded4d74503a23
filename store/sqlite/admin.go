package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/internal/newid"
)

// bump is the SQL that moves a row's updated_at to the bound current time,
// or strictly past its old value when the clock has not moved on.
const bump = `max(?, updated_at + 1)`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// modelsJSON encodes a model list for a TEXT column.
func modelsJSON(models []string) string {
	if len(models) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(models) // a []string always encodes
	return string(b)
}

// parseModels decodes a model list; empty is nil.
func parseModels(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("decode models %q: %w", s, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

const tierCols = `name, rpm, rpd, tpm, tpd, monthly_budget_micros, models, created_at, updated_at`

func scanTier(row scanner) (store.Tier, error) {
	var (
		t                store.Tier
		models           string
		created, updated int64
	)
	if err := row.Scan(&t.Name, &t.RPM, &t.RPD, &t.TPM, &t.TPD, &t.MonthlyBudgetMicros, &models, &created, &updated); err != nil {
		return t, err
	}
	var err error
	t.Models, err = parseModels(models)
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return t, err
}

// CreateTier inserts t and sets its CreatedAt and UpdatedAt; a taken name
// is store.ErrConflict.
func (s *Store) CreateTier(ctx context.Context, t *store.Tier) error {
	now := nowMicros()
	_, err := s.w.ExecContext(ctx, `INSERT INTO tiers (`+tierCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Name, t.RPM, t.RPD, t.TPM, t.TPD, t.MonthlyBudgetMicros, modelsJSON(t.Models), now, now)
	if err != nil {
		return wrap("create tier", err)
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(now), fromMicros(now)
	return nil
}

// GetTier returns the tier called name, or store.ErrNotFound.
func (s *Store) GetTier(ctx context.Context, name string) (*store.Tier, error) {
	t, err := scanTier(s.r.QueryRowContext(ctx, `SELECT `+tierCols+` FROM tiers WHERE name = ?`, name))
	if err != nil {
		return nil, wrap("get tier", err)
	}
	return &t, nil
}

// ListTiers returns every tier, by name.
func (s *Store) ListTiers(ctx context.Context) ([]store.Tier, error) {
	return list(ctx, s.r, "list tiers", scanTier, `SELECT `+tierCols+` FROM tiers ORDER BY name`)
}

// list runs a query on db and scans every row with scan.
func list[T any](ctx context.Context, db *sql.DB, op string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	return out, wrap(op, rows.Err())
}

// UpdateTier replaces the limits and models of the tier named t.Name and
// sets t's CreatedAt and UpdatedAt; store.ErrNotFound when there is none.
func (s *Store) UpdateTier(ctx context.Context, t *store.Tier) error {
	var created, updated int64
	err := s.w.QueryRowContext(ctx, `UPDATE tiers SET rpm = ?, rpd = ?, tpm = ?, tpd = ?,
		monthly_budget_micros = ?, models = ?, updated_at = `+bump+`
		WHERE name = ? RETURNING created_at, updated_at`,
		t.RPM, t.RPD, t.TPM, t.TPD, t.MonthlyBudgetMicros, modelsJSON(t.Models), nowMicros(), t.Name,
	).Scan(&created, &updated)
	if err != nil {
		return wrap("update tier", err)
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return nil
}

// DeleteTier deletes the tier called name: store.ErrNotFound when there is
// none, store.ErrConflict while a customer or key uses it.
func (s *Store) DeleteTier(ctx context.Context, name string) error {
	return s.deleteRow(ctx, "delete tier", `DELETE FROM tiers WHERE name = ?`, name)
}

// deleteRow runs a DELETE of one row; no row deleted is store.ErrNotFound.
func (s *Store) deleteRow(ctx context.Context, op, query string, arg any) error {
	res, err := s.w.ExecContext(ctx, query, arg)
	if err != nil {
		return wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

const customerCols = `id, name, tier, external_id, created_at, updated_at`

func scanCustomer(row scanner) (store.Customer, error) {
	var (
		c                store.Customer
		created, updated int64
	)
	err := row.Scan(&c.ID, &c.Name, &c.Tier, &c.ExternalID, &created, &updated)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
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
	now := nowMicros()
	_, err := s.w.ExecContext(ctx, `INSERT INTO customers (`+customerCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		id, c.Name, c.Tier, c.ExternalID, now, now)
	if err != nil {
		return wrap("create customer", err)
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, fromMicros(now), fromMicros(now)
	return nil
}

// GetCustomer returns the customer with the given id, or
// store.ErrNotFound.
func (s *Store) GetCustomer(ctx context.Context, id string) (*store.Customer, error) {
	c, err := scanCustomer(s.r.QueryRowContext(ctx, `SELECT `+customerCols+` FROM customers WHERE id = ?`, id))
	if err != nil {
		return nil, wrap("get customer", err)
	}
	return &c, nil
}

// ListCustomers returns every customer, oldest first.
func (s *Store) ListCustomers(ctx context.Context) ([]store.Customer, error) {
	return list(ctx, s.r, "list customers", scanCustomer,
		`SELECT `+customerCols+` FROM customers ORDER BY created_at, id`)
}

// UpdateCustomer replaces the name, tier and external ID of the customer
// c.ID and sets c's CreatedAt and UpdatedAt: store.ErrNotFound when there
// is none, store.ErrConflict for an unknown tier or a taken external ID.
func (s *Store) UpdateCustomer(ctx context.Context, c *store.Customer) error {
	var created, updated int64
	err := s.w.QueryRowContext(ctx, `UPDATE customers SET name = ?, tier = ?, external_id = ?,
		updated_at = `+bump+` WHERE id = ? RETURNING created_at, updated_at`,
		c.Name, c.Tier, c.ExternalID, nowMicros(), c.ID,
	).Scan(&created, &updated)
	if err != nil {
		return wrap("update customer", err)
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return nil
}

// DeleteCustomer deletes the customer with the given id: store.ErrNotFound
// when there is none, store.ErrConflict while it has keys (revoked ones
// included: keys are never deleted). Its usage stays in the ledger.
func (s *Store) DeleteCustomer(ctx context.Context, id string) error {
	return s.deleteRow(ctx, "delete customer", `DELETE FROM customers WHERE id = ?`, id)
}

// GetSetting returns the setting called name, or store.ErrNotFound.
func (s *Store) GetSetting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	return v, wrap("get setting", err)
}

// PutSettingIfAbsent stores the setting unless one called name exists and
// reports whether it stored it; of concurrent callers exactly one wins.
func (s *Store) PutSettingIfAbsent(ctx context.Context, name, value string) (bool, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO settings (name, value, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`, name, value, nowMicros())
	if err != nil {
		return false, wrap("put setting", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("put setting", err)
}
