package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// faultProxy relays TCP connections from a loopback address to a real
// PostgreSQL, and can take the database away from whoever connects
// through it (Stop) and give it back (Start) on the same address, without
// touching the server itself.
type faultProxy struct {
	network, target string // the real server
	addr            string // where the proxy listens, kept across restarts

	mu    sync.Mutex
	ln    net.Listener // nil while stopped
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // accept loops and relays
}

// newFaultProxy starts a proxy to target (a TCP address, or a Unix socket
// path when network is "unix"); it is stopped when the test ends.
func newFaultProxy(t *testing.T, network, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &faultProxy{network: network, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.mu.Lock()
	p.serveLocked(ln)
	p.mu.Unlock()
	t.Cleanup(func() {
		p.Stop()
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Stop
			}
			p.wg.Add(1)
			go p.relay(ln, c)
		}
	}()
}

// Stop closes the listener, so that new connections are refused, and
// every connection relayed so far, as a database that went away would.
func (p *faultProxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// Start listens again on the same address.
func (p *faultProxy) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	var err error
	for deadline := time.Now().Add(3 * time.Second); ; {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serveLocked(ln)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("proxy listen again on %s: %w", p.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// track registers c unless the listener that accepted it has been
// stopped since.
func (p *faultProxy) track(ln net.Listener, c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != ln {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *faultProxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

// relay copies bytes both ways between a client connection and a new
// connection to the server, until either side (or Stop) closes.
func (p *faultProxy) relay(ln net.Listener, c net.Conn) {
	defer p.wg.Done()
	if !p.track(ln, c) {
		_ = c.Close()
		return
	}
	up, err := net.DialTimeout(p.network, p.target, 5*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	if !p.track(ln, up) {
		_ = up.Close()
		p.drop(c)
		return
	}
	var once sync.Once
	closeBoth := func() { once.Do(func() { p.drop(c); p.drop(up) }) }
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, c)
		closeBoth()
	}()
	_, _ = io.Copy(c, up)
	closeBoth()
	<-done
}

// outageDB is a fresh schema on the test PostgreSQL, a direct connection
// to it for checks (never through the proxy), and a proxy in front of it.
type outageDB struct {
	schema string
	conn   *pgx.Conn // direct, for the test goroutine only
	proxy  *faultProxy
	// gatewayURL reaches the schema through the proxy.
	gatewayURL string
}

// newOutageDB needs TOLLGATE_TEST_POSTGRES_URL (set by scripts/test.sh):
// without it the test is skipped, or fails when CI=true.
func newOutageDB(t *testing.T) *outageDB {
	t.Helper()
	base := os.Getenv("TOLLGATE_TEST_POSTGRES_URL")
	if base == "" {
		msg := "TOLLGATE_TEST_POSTGRES_URL is not set: run scripts/test.sh, or set it to a PostgreSQL " +
			"(e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("parse TOLLGATE_TEST_POSTGRES_URL: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := &outageDB{schema: "tg_outage_" + hex.EncodeToString(b[:])}

	ctx, cancel := outageCtx()
	defer cancel()
	if db.conn, err = pgx.Connect(ctx, base); err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	if _, err := db.conn.Exec(ctx, "CREATE SCHEMA "+db.schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := outageCtx()
		defer cancel()
		if _, err := db.conn.Exec(ctx, "DROP SCHEMA "+db.schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", db.schema, err)
		}
		_ = db.conn.Close(ctx)
	})

	network, target := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, target = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	db.proxy = newFaultProxy(t, network, target)

	// The gateway's URL: the same server, user and database, through the
	// proxy, in the fresh schema.
	q := url.Values{}
	for k, v := range cfg.RuntimeParams {
		q.Set(k, v)
	}
	q.Set("search_path", db.schema)
	q.Set("connect_timeout", "5")
	q.Set("sslmode", "disable")
	if cfg.TLSConfig != nil {
		q.Set("sslmode", "prefer") // TLS passes through the proxy; no host check
	}
	u := url.URL{Scheme: "postgres", Host: db.proxy.addr, Path: "/" + cfg.Database, RawQuery: q.Encode(),
		User: url.User(cfg.User)}
	if cfg.Password != "" {
		u.User = url.UserPassword(cfg.User, cfg.Password)
	}
	db.gatewayURL = u.String()
	return db
}

// outageTotals are the usage ledger's and the hourly rollup's sums.
type outageTotals struct {
	rows, distinct                       int64
	prompt, completion, cost             int64
	rollRequests                         int64
	rollPrompt, rollCompletion, rollCost int64
}

func (db *outageDB) totals(t *testing.T) outageTotals {
	t.Helper()
	ctx, cancel := outageCtx()
	defer cancel()
	var s outageTotals
	err := db.conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT request_id),
		coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), coalesce(sum(cost_picos), 0),
		(SELECT coalesce(sum(requests), 0) FROM `+db.schema+`.usage_hourly),
		(SELECT coalesce(sum(prompt_tokens), 0) FROM `+db.schema+`.usage_hourly),
		(SELECT coalesce(sum(completion_tokens), 0) FROM `+db.schema+`.usage_hourly),
		(SELECT coalesce(sum(cost_picos), 0) FROM `+db.schema+`.usage_hourly)
		FROM `+db.schema+`.usage_events`).Scan(&s.rows, &s.distinct, &s.prompt, &s.completion, &s.cost,
		&s.rollRequests, &s.rollPrompt, &s.rollCompletion, &s.rollCost)
	if err != nil {
		t.Fatalf("read the usage ledger: %v", err)
	}
	return s
}

// requestIDs returns the clients' request ids (X-Request-ID) in the usage
// ledger, each with its number of events.
func (db *outageDB) requestIDs(t *testing.T) map[string]int {
	t.Helper()
	ctx, cancel := outageCtx()
	defer cancel()
	rows, err := db.conn.Query(ctx, `SELECT client_request_id FROM `+db.schema+`.usage_events`)
	if err != nil {
		t.Fatalf("read request ids: %v", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read request ids: %v", err)
	}
	out := make(map[string]int, len(ids))
	for _, id := range ids {
		out[id]++
	}
	return out
}

// waitForRows polls until the ledger holds want rows, for at most
// within; more rows than want fail at once (an event counted twice, or
// one nobody was outageAnswer for).
func (db *outageDB) waitForRows(t *testing.T, want int64, within time.Duration) outageTotals {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := db.totals(t)
		if s.rows > want {
			t.Fatalf("the usage ledger holds %d events (%d distinct request ids); only %d requests succeeded",
				s.rows, s.distinct, want)
		}
		if s.rows == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the usage ledger holds %d events; want %d (%d lost?)", within, s.rows, want, want-s.rows)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkLedger compares the ledger with what the clients were outageAnswer:
// the same request ids, each once, the same token sums, and a rollup that
// agrees with the ledger.
func (db *outageDB) checkLedger(t *testing.T, load *outageLoad) {
	t.Helper()
	want := load.snapshot()
	s := db.totals(t)
	if s.rows != int64(len(want)) || s.distinct != s.rows || s.rollRequests != s.rows {
		t.Errorf("usage ledger: %d events, %d distinct request ids, rollup %d requests; want %d of each",
			s.rows, s.distinct, s.rollRequests, len(want))
	}
	var prompt, completion int64
	for _, u := range want {
		prompt += u.prompt
		completion += u.completion
	}
	if s.prompt != prompt || s.completion != completion {
		t.Errorf("usage ledger: %d prompt and %d completion tokens; the clients were told %d and %d",
			s.prompt, s.completion, prompt, completion)
	}
	if s.rollPrompt != s.prompt || s.rollCompletion != s.completion || s.rollCost != s.cost {
		t.Errorf("rollup (%d prompt, %d completion tokens, %d picos) disagrees with the ledger (%d, %d, %d)",
			s.rollPrompt, s.rollCompletion, s.rollCost, s.prompt, s.completion, s.cost)
	}
	got := db.requestIDs(t)
	var missing, extra, doubled []string
	for id := range want {
		if got[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range got {
		if _, ok := want[id]; !ok {
			extra = append(extra, id)
		}
		if n > 1 {
			doubled = append(doubled, id)
		}
	}
	if len(missing)+len(extra)+len(doubled) > 0 {
		t.Errorf("usage ledger vs. successful requests: %d missing %v, %d unexpected %v, %d doubled %v",
			len(missing), outageHead(missing), len(extra), outageHead(extra), len(doubled), outageHead(doubled))
	}
}

func outageHead(s []string) []string { return s[:min(len(s), 5)] }

// outageSpoolFiles returns the segment files (pending or quarantined) left in
// the ledger's spool under dataDir.
func outageSpoolFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dataDir, "spool"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read spool: %v", err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".jsonl") || strings.HasSuffix(e.Name(), ".corrupt") {
			out = append(out, filepath.Join(dataDir, "spool", e.Name()))
		}
	}
	return out
}
