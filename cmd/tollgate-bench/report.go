package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// report is everything one run measured; it is printed as a table or JSON.
type report struct {
	Machine     machineInfo    `json:"machine"`
	Settings    settings       `json:"settings"`
	Results     []phaseResult  `json:"results"`
	Comparisons []comparison   `json:"comparisons"`
	Memory      []memoryResult `json:"memory,omitempty"`
	Metered     *meteredInfo   `json:"metered,omitempty"`
	// Notes are remarks on the run; Problems are failures that make its
	// numbers untrustworthy (the run then exits non-zero).
	Notes    []string `json:"notes,omitempty"`
	Problems []string `json:"problems,omitempty"`
}

// settings are the load settings of a run.
type settings struct {
	Duration     time.Duration `json:"duration_ns"`
	Warmup       time.Duration `json:"warmup_ns"`
	Concurrency  int           `json:"concurrency"`
	PromptTokens int           `json:"prompt_tokens"`
	MaxRequests  int64         `json:"max_requests"`
	Streams      int           `json:"streams"`
}

// phaseResult is one row of the table: one target under one scenario.
// Durations are in nanoseconds in JSON.
type phaseResult struct {
	Scenario   string        `json:"scenario"`
	Target     string        `json:"target"`
	Stream     bool          `json:"stream"`
	Requests   int           `json:"requests"`
	Errors     int64         `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
	Seconds    float64       `json:"seconds"`
	RPS        float64       `json:"rps"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	Max        time.Duration `json:"max_ns"`
	TTFBP50    time.Duration `json:"ttfb_p50_ns,omitempty"`
	TTFBP99    time.Duration `json:"ttfb_p99_ns,omitempty"`
	// CPUPerReq is the CPU time of the process under test per request;
	// nil when it is not measured (direct calls, an external gateway).
	CPUPerReq *time.Duration `json:"cpu_per_req_ns,omitempty"`
	// BenchCPUPerReq is this process's CPU time (load generator and fake
	// upstream) per request.
	BenchCPUPerReq time.Duration `json:"bench_cpu_per_req_ns"`
	// ServiceCPUPerReq is the CPU time per request of the server processes
	// the target relies on (PostgreSQL backends, Redis); nil when not
	// measured.
	ServiceCPUPerReq *time.Duration `json:"service_cpu_per_req_ns,omitempty"`
	// RedisCPUPerReq is Redis's share of ServiceCPUPerReq.
	RedisCPUPerReq *time.Duration `json:"redis_cpu_per_req_ns,omitempty"`
	// OtherCores is the CPU used by other processes on the machine while
	// measuring, in cores (-1 when unknown); measured services are not
	// "other".
	OtherCores float64 `json:"other_cores"`
	// BusyCores is the CPU used by the whole machine while measuring, in
	// cores (-1 when unknown).
	BusyCores float64 `json:"busy_cores"`
	Capped    bool    `json:"capped,omitempty"`
	// Succeeded counts every successful request of the phase (warm-up and
	// drain included), Abandoned those cancelled in flight.
	Succeeded int64 `json:"succeeded_all"`
	Abandoned int64 `json:"abandoned,omitempty"`
}

// comparison sets a target against a base (the direct calls, or the
// pass-through gateway for the metered scenario) under the same load.
type comparison struct {
	Scenario     string         `json:"scenario"`
	Target       string         `json:"target"`
	Base         string         `json:"base"`
	Stream       bool           `json:"stream"`
	Ratio        float64        `json:"ratio"`
	AddedP50     time.Duration  `json:"added_p50_ns"`
	AddedP99     time.Duration  `json:"added_p99_ns"`
	AddedTTFBP50 time.Duration  `json:"added_ttfb_p50_ns,omitempty"`
	AddedTTFBP99 time.Duration  `json:"added_ttfb_p99_ns,omitempty"`
	CPUPerReq    *time.Duration `json:"cpu_per_req_ns,omitempty"`
	// For a base that is itself measured (the metered scenario): its CPU
	// per request, the target's services' CPU per request, and the whole
	// machine's busy cores during each phase.
	BaseCPUPerReq    *time.Duration `json:"base_cpu_per_req_ns,omitempty"`
	ServiceCPUPerReq *time.Duration `json:"service_cpu_per_req_ns,omitempty"`
	RedisCPUPerReq   *time.Duration `json:"redis_cpu_per_req_ns,omitempty"`
	BaseBusyCores    float64        `json:"base_busy_cores"`
	BusyCores        float64        `json:"busy_cores"`
}

// memoryResult is the resident memory of a process under test, idle and
// while holding open streams.
type memoryResult struct {
	Target     string `json:"target"`
	IdleRSS    int64  `json:"idle_rss_bytes"`
	Streams    int    `json:"streams"`
	StreamsRSS int64  `json:"streams_rss_bytes"`
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted values by
// the nearest-rank method, or 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// newPhaseResult summarizes one load phase.
func newPhaseResult(scenario, target string, stream bool, lr loadResult) phaseResult {
	r := phaseResult{
		Scenario: scenario, Target: target, Stream: stream,
		Requests: lr.Requests, Errors: lr.Errors, FirstError: lr.FirstError,
		Seconds: lr.Elapsed.Seconds(), Capped: lr.Capped,
		P50: percentile(lr.Latency, 50), P99: percentile(lr.Latency, 99), Max: percentile(lr.Latency, 100),
		TTFBP50: percentile(lr.TTFB, 50), TTFBP99: percentile(lr.TTFB, 99),
		Succeeded: lr.Succeeded, Abandoned: lr.Abandoned, BusyCores: -1,
	}
	if lr.Elapsed > 0 {
		r.RPS = float64(lr.Requests) / lr.Elapsed.Seconds()
	}
	r.OtherCores = otherCores(lr)
	if lr.CPUStart.SystemOK && lr.CPUEnd.SystemOK && lr.Elapsed > 0 {
		r.BusyCores = (lr.CPUEnd.System - lr.CPUStart.System).Seconds() / lr.Elapsed.Seconds()
	}
	if lr.Requests > 0 && lr.CPUStart.Services != nil && lr.CPUEnd.Services != nil {
		svc := serviceDelta(lr.CPUStart.Services, lr.CPUEnd.Services) / time.Duration(lr.Requests)
		r.ServiceCPUPerReq = &svc
		isRedis := func(pid int) bool { return lr.CPUEnd.RedisPIDs[pid] }
		red := serviceDeltaOf(lr.CPUStart.Services, lr.CPUEnd.Services, isRedis) / time.Duration(lr.Requests)
		r.RedisCPUPerReq = &red
	}
	if lr.Requests > 0 {
		r.BenchCPUPerReq = (lr.CPUEnd.Self - lr.CPUStart.Self) / time.Duration(lr.Requests)
		if lr.CPUStart.TargetOK && lr.CPUEnd.TargetOK {
			cpu := (lr.CPUEnd.Target - lr.CPUStart.Target) / time.Duration(lr.Requests)
			r.CPUPerReq = &cpu
		}
	}
	return r
}

// otherCores returns the cores used during the window by processes other
// than this one and the one under test, or -1 if unknown.
func otherCores(lr loadResult) float64 {
	a, b := lr.CPUStart, lr.CPUEnd
	if !a.SystemOK || !b.SystemOK || lr.Elapsed <= 0 {
		return -1
	}
	other := (b.System - a.System) - (b.Self - a.Self)
	if a.TargetOK && b.TargetOK {
		other -= b.Target - a.Target
	}
	if a.Services != nil && b.Services != nil {
		other -= serviceDelta(a.Services, b.Services)
	}
	return max(other.Seconds()/lr.Elapsed.Seconds(), 0)
}

// compare sets other against base.
func compare(base, other phaseResult) comparison {
	c := comparison{
		Scenario: other.Scenario, Target: other.Target, Base: base.Target, Stream: other.Stream,
		AddedP50: other.P50 - base.P50, AddedP99: other.P99 - base.P99,
		CPUPerReq: other.CPUPerReq, BaseCPUPerReq: base.CPUPerReq, ServiceCPUPerReq: other.ServiceCPUPerReq,
		RedisCPUPerReq: other.RedisCPUPerReq, BaseBusyCores: base.BusyCores, BusyCores: other.BusyCores,
	}
	if base.RPS > 0 {
		c.Ratio = other.RPS / base.RPS
	}
	if other.Stream {
		c.AddedTTFBP50 = other.TTFBP50 - base.TTFBP50
		c.AddedTTFBP99 = other.TTFBP99 - base.TTFBP99
	}
	return c
}

// fmtDur formats a latency compactly: 850µs, 1.4ms, 12ms, 1.25s.
func fmtDur(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d < time.Millisecond:
		s = fmt.Sprintf("%dµs", d/time.Microsecond)
	case d < 10*time.Millisecond:
		s = fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		s = fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	default:
		s = fmt.Sprintf("%.2fs", d.Seconds())
	}
	if neg {
		return "-" + s
	}
	return s
}

// fmtAdded formats a latency difference with its sign.
func fmtAdded(d time.Duration) string {
	if d < 0 {
		return fmtDur(d)
	}
	return "+" + fmtDur(d)
}

// fmtCPU formats a CPU time per request in microseconds.
func fmtCPU(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	if us < 10 {
		return fmt.Sprintf("%.1fµs", us)
	}
	return fmt.Sprintf("%.0fµs", us)
}

// fmtMiB formats a byte count in MiB.
func fmtMiB(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

const tableFormat = "%-19s %-9s %8s %7s %7s %7s %8s %8s %8s %10s %7s\n"

// writeTable prints the report for people.
func writeTable(w io.Writer, rep *report) {
	fmt.Fprintf(w, tableFormat, "scenario", "target", "req/s", "p50", "p99", "max", "ttfb-p50", "ttfb-p99", "cpu/req", "bench-cpu", "others")
	for _, r := range rep.Results {
		ttfb50, ttfb99, cpu, others := "", "", "", "?"
		if r.Stream {
			ttfb50, ttfb99 = fmtDur(r.TTFBP50), fmtDur(r.TTFBP99)
		}
		if r.CPUPerReq != nil {
			cpu = fmtCPU(*r.CPUPerReq)
		}
		if r.OtherCores >= 0 {
			others = fmt.Sprintf("%.1f", r.OtherCores)
		}
		fmt.Fprintf(w, tableFormat, r.Scenario, r.Target, fmt.Sprintf("%.0f", r.RPS),
			fmtDur(r.P50), fmtDur(r.P99), fmtDur(r.Max), ttfb50, ttfb99, cpu, fmtCPU(r.BenchCPUPerReq), others)
	}
	for _, c := range rep.Comparisons {
		fmt.Fprintln(w, comparisonLine(c, rep.Comparisons, rep.Machine.Cores))
	}
	for _, m := range rep.Memory {
		fmt.Fprintln(w, memoryLine(m))
	}
	if rep.Metered != nil {
		for _, line := range rep.Metered.lines() {
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprintf(w, "machine: %d cores, %s, %s, %s\n", rep.Machine.Cores, rep.Machine.CPU, rep.Machine.Go, rep.Machine.OSArch)
	s := rep.Settings
	fmt.Fprintf(w, "settings: duration %v, warm-up %v, prompt ~%d tokens\n", s.Duration, s.Warmup, s.PromptTokens)
	fmt.Fprintln(w, "columns: cpu/req = process under test, bench-cpu = load generator + fake upstream, others = cores used by other processes")
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(w, "!!! %d PROBLEM(S): the numbers above are not trustworthy\n", len(rep.Problems))
		for _, p := range rep.Problems {
			fmt.Fprintln(w, "!!!", p)
		}
	}
}

// comparisonLine prints one ratio line; a baseline line also shows the
// gateway's CPU per request from the non-stream scenario, as a yardstick. A
// line against a measured base (the metered scenario) shows both CPU
// figures, the services' CPU and the machine's busy share (of cores).
func comparisonLine(c comparison, all []comparison, cores int) string {
	var b strings.Builder
	base := cmp.Or(c.Base, targetDirect)
	fmt.Fprintf(&b, "ratio %s/%s (%s): %.2f   added p50 %s p99 %s", c.Target, base, c.Scenario, c.Ratio, fmtAdded(c.AddedP50), fmtAdded(c.AddedP99))
	if c.Stream {
		fmt.Fprintf(&b, "   ttfb p50 %s p99 %s", fmtAdded(c.AddedTTFBP50), fmtAdded(c.AddedTTFBP99))
	}
	if c.CPUPerReq != nil {
		fmt.Fprintf(&b, "   cpu/req %s", fmtCPU(*c.CPUPerReq))
		if c.BaseCPUPerReq != nil {
			fmt.Fprintf(&b, " (%s %s)", base, fmtCPU(*c.BaseCPUPerReq))
		}
	}
	if c.ServiceCPUPerReq != nil {
		fmt.Fprintf(&b, "   services cpu/req %s", fmtCPU(*c.ServiceCPUPerReq))
		if c.RedisCPUPerReq != nil {
			fmt.Fprintf(&b, " (Redis %s)", fmtCPU(*c.RedisCPUPerReq))
		}
	}
	if base != targetDirect && c.BusyCores >= 0 && c.BaseBusyCores >= 0 && cores > 0 {
		fmt.Fprintf(&b, "   machine busy %.0f%% (%s %.0f%%)", 100*c.BusyCores/float64(cores), base, 100*c.BaseBusyCores/float64(cores))
	}
	if c.Target == targetRevProxy {
		for _, g := range all {
			if g.Target == targetGateway && !g.Stream && strings.HasPrefix(g.Scenario, scNonstream+" c=") {
				fmt.Fprintf(&b, "   (gateway: ratio %.2f", g.Ratio)
				if g.CPUPerReq != nil {
					fmt.Fprintf(&b, ", cpu/req %s", fmtCPU(*g.CPUPerReq))
				}
				b.WriteString(")")
			}
		}
	}
	return b.String()
}

// memoryLine prints one memory result.
func memoryLine(m memoryResult) string {
	line := fmt.Sprintf("memory %s (fresh process): idle %s, %d open streams %s", m.Target, fmtMiB(m.IdleRSS), m.Streams, fmtMiB(m.StreamsRSS))
	if m.Streams > 0 && m.StreamsRSS > m.IdleRSS {
		line += fmt.Sprintf(" (%.1f KiB/stream)", float64(m.StreamsRSS-m.IdleRSS)/1024/float64(m.Streams))
	}
	return line
}
