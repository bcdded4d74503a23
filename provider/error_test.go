package provider

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestKindForStatus(t *testing.T) {
	want := map[int]Kind{
		400: KindInvalidRequest, 401: KindAuth, 402: KindQuota, 403: KindAuth, 404: KindNotFound,
		408: KindTimeout, 413: KindInvalidRequest, 422: KindInvalidRequest, 429: KindRateLimited,
		500: KindServer, 502: KindServer, 503: KindServer, 504: KindTimeout, 529: KindServer,
	}
	for status, k := range want {
		if got := KindForStatus(status); got != k {
			t.Errorf("%d: %v, want %v", status, got, k)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{}, 0},
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{http.Header{"Retry-After": {"-1"}}, 0},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After": {now.Add(10 * time.Second).Format(http.TimeFormat)}}, 10 * time.Second},
		{http.Header{"Retry-After": {now.Add(-10 * time.Second).Format(http.TimeFormat)}}, 0},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := ParseRetryAfter(tc.h, now); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.h, got, tc.want)
		}
	}
}

func TestErrorWrapping(t *testing.T) {
	cause := errors.New("reset")
	var err error = fmt.Errorf("wrapped: %w", &Error{Provider: "p", Kind: KindConnection, Message: "lost", Err: cause})
	pe, ok := AsError(err)
	if !ok || !errors.Is(err, cause) || !pe.Retryable() {
		t.Fatalf("AsError %v %v", pe, ok)
	}
	if got := pe.Error(); got != "p: connection: lost: reset" {
		t.Errorf("Error() = %q", got)
	}
	for k, retry := range map[Kind]bool{KindInvalidRequest: false, KindAuth: false, KindQuota: false, KindNotFound: false,
		KindRateLimited: true, KindServer: true, KindTimeout: true} {
		if (&Error{Kind: k}).Retryable() != retry {
			t.Errorf("%v retryable != %v", k, retry)
		}
	}
}
