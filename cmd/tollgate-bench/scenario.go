package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Target names in the report.
const (
	targetDirect   = "direct"
	targetGateway  = "gateway"
	targetRevProxy = "revproxy"
)

const (
	chatPath = "/v1/chat/completions"
	// holdChunkDelay keeps the memory scenario's streams open; the bench
	// cancels them long before it passes.
	holdChunkDelay = 10 * time.Minute
	// busyThreshold is the CPU use of other processes (in cores) past which
	// a phase is flagged as measured on a busy machine.
	busyThreshold = 0.25
	// streamOpenTimeout bounds the wait for the memory scenario's streams.
	streamOpenTimeout = 60 * time.Second
	// phaseDrain is how long the requests in flight at the end of a load
	// phase may take to finish, so that every request the target served
	// is counted (see loadSpec.Drain).
	phaseDrain = 5 * time.Second
)

// target is an endpoint under load: the fake itself, a gateway or the
// reverse proxy. pid is 0 when the process is unknown (no CPU or memory);
// key is the client key sent; services, when set, finds the server
// processes the target relies on, whose CPU is measured too.
type target struct {
	name     string
	url      string
	model    string
	pid      int
	key      string
	services *serviceProcs
}

// bench is one benchmark run: the fake upstream, the gateway and the report
// being filled.
type bench struct {
	cfg    *config
	log    io.Writer
	ticks  int64
	dir    string
	fake   *fakeUpstream
	gw     *child // nil for an external gateway
	direct target
	gwTgt  target
	prompt string
	rep    report
}

// runBench runs the selected scenarios and prints the report.
func runBench(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	b := &bench{cfg: cfg, log: stderr, ticks: clockTicks(), prompt: buildPrompt(cfg.promptTokens)}
	err := b.setup(ctx)
	if err == nil {
		b.runScenarios(ctx)
	} else {
		b.problem("%v", err)
	}
	b.teardown()
	b.noteBusy()
	if err := b.output(stdout); err != nil {
		return err
	}
	if len(b.rep.Problems) > 0 {
		return fmt.Errorf("%d problem(s), see the report", len(b.rep.Problems))
	}
	return nil
}

// setup raises the file limit, starts the fake and the gateway, and reads
// the gateway's idle memory.
func (b *bench) setup(ctx context.Context) error {
	want := uint64(4*b.cfg.streams + 8*b.cfg.concurrency + 1024)
	nofile, err := raiseNofile(want)
	if err != nil || nofile < want {
		b.note("open-file limit is %d, %d wanted (%v)", nofile, want, err)
	}
	b.rep.Machine = readMachineInfo(b.ticks, nofile)
	c := b.cfg
	b.rep.Settings = settings{Duration: c.duration, Warmup: c.warmup, Concurrency: c.concurrency,
		PromptTokens: c.promptTokens, MaxRequests: c.maxRequests, Streams: c.streams}
	if b.dir, err = os.MkdirTemp("", "tollgate-bench-*"); err != nil {
		return err
	}
	if b.fake, err = startFake(c.fakeAddr); err != nil {
		return err
	}
	b.direct = target{name: targetDirect, url: b.fake.BaseURL + chatPath, model: "fake-model", key: c.key}
	if !c.needsGateway() {
		return nil
	}
	if err := b.startGateway(ctx); err != nil {
		return err
	}
	b.direct.key = b.gwTgt.key // the same header size for both
	return nil
}

// startGateway starts (or attaches to) the gateway under test. A gateway
// it starts runs on SQLite in the temporary directory, and unless -key is
// given, the benchmark sends a key it creates through the admin API for a
// customer on the enterprise tier (no limits).
func (b *bench) startGateway(ctx context.Context) error {
	c := b.cfg
	b.gwTgt = target{name: targetGateway, model: modelPlain, key: c.key}
	switch {
	case c.gatewayURL != "":
		b.gwTgt.url = strings.TrimSuffix(c.gatewayURL, "/") + chatPath
		b.gwTgt.pid = c.gatewayPID
		if c.gatewayPID == 0 {
			b.note("external gateway %s: its CPU and memory are not measured", c.gatewayURL)
		}
		return nil
	case c.gatewaySelfProxy:
		b.logf("starting a reverse-proxy child as the gateway (testing mode)")
		gw, base, err := startProxyChild(b.fake.BaseURL, filepath.Join(b.dir, "gateway.log"))
		if err != nil {
			return err
		}
		b.gw, b.gwTgt.url, b.gwTgt.pid = gw, base+chatPath, gw.PID()
	default:
		b.logf("starting gateway %s", c.gateway)
		gw, base, err := startGateway(ctx, gatewayOpts{Binary: c.gateway, FakeBaseURL: b.fake.BaseURL, Dir: b.dir, Name: targetGateway})
		if err != nil {
			return err
		}
		b.gw, b.gwTgt.url, b.gwTgt.pid = gw, base+chatPath, gw.PID()
		if c.key == "" {
			admin := adminClient{base: base, key: benchAdminKey}
			if b.gwTgt.key, _, err = admin.provisionKey(ctx, "bench", "enterprise"); err != nil {
				return fmt.Errorf("gateway: %w", err)
			}
		}
	}
	return nil
}

// runScenarios runs the selected scenarios in their fixed order. Memory
// is measured first, on a fresh process: after the throughput phases the
// runtime still holds heap it grew for them (it returns memory to the OS
// lazily), which would be charged to the open streams.
func (b *bench) runScenarios(ctx context.Context) {
	c := b.cfg
	if c.scenarios[scMemory] {
		if b.gwTgt.pid == 0 {
			b.note("memory scenario skipped: the gateway's process is unknown")
		} else {
			b.memory(ctx, b.gwTgt, b.idleRSS(b.gwTgt))
		}
	}
	label := func(s string) string { return fmt.Sprintf("%s c=%d", s, c.concurrency) }
	if c.scenarios[scNonstream] {
		b.compareScenario(ctx, label(scNonstream), false, 0, b.gwTgt)
	}
	if c.scenarios[scStream] {
		b.compareScenario(ctx, label(scStream), true, 0, b.gwTgt)
	}
	if c.scenarios[scLatency] {
		b.compareScenario(ctx, label(scNonstream+" "+fmtDur(c.fakeLatency)), false, c.fakeLatency, b.gwTgt)
	}
	if c.scenarios[scBaseline] {
		b.baseline(ctx)
	}
	if c.scenarios[scCacheHit] {
		b.cacheHit(ctx)
	}
	if c.scenarios[scMetered] {
		b.metered(ctx)
	}
}

// baseline runs the non-stream scenario through a bare reverse proxy child
// (and, with the memory scenario, its memory too).
func (b *bench) baseline(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	b.logf("starting the baseline reverse-proxy child")
	rp, base, err := startProxyChild(b.fake.BaseURL, filepath.Join(b.dir, "revproxy.log"))
	if err != nil {
		b.problem("baseline: %v", err)
		return
	}
	defer rp.Stop(5 * time.Second)
	tgt := target{name: targetRevProxy, url: base + chatPath, model: "fake-model", pid: rp.PID(), key: b.direct.key}
	if b.cfg.scenarios[scMemory] {
		b.memory(ctx, tgt, b.idleRSS(tgt)) // first, on a fresh process, as for the gateway
	}
	b.compareScenario(ctx, fmt.Sprintf("%s c=%d", scBaseline, b.cfg.concurrency), false, 0, tgt)
}

// compareScenario runs direct and then other under the same load, fresh
// connections each, and records both and their comparison.
func (b *bench) compareScenario(ctx context.Context, label string, stream bool, latency time.Duration, other target) {
	if ctx.Err() != nil {
		return
	}
	b.fake.SetDelays(latency, 0)
	d := b.phase(ctx, label, b.direct, stream, b.prompt)
	o := b.phase(ctx, label, other, stream, b.prompt)
	b.rep.Results = append(b.rep.Results, d, o)
	b.rep.Comparisons = append(b.rep.Comparisons, compare(d, o))
	b.checkGateway()
}

// phase runs one load phase against tgt.
func (b *bench) phase(ctx context.Context, label string, tgt target, stream bool, prompt string) phaseResult {
	c := b.cfg
	b.logf("%-19s %-9s warm-up %v, measuring %v", label, tgt.name, c.warmup, c.duration)
	return b.result(label, tgt, stream, b.load(ctx, tgt, stream, prompt, c.warmup, c.duration))
}

// load runs one load window against tgt.
func (b *bench) load(ctx context.Context, tgt target, stream bool, prompt string, warmup, duration time.Duration) loadResult {
	c := b.cfg
	return runLoad(ctx, loadSpec{
		URL: tgt.url, Body: chatBody(tgt.model, prompt, stream), Key: tgt.key, Stream: stream,
		Concurrency: c.concurrency, Warmup: warmup, Duration: duration, MaxRequests: c.maxRequests,
		Drain: phaseDrain, Snapshot: b.snapshotter(ctx, tgt),
	})
}

// result turns what a phase against tgt measured into its result, and
// records its problems.
func (b *bench) result(label string, tgt target, stream bool, lr loadResult) phaseResult {
	r := newPhaseResult(label, tgt.name, stream, lr)
	if tgt.name != targetDirect && tgt.pid == 0 {
		r.OtherCores = -1 // the unknown process under test would count as "other"
	}
	if r.Errors > 0 {
		b.problem("%s %s: %d failed requests (first: %s)", label, tgt.name, r.Errors, r.FirstError)
	}
	if r.Requests == 0 {
		b.problem("%s %s: no request completed in the measured window", label, tgt.name)
	}
	if r.Capped {
		b.note("%s %s: stopped early at -max-requests %d", label, tgt.name, b.cfg.maxRequests)
	}
	return r
}

// interleaved measures x and y under the same load in rounds alternating
// slices of -duration/rounds (x y y x x y ...), so that a machine whose
// speed drifts during the run (a shared VM: seen here to vary by a third
// within a minute) weighs on both alike, where two back-to-back phases
// would credit the drift to whichever ran in the faster half. Each side's
// first slice warms up for -warmup, later ones (fresh connections, warm
// processes) for at most a second.
func (b *bench) interleaved(ctx context.Context, label string, x, y target, prompt string, rounds int) (phaseResult, phaseResult) {
	c := b.cfg
	slice := c.duration / time.Duration(rounds)
	b.logf("%-19s %s and %s alternately, %d slices of %v each", label, x.name, y.name, rounds, slice)
	var accX, accY loadResult
	for i := range 2 * rounds {
		if ctx.Err() != nil {
			break
		}
		tgt, acc := x, &accX
		if (i+1)/2%2 == 1 { // x y y x x y y x
			tgt, acc = y, &accY
		}
		warm := c.warmup
		if i >= 2 {
			warm = min(warm, time.Second)
		}
		lr := b.load(ctx, tgt, false, prompt, warm, slice)
		if lr.Elapsed > 0 {
			b.logf("%-19s %-9s slice %d/%d: %.0f req/s", label, tgt.name, i/2+1, rounds, float64(lr.Requests)/lr.Elapsed.Seconds())
		}
		mergeLoad(acc, lr, i < 2)
	}
	slices.Sort(accX.Latency)
	slices.Sort(accY.Latency)
	return b.result(label, x, false, accX), b.result(label, y, false, accY)
}

// snapshotter returns the CPU snapshot function of one phase against tgt.
// The services of tgt, if any, are read first at the window's start and
// last at its end, so that their slower reading does not stretch the
// other measurements.
func (b *bench) snapshotter(ctx context.Context, tgt target) func() cpuSnapshot {
	var svc *serviceMeter
	if tgt.services != nil {
		svc = &serviceMeter{procs: tgt.services}
	}
	calls := 0
	return func() cpuSnapshot {
		calls++
		var s cpuSnapshot
		if svc != nil && calls == 1 {
			s.Services, s.RedisPIDs = svc.snapshot(ctx), svc.redis
		}
		s.Self = selfCPU()
		sys, err := systemBusy(b.ticks)
		s.System, s.SystemOK = sys, err == nil
		if tgt.pid != 0 {
			cpu, err := procCPU(tgt.pid, b.ticks)
			s.Target, s.TargetOK = cpu, err == nil
		}
		if svc != nil && calls > 1 {
			s.Services, s.RedisPIDs = svc.snapshot(ctx), svc.redis
		}
		return s
	}
}

// idleRSS reads a process's memory before load, after a short settling
// pause.
func (b *bench) idleRSS(tgt target) int64 {
	time.Sleep(500 * time.Millisecond)
	rss, err := procRSS(tgt.pid)
	if err != nil {
		b.problem("%s idle memory: %v", tgt.name, err)
	}
	return rss
}

// memory holds -streams open streams through tgt and reads its memory.
func (b *bench) memory(ctx context.Context, tgt target, idle int64) {
	n := b.cfg.streams
	b.logf("memory %-12s opening %d streams", tgt.name, n)
	b.fake.SetDelays(0, holdChunkDelay)
	defer b.fake.SetDelays(0, 0)
	h, err := openStreams(ctx, tgt.url, chatBody(tgt.model, b.prompt, true), tgt.key, n, streamOpenTimeout)
	if err != nil {
		b.problem("memory %s: %v", tgt.name, err)
		return
	}
	rss, err := procRSS(tgt.pid)
	ended := h.Ended()
	h.Release()
	if err != nil {
		b.problem("memory %s: %v", tgt.name, err)
		return
	}
	if ended > 0 {
		b.problem("memory %s: %d of %d streams ended before memory was read", tgt.name, ended, n)
	}
	b.rep.Memory = append(b.rep.Memory, memoryResult{Target: tgt.name, IdleRSS: idle, Streams: n, StreamsRSS: rss})
	b.checkGateway()
}

// checkGateway records a problem if the gateway child has exited.
func (b *bench) checkGateway() {
	if b.gw == nil {
		return
	}
	if done, err := b.gw.Exited(); done {
		b.problem("the gateway exited during the run: %v (log: %s)", err, b.gw.logPath)
		b.gw = nil
	}
}

// noteBusy adds one note if other processes used the machine while
// measuring.
func (b *bench) noteBusy() {
	busy, most := 0, 0.0
	for _, r := range b.rep.Results {
		if r.OtherCores >= busyThreshold {
			busy++
			most = max(most, r.OtherCores)
		}
	}
	if busy > 0 {
		b.note("busy machine: other processes used up to %.1f of %d cores in %d of %d phases: numbers are noisy, rerun on a quiet machine",
			most, b.rep.Machine.Cores, busy, len(b.rep.Results))
	}
}

// teardown stops the children and the fake; the temporary directory with
// the gateway log is kept when something went wrong.
func (b *bench) teardown() {
	if b.gw != nil {
		b.gw.Stop(10 * time.Second)
	}
	if b.fake != nil {
		_ = b.fake.Close()
	}
	if b.dir == "" {
		return
	}
	if len(b.rep.Problems) > 0 {
		b.note("logs kept in %s (gateway.log, metered.log, revproxy.log)", b.dir)
		return
	}
	_ = os.RemoveAll(b.dir)
}

// output prints the report to stdout and to -out.
func (b *bench) output(stdout io.Writer) error {
	var sb strings.Builder
	if b.cfg.jsonOut {
		enc := json.NewEncoder(&sb)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&b.rep); err != nil {
			return err
		}
	} else {
		writeTable(&sb, &b.rep)
	}
	if _, err := io.WriteString(stdout, sb.String()); err != nil {
		return err
	}
	if b.cfg.outFile != "" {
		return os.WriteFile(b.cfg.outFile, []byte(sb.String()), 0o644)
	}
	return nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "tollgate-bench: "+format+"\n", args...)
}

func (b *bench) note(format string, args ...any) {
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf(format, args...))
}

func (b *bench) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.rep.Problems = append(b.rep.Problems, msg)
	b.logf("PROBLEM: %s", msg)
}

// chatBody builds an OpenAI chat completion request body. Streams ask for
// the usage chunk, so that direct and gateway clients read the same events.
func chatBody(model, prompt string, stream bool) []byte {
	type message struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	type streamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	}
	body := struct {
		Model         string         `json:"model"`
		Messages      []message      `json:"messages"`
		Stream        bool           `json:"stream"`
		StreamOptions *streamOptions `json:"stream_options,omitempty"`
	}{Model: model, Messages: []message{{Role: "user", Content: prompt}}, Stream: stream}
	if stream {
		body.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	data, err := json.Marshal(body)
	if err != nil {
		panic(err) // cannot happen: plain strings and bools
	}
	return data
}

// buildPrompt returns a one-line prompt for tokens <= 1, else about tokens
// tokens of common English words (one token each in the usual BPE
// vocabularies) in sentences of eleven words and a period.
func buildPrompt(tokens int) string {
	if tokens <= 1 {
		return "Say hello in one short sentence."
	}
	words := strings.Fields("the quick brown fox jumps over a lazy dog while people watch from their house near old river and green hills under clear blue sky")
	var sb strings.Builder
	for i := 0; i < tokens; i++ {
		if i%12 == 11 {
			sb.WriteByte('.')
			continue
		}
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(words[i%len(words)])
	}
	return sb.String()
}
