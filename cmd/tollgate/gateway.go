package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-gw/tollgate/cmd/tollgate/internal/config"
	"github.com/tollgate-gw/tollgate/metering"
	"github.com/tollgate-gw/tollgate/metering/ledger"
	"github.com/tollgate-gw/tollgate/metering/limits"
	"github.com/tollgate-gw/tollgate/metering/pricing"
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
	"github.com/tollgate-gw/tollgate/router/cache"
	"github.com/tollgate-gw/tollgate/store"
	"github.com/tollgate-gw/tollgate/store/keyring"
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

// gateway is everything serve builds, wired explicitly.
type gateway struct {
	env    config.Env
	cfg    *config.Config
	log    *slog.Logger
	router *router.Table
	api    *api.Server
	store  store.Store
	redis  *redis.Client
	// loops are the background loops (key refresh, ledger, limiter
	// janitor); they run until stop and the ledger flushes on the way out.
	loops []func(ctx context.Context) error
}

// build loads the configuration and constructs the gateway: store and
// migrations, admin key, keyring, limiter, ledger, providers and router.
func build(ctx context.Context, getenv func(string) string, stderr io.Writer) (g *gateway, err error) {
	env, err := config.LoadEnv(getenv)
	if err != nil {
		return nil, err
	}
	g = &gateway{env: env, log: newLogger(env, stderr)}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("working directory: %w", err)
	}
	if g.cfg, err = config.Resolve(env, wd, getenv); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(env.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if g.store, err = openStore(ctx, env.DatabaseURL); err != nil {
		return nil, err
	}
	adminHash, err := adminKeyHash(ctx, g.store, env.AdminKey, g.log)
	if err != nil {
		return nil, err
	}
	keys := keyring.New(g.store, keyring.Options{Logger: g.log})
	if err := keys.Refresh(ctx); err != nil {
		return nil, err
	}
	g.loops = append(g.loops, keys.Run)
	meter, err := g.buildMeter()
	if err != nil {
		return nil, err
	}
	if g.router, err = g.buildRouter(); err != nil {
		return nil, err
	}
	g.api, err = api.New(api.Options{
		Cache:        g.buildCache(),
		CacheScope:   g.cfg.Cache.Scope,
		Router:       g.router,
		Meter:        meter,
		Keys:         keys,
		Admin:        &api.Admin{Store: g.store, Keyring: keys, KeyHash: adminHash},
		Logger:       g.log,
		MaxBodyBytes: g.cfg.Limits.MaxBodyBytes,
		Ready:        g.ready,
	})
	return g, err
}

// buildMeter builds the limiter (Redis when configured, else in process)
// and the usage ledger.
func (g *gateway) buildMeter() (*metering.Meter, error) {
	lo := limits.Options{SpendLoader: g.store.SpendSince, Logger: g.log}
	var limiter limits.Limiter
	if g.env.RedisURL != "" {
		opt, err := redis.ParseURL(g.env.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("TOLLGATE_REDIS_URL: %w", err)
		}
		g.redis = redis.NewClient(opt)
		rl := limits.NewRedis(g.redis, lo)
		g.loops = append(g.loops, rl.Run) // settlements in pipelined batches
		limiter = rl
	} else {
		mem := limits.NewMemory(lo)
		g.loops = append(g.loops, mem.Run)
		limiter = mem
	}
	w, err := ledger.New(g.store, ledger.Options{Dir: filepath.Join(g.env.DataDir, "spool"), Logger: g.log})
	if err != nil {
		return nil, fmt.Errorf("usage ledger: %w", err)
	}
	g.loops = append(g.loops, w.Run)
	prices := make(map[string]pricing.Price, len(g.cfg.Models))
	for _, m := range g.cfg.Models {
		p := m.Pricing
		prices[m.Name] = pricing.Price{InputPerMTok: p.InputPerMTok, OutputPerMTok: p.OutputPerMTok,
			CachedInputPerMTok: p.CachedInputPerMTok, Set: p.Set}
	}
	return &metering.Meter{Limiter: limiter, Ledger: w, Logger: g.log,
		Prices: func(model string) pricing.Price { return prices[model] }}, nil
}

// memoryCacheBytes bounds the in-process response cache.
const memoryCacheBytes = 64 << 20

// buildCache builds the response cache (CONTRACT §2 cache): in Redis when
// configured, so replicas share it, else an in-process LRU. nil when the
// config disables it.
func (g *gateway) buildCache() *cache.Cache {
	if !g.cfg.Cache.Enabled {
		return nil
	}
	var st cache.Store
	if g.redis != nil {
		st = cache.NewRedis(g.redis, "tg:cache:")
	} else {
		st = cache.NewMemory(memoryCacheBytes)
	}
	return &cache.Cache{Store: st, TTL: g.cfg.Cache.TTL}
}

// buildRouter instantiates the providers and the model table.
func (g *gateway) buildRouter() (*router.Table, error) {
	counter := tokens.New()
	deps := provider.Deps{HTTPClient: newUpstreamClient(), Tokens: counter, Images: imagefetch.New(imagefetch.Options{})}
	providers, err := buildProviders(g.cfg, deps, g.log)
	if err != nil {
		return nil, err
	}
	warmTokenizer(g.cfg, counter)
	specs := make([]router.ModelSpec, 0, len(g.cfg.Models))
	for _, m := range g.cfg.Models {
		spec := router.ModelSpec{Name: m.Name, Fallbacks: m.Fallbacks}
		for _, t := range m.Targets {
			spec.Targets = append(spec.Targets, router.TargetSpec{Provider: t.Provider, Model: t.Model, Weight: t.Weight})
		}
		specs = append(specs, spec)
	}
	return router.New(providers, specs)
}

// ready reports whether the database (and Redis, when configured) answer.
func (g *gateway) ready(ctx context.Context) error {
	if err := g.store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if g.redis != nil {
		if err := g.redis.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
	}
	return nil
}

// start runs the background loops; the returned stop cancels them and
// waits (the ledger flushing pending usage) at most timeout.
func (g *gateway) start(ctx context.Context, timeout time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, loop := range g.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := loop(ctx); err != nil && !errors.Is(err, context.Canceled) {
				g.log.Error("background loop failed", "error", err)
			}
		}()
	}
	return func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(timeout):
			g.log.Error("background loops did not stop in time; pending usage stays in the spool for the next start")
		}
	}
}

// close releases the store and Redis.
func (g *gateway) close() {
	if g.store != nil {
		_ = g.store.Close()
	}
	if g.redis != nil {
		_ = g.redis.Close()
	}
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
		out = append(out, &router.Provider{Name: pc.Name, Type: pc.Type, Adapter: a, Timeout: pc.Timeout})
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
