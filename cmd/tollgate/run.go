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
)

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

// serve runs the gateway until ctx is cancelled, then shuts down
// gracefully: it stops accepting, lets in-flight requests (streams
// included) finish within the shutdown timeout, and closes the rest.
func serve(ctx context.Context, getenv func(string) string, stderr io.Writer, ready chan<- string) error {
	g, err := build(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer g.close()
	ln, err := net.Listen("tcp", g.env.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", g.env.Addr, err)
	}
	stopLoops := g.start(ctx, g.cfg.Server.ShutdownTimeout)
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
		stopLoops()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("shutting down", "timeout", g.cfg.Server.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		g.log.Warn("shutdown timeout reached; closing remaining connections", "error", err)
		_ = hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		stopLoops()
		return fmt.Errorf("serve: %w", err)
	}
	// Every request has finished and recorded its usage: now the ledger
	// flushes it.
	stopLoops()
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

// migrate applies the database schema and exits.
func migrate(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	env, err := config.LoadEnv(getenv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(env.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	st, err := openStore(ctx, env.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	newLogger(env, stderr).Info("migrations applied")
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
