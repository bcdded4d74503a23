// Command tollgate-bench measures the Tollgate gateway against a direct call
// to a fast in-process fake OpenAI upstream, under the same closed-loop load
// and in one run, and prints the throughput ratio, the latency the gateway
// adds, its CPU time per request and its memory while holding open streams.
//
// Usage:
//
//	go build -o bin/tollgate ./cmd/tollgate
//	go run ./cmd/tollgate-bench -gateway bin/tollgate
//
// Everything runs on loopback: the fake upstream lives in this process, the
// gateway (and the baseline reverse proxy, a re-execution of this binary) in
// child processes so that their CPU time can be read from /proc. Every load
// phase is bounded by -duration and -max-requests and stops by itself.
//
// The gateway runs on SQLite in a temporary directory; the benchmark sends
// a client key it creates through the admin API for a customer on the
// enterprise tier (no limits), unless -key is given. The metered scenario
// starts a second gateway on PostgreSQL (-postgres-url, a fresh schema
// dropped afterwards; psql must be installed) and Redis (-redis-url), with
// a key whose tier has limits on every window (never reached) and a priced
// model, compares it with the first at the same load, with a one-line and
// a 4,000-token prompt, and checks that the ledger holds one usage event
// per request. Without PostgreSQL or Redis it is skipped with a note,
// unless -scenarios names it.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Scenario names accepted by -scenarios, in the order they run.
const (
	scNonstream = "nonstream"
	scStream    = "stream"
	scLatency   = "latency"
	scMemory    = "memory"
	scBaseline  = "baseline"
	scCacheHit  = "cachehit"
	scMetered   = "metered"
)

// allScenarios returns every scenario name in run order.
func allScenarios() []string {
	return []string{scNonstream, scStream, scLatency, scMemory, scBaseline, scCacheHit, scMetered}
}

// Defaults of -postgres-url and -redis-url when TOLLGATE_TEST_POSTGRES_URL
// and TOLLGATE_TEST_REDIS_URL are unset: the services scripts/test.sh
// starts or finds.
const (
	defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/15"
)

// config holds every command-line setting of one run.
type config struct {
	scenarios    map[string]bool
	duration     time.Duration
	warmup       time.Duration
	concurrency  int
	gateway      string
	gatewayURL   string
	key          string
	maxRequests  int64
	streams      int
	promptTokens int
	fakeLatency  time.Duration
	fakeAddr     string
	jsonOut      bool
	outFile      string
	postgresURL  string
	redisURL     string
	// meteredRequired is set when -scenarios names metered: then missing
	// PostgreSQL or Redis fail the run instead of skipping the scenario.
	meteredRequired bool

	// Hidden settings: the reverse-proxy child mode and test hooks.
	serveReverseProxy bool
	upstream          string
	listen            string
	gatewayPID        int
	gatewaySelfProxy  bool
}

// isHiddenFlag reports whether a flag is left out of -help: such flags
// serve the tool itself (the reverse-proxy child) and its tests.
func isHiddenFlag(name string) bool {
	switch name {
	case "serve-reverseproxy", "upstream", "listen", "gateway-pid", "gateway-self-proxy":
		return true
	}
	return false
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tollgate-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.serveReverseProxy {
		err = serveReverseProxy(ctx, cfg.upstream, cfg.listen, os.Stdin, os.Stdout, os.Stderr)
	} else {
		err = runBench(ctx, cfg, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tollgate-bench:", err)
		os.Exit(1)
	}
}

// parseFlags parses args into a config and checks it; getenv supplies the
// defaults of -postgres-url and -redis-url.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("tollgate-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenarios := fs.String("scenarios", strings.Join(allScenarios(), ","), "comma-separated scenarios to run: "+strings.Join(allScenarios(), ","))
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured time of each load phase")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unrecorded warm-up before each load phase")
	fs.IntVar(&cfg.concurrency, "c", 64, "concurrent closed-loop workers")
	fs.StringVar(&cfg.gateway, "gateway", "", "path of the tollgate binary to start (required unless -gateway-url)")
	fs.StringVar(&cfg.gatewayURL, "gateway-url", "", "base URL of an already running gateway (its CPU and memory are then not reported; point its config at -fake-addr)")
	fs.StringVar(&cfg.key, "key", "", "client API key sent to the gateway; empty: a key on the enterprise tier created through the admin API (required with -gateway-url)")
	fs.Int64Var(&cfg.maxRequests, "max-requests", 5_000_000, "hard cap on requests of one load phase")
	fs.IntVar(&cfg.streams, "streams", 1000, "open streams held for the memory scenario")
	fs.IntVar(&cfg.promptTokens, "prompt-tokens", 1, "prompt size in tokens (1: a one-line prompt)")
	fs.DurationVar(&cfg.fakeLatency, "fake-latency", 50*time.Millisecond, "upstream latency of the latency scenario")
	fs.StringVar(&cfg.fakeAddr, "fake-addr", "127.0.0.1:0", "loopback address of the fake upstream")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print machine-readable JSON instead of the table")
	fs.StringVar(&cfg.outFile, "out", "", "also write the output to this file")
	fs.StringVar(&cfg.postgresURL, "postgres-url", cmp.Or(getenv("TOLLGATE_TEST_POSTGRES_URL"), defaultPostgresURL),
		"PostgreSQL of the metered scenario, from $TOLLGATE_TEST_POSTGRES_URL when set; it runs in a fresh schema, dropped afterwards")
	fs.StringVar(&cfg.redisURL, "redis-url", cmp.Or(getenv("TOLLGATE_TEST_REDIS_URL"), defaultRedisURL),
		"Redis of the metered scenario, from $TOLLGATE_TEST_REDIS_URL when set")
	fs.BoolVar(&cfg.serveReverseProxy, "serve-reverseproxy", false, "internal: run as the baseline reverse proxy child")
	fs.StringVar(&cfg.upstream, "upstream", "", "internal: upstream base URL of -serve-reverseproxy")
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:0", "internal: listen address of -serve-reverseproxy")
	fs.IntVar(&cfg.gatewayPID, "gateway-pid", 0, "testing: pid behind -gateway-url, to report its CPU and memory")
	fs.BoolVar(&cfg.gatewaySelfProxy, "gateway-self-proxy", false, "testing: use a reverse-proxy child as the gateway")
	fs.Usage = func() { printUsage(fs) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	sc, err := parseScenarios(*scenarios)
	if err != nil {
		return nil, err
	}
	cfg.scenarios = sc
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "scenarios" {
			cfg.meteredRequired = namesScenario(*scenarios, scMetered)
		}
	})
	return cfg, cfg.validate()
}

// printUsage prints the flags that are not hidden.
func printUsage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintln(out, "Usage: tollgate-bench -gateway bin/tollgate [flags]")
	fs.VisitAll(func(f *flag.Flag) {
		if isHiddenFlag(f.Name) {
			return
		}
		fmt.Fprintf(out, "  -%s\n    \t%s (default %q)\n", f.Name, f.Usage, f.DefValue)
	})
}

// parseScenarios turns "a,b" into a set, rejecting unknown names.
func parseScenarios(s string) (map[string]bool, error) {
	set := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "all" {
			for _, n := range allScenarios() {
				set[n] = true
			}
			continue
		}
		if !slices.Contains(allScenarios(), name) {
			return nil, fmt.Errorf("unknown scenario %q (want %s)", name, strings.Join(allScenarios(), ","))
		}
		set[name] = true
	}
	if len(set) == 0 {
		return nil, errors.New("no scenario selected")
	}
	return set, nil
}

// namesScenario reports whether the -scenarios list s names scenario
// itself ("all" does not count).
func namesScenario(s, scenario string) bool {
	for _, name := range strings.Split(s, ",") {
		if strings.TrimSpace(name) == scenario {
			return true
		}
	}
	return false
}

// validate checks the settings of a benchmark run.
func (c *config) validate() error {
	if c.serveReverseProxy {
		if c.upstream == "" {
			return errors.New("-serve-reverseproxy needs -upstream")
		}
		return nil
	}
	switch {
	case c.duration <= 0 || c.warmup < 0:
		return errors.New("-duration must be positive and -warmup not negative")
	case c.concurrency < 1:
		return errors.New("-c must be at least 1")
	case c.maxRequests < 1:
		return errors.New("-max-requests must be at least 1")
	case c.streams < 1:
		return errors.New("-streams must be at least 1")
	case c.promptTokens < 1:
		return errors.New("-prompt-tokens must be at least 1")
	}
	if c.needsGateway() && c.gateway == "" && c.gatewayURL == "" && !c.gatewaySelfProxy {
		return errors.New("-gateway (path of the tollgate binary) or -gateway-url is required")
	}
	if c.needsGateway() && c.gatewayURL != "" && c.key == "" {
		return errors.New("-gateway-url needs -key (a client key of that gateway)")
	}
	if c.meteredRequired && (c.gateway == "" || c.gatewayURL != "" || c.gatewaySelfProxy) {
		return errors.New("the metered scenario starts two gateways itself: it needs -gateway and no -gateway-url")
	}
	return nil
}

// needsGateway reports whether a selected scenario measures the gateway.
func (c *config) needsGateway() bool {
	return c.scenarios[scNonstream] || c.scenarios[scStream] || c.scenarios[scLatency] || c.scenarios[scMemory] || c.scenarios[scMetered]
}
