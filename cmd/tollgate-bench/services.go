package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errUnavailable marks a metered-scenario failure that means a service or
// tool is missing (the scenario is then skipped unless it was asked for),
// as opposed to a failure of the gateway under test.
var errUnavailable = errors.New("unavailable")

// unavailablef returns an error wrapping errUnavailable.
func unavailablef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUnavailable, fmt.Sprintf(format, args...))
}

// newSchemaName returns a fresh PostgreSQL schema name for one run.
func newSchemaName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "tollgate_bench_" + hex.EncodeToString(b[:])
}

// schemaURL returns the postgres:// URL base with its sessions in schema:
// search_path selects the schema, application_name (the schema's name too)
// lets the benchmark find the gateway's backend processes.
func schemaURL(base, schema string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", fmt.Errorf("-postgres-url: want a postgres://host/db URL, got %q", redactURL(base))
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// redactURL hides the password of a URL for messages; text that is not a
// URL comes back as "(unparsable URL)".
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// redisHostPort returns the host:port of a redis:// or rediss:// URL
// (port 6379 when absent).
func redisHostPort(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Hostname() == "" {
		return "", fmt.Errorf("-redis-url: want redis://host:port/db, got %q", redactURL(s))
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// checkRedis reports whether something accepts connections at the Redis
// URL; the metered gateway's /readyz then checks that it answers PING.
func checkRedis(redisURL string) error {
	addr, err := redisHostPort(redisURL)
	if err != nil {
		return err
	}
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return unavailablef("Redis at %s (-redis-url, TOLLGATE_TEST_REDIS_URL) is not reachable: %v", redactURL(redisURL), err)
	}
	return conn.Close()
}

// psql runs one SQL command through psql against the database at dbURL and
// returns its unaligned, tuples-only output.
func psql(ctx context.Context, dbURL, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dbURL, "-c", sql)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=5")
	out, err := runTool(cmd)
	return strings.TrimSpace(out), err
}

// runTool runs a command-line client and returns its standard output; its
// standard error (warnings, notices) goes into the error only.
func runTool(cmd *exec.Cmd) (string, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %v: %s", filepath.Base(cmd.Path), err, strings.Join(strings.Fields(stderr.String()), " "))
	}
	return string(out), nil
}

// parseCounts parses one psql row of n integers separated by '|'.
func parseCounts(row string, n int) ([]int64, error) {
	fields := strings.Split(strings.TrimSpace(row), "|")
	if len(fields) != n {
		return nil, fmt.Errorf("psql: want %d values, got %q", n, row)
	}
	out := make([]int64, n)
	for i, f := range fields {
		v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("psql: %q: %w", row, err)
		}
		out[i] = v
	}
	return out, nil
}

// parsePIDs parses psql output of one process id per line.
func parsePIDs(out string) []int {
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// serviceProcs finds the server processes that work for the metered
// gateway, on this machine: its PostgreSQL backends (sessions whose
// application_name is the run's schema) and every redis-server process.
type serviceProcs struct {
	pgURL   string // for psql
	appName string
	ticks   int64
}

// serviceComms are the process names a service process may have.
func serviceComms() []string { return []string{"postgres", "redis-server"} }

// pids returns the service processes' ids. Finding the PostgreSQL backends
// takes a psql call: tens of milliseconds.
func (s *serviceProcs) pids(ctx context.Context) []int {
	q := "SELECT pid FROM pg_stat_activity WHERE application_name = '" + s.appName + "'"
	var pids []int
	if rows, err := psql(ctx, s.pgURL, q); err == nil {
		pids = parsePIDs(rows)
	}
	for pid := range procsNamed("redis-server") {
		pids = append(pids, pid)
	}
	return pids
}

// cpu returns the CPU time used so far by each of pids that is a local
// service process (a PostgreSQL pid may belong to another machine or
// container: then it is not a local postgres process and is left out),
// and adds the pids of redis-server processes to redis.
func (s *serviceProcs) cpu(pids []int, redis map[int]bool) map[int]time.Duration {
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		if st, err := readProcStat(pid); err == nil && slices.Contains(serviceComms(), st.Comm) {
			out[pid] = ticksToDuration(st.UTime+st.STime, s.ticks)
			if st.Comm == "redis-server" {
				redis[pid] = true
			}
		}
	}
	return out
}

// serviceMeter takes the service snapshots of one load window.
type serviceMeter struct {
	procs *serviceProcs
	pids  []int
	// redis holds the pids seen to be redis-server processes.
	redis map[int]bool
}

// snapshot returns the services' CPU time by pid, or nil when none is
// visible here (remote services). The first call looks the processes up
// before reading them; later calls read the known ones at once, then look
// for processes that appeared since (a new pool session), so that the slow
// look-up falls outside the window.
func (m *serviceMeter) snapshot(ctx context.Context) map[int]time.Duration {
	first := m.pids == nil
	if first {
		m.pids = m.procs.pids(ctx)
		m.redis = map[int]bool{}
	}
	out := m.procs.cpu(m.pids, m.redis)
	if !first {
		for pid, cpu := range m.procs.cpu(m.procs.pids(ctx), m.redis) {
			if _, ok := out[pid]; !ok {
				out[pid] = cpu
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// readProcStat reads /proc/<pid>/stat.
func readProcStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(data)
}

// procsNamed returns the visible processes whose name is comm.
func procsNamed(comm string) map[int]procStat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := map[int]procStat{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readProcStat(pid); err == nil && st.Comm == comm {
			out[pid] = st
		}
	}
	return out
}

// serviceDelta returns the CPU time the service processes used between two
// snapshots: a process seen only at the end started in between and counts
// whole; one gone by the end is lost (PostgreSQL's pool keeps its
// sessions, so that is rare).
func serviceDelta(start, end map[int]time.Duration) time.Duration {
	return serviceDeltaOf(start, end, func(int) bool { return true })
}

// serviceDeltaOf is serviceDelta for the processes that match keep.
func serviceDeltaOf(start, end map[int]time.Duration, keep func(pid int) bool) time.Duration {
	var d time.Duration
	for pid, e := range end {
		if keep(pid) {
			d += max(e-start[pid], 0)
		}
	}
	return d
}
