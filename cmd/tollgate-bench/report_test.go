package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

func TestPercentile(t *testing.T) {
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, time.Duration(i))
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", []time.Duration{7}, 99, 7},
		{"p50 of 100", hundred, 50, 50},
		{"p99 of 100", hundred, 99, 99},
		{"max of 100", hundred, 100, 100},
		{"tiny p of 100", hundred, 0.001, 1},
		{"p50 of 4", []time.Duration{1, 2, 3, 4}, 50, 2},
		{"p99 of 4", []time.Duration{1, 2, 3, 4}, 99, 4},
		{"p50 of 5", []time.Duration{1, 2, 3, 4, 5}, 50, 3},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(p%v) = %v, want %v", tt.name, tt.p, got, tt.want)
		}
	}
}

func TestFormatters(t *testing.T) {
	durs := map[time.Duration]string{
		850 * time.Microsecond:  "850µs",
		ms(1.44):                "1.4ms",
		ms(9.96):                "10.0ms",
		ms(12.4):                "12ms",
		1250 * time.Millisecond: "1.25s",
		-ms(2.5):                "-2.5ms",
	}
	for d, want := range durs {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
	if got := fmtAdded(ms(4.2)); got != "+4.2ms" {
		t.Errorf("fmtAdded = %q", got)
	}
	if got := fmtAdded(-ms(0.3)); got != "-300µs" {
		t.Errorf("fmtAdded = %q", got)
	}
	if got := fmtCPU(72400 * time.Nanosecond); got != "72µs" {
		t.Errorf("fmtCPU = %q", got)
	}
	if got := fmtCPU(3250 * time.Nanosecond); got != "3.2µs" {
		t.Errorf("fmtCPU = %q", got)
	}
	if got := fmtMiB(61 << 20); got != "61.0 MiB" {
		t.Errorf("fmtMiB = %q", got)
	}
}

func TestNewPhaseResultAndCompare(t *testing.T) {
	lat := []time.Duration{ms(1), ms(2), ms(3), ms(4)}
	direct := newPhaseResult("nonstream c=4", targetDirect, false, loadResult{
		Requests: 4, Elapsed: 2 * time.Second, Latency: lat,
		CPUStart: cpuSnapshot{Self: 0}, CPUEnd: cpuSnapshot{Self: 400 * time.Microsecond},
	})
	if direct.RPS != 2 || direct.P50 != ms(2) || direct.P99 != ms(4) || direct.Max != ms(4) {
		t.Errorf("direct = %+v", direct)
	}
	if direct.CPUPerReq != nil || direct.BenchCPUPerReq != 100*time.Microsecond {
		t.Errorf("direct cpu = %v, bench %v", direct.CPUPerReq, direct.BenchCPUPerReq)
	}
	if direct.OtherCores != -1 {
		t.Errorf("OtherCores without system snapshots = %v, want -1", direct.OtherCores)
	}
	gw := newPhaseResult("nonstream c=4", targetGateway, false, loadResult{
		Requests: 2, Elapsed: 2 * time.Second, Latency: []time.Duration{ms(5), ms(9)},
		CPUStart: cpuSnapshot{TargetOK: true, Target: time.Second, SystemOK: true, System: 10 * time.Second},
		CPUEnd:   cpuSnapshot{TargetOK: true, Target: time.Second + 144*time.Microsecond, SystemOK: true, System: 11 * time.Second},
	})
	if gw.CPUPerReq == nil || *gw.CPUPerReq != 72*time.Microsecond {
		t.Fatalf("gateway cpu/req = %v, want 72µs", gw.CPUPerReq)
	}
	if gw.OtherCores < 0.49 || gw.OtherCores > 0.51 {
		t.Errorf("OtherCores = %v, want about 0.5", gw.OtherCores)
	}
	c := compare(direct, gw)
	if c.Ratio != 0.5 || c.AddedP50 != ms(3) || c.AddedP99 != ms(5) {
		t.Errorf("compare = %+v", c)
	}
}

func TestWriteTable(t *testing.T) {
	cpu := 72 * time.Microsecond
	rpCPU := 30 * time.Microsecond
	rep := report{
		Machine:  machineInfo{Cores: 2, CPU: "Test CPU", Go: "go1.26.8", OSArch: "linux/amd64"},
		Settings: settings{Duration: 10 * time.Second, Warmup: 2 * time.Second, Concurrency: 64, PromptTokens: 1},
		Results: []phaseResult{
			{Scenario: "nonstream c=64", Target: "direct", OtherCores: 0.04, RPS: 41234.4, P50: ms(1.4), P99: ms(3.1), Max: ms(12), BenchCPUPerReq: 20 * time.Microsecond},
			{Scenario: "nonstream c=64", Target: "gateway", OtherCores: -1, RPS: 11020, P50: ms(5.6), P99: ms(9.8), Max: ms(20), CPUPerReq: &cpu, BenchCPUPerReq: 25 * time.Microsecond},
			{Scenario: "stream c=64", Target: "direct", OtherCores: 1.25, Stream: true, RPS: 20000, P50: ms(2), P99: ms(4), Max: ms(9), TTFBP50: ms(1), TTFBP99: ms(3), BenchCPUPerReq: 40 * time.Microsecond},
		},
		Comparisons: []comparison{
			{Scenario: "nonstream c=64", Target: "gateway", Ratio: 0.267, AddedP50: ms(4.2), AddedP99: ms(6.7), CPUPerReq: &cpu},
			{Scenario: "stream c=64", Target: "gateway", Stream: true, Ratio: 0.5, AddedP50: ms(1), AddedP99: ms(2), AddedTTFBP50: ms(0.5), AddedTTFBP99: -ms(0.2)},
			{Scenario: "baseline c=64", Target: "revproxy", Ratio: 0.45, AddedP50: ms(2), AddedP99: ms(3), CPUPerReq: &rpCPU},
		},
		Memory:   []memoryResult{{Target: "gateway", IdleRSS: 18 << 20, Streams: 1000, StreamsRSS: 61 << 20}},
		Notes:    []string{"a note"},
		Problems: []string{"stream c=64 gateway: 3 failed requests (first: status 502)"},
	}
	var sb strings.Builder
	writeTable(&sb, &rep)
	want := `scenario            target       req/s     p50     p99     max ttfb-p50 ttfb-p99  cpu/req  bench-cpu  others
nonstream c=64      direct       41234   1.4ms   3.1ms    12ms                                  20µs     0.0
nonstream c=64      gateway      11020   5.6ms   9.8ms    20ms                       72µs       25µs       ?
stream c=64         direct       20000   2.0ms   4.0ms   9.0ms    1.0ms    3.0ms                40µs     1.2
ratio gateway/direct (nonstream c=64): 0.27   added p50 +4.2ms p99 +6.7ms   cpu/req 72µs
ratio gateway/direct (stream c=64): 0.50   added p50 +1.0ms p99 +2.0ms   ttfb p50 +500µs p99 -200µs
ratio revproxy/direct (baseline c=64): 0.45   added p50 +2.0ms p99 +3.0ms   cpu/req 30µs   (gateway: ratio 0.27, cpu/req 72µs)
memory gateway (fresh process): idle 18.0 MiB, 1000 open streams 61.0 MiB (44.0 KiB/stream)
machine: 2 cores, Test CPU, go1.26.8, linux/amd64
settings: duration 10s, warm-up 2s, prompt ~1 tokens
columns: cpu/req = process under test, bench-cpu = load generator + fake upstream, others = cores used by other processes
note: a note
!!! 1 PROBLEM(S): the numbers above are not trustworthy
!!! stream c=64 gateway: 3 failed requests (first: status 502)
`
	if diff := cmp.Diff(want, sb.String()); diff != "" {
		t.Errorf("table mismatch (-want +got):\n%s", diff)
	}
	if _, err := json.Marshal(&rep); err != nil {
		t.Errorf("report does not marshal: %v", err)
	}
}

// TestMeteredComparison compares two measured gateways, the second with
// service processes, and prints the metered line.
func TestMeteredComparison(t *testing.T) {
	lat := []time.Duration{ms(2), ms(4)}
	plain := newPhaseResult("metered c=4 p1", targetGateway, false, loadResult{
		Requests: 4, Elapsed: 2 * time.Second, Latency: lat, Succeeded: 9,
		CPUStart: cpuSnapshot{TargetOK: true, SystemOK: true, System: 10 * time.Second},
		CPUEnd:   cpuSnapshot{TargetOK: true, Target: 400 * time.Microsecond, SystemOK: true, System: 13 * time.Second},
	})
	if plain.BusyCores != 1.5 || plain.ServiceCPUPerReq != nil || plain.Succeeded != 9 {
		t.Errorf("plain = %+v", plain)
	}
	m := newPhaseResult("metered c=4 p1", targetMetered, false, loadResult{
		Requests: 2, Elapsed: 2 * time.Second, Latency: []time.Duration{ms(3), ms(6)}, Succeeded: 5, Abandoned: 1,
		CPUStart: cpuSnapshot{TargetOK: true, SystemOK: true, System: 10 * time.Second,
			Services: map[int]time.Duration{7: time.Second, 8: 0}},
		CPUEnd: cpuSnapshot{TargetOK: true, Target: 600 * time.Microsecond, SystemOK: true, System: 12 * time.Second,
			Services:  map[int]time.Duration{7: time.Second + 1200*time.Millisecond, 8: 800 * time.Millisecond},
			RedisPIDs: map[int]bool{8: true}},
	})
	if m.ServiceCPUPerReq == nil || *m.ServiceCPUPerReq != time.Second || m.Abandoned != 1 {
		t.Fatalf("metered = %+v", m)
	}
	// 2s busy, 2s of it the services': nothing left for others.
	if m.OtherCores != 0 || m.BusyCores != 1 {
		t.Errorf("metered other %v busy %v", m.OtherCores, m.BusyCores)
	}
	c := compare(plain, m)
	if c.Base != targetGateway || c.Ratio != 0.5 || c.AddedP50 != ms(1) || *c.BaseCPUPerReq != 100*time.Microsecond {
		t.Errorf("compare = %+v", c)
	}
	want := "ratio metered/gateway (metered c=4 p1): 0.50   added p50 +1.0ms p99 +2.0ms   cpu/req 300µs (gateway 100µs)" +
		"   services cpu/req 1000000µs (Redis 400000µs)   machine busy 50% (gateway 75%)"
	if got := comparisonLine(c, []comparison{c}, 2); got != want {
		t.Errorf("line = %q\nwant   %q", got, want)
	}
	c.BusyCores = -1
	if got := comparisonLine(c, nil, 2); strings.Contains(got, "machine busy") {
		t.Errorf("unknown busy share printed: %q", got)
	}
}

// TestMergeLoad sums two windows: counts, latencies and CPU deltas, each
// CPU figure known only when known in both.
func TestMergeLoad(t *testing.T) {
	w1 := loadResult{Requests: 2, Elapsed: time.Second, Latency: []time.Duration{ms(5), ms(1)}, Succeeded: 3,
		CPUStart: cpuSnapshot{Self: time.Second, TargetOK: true, Target: 2 * time.Second, SystemOK: true, System: 10 * time.Second,
			Services: map[int]time.Duration{7: time.Second}},
		CPUEnd: cpuSnapshot{Self: 2 * time.Second, TargetOK: true, Target: 3 * time.Second, SystemOK: true, System: 12 * time.Second,
			Services: map[int]time.Duration{7: 2 * time.Second, 8: time.Second}, RedisPIDs: map[int]bool{8: true}}}
	w2 := loadResult{Requests: 1, Errors: 1, FirstError: "boom", Elapsed: time.Second, Latency: []time.Duration{ms(3)}, Abandoned: 1,
		CPUStart: cpuSnapshot{Self: 5 * time.Second, TargetOK: true, Target: 5 * time.Second, SystemOK: false,
			Services: map[int]time.Duration{7: 4 * time.Second, 8: 2 * time.Second}},
		CPUEnd: cpuSnapshot{Self: 6 * time.Second, TargetOK: true, Target: 7 * time.Second, SystemOK: true, System: 20 * time.Second,
			Services: map[int]time.Duration{7: 5 * time.Second, 8: 3 * time.Second}, RedisPIDs: map[int]bool{8: true}}}
	var acc loadResult
	mergeLoad(&acc, w1, true)
	mergeLoad(&acc, w2, false)
	if acc.Requests != 3 || acc.Errors != 1 || acc.FirstError != "boom" || acc.Elapsed != 2*time.Second ||
		len(acc.Latency) != 3 || acc.Succeeded != 3 || acc.Abandoned != 1 {
		t.Errorf("counts: %+v", acc)
	}
	e := acc.CPUEnd
	if e.Self != 2*time.Second || !e.TargetOK || e.Target != 3*time.Second || e.SystemOK {
		t.Errorf("CPU sums: %+v", e)
	}
	if got := serviceDelta(acc.CPUStart.Services, e.Services); got != 4*time.Second {
		t.Errorf("services %v, want 4s", got)
	}
	r := newPhaseResult("x", targetMetered, false, acc)
	if r.RedisCPUPerReq == nil || *r.RedisCPUPerReq != time.Second*2/3 || r.BusyCores != -1 {
		t.Errorf("result: Redis %v, busy %v", r.RedisCPUPerReq, r.BusyCores)
	}
	// A window without services makes the sum's unknown.
	mergeLoad(&acc, loadResult{Requests: 1}, false)
	if acc.CPUStart.Services != nil || acc.CPUEnd.Services != nil {
		t.Errorf("services still known: %v", acc.CPUEnd.Services)
	}
}
