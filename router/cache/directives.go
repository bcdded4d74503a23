package cache

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request header names the gateway honours, and the response header that
// reports the cache result on every answer.
const (
	// HeaderCache is both the request header (no-cache | no-store) and the
	// response header (HIT | MISS | BYPASS).
	HeaderCache = "X-Tollgate-Cache"
	// HeaderTTL is the request header that sets the entry's TTL in seconds.
	HeaderTTL = "X-Tollgate-Cache-Ttl"
)

// Values of the x-tollgate-cache response header.
const (
	// Hit: answered from the cache.
	Hit = "HIT"
	// Miss: looked up, not found, answered upstream (and stored).
	Miss = "MISS"
	// Bypass: the cache was not consulted (disabled, no-cache, no-store,
	// or a request the cache does not handle).
	Bypass = "BYPASS"
)

// MaxTTL caps the TTL a client may ask for with x-tollgate-cache-ttl.
const MaxTTL = 30 * 24 * time.Hour

// Directives are the client's cache instructions for one request.
type Directives struct {
	// NoCache skips the lookup but stores the fresh answer
	// (x-tollgate-cache: no-cache).
	NoCache bool
	// NoStore neither looks up nor stores (x-tollgate-cache: no-store).
	NoStore bool
	// TTL is the requested entry lifetime (x-tollgate-cache-ttl); zero
	// means the configured TTL.
	TTL time.Duration
}

// Lookup reports whether the cache may answer the request.
func (d Directives) Lookup() bool { return !d.NoCache && !d.NoStore }

// Store reports whether the fresh answer may be stored.
func (d Directives) Store() bool { return !d.NoStore }

// TTLOr returns the requested TTL, or def when the client asked for none.
func (d Directives) TTLOr(def time.Duration) time.Duration {
	if d.TTL > 0 {
		return d.TTL
	}
	return def
}

// ParseDirectives reads x-tollgate-cache (no-cache or no-store, case
// insensitive; empty means neither) and x-tollgate-cache-ttl (a positive
// whole number of seconds, at most MaxTTL). Any other value is an error
// whose message names the header, meant for a 400 with that header as
// param.
func ParseDirectives(h http.Header) (Directives, error) {
	var d Directives
	switch v := strings.ToLower(strings.TrimSpace(h.Get(HeaderCache))); v {
	case "":
	case "no-cache":
		d.NoCache = true
	case "no-store":
		d.NoStore = true
	default:
		return Directives{}, fmt.Errorf("invalid x-tollgate-cache header %q: want no-cache or no-store", v)
	}
	if v := strings.TrimSpace(h.Get(HeaderTTL)); v != "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs <= 0 {
			return Directives{}, fmt.Errorf("invalid x-tollgate-cache-ttl header %q: want a positive whole number of seconds", v)
		}
		if secs > int64(MaxTTL/time.Second) {
			return Directives{}, fmt.Errorf("invalid x-tollgate-cache-ttl header %q: at most %d seconds", v, int64(MaxTTL/time.Second))
		}
		d.TTL = time.Duration(secs) * time.Second
	}
	return d, nil
}
