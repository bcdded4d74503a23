package bedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

func TestNewConfig(t *testing.T) {
	client := &http.Client{}
	tests := []struct {
		name    string
		cfg     provider.Config
		deps    provider.Deps
		env     map[string]string
		wantErr string
		check   func(t *testing.T, a *Adapter)
	}{
		{name: "no region", cfg: provider.Config{Name: "b", APIKey: "k"}, deps: provider.Deps{HTTPClient: client}, wantErr: "region is required"},
		{name: "bad base_url", cfg: provider.Config{Name: "b", Region: "us-east-1", APIKey: "k", BaseURL: "bedrock.local"}, deps: provider.Deps{HTTPClient: client}, wantErr: "base_url"},
		{name: "no client", cfg: provider.Config{Name: "b", Region: "us-east-1", APIKey: "k"}, wantErr: "no HTTP client"},
		{name: "no credentials", cfg: provider.Config{Name: "b", Region: "us-east-1"}, deps: provider.Deps{HTTPClient: client}, wantErr: "no credentials"},
		{name: "half a key pair", cfg: provider.Config{Name: "b", Region: "us-east-1", AccessKeyID: "AKID"}, deps: provider.Deps{HTTPClient: client}, wantErr: "go together"},
		{
			name: "defaults and api key", cfg: provider.Config{Name: "b", Region: "eu-west-3", APIKey: "key", AccessKeyID: "AKID", SecretAccessKey: "s"},
			deps: provider.Deps{HTTPClient: client},
			check: func(t *testing.T, a *Adapter) {
				if a.base != "https://bedrock-runtime.eu-west-3.amazonaws.com" || a.bearer != "Bearer key" || a.transport != http.DefaultTransport {
					t.Errorf("adapter %+v", a)
				}
			},
		},
		{
			name: "config keys", cfg: provider.Config{Name: "b", Region: "us-east-1", AccessKeyID: "AKID", SecretAccessKey: "s", BaseURL: "http://localhost:9000/"},
			deps: provider.Deps{HTTPClient: client}, env: map[string]string{"AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "envs"},
			check: func(t *testing.T, a *Adapter) {
				if a.creds.AccessKeyID != "AKID" || a.bearer != "" || a.base != "http://localhost:9000" {
					t.Errorf("adapter %+v", a)
				}
			},
		},
		{
			name: "environment keys", cfg: provider.Config{Name: "b", Region: "us-east-1"}, deps: provider.Deps{HTTPClient: client},
			env: map[string]string{"AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "envs", "AWS_SESSION_TOKEN": "tok", "AWS_BEARER_TOKEN_BEDROCK": "bt"},
			check: func(t *testing.T, a *Adapter) {
				if a.creds.AccessKeyID != "ENV" || a.creds.SessionToken != "tok" || a.bearer != "" {
					t.Errorf("adapter %+v", a)
				}
			},
		},
		{
			name: "environment api key", cfg: provider.Config{Name: "b", Region: "us-east-1"}, deps: provider.Deps{HTTPClient: client},
			env: map[string]string{"AWS_BEARER_TOKEN_BEDROCK": "bt"},
			check: func(t *testing.T, a *Adapter) {
				if a.bearer != "Bearer bt" {
					t.Errorf("bearer %q", a.bearer)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := newAdapter(tc.cfg, tc.deps, env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, a)
		})
	}
	if _, err := New(provider.Config{Name: "b", Region: "us-east-1", APIKey: "k"}, provider.Deps{HTTPClient: client}); err != nil {
		t.Errorf("New: %v", err)
	}
}

// captured is the last request a raw upstream received.
type captured struct {
	mu         sync.Mutex
	requestURI string
	header     http.Header
	body       []byte
}

// rawUpstream answers every request with the Converse response fixture
// and records the request as it arrived on the wire.
func rawUpstream(t *testing.T, c *captured) *httptest.Server {
	t.Helper()
	answer := readFixture(t, "bedrock/converse_response.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.requestURI, c.header, c.body = r.RequestURI, r.Header.Clone(), body
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSigV4(t *testing.T) {
	var c captured
	srv := rawUpstream(t, &c)
	a, err := newAdapter(provider.Config{Name: "bedrock", Region: "us-west-2", BaseURL: srv.URL, AccessKeyID: "AKIDEXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Headers: map[string]string{"x-team": "ml"}},
		provider.Deps{HTTPClient: &http.Client{}}, env(map[string]string{"AWS_SESSION_TOKEN": "ignored-without-env-keys"}))
	if err != nil {
		t.Fatal(err)
	}
	deterministic(a)
	const model = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
	body := []byte(streamRequest)
	if _, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: model, Body: body}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	const wantURI = "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0/converse"
	if c.requestURI != wantURI {
		t.Errorf("request URI %s, want %s", c.requestURI, wantURI)
	}
	auth := c.header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250820/us-west-2/bedrock/aws4_request, SignedHeaders=") {
		t.Errorf("Authorization %q", auth)
	}
	if !strings.Contains(auth, "x-team") || c.header.Get("X-Amz-Date") != "20250820T130000Z" || c.header.Get("X-Amz-Security-Token") != "" {
		t.Errorf("headers %v", c.header)
	}
	// Signing the same request again with the SDK signer must give the
	// same signature: service, region, time and payload hash were right.
	again, _ := http.NewRequest(http.MethodPost, srv.URL+wantURI, bytes.NewReader(c.body))
	for _, k := range []string{"Content-Type", "Accept", "X-Team"} {
		again.Header.Set(k, c.header.Get(k))
	}
	sum := sha256.Sum256(c.body)
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), "bedrock", "us-west-2", fixedTime); err != nil {
		t.Fatal(err)
	}
	if got := again.Header.Get("Authorization"); got != auth {
		t.Errorf("signature differs:\n got %s\nwant %s", auth, got)
	}
}

// env is an environment of the given variables.
func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestSessionTokenAndBearer(t *testing.T) {
	var c captured
	srv := rawUpstream(t, &c)
	a, err := newAdapter(provider.Config{Name: "bedrock", Region: "us-east-1", BaseURL: srv.URL},
		provider.Deps{HTTPClient: &http.Client{}}, env(map[string]string{"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "session"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "amazon.nova-lite-v1:0", Body: []byte(streamRequest)}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	if c.header.Get("X-Amz-Security-Token") != "session" || !strings.Contains(c.header.Get("Authorization"), "x-amz-security-token") {
		t.Errorf("headers %v", c.header)
	}
	c.mu.Unlock()

	b := testAdapter(t, srv.URL, http.DefaultTransport, nil)
	if _, err := b.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(streamRequest)}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.header.Get("Authorization") != "Bearer br-test-key" || c.header.Get("X-Amz-Date") != "" {
		t.Errorf("headers %v", c.header)
	}
	if c.header.Get("Content-Type") != "application/json" || c.header.Get("Accept") != "application/json" {
		t.Errorf("headers %v", c.header)
	}
}

func TestChatCompletionConnectionErrors(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, nil) })
	url := up.URL
	up.Close()
	a := testAdapter(t, url, &http.Transport{}, nil)
	_, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(streamRequest)})
	if pe := asProviderError(t, err); pe.Kind != provider.KindConnection {
		t.Errorf("kind %v", pe.Kind)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = a.ChatCompletion(ctx, &provider.ChatRequest{Model: "m", Body: []byte(streamRequest)})
	if _, ok := provider.AsError(err); ok || err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("err %v, want the context's error", err)
	}
	_, err = a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "m", Body: []byte(`{"messages":"x"}`)})
	if pe := asProviderError(t, err); pe.Kind != provider.KindInvalidRequest || pe.Status != 400 {
		t.Errorf("undecodable body: %+v", pe)
	}
}

func TestEscapeSegment(t *testing.T) {
	for in, want := range map[string]string{
		"anthropic.claude-3-haiku-20240307-v1:0": "anthropic.claude-3-haiku-20240307-v1%3A0",
		"a/b c~d_e":                              "a%2Fb%20c~d_e",
		"é":                                      "%C3%A9",
	} {
		if got := escapeSegment(in); got != want {
			t.Errorf("escapeSegment(%q) = %q, want %q", in, got, want)
		}
	}
}
