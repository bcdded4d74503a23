package main

import (
	"context"
	"fmt"
	"time"
)

// targetCached names the gateway that answers from its response cache.
const targetCached = "cached"

// cacheHit compares, at the same load, the direct fake with a gateway that
// answers every measured request from its in-process response cache (the
// warm-up's first request fills it): what a cache hit costs, non-stream
// and replayed as a stream.
func (b *bench) cacheHit(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	if b.cfg.gateway == "" {
		b.note("cachehit scenario skipped: it starts its own gateway (-gateway)")
		return
	}
	b.logf("starting a gateway with the response cache on")
	gw, base, err := startGateway(ctx, gatewayOpts{Binary: b.cfg.gateway, FakeBaseURL: b.fake.BaseURL, Dir: b.dir,
		Name: targetCached, Cache: true})
	if err != nil {
		b.problem("cachehit: %v", err)
		return
	}
	defer gw.Stop(5 * time.Second)
	admin := adminClient{base: base, key: benchAdminKey}
	key, _, err := admin.provisionKey(ctx, "bench-cache", "enterprise")
	if err != nil {
		b.problem("cachehit: %v", err)
		return
	}
	tgt := target{name: targetCached, url: base + chatPath, model: modelPlain, pid: gw.PID(), key: key}
	b.compareScenario(ctx, fmt.Sprintf("%s c=%d", scCacheHit, b.cfg.concurrency), false, 0, tgt)
	b.compareScenario(ctx, fmt.Sprintf("%s stream c=%d", scCacheHit, b.cfg.concurrency), true, 0, tgt)
}
