package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// targetMetered names the gateway on PostgreSQL and Redis in the report.
const targetMetered = "metered"

const (
	// ledgerWait bounds the wait for the metered gateway's spool to reach
	// PostgreSQL after the last phase.
	ledgerWait = 15 * time.Second
	// limiterFailureLog starts the messages the gateway logs when Redis
	// fails and requests are admitted without limits or not settled.
	limiterFailureLog = `"msg":"limiter `
	// meteredPprofEnv, when set, is the metered gateway's profiler address
	// (TOLLGATE_PPROF_ADDR goes to the first gateway only).
	meteredPprofEnv = "TOLLGATE_BENCH_METERED_PPROF_ADDR"
)

// meteredSlice is the length of one slice of a metered comparison: each
// side gets -duration / meteredSlice of them, at least two (see
// interleaved), so that a longer run also averages over more of the
// machine's ups and downs.
const meteredSlice = 2500 * time.Millisecond

// meteredRounds returns the number of slices each side gets.
func meteredRounds(d time.Duration) int { return max(2, int(d/meteredSlice)) }

// meteredPrompts returns the prompt sizes (tokens) of the metered
// scenario: a one-line prompt and a long one.
func meteredPrompts() []int { return []int{1, 4000} }

// meteredRun is the metered scenario's second gateway and its backing
// services.
type meteredRun struct {
	pgURL         string // -postgres-url, for psql
	redisURL      string
	schema        string
	schemaCreated bool
	gw            *child
	tgt           target
	customerID    string
	info          *meteredInfo
	// expected counts the successful requests through the metered
	// gateway, uncertain the failed or cancelled ones (metered or not).
	expected, uncertain int64
}

// metered compares, at the same load, the pass-through gateway (SQLite, an
// enterprise key: no limits) with a gateway on PostgreSQL and Redis whose
// key's tier has limits on every window and whose model is priced; then
// checks that its ledger holds one event per request.
func (b *bench) metered(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	if b.gw == nil || b.cfg.gatewayURL != "" || b.cfg.gatewaySelfProxy {
		b.skipMetered(unavailablef("it needs the gateway binary started by the benchmark (-gateway, no -gateway-url)"))
		return
	}
	m, err := b.startMetered(ctx)
	if err != nil {
		b.skipMetered(err)
		return
	}
	defer b.stopMetered(m)
	b.fake.SetDelays(0, 0)
	plain := b.gwTgt
	plain.model = modelPlain
	for _, tokens := range meteredPrompts() {
		if ctx.Err() != nil {
			return
		}
		label := fmt.Sprintf("%s c=%d p%d", scMetered, b.cfg.concurrency, tokens)
		prompt := buildPrompt(tokens)
		p, r := b.interleaved(ctx, label, plain, m.tgt, prompt, meteredRounds(b.cfg.duration))
		m.expected += r.Succeeded
		m.uncertain += r.Errors + r.Abandoned
		b.rep.Results = append(b.rep.Results, p, r)
		b.rep.Comparisons = append(b.rep.Comparisons, compare(p, r))
		b.checkGateway()
		if done, err := m.gw.Exited(); done {
			b.problem("the metered gateway exited during the run: %v (log: %s)", err, m.gw.logPath)
			m.gw = nil
			return
		}
	}
	b.verifyLedger(ctx, m)
}

// skipMetered records why the metered scenario did not run: a note when a
// service or tool is missing and the scenario was not asked for by name, a
// problem otherwise.
func (b *bench) skipMetered(err error) {
	msg := strings.TrimPrefix(err.Error(), errUnavailable.Error()+": ")
	if errors.Is(err, errUnavailable) && !b.cfg.meteredRequired {
		b.note("metered scenario skipped: %s (-scenarios metered makes this an error)", msg)
		return
	}
	b.problem("metered: %s", msg)
}

// startMetered creates the run's schema, starts the gateway on it and
// Redis, and provisions the limited tier and its key. On error, whatever
// it started is stopped and removed.
func (b *bench) startMetered(ctx context.Context) (*meteredRun, error) {
	c := b.cfg
	if _, err := exec.LookPath("psql"); err != nil {
		return nil, unavailablef("psql not found: it creates and drops the run's PostgreSQL schema and counts the ledger (Debian: apt-get install postgresql-client)")
	}
	if err := checkRedis(c.redisURL); err != nil {
		return nil, err
	}
	m := &meteredRun{pgURL: c.postgresURL, redisURL: c.redisURL, schema: newSchemaName()}
	gwURL, err := schemaURL(c.postgresURL, m.schema)
	if err != nil {
		return nil, err
	}
	if _, err := psql(ctx, c.postgresURL, "CREATE SCHEMA "+m.schema); err != nil {
		return nil, unavailablef("PostgreSQL at %s (-postgres-url, TOLLGATE_TEST_POSTGRES_URL): %v", redactURL(c.postgresURL), err)
	}
	m.schemaCreated = true
	tier := benchTier()
	m.info = &meteredInfo{Postgres: redactURL(c.postgresURL), Schema: m.schema, Redis: redactURL(c.redisURL),
		Tier: tier, RedisKeys: -1}
	b.rep.Metered = m.info
	b.logf("starting the metered gateway (PostgreSQL schema %s, Redis %s)", m.schema, redactURL(c.redisURL))
	gw, base, err := startGateway(ctx, gatewayOpts{Binary: c.gateway, FakeBaseURL: b.fake.BaseURL, Dir: b.dir,
		Name: targetMetered, Env: []string{"TOLLGATE_DATABASE_URL=" + gwURL, "TOLLGATE_REDIS_URL=" + c.redisURL,
			// Not the first gateway's profiler address: that one is taken.
			"TOLLGATE_PPROF_ADDR=" + os.Getenv(meteredPprofEnv)}})
	if err != nil {
		b.stopMetered(m)
		return nil, err
	}
	m.gw = gw
	admin := adminClient{base: base, key: benchAdminKey}
	if err := admin.createTier(ctx, tier); err != nil {
		b.stopMetered(m)
		return nil, err
	}
	key, customerID, err := admin.provisionKey(ctx, "bench-metered", tier.Name)
	if err != nil {
		b.stopMetered(m)
		return nil, err
	}
	m.customerID = customerID
	m.tgt = target{name: targetMetered, url: base + chatPath, model: modelPriced, pid: gw.PID(), key: key,
		services: &serviceProcs{pgURL: c.postgresURL, appName: m.schema, ticks: b.ticks}}
	return m, nil
}

// verifyLedger waits for the metered gateway's usage events to reach
// PostgreSQL and checks that there is one per successful request.
func (b *bench) verifyLedger(ctx context.Context, m *meteredRun) {
	q := "SELECT count(*), count(*) FILTER (WHERE status = 200), count(*) FILTER (WHERE priced) FROM " + m.schema + ".usage_events"
	start := time.Now()
	for {
		row, err := psql(context.WithoutCancel(ctx), m.pgURL, q)
		if err != nil {
			b.problem("ledger: %v", err)
			return
		}
		n, err := parseCounts(row, 3)
		if err != nil {
			b.problem("ledger: %v", err)
			return
		}
		l := ledgerResult{Events: n[0], Status200: n[1], Priced: n[2], Expected: m.expected, Uncertain: m.uncertain,
			Waited: time.Since(start)}
		if l.Events >= l.Expected || l.Waited > ledgerWait || !sleepCtx(ctx, 250*time.Millisecond) {
			m.info.Ledger = &l
			if !l.ok() {
				b.problem("%s", l.line())
			}
			return
		}
	}
}

// stopMetered stops the metered gateway, reads its log for limiter
// failures, deletes the bench customer's counters from Redis and drops the
// schema. It may be called on a partly started run.
func (b *bench) stopMetered(m *meteredRun) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if m.gw != nil {
		m.gw.Stop(10 * time.Second)
		if n, err := countLogLines(m.gw.logPath, limiterFailureLog); err != nil {
			b.problem("metered gateway log: %v", err)
		} else if m.info.LimiterFailures = n; n > 0 {
			b.problem("the metered gateway logged %d limiter failures (Redis errors: requests admitted without limits); see %s", n, m.gw.logPath)
		}
	}
	if m.customerID != "" {
		b.cleanRedis(ctx, m)
	}
	if m.schemaCreated {
		if _, err := psql(ctx, m.pgURL, "DROP SCHEMA "+m.schema+" CASCADE"); err != nil {
			b.note("could not drop PostgreSQL schema %s: %v", m.schema, err)
		} else {
			m.info.SchemaDropped = true
		}
	}
}

// cleanRedis counts and deletes the limit counters of the bench customer
// (they would otherwise expire by themselves: the month's at its end). No
// counter at all means the limiter did not use Redis.
func (b *bench) cleanRedis(ctx context.Context, m *meteredRun) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		b.note("redis-cli not found: the limit counters of customer %s stay in Redis until they expire", m.customerID)
		return
	}
	out, err := redisCLI(ctx, m.redisURL, "--scan", "--pattern", "tg:lim:{"+m.customerID+"}:*")
	if err != nil {
		b.note("redis: %v", err)
		return
	}
	keys := strings.Fields(out)
	m.info.RedisKeys = len(keys)
	if len(keys) == 0 {
		b.problem("redis: no limit counter of customer %s: the limiter did not use Redis", m.customerID)
		return
	}
	if _, err := redisCLI(ctx, m.redisURL, append([]string{"DEL"}, keys...)...); err != nil {
		b.note("redis: deleting the bench counters: %v", err)
	}
}

// redisCLI runs redis-cli against url with args and returns its output.
func redisCLI(ctx context.Context, url string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return runTool(exec.CommandContext(ctx, "redis-cli", append([]string{"-u", url}, args...)...))
}

// countLogLines counts the lines of the file at path that contain sub.
func countLogLines(path, sub string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return countLines(f, sub)
}

// countLines counts the lines of r that contain sub.
func countLines(r io.Reader, sub string) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	n := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			n++
		}
	}
	return n, sc.Err()
}

// meteredInfo describes the metered scenario's setup and what it checked.
type meteredInfo struct {
	Postgres      string        `json:"postgres"`
	Schema        string        `json:"schema"`
	SchemaDropped bool          `json:"schema_dropped"`
	Redis         string        `json:"redis"`
	Tier          tierSpec      `json:"tier"`
	Ledger        *ledgerResult `json:"ledger,omitempty"`
	// RedisKeys counts the bench customer's limit counters found in Redis
	// after the run (-1: not checked).
	RedisKeys       int `json:"redis_keys"`
	LimiterFailures int `json:"limiter_failures"`
}

// lines describes the metered scenario for the table.
func (m *meteredInfo) lines() []string {
	t := m.Tier
	dropped := "dropped afterwards"
	if !m.SchemaDropped {
		dropped = "NOT dropped"
	}
	out := []string{
		fmt.Sprintf("metered: gateway on PostgreSQL %s (schema %s, %s) and Redis %s; key on tier %s (rpm %d, rpd %d, tpm %d, tpd %d, $%s a month: never reached), model %s priced",
			m.Postgres, m.Schema, dropped, m.Redis, t.Name, t.RPM, t.RPD, t.TPM, t.TPD, t.MonthlyBudgetUSD, modelPriced),
		fmt.Sprintf("metered: against the gateway on SQLite with an enterprise key (no limits), model %s unpriced; pN = prompt of ~N tokens, non-stream, zero-latency fake", modelPlain),
		"metered: services cpu/req = the metered gateway's PostgreSQL backends and every local redis-server process (PostgreSQL's background writers not counted)",
	}
	if m.Ledger != nil {
		out = append(out, m.Ledger.line())
	}
	if m.RedisKeys >= 0 {
		out = append(out, fmt.Sprintf("redis: %d limit counters of the bench customer after the run (deleted); limiter failures logged: %d", m.RedisKeys, m.LimiterFailures))
	}
	return out
}

// ledgerResult is the check of the metered gateway's usage ledger.
type ledgerResult struct {
	Events    int64 `json:"events"`
	Status200 int64 `json:"status_200"`
	Priced    int64 `json:"priced"`
	// Expected is the number of successful requests through the metered
	// gateway, warm-ups included; Uncertain the failed or cancelled ones,
	// which may or may not have been metered.
	Expected  int64         `json:"expected"`
	Uncertain int64         `json:"uncertain"`
	Waited    time.Duration `json:"waited_ns"`
}

// ok reports whether the ledger holds one priced event per successful
// request (and at most one per uncertain request besides).
func (l ledgerResult) ok() bool {
	return l.Events >= l.Expected && l.Events <= l.Expected+l.Uncertain &&
		l.Status200 >= l.Expected && l.Priced == l.Events
}

// line describes the ledger check.
func (l ledgerResult) line() string {
	verdict := "match"
	if !l.ok() {
		verdict = "MISMATCH"
	}
	var uncertain string
	if l.Uncertain > 0 {
		uncertain = fmt.Sprintf(" (+ up to %d failed or cancelled)", l.Uncertain)
	}
	return fmt.Sprintf("ledger: %d usage events in PostgreSQL (%d with status 200, %d priced) for %d successful metered requests%s, after %s: %s",
		l.Events, l.Status200, l.Priced, l.Expected, uncertain, fmtDur(l.Waited.Round(time.Millisecond)), verdict)
}
