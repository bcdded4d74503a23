package cache

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseDirectives(t *testing.T) {
	for _, tc := range []struct {
		cache, ttl string
		want       Directives
		errHas     string
	}{
		{want: Directives{}},
		{cache: "no-cache", want: Directives{NoCache: true}},
		{cache: " No-Store ", want: Directives{NoStore: true}},
		{ttl: "60", want: Directives{TTL: time.Minute}},
		{cache: "no-cache", ttl: "2592000", want: Directives{NoCache: true, TTL: MaxTTL}},
		{cache: "max-age=5", errHas: "x-tollgate-cache header"},
		{ttl: "0", errHas: "x-tollgate-cache-ttl"},
		{ttl: "-5", errHas: "x-tollgate-cache-ttl"},
		{ttl: "1.5", errHas: "x-tollgate-cache-ttl"},
		{ttl: "1h", errHas: "x-tollgate-cache-ttl"},
		{ttl: "2592001", errHas: "x-tollgate-cache-ttl"},
		{ttl: "99999999999999999999", errHas: "x-tollgate-cache-ttl"},
	} {
		h := http.Header{}
		if tc.cache != "" {
			h.Set("x-tollgate-cache", tc.cache)
		}
		if tc.ttl != "" {
			h.Set("x-tollgate-cache-ttl", tc.ttl)
		}
		got, err := ParseDirectives(h)
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%q %q: error %v, want one naming %s", tc.cache, tc.ttl, err, tc.errHas)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q %q: %+v, %v; want %+v", tc.cache, tc.ttl, got, err, tc.want)
		}
	}
}

func TestDirectivesHelpers(t *testing.T) {
	if d := (Directives{}); !d.Lookup() || !d.Store() || d.TTLOr(time.Hour) != time.Hour {
		t.Error("default directives")
	}
	if d := (Directives{NoCache: true, TTL: time.Second}); d.Lookup() || !d.Store() || d.TTLOr(time.Hour) != time.Second {
		t.Error("no-cache directives")
	}
	if d := (Directives{NoStore: true}); d.Lookup() || d.Store() {
		t.Error("no-store directives")
	}
}
