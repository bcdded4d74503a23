package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// sharedServices returns a database URL on a fresh PostgreSQL schema
// (dropped after the test) and the Redis URL, from the variables
// scripts/test.sh sets. Without them the test is skipped, or fails under
// CI=true.
func sharedServices(t *testing.T) (dbURL, redisURL string) {
	t.Helper()
	pg, rd := os.Getenv("TOLLGATE_TEST_POSTGRES_URL"), os.Getenv("TOLLGATE_TEST_REDIS_URL")
	if pg == "" || rd == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TOLLGATE_TEST_POSTGRES_URL and TOLLGATE_TEST_REDIS_URL are required with CI=true (scripts/test.sh sets them)")
		}
		t.Skip("needs TOLLGATE_TEST_POSTGRES_URL and TOLLGATE_TEST_REDIS_URL (run scripts/test.sh)")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "tg_e2e_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if conn, err := pgx.Connect(ctx, pg); err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(ctx)
		}
	})
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), rd
}

// TestE2EReplicas runs two gateway processes on one PostgreSQL and one
// Redis: a rate limit holds exactly across both, and a key revoked on one
// is refused by the other within a second.
func TestE2EReplicas(t *testing.T) {
	dbURL, redisURL := sharedServices(t)
	env := map[string]string{"TOLLGATE_DATABASE_URL": dbURL, "TOLLGATE_REDIS_URL": redisURL}
	// Two gateway processes, as two replicas would run.
	a := startChild(t, mockYAML, env)
	b := startChild(t, mockYAML, env)

	if status, body := a.admin(t, http.MethodPost, "/admin/tiers", `{"name":"ten","rpm":10}`); status != 201 {
		t.Fatalf("tier: %d %s", status, body.Raw)
	}
	key := a.newKey(t, "ten")
	// Every counted request must fall in one minute window: start well
	// clear of a minute boundary.
	if s := time.Now().Second(); s >= 50 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	// The key, its new customer and tier reach replica b by polling.
	deadline := time.Now().Add(2 * time.Second)
	for {
		status, _, _ := b.chatAs(t, "Authorization", key, "mock/echo")
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b never accepted the new key (last status %d)", status)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// 49 more requests, split across both replicas, in parallel: with the
	// one above, exactly 10 fit in the minute.
	var (
		mu  sync.Mutex
		ok  = 1
		got = map[int]int{}
	)
	var wg sync.WaitGroup
	for i := range 49 {
		g := a
		if i%2 == 1 {
			g = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, _ := g.chatAs(t, "Authorization", key, "mock/echo")
			mu.Lock()
			defer mu.Unlock()
			got[status]++
			if status == 200 {
				ok++
			}
		}()
	}
	wg.Wait()
	if ok != 10 || got[429] != 49-9 {
		t.Fatalf("admitted %d of 50 across two replicas (statuses %v), want exactly 10", ok, got)
	}

	// Revocation on a is refused by b within 1 s.
	other := a.newKey(t, "enterprise")
	for deadline := time.Now().Add(2 * time.Second); ; {
		if status, _, _ := b.chatAs(t, "Authorization", other, "mock/echo"); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica b never accepted the second key")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, keys := a.admin(t, http.MethodGet, "/admin/keys", "")
	var id string
	for _, k := range keys.Get("data").Array() {
		if k.Get("prefix").String() == other[:8] {
			id = k.Get("id").String()
		}
	}
	if status, _ := a.admin(t, http.MethodDelete, "/admin/keys/"+id, ""); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	revoked := time.Now()
	for {
		status, _, _ := b.chatAs(t, "Authorization", other, "mock/echo")
		if status == 401 {
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("replica b still accepts the revoked key after %v", time.Since(revoked))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revocation seen by the other replica after %v", time.Since(revoked).Round(time.Millisecond))
}
