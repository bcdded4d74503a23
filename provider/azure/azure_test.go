package azure

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testKey is the upstream key; it must never show in an error.
const testKey = "azure-key-0123456789abcdef"

// wordCounter counts words, so that estimates are easy to predict.
type wordCounter struct{}

func (wordCounter) CountText(_, text string) int        { return len(strings.Fields(text)) }
func (wordCounter) CountChat(_ string, body []byte) int { return 9 }

func testDeps() provider.Deps {
	return provider.Deps{HTTPClient: &http.Client{Transport: &http.Transport{}}, Tokens: wordCounter{}}
}

// fixture reads a file under testdata.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// newTestAdapter builds an adapter for a fake upstream at base with a
// fixed clock and id generator.
func newTestAdapter(t testing.TB, base, version string) *Adapter {
	t.Helper()
	a, err := newAdapter(provider.Config{Name: "azure", Type: "azure", BaseURL: base, APIKey: testKey,
		APIVersion: version, Headers: map[string]string{"x-ms-useragent": "tollgate"}}, testDeps())
	if err != nil {
		t.Fatal(err)
	}
	a.now = func() time.Time { return time.Unix(1755694800, 0) }
	a.newID = func() string { return "chatcmpl-GEN" }
	return a
}

// decode parses JSON for comparisons.
func decode(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// sameJSON fails the test when a and b are not the same JSON value.
func sameJSON(t testing.TB, what string, want, got []byte) {
	t.Helper()
	if diff := cmp.Diff(decode(t, want), decode(t, got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// readRequestFixture parses an .http request fixture.
func readRequestFixture(t testing.TB, name string) (*http.Request, []byte) {
	t.Helper()
	raw := fixture(t, name)
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	// The fixtures carry no Content-Length: the body is what follows the
	// blank line.
	norm := bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	_, body, _ := bytes.Cut(norm, []byte("\n\n"))
	return r, bytes.TrimSpace(body)
}

func TestRequestFixtures(t *testing.T) {
	tests := []struct {
		name, fixture, version string
		// client is what the client sent for the fixture's upstream body.
		client string
		stream bool
	}{
		{"classic deployment URL", "azure/request.http", "2024-10-21",
			`{"model":"chat-default","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in French."}],"temperature":0.7,"max_tokens":256,"stream":true}`,
			true},
		{"v1 URL", "azure/request_v1.http", "v1",
			`{"model":"chat-default","messages":[{"role":"user","content":"Say hello in French."}]}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, wantBody := readRequestFixture(t, tc.fixture)
			up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply {
				if tc.stream {
					return pt.SSE(fixture(t, "azure/stream_text.sse"))
				}
				return pt.JSON(200, fixture(t, "azure/response_text.json"))
			})
			// The user pasted the endpoint with the /openai/ the portal shows.
			a := newTestAdapter(t, up.URL+"/openai/", tc.version)
			req := &provider.ChatRequest{Model: "my-gpt4o-mini", Body: []byte(tc.client), Stream: tc.stream}
			if tc.stream {
				s, err := a.ChatCompletionStream(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
			} else if _, err := a.ChatCompletion(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			got := up.Requests()[0]
			if got.Method != want.Method || got.Path != want.URL.Path || got.Query != want.URL.RawQuery {
				t.Errorf("request line %s %s?%s, want %s %s?%s", got.Method, got.Path, got.Query, want.Method, want.URL.Path, want.URL.RawQuery)
			}
			if got.Header.Get("Api-Key") != testKey || got.Header.Get("Authorization") != "" {
				t.Errorf("credential headers: api-key %q, authorization %q", got.Header.Get("Api-Key"), got.Header.Get("Authorization"))
			}
			if got.Header.Get("Content-Type") != want.Header.Get("Content-Type") || got.Header.Get("X-Ms-Useragent") != "tollgate" {
				t.Errorf("headers %v", got.Header)
			}
			sameJSON(t, "upstream body", wantBody, got.Body)
		})
	}
}

func TestURLs(t *testing.T) {
	tests := []struct {
		version, base, deployment string
		chat, embeddings          string
	}{
		{"2024-10-21", "https://r.openai.azure.com", "gpt-4o",
			"https://r.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
			"https://r.openai.azure.com/openai/deployments/gpt-4o/embeddings?api-version=2024-10-21"},
		{"2025-04-01-preview", "https://r.cognitiveservices.azure.com/", "my dep/1",
			"https://r.cognitiveservices.azure.com/openai/deployments/my%20dep%2F1/chat/completions?api-version=2025-04-01-preview",
			"https://r.cognitiveservices.azure.com/openai/deployments/my%20dep%2F1/embeddings?api-version=2025-04-01-preview"},
		{"v1", "https://r.openai.azure.com/openai/v1/", "gpt-4o",
			"https://r.openai.azure.com/openai/v1/chat/completions", "https://r.openai.azure.com/openai/v1/embeddings"},
		{"preview", "https://apim.example.com/aoai", "gpt-4o",
			"https://apim.example.com/aoai/openai/v1/chat/completions?api-version=preview",
			"https://apim.example.com/aoai/openai/v1/embeddings?api-version=preview"},
	}
	for _, tc := range tests {
		t.Run(tc.version, func(t *testing.T) {
			v, err := parseAPIVersion(tc.version)
			if err != nil {
				t.Fatal(err)
			}
			base, err := resourceBase(tc.base, v)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.url(base, tc.deployment, "chat/completions"); got != tc.chat {
				t.Errorf("chat URL %s, want %s", got, tc.chat)
			}
			if got := v.url(base, tc.deployment, "embeddings"); got != tc.embeddings {
				t.Errorf("embeddings URL %s, want %s", got, tc.embeddings)
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	good := provider.Config{Name: "az", Type: "azure", BaseURL: "https://r.openai.azure.com", APIKey: "k", APIVersion: "2024-10-21"}
	tests := []struct {
		name string
		edit func(c *provider.Config)
		deps provider.Deps
		want string
	}{
		{"no api_version", func(c *provider.Config) { c.APIVersion = "" }, testDeps(), "api_version is required"},
		{"bad api_version", func(c *provider.Config) { c.APIVersion = "latest-and-greatest" }, testDeps(), "api_version"},
		{"bad api_version date", func(c *provider.Config) { c.APIVersion = "2024-13-01" }, testDeps(), "api_version"},
		{"bad api_version suffix", func(c *provider.Config) { c.APIVersion = "2024-10-21x" }, testDeps(), "api_version"},
		{"no base_url", func(c *provider.Config) { c.BaseURL = "" }, testDeps(), "base_url is required"},
		{"relative base_url", func(c *provider.Config) { c.BaseURL = "r.openai.azure.com" }, testDeps(), "base_url"},
		{"base_url with query", func(c *provider.Config) { c.BaseURL = "https://r.openai.azure.com?api-version=1" }, testDeps(), "base_url"},
		{"no deps", func(*provider.Config) {}, provider.Deps{}, "no HTTP client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			a, err := New(cfg, tc.deps)
			if err == nil || a != nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "azure: ") {
				t.Fatalf("New = %v, %v; want an error mentioning %q", a, err, tc.want)
			}
		})
	}
	if _, err := New(good, testDeps()); err != nil {
		t.Fatalf("New(%+v): %v", good, err)
	}
}

func TestNoKeyNoHeader(t *testing.T) {
	// Entra ID: no api_key, the bearer token comes from headers.
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, fixture(t, "azure/response_text.json")) })
	a, err := New(provider.Config{Name: "az", Type: "azure", BaseURL: up.URL, APIVersion: "v1",
		Headers: map[string]string{"Authorization": "Bearer entra-token"}}, testDeps())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "d", Body: []byte(`{"model":"x","messages":[]}`)}); err != nil {
		t.Fatal(err)
	}
	h := up.Requests()[0].Header
	if _, ok := h["Api-Key"]; ok || h.Get("Authorization") != "Bearer entra-token" {
		t.Errorf("headers %v", h)
	}
}

func TestEmbeddings(t *testing.T) {
	for _, version := range []string{"2024-10-21", "v1"} {
		t.Run(version, func(t *testing.T) {
			answer := fixture(t, "openai/embeddings_response.json")
			up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, answer) })
			a := newTestAdapter(t, up.URL, version)
			resp, err := a.Embeddings(context.Background(), &provider.EmbeddingsRequest{Model: "emb-small",
				Body: fixture(t, "openai/embeddings_request.json")})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(resp.Body, answer) || resp.Usage.PromptTokens == 0 {
				t.Errorf("response %+v", resp)
			}
			r := up.Requests()[0]
			wantPath, wantQuery := "/openai/deployments/emb-small/embeddings", "api-version=2024-10-21"
			if version == "v1" {
				wantPath, wantQuery = "/openai/v1/embeddings", ""
			}
			if r.Path != wantPath || r.Query != wantQuery || r.Header.Get("Api-Key") != testKey {
				t.Errorf("request %s?%s %v", r.Path, r.Query, r.Header)
			}
			if m, _ := decode(t, r.Body).(map[string]any); m["model"] != "emb-small" {
				t.Errorf("embeddings body model %v", m["model"])
			}
		})
	}
}
