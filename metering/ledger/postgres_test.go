package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/postgres"
)

// switchSink puts an outage switch and lost acknowledgements in front of
// a real store.
type switchSink struct {
	Sink
	down     atomic.Bool
	loseAcks atomic.Int32
}

func (s *switchSink) InsertUsage(ctx context.Context, evs []store.UsageEvent) error {
	if s.down.Load() {
		return errDown
	}
	if err := s.Sink.InsertUsage(ctx, evs); err != nil {
		return err
	}
	if s.loseAcks.Add(-1) >= 0 {
		return errors.New("switch sink: committed, acknowledgement lost")
	}
	return nil
}

// pgSchema creates a fresh schema on TOLLGATE_TEST_POSTGRES_URL (set by
// scripts/test.sh), dropped at the end, and returns a URL using it and a
// connection for checks. Without the variable the test is skipped, or
// fails when CI=true.
func pgSchema(t *testing.T) (string, *pgx.Conn) {
	base := os.Getenv("TOLLGATE_TEST_POSTGRES_URL")
	if base == "" {
		msg := "TOLLGATE_TEST_POSTGRES_URL is not set: run scripts/test.sh"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "tg_ledger_" + hex.EncodeToString(b[:])
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		_ = conn.Close(ctx)
	})
	if _, err := conn.Exec(ctx, "SET search_path TO "+schema); err != nil {
		t.Fatalf("set search_path: %v", err)
	}
	if !strings.Contains(base, "://") {
		return base + " search_path=" + schema, conn
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse TOLLGATE_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), conn
}

// TestPostgresOutageAndRestart runs the ledger against the real store: a
// database that stops answering mid-run (and loses one commit's
// acknowledgement), a shutdown while it is down, and a restart that
// replays the spool. Every event must be stored once, and counted once in
// the hourly rollup.
func TestPostgresOutageAndRestart(t *testing.T) {
	u, conn := pgSchema(t)
	ctx := t.Context()
	st, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	sink := &switchSink{Sink: st}
	o := testOptions(t.TempDir())
	o.QueueSize = 500

	w := newWriter(t, sink, o)
	stop := start(t, w, 3*time.Second)
	recordConcurrently(w, 0, 1500, 8)
	sink.loseAcks.Store(1)
	recordConcurrently(w, 1500, 3000, 8)
	waitFor(t, "the lost acknowledgement", 10*time.Second, func() bool { return sink.loseAcks.Load() < 0 })
	sink.down.Store(true) // the database goes away ...
	recordConcurrently(w, 3000, 6000, 8)
	time.Sleep(200 * time.Millisecond)
	if err := stop(); err != nil { // ... and the gateway restarts meanwhile
		t.Fatalf("Run: %v", err)
	}
	if len(segmentFiles(t, o.Dir)) == 0 {
		t.Fatal("nothing spooled while the database was down")
	}

	sink.down.Store(false) // the database is back
	w2 := newWriter(t, sink, o)
	stop2 := start(t, w2, 3*time.Second)
	recordConcurrently(w2, 6000, 8000, 8)
	const n = 8000
	count := func() (rows, distinct, requests, picos int64) {
		err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT request_id),
			(SELECT coalesce(sum(requests), 0) FROM usage_hourly),
			coalesce(sum(cost_picos), 0) FROM usage_events`).Scan(&rows, &distinct, &requests, &picos)
		if err != nil {
			t.Fatalf("count: %v", err)
		}
		return
	}
	waitFor(t, "every event in PostgreSQL", 20*time.Second, func() bool {
		rows, _, _, _ := count()
		return rows >= n
	})
	waitFor(t, "spool emptied", 5*time.Second, func() bool { return len(segmentFiles(t, o.Dir)) == 0 })
	if err := stop2(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var wantPicos int64
	for i := range n {
		wantPicos += testEvent(i).CostPicos
	}
	rows, distinct, requests, picos := count()
	if rows != n || distinct != n || requests != n || picos != wantPicos {
		t.Errorf("stored %d rows (%d distinct), rollup %d requests, %d picos; want %d, %d, %d, %d",
			rows, distinct, requests, picos, n, n, n, wantPicos)
	}
}
