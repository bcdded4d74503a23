package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tollgate-gw/tollgate/provider/openaiwire"
	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/keyring"
	"github.com/tollgate-gw/tollgate/store/postgres"
	"github.com/tollgate-gw/tollgate/store/sqlite"
)

// adminKeySetting holds the SHA-256 (hex) of a generated admin key.
const adminKeySetting = "admin_key_sha256"

// openStore opens the database TOLLGATE_DATABASE_URL names and applies
// pending migrations.
func openStore(ctx context.Context, url string) (store.Store, error) {
	var (
		st  store.Store
		err error
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		st, err = postgres.Open(ctx, url)
	case strings.HasPrefix(url, "sqlite://"):
		st, err = sqlite.Open(ctx, url)
	default:
		return nil, errors.New("TOLLGATE_DATABASE_URL: want postgres://… or sqlite://…")
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	return st, nil
}

// adminKeyHash returns the admin key's hash: TOLLGATE_ADMIN_KEY's when set;
// else the stored one; else, on the very first start, a new key is
// generated, stored as a hash, and printed once together with a starter
// client key for a customer named "default" on the free tier, so that the
// next command can be an SDK call. Several replicas starting together
// agree on one key: only the one that stores the setting prints it.
func adminKeyHash(ctx context.Context, st store.Store, envKey string, log *slog.Logger) ([32]byte, error) {
	if envKey != "" {
		return sha256.Sum256([]byte(envKey)), nil
	}
	if h, err := storedAdminHash(ctx, st); err == nil {
		return h, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return [32]byte{}, err
	}
	plain, _, _, err := keyring.Generate()
	if err != nil {
		return [32]byte{}, err
	}
	plain = "tga-" + strings.TrimPrefix(plain, keyring.KeyPrefix)
	hash := sha256.Sum256([]byte(plain))
	won, err := st.PutSettingIfAbsent(ctx, adminKeySetting, hex.EncodeToString(hash[:]))
	if err != nil {
		return [32]byte{}, fmt.Errorf("store admin key: %w", err)
	}
	if !won { // another replica got there first
		return storedAdminHash(ctx, st)
	}
	starter, err := starterKey(ctx, st)
	if err != nil {
		return [32]byte{}, err
	}
	log.Warn("first start: generated keys, shown only this once; store them now",
		"admin_key", plain, "client_key", starter,
		"hint", "set TOLLGATE_ADMIN_KEY to choose the admin key yourself")
	return hash, nil
}

func storedAdminHash(ctx context.Context, st store.Store) ([32]byte, error) {
	var h [32]byte
	v, err := st.GetSetting(ctx, adminKeySetting)
	if err != nil {
		return h, fmt.Errorf("read admin key: %w", err)
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("stored admin key hash is malformed")
	}
	copy(h[:], b)
	return h, nil
}

// starterKey creates the "default" customer on the free tier with one key.
func starterKey(ctx context.Context, st store.Store) (string, error) {
	c := &store.Customer{ID: openaiwire.NewID("cus_"), Name: "default", Tier: "free"}
	if err := st.CreateCustomer(ctx, c); err != nil {
		return "", fmt.Errorf("create the default customer: %w", err)
	}
	plain, hash, prefix, err := keyring.Generate()
	if err != nil {
		return "", err
	}
	k := &store.Key{ID: openaiwire.NewID("key_"), Hash: hash, Prefix: prefix, CustomerID: c.ID, Name: "starter"}
	if err := st.CreateKey(ctx, k); err != nil {
		return "", fmt.Errorf("create the starter key: %w", err)
	}
	return plain, nil
}
