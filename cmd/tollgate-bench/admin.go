package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tidwall/gjson"
)

// adminClient calls the admin API of a gateway started by the benchmark.
type adminClient struct {
	base string // the gateway's base URL
	key  string // its admin key
}

// tierSpec is a tier as POST /admin/tiers takes it (0 means unlimited).
type tierSpec struct {
	Name             string      `json:"name"`
	RPM              int64       `json:"rpm"`
	RPD              int64       `json:"rpd"`
	TPM              int64       `json:"tpm"`
	TPD              int64       `json:"tpd"`
	MonthlyBudgetUSD json.Number `json:"monthly_budget_usd"`
}

// benchTier has real limits on every window, far beyond anything one run
// can reach: each request is counted against all of them, and none ever
// refuses.
func benchTier() tierSpec {
	return tierSpec{Name: "benchtier", RPM: 100_000_000, RPD: 100_000_000_000,
		TPM: 100_000_000_000, TPD: 100_000_000_000_000, MonthlyBudgetUSD: "1000000"}
}

// createTier creates tier t.
func (a adminClient) createTier(ctx context.Context, t tierSpec) error {
	_, err := a.post(ctx, "/admin/tiers", t)
	return err
}

// provisionKey creates a customer named name on tier and a client key for
// it, and returns the key and the customer's id.
func (a adminClient) provisionKey(ctx context.Context, name, tier string) (key, customerID string, err error) {
	cu, err := a.post(ctx, "/admin/customers", map[string]string{"name": name, "tier": tier})
	if err != nil {
		return "", "", err
	}
	customerID = cu.Get("id").String()
	if customerID == "" {
		return "", "", fmt.Errorf("admin API: customer without an id: %s", cu.Raw)
	}
	k, err := a.post(ctx, "/admin/keys", map[string]string{"customer_id": customerID, "name": "bench"})
	if err != nil {
		return "", "", err
	}
	if key = k.Get("key").String(); key == "" {
		return "", "", fmt.Errorf("admin API: key answer without a key: %.200s", k.Raw)
	}
	return key, customerID, nil
}

// post sends body as JSON to path and returns the answer, which must be
// 201 Created.
func (a adminClient) post(ctx context.Context, path string, body any) (gjson.Result, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return gjson.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(data))
	if err != nil {
		return gjson.Result{}, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return gjson.Result{}, fmt.Errorf("admin API POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return gjson.Result{}, fmt.Errorf("admin API POST %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return gjson.Result{}, fmt.Errorf("admin API POST %s: status %d: %.300s", path, resp.StatusCode, bytes.TrimSpace(out))
	}
	return gjson.ParseBytes(out), nil
}
