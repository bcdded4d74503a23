package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"time"

	"github.com/tollgate-gw/tollgate/cmd/tollgate/internal/config"
	"github.com/tollgate-gw/tollgate/metering"
	"github.com/tollgate-gw/tollgate/metering/tokens"
	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/anthropic"
	"github.com/tollgate-gw/tollgate/provider/azure"
	"github.com/tollgate-gw/tollgate/provider/bedrock"
	"github.com/tollgate-gw/tollgate/provider/gemini"
	"github.com/tollgate-gw/tollgate/provider/imagefetch"
	"github.com/tollgate-gw/tollgate/provider/mock"
	"github.com/tollgate-gw/tollgate/provider/openai"
	"github.com/tollgate-gw/tollgate/router"
	"github.com/tollgate-gw/tollgate/web/api"
)

// factories maps a provider type to its adapter. Adding a provider is one
// package and one line here.
var factories = map[string]provider.Factory{
	"openai":            openai.New,
	"openai-compatible": openai.New,
	"ollama":            openai.New,
	"mock":              mock.New,
	"anthropic":         anthropic.New,
	"azure":             azure.New,
	"gemini":            gemini.New,
	"bedrock":           bedrock.New,
}

// run executes one subcommand. ready, when not nil, receives the address
// the server listens on once it accepts connections (for tests).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if len(args) > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", cmd, args)
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stderr, ready)
	case "migrate":
		return migrate(ctx, getenv, stderr)
	case "version":
		_, err := fmt.Fprintln(stdout, "tollgate", buildVersion())
		return err
	case "healthcheck":
		return healthcheck(ctx, getenv)
	case "help", "-h", "--help":
		_, err := fmt.Fprintln(stdout, "usage: tollgate [serve|migrate|version|healthcheck]")
		return err
	}
	return fmt.Errorf("unknown command %q (want serve, migrate, version or healthcheck)", cmd)
}

// buildVersion is the -ldflags version, else the module version, else
// "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// newLogger builds the process logger from TOLLGATE_LOG_LEVEL and
// TOLLGATE_LOG_FORMAT.
func newLogger(env config.Env, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(env.LogLevel)) // validated by LoadEnv
	opts := &slog.HandlerOptions{Level: level}
	if env.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// gateway is everything serve builds, wired explicitly.
type gateway struct {
	env    config.Env
	cfg    *config.Config
	log    *slog.Logger
	router *router.Table
	api    *api.Server
}

// build loads the configuration and constructs the gateway.
func build(getenv func(string) string, stderr io.Writer) (*gateway, error) {
	env, err := config.LoadEnv(getenv)
	if err != nil {
		return nil, err
	}
	log := newLogger(env, stderr)
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("working directory: %w", err)
	}
	cfg, err := config.Resolve(env, wd, getenv)
	if err != nil {
		return nil, err
	}
	counter := tokens.New()
	deps := provider.Deps{HTTPClient: newUpstreamClient(), Tokens: counter, Images: imagefetch.New(imagefetch.Options{})}
	providers, err := buildProviders(cfg, deps, log)
	if err != nil {
		return nil, err
	}
	warmTokenizer(cfg, counter)
	specs := make([]router.ModelSpec, 0, len(cfg.Models))
	for _, m := range cfg.Models {
		spec := router.ModelSpec{Name: m.Name, Fallbacks: m.Fallbacks}
		for _, t := range m.Targets {
			spec.Targets = append(spec.Targets, router.TargetSpec{Provider: t.Provider, Model: t.Model, Weight: t.Weight})
		}
		specs = append(specs, spec)
	}
	table, err := router.New(providers, specs)
	if err != nil {
		return nil, err
	}
	srv, err := api.New(api.Options{
		Router:       table,
		Meter:        &metering.Meter{Logger: log},
		Logger:       log,
		MaxBodyBytes: cfg.Limits.MaxBodyBytes,
	})
	if err != nil {
		return nil, err
	}
	return &gateway{env: env, cfg: cfg, log: log, router: table, api: srv}, nil
}

// buildProviders instantiates the configured providers. A provider type
// without an adapter in this build is an error in a config file, and
// skipped with a warning when it came from the built-in defaults.
func buildProviders(cfg *config.Config, deps provider.Deps, log *slog.Logger) ([]*router.Provider, error) {
	var out []*router.Provider
	for _, pc := range cfg.Providers {
		f, ok := factories[pc.Type]
		if !ok {
			if cfg.Source == config.DefaultSource {
				log.Warn("provider type not available in this build; skipping", "provider", pc.Name, "type", pc.Type)
				continue
			}
			return nil, fmt.Errorf("provider %q: type %q is not available in this build", pc.Name, pc.Type)
		}
		a, err := f(pc, deps)
		if err != nil {
			return nil, fmt.Errorf("provider %q: %w", pc.Name, err)
		}
		out = append(out, &router.Provider{Name: pc.Name, Adapter: a, Timeout: pc.Timeout})
	}
	return out, nil
}

// warmTokenizer loads the tokenizer in the background when a mock
// provider will need it on every request, so the first demo request does
// not wait ~200 ms for it. A pure proxy loads it lazily (and may never:
// upstreams report usage), which keeps ~20 MB out of an idle gateway.
func warmTokenizer(cfg *config.Config, counter *tokens.Counter) {
	for _, p := range cfg.Providers {
		if p.Type == "mock" {
			go counter.CountText("gpt-4o", "warm up")
			return
		}
	}
}

// newUpstreamClient is the HTTP client every adapter shares: many idle
// connections per host (the default two would serialise a busy gateway on
// new connections), no transparent gzip (bodies are relayed as they come),
// and no overall timeout (the router bounds each call).
func newUpstreamClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}}
}

// serve runs the gateway until ctx is cancelled, then shuts down
// gracefully: it stops accepting, lets in-flight requests (streams
// included) finish within the shutdown timeout, and closes the rest.
func serve(ctx context.Context, getenv func(string) string, stderr io.Writer, ready chan<- string) error {
	g, err := build(getenv, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", g.env.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", g.env.Addr, err)
	}
	hs := &http.Server{
		Handler:           g.api,
		ReadHeaderTimeout: g.cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       g.cfg.Server.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	g.log.Info("tollgate listening", "addr", ln.Addr().String(), "version", buildVersion(),
		"config", g.cfg.Source, "providers", len(g.cfg.Providers), "models", g.router.Models())
	if addr := getenv("TOLLGATE_PPROF_ADDR"); addr != "" {
		stopPprof, err := servePprof(addr, g.log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopPprof()
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("shutting down", "timeout", g.cfg.Server.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		g.log.Warn("shutdown timeout reached; closing remaining connections", "error", err)
		_ = hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	g.log.Info("stopped")
	return nil
}

// servePprof exposes Go's profiler on a separate listener, for operators
// who profile a running gateway. It refuses non-loopback addresses: the
// profiler must never face the network.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("TOLLGATE_PPROF_ADDR: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("TOLLGATE_PPROF_ADDR: %q is not a loopback address", addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// migrate applies the database schema. The gateway core keeps no database
// state yet; the store arrives with keys and metering.
func migrate(_ context.Context, getenv func(string) string, stderr io.Writer) error {
	env, err := config.LoadEnv(getenv)
	if err != nil {
		return err
	}
	newLogger(env, stderr).Info("no migrations to apply")
	return nil
}

// healthcheck asks the local gateway's /readyz, for container health
// checks in images without curl.
func healthcheck(ctx context.Context, getenv func(string) string) error {
	env, err := config.LoadEnv(getenv)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(env.Addr)
	if err != nil {
		return fmt.Errorf("TOLLGATE_ADDR: %w", err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /readyz answered %d", resp.StatusCode)
	}
	return nil
}
