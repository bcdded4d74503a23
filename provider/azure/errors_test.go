package azure

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

func TestErrorMapping(t *testing.T) {
	contentFilter := fixture(t, "azure/error_content_filter_400.json")
	tests := []struct {
		name    string
		reply   pt.Reply
		kind    provider.Kind
		code    string
		param   string
		retry   time.Duration
		message string
	}{
		{"content filter 400", pt.JSON(400, contentFilter), provider.KindInvalidRequest, "content_filter", "prompt", 0,
			gjson.GetBytes(contentFilter, "error.message").String()},
		{"unrecognized argument 400", pt.JSON(400, []byte(`{"error":{"message":"Unrecognized request argument supplied: foo","type":"invalid_request_error","param":null,"code":null}}`)),
			provider.KindInvalidRequest, "", "", 0, "Unrecognized request argument supplied: foo"},
		{"context length 400", pt.JSON(400, []byte(`{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`)),
			provider.KindInvalidRequest, "context_length_exceeded", "messages", 0, ""},
		{"401 never shows Azure's text", pt.JSON(401, fixture(t, "azure/error_unauthorized_401.json")),
			provider.KindAuth, "", "", 0, `provider "azure" refused the gateway's credentials`},
		{"403", pt.JSON(403, []byte(`{"error":{"code":"AuthenticationTypeDisabled","message":"Key based authentication is disabled for this resource."}}`)),
			provider.KindAuth, "", "", 0, `provider "azure" refused the gateway's credentials`},
		{"404 deployment", pt.JSON(404, fixture(t, "azure/error_deployment_not_found_404.json")),
			provider.KindNotFound, "DeploymentNotFound", "", 0, ""},
		{"429 delay from the message", pt.JSON(429, fixture(t, "azure/error_rate_limit_429.json")),
			provider.KindRateLimited, "429", "", 60 * time.Second, ""},
		{"429 retry-after header wins", pt.Reply{Status: 429, Header: http.Header{"Retry-After": {"3"}}, Body: fixture(t, "azure/error_rate_limit_429.json")},
			provider.KindRateLimited, "429", "", 3 * time.Second, ""},
		{"429 retry-after-ms", pt.Reply{Status: 429, Header: http.Header{"Retry-After-Ms": {"1500"}}, Body: []byte(`{"error":{"code":"429","message":"Rate limit is exceeded."}}`)},
			provider.KindRateLimited, "429", "", 1500 * time.Millisecond, ""},
		{"429 without any delay", pt.JSON(429, []byte(`{"error":{"code":"429","message":"Rate limit is exceeded."}}`)),
			provider.KindRateLimited, "429", "", 0, ""},
		{"quota", pt.JSON(429, []byte(`{"error":{"code":"InsufficientQuota","message":"The quota of this resource is used up. Please retry after 60 seconds."}}`)),
			provider.KindQuota, "InsufficientQuota", "", 0, ""},
		{"500", pt.JSON(500, []byte(`{"error":{"code":"InternalServerError","message":"The server had an error."}}`)),
			provider.KindServer, "InternalServerError", "", 0, ""},
		{"503 html", pt.Reply{Status: 503, Header: http.Header{"Content-Type": {"text/html"}}, Body: []byte("<html>busy</html>")},
			provider.KindServer, "", "", 0, ""},
		{"408", pt.JSON(408, []byte(`{"error":{"code":"Timeout","message":"The operation was timeout."}}`)),
			provider.KindTimeout, "", "", 0, ""},
	}
	for _, tc := range tests {
		for _, stream := range []bool{false, true} {
			name := tc.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return tc.reply })
				a := newTestAdapter(t, up.URL, "2024-10-21")
				req := &provider.ChatRequest{Model: "d", Body: []byte(`{"model":"x","messages":[{"role":"user","content":"hi"}]}`)}
				var err error
				if stream {
					_, err = a.ChatCompletionStream(context.Background(), req)
				} else {
					_, err = a.ChatCompletion(context.Background(), req)
				}
				pe, ok := provider.AsError(err)
				if !ok {
					t.Fatalf("err = %v, want *provider.Error", err)
				}
				if pe.Kind != tc.kind || pe.Status != tc.reply.Status {
					t.Errorf("kind %v status %d, want %v %d (%v)", pe.Kind, pe.Status, tc.kind, tc.reply.Status, pe)
				}
				if tc.code != "" && pe.Code != tc.code {
					t.Errorf("code %q, want %q", pe.Code, tc.code)
				}
				if pe.Param != tc.param {
					t.Errorf("param %q, want %q", pe.Param, tc.param)
				}
				if pe.RetryAfter != tc.retry {
					t.Errorf("retry after %v, want %v", pe.RetryAfter, tc.retry)
				}
				if tc.message != "" && pe.Message != tc.message {
					t.Errorf("message %q, want %q", pe.Message, tc.message)
				}
				if pe.Message == "" || strings.Contains(pe.Error(), testKey) {
					t.Errorf("bad message: %v", pe)
				}
			})
		}
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		msg  string
		want time.Duration
	}{
		{"Please retry after 60 seconds.", 60 * time.Second},
		{"Please retry after 1 second.", time.Second},
		{"Rate limit reached for gpt-4o. Try again in 2.5s.", 2500 * time.Millisecond},
		{"Try again in 20 seconds", 20 * time.Second},
		{"Rate limit is exceeded.", 0},
		{"retry after 0 seconds", 0},
		{"retry after 999999 seconds", 0},
	}
	for _, tc := range tests {
		if got := retryDelay(tc.msg); got != tc.want {
			t.Errorf("retryDelay(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}
