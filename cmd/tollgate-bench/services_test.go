package main

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSchemaURL(t *testing.T) {
	got, err := schemaURL("postgres://postgres:secret@127.0.0.1:5432/test?sslmode=disable", "tollgate_bench_ab12")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "127.0.0.1:5432" || u.Path != "/test" || q.Get("sslmode") != "disable" ||
		q.Get("search_path") != "tollgate_bench_ab12" || q.Get("application_name") != "tollgate_bench_ab12" {
		t.Errorf("schemaURL = %s", got)
	}
	if p, _ := u.User.Password(); p != "secret" {
		t.Errorf("password lost: %s", got)
	}
	for _, bad := range []string{"host=x dbname=y", "mysql://a/b", "postgres:///db", "://"} {
		if _, err := schemaURL(bad, "s"); err == nil {
			t.Errorf("schemaURL(%q) accepted", bad)
		}
	}
}

func TestNewSchemaName(t *testing.T) {
	a, b := newSchemaName(), newSchemaName()
	if a == b || !strings.HasPrefix(a, "tollgate_bench_") || len(a) != len("tollgate_bench_")+12 {
		t.Errorf("schema names %q %q", a, b)
	}
	for _, r := range a {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			t.Errorf("schema name %q is not a plain identifier", a)
		}
	}
}

func TestRedactURL(t *testing.T) {
	if got := redactURL("postgres://u:pw@h/db"); strings.Contains(got, "pw") || !strings.Contains(got, "u:") {
		t.Errorf("redactURL = %q", got)
	}
	if got := redactURL("redis://h:1/15"); got != "redis://h:1/15" {
		t.Errorf("redactURL = %q", got)
	}
}

func TestRedisHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"redis://127.0.0.1:6379/15":   "127.0.0.1:6379",
		"redis://:pw@cache/0":         "cache:6379",
		"rediss://[::1]:6380":         "[::1]:6380",
		"redis://user:pw@r.local:7/3": "r.local:7",
	} {
		if got, err := redisHostPort(in); err != nil || got != want {
			t.Errorf("redisHostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://h:1", "redis://", "127.0.0.1:6379"} {
		if _, err := redisHostPort(bad); err == nil {
			t.Errorf("redisHostPort(%q) accepted", bad)
		}
	}
}

func TestCheckRedisUnavailable(t *testing.T) {
	addr, err := freeLoopbackAddr() // nothing listens there any more
	if err != nil {
		t.Fatal(err)
	}
	if err := checkRedis("redis://" + addr + "/15"); !errors.Is(err, errUnavailable) {
		t.Errorf("checkRedis on a closed port = %v, want errUnavailable", err)
	}
	if err := checkRedis("nonsense"); err == nil || errors.Is(err, errUnavailable) {
		t.Errorf("checkRedis on a bad URL = %v, want a plain error", err)
	}
}

func TestParseCountsAndPIDs(t *testing.T) {
	got, err := parseCounts(" 12|10|0\n", 3)
	if err != nil || len(got) != 3 || got[0] != 12 || got[1] != 10 || got[2] != 0 {
		t.Errorf("parseCounts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1|2", "1|x|3", "1|2|3|4"} {
		if _, err := parseCounts(bad, 3); err == nil {
			t.Errorf("parseCounts(%q) accepted", bad)
		}
	}
	pids := parsePIDs("101\n202\n\nx\n-3\n")
	if len(pids) != 2 || pids[0] != 101 || pids[1] != 202 {
		t.Errorf("parsePIDs = %v", pids)
	}
}

func TestServiceDelta(t *testing.T) {
	start := map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: time.Second}
	end := map[int]time.Duration{1: 1500 * time.Millisecond, 2: 2 * time.Second, 4: 300 * time.Millisecond}
	// 1 used 500ms, 2 nothing, 3 is gone (lost), 4 is new (counts whole).
	if got := serviceDelta(start, end); got != 800*time.Millisecond {
		t.Errorf("serviceDelta = %v, want 800ms", got)
	}
	if got := serviceDelta(map[int]time.Duration{1: time.Second}, map[int]time.Duration{1: time.Millisecond}); got != 0 {
		t.Errorf("a reused pid with less CPU = %v, want 0", got)
	}
}

func TestServiceCPUKeepsServicesOnly(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	s := &serviceProcs{ticks: clockTicks()}
	// This test binary is neither postgres nor redis-server; pid 0 and a
	// huge pid do not exist.
	redis := map[int]bool{}
	if got := s.cpu([]int{os.Getpid(), 0, 1 << 30}, redis); len(got) != 0 || len(redis) != 0 {
		t.Errorf("cpu = %v, redis %v, want nothing", got, redis)
	}
}
