package bedrock

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

func TestErrorFixtures(t *testing.T) {
	tests := []struct {
		fixture    string
		kind       provider.Kind
		status     int
		code       string
		retryAfter time.Duration
		// message must contain this; for auth it must not contain the
		// upstream text.
		contains string
	}{
		{"error_validation_400.http", provider.KindInvalidRequest, 400, "", 0, "temperature: range: 0..1"},
		{"error_context_too_long_400.http", provider.KindInvalidRequest, 400, "context_length_exceeded", 0, "Input is too long"},
		{"error_access_denied_403.http", provider.KindAuth, 403, "", 0, "refused the gateway's credentials"},
		{"error_unrecognized_client_403.http", provider.KindAuth, 403, "", 0, "refused the gateway's credentials"},
		{"error_body_type_403.http", provider.KindAuth, 403, "", 0, "UnrecognizedClientException"},
		{"error_not_found_404.http", provider.KindNotFound, 404, "", 0, "ResourceNotFoundException"},
		{"error_model_timeout_408.http", provider.KindTimeout, 408, "", 0, "ModelTimeoutException"},
		{"error_throttling_429.http", provider.KindRateLimited, 429, "", 3 * time.Second, "Too many requests"},
		{"error_daily_quota_429.http", provider.KindQuota, 429, "", 0, "per day"},
		{"error_model_not_ready_429.http", provider.KindServer, 429, "", 0, "not ready"},
		{"error_service_quota_400.http", provider.KindQuota, 400, "", 0, "service quota"},
		{"error_internal_500.http", provider.KindServer, 500, "", 0, "InternalServerException"},
		{"error_service_unavailable_503.http", provider.KindServer, 503, "", 0, "ServiceUnavailableException"},
	}
	for _, tc := range tests {
		for _, stream := range []bool{false, true} {
			name := tc.fixture
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				reply := pt.HTTP(t, readFixture(t, "bedrock/"+tc.fixture))
				up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return reply })
				a := testAdapter(t, up.URL, &http.Transport{}, nil)
				req := &provider.ChatRequest{Model: "m", Body: []byte(streamRequest), Stream: stream}
				var err error
				if stream {
					var s provider.Stream
					if s, err = a.ChatCompletionStream(context.Background(), req); err == nil {
						s.Close()
					}
				} else {
					_, err = a.ChatCompletion(context.Background(), req)
				}
				pe := asProviderError(t, err)
				if pe.Kind != tc.kind || pe.Status != tc.status || pe.Code != tc.code || pe.RetryAfter != tc.retryAfter {
					t.Errorf("got kind %v status %d code %q retry %v, want %v %d %q %v",
						pe.Kind, pe.Status, pe.Code, pe.RetryAfter, tc.kind, tc.status, tc.code, tc.retryAfter)
				}
				if !strings.Contains(pe.Message, tc.contains) {
					t.Errorf("message %q lacks %q", pe.Message, tc.contains)
				}
				if pe.Kind == provider.KindAuth && (strings.Contains(pe.Message, "AKIA") || strings.Contains(pe.Message, "token")) {
					t.Errorf("auth message carries upstream text: %q", pe.Message)
				}
				if pe.Kind == provider.KindInvalidRequest && pe.Type != "invalid_request_error" {
					t.Errorf("type %q", pe.Type)
				}
			})
		}
	}
}

func TestStatusErrorShapes(t *testing.T) {
	a := testAdapter(t, "http://unused", http.DefaultTransport, nil)
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		kind   provider.Kind
	}{
		{"no type, not JSON", 502, nil, "<html>bad gateway</html>", provider.KindServer},
		{"no type, 401", 401, nil, "", provider.KindAuth},
		{"code member", 400, nil, `{"code":"ValidationException","Message":"bad"}`, provider.KindInvalidRequest},
		{"expired token", 403, http.Header{"X-Amzn-Errortype": {"ExpiredTokenException"}}, `{"message":"The security token included in the request is expired"}`, provider.KindAuth},
		{"signature", 403, http.Header{"X-Amzn-Errortype": {"InvalidSignatureException"}}, `{"message":"Signature expired"}`, provider.KindAuth},
		{"unknown 4xx", 409, http.Header{"X-Amzn-Errortype": {"ConflictException"}}, `{"message":"conflict"}`, provider.KindInvalidRequest},
		{"model error 424", 424, http.Header{"X-Amzn-Errortype": {"ModelErrorException"}}, `{"message":"model failed"}`, provider.KindServer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			pe := a.statusError(tc.status, h, []byte(tc.body))
			if pe.Kind != tc.kind || pe.Message == "" || pe.Provider != "bedrock" {
				t.Errorf("got %+v, want kind %v", pe, tc.kind)
			}
			if pe.Kind == provider.KindInvalidRequest && tc.name == "code member" && pe.Message != "bad" {
				t.Errorf("message %q", pe.Message)
			}
		})
	}
}

func TestErrorType(t *testing.T) {
	for in, want := range map[string]string{
		"ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/": "ValidationException",
		"com.amazon.coral.service#UnrecognizedClientException":                     "UnrecognizedClientException",
		" ThrottlingException ": "ThrottlingException",
		"":                      "",
	} {
		if got := errorType(in); got != want {
			t.Errorf("errorType(%q) = %q, want %q", in, got, want)
		}
	}
}
