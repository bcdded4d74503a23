package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/provider"
)

// defaultCache, defaultLimits and defaultServer are the block defaults.
var (
	defaultCache  = Cache{Enabled: true, TTL: time.Hour, Scope: "customer"}
	defaultLimits = Limits{MaxBodyBytes: 10485760}
	defaultServer = Server{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, ShutdownTimeout: 30 * time.Second}
)

func TestParseFullFile(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{
		"OPENAI_API_KEY": "sk-openai",
		"AZURE_KEY":      "az-key",
		"AWS_SECRET":     "aws-secret",
	})
	got, err := Parse(data, "testdata/full.yaml", env)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Config{
		Providers: []provider.Config{
			{Name: "openai", Type: "openai", BaseURL: "https://api.openai.com/v1", APIKey: "sk-openai",
				Timeout: 30 * time.Second, Headers: map[string]string{"X-Team": "platform"}},
			{Name: "local", Type: "openai-compatible", BaseURL: "http://vllm.internal:8000/v1", Timeout: 90 * time.Second},
			{Name: "azure-eu", Type: "azure", BaseURL: "https://tollgate-eu.openai.azure.com", APIKey: "az-key",
				APIVersion: "2024-10-21", Timeout: time.Minute},
			{Name: "claude", Type: "anthropic", BaseURL: "https://api.anthropic.com", APIKey: "fallback-key", Timeout: time.Minute},
			{Name: "gemini", Type: "gemini", BaseURL: "https://generativelanguage.googleapis.com", Timeout: time.Minute},
			{Name: "aws", Type: "bedrock", BaseURL: "https://bedrock-runtime.eu-central-1.amazonaws.com", Region: "eu-central-1",
				AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "aws-secret", Timeout: time.Minute},
			{Name: "ollama", Type: "ollama", BaseURL: "http://localhost:11434/v1", Timeout: time.Minute},
			{Name: "mock", Type: "mock", Timeout: time.Minute, Mock: provider.MockConfig{
				Latency: 250 * time.Millisecond, Chunks: 8, FailEvery: 10, FailStatus: 503}},
		},
		Models: []Model{
			{Name: "chat-default", Line: 40,
				Targets: []Target{
					{Provider: "openai", Model: "gpt-4o-mini", Weight: 90},
					{Provider: "claude", Model: "claude-haiku-4-5", Weight: 10},
				},
				Fallbacks: []string{"backup-model"},
				Pricing:   Pricing{InputPerMTok: 150000, OutputPerMTok: 600000, CachedInputPerMTok: 75000, Set: true}},
			{Name: "backup-model", Line: 46,
				Targets: []Target{{Provider: "local", Model: "llama-3.1-8b", Weight: 1}},
				Pricing: Pricing{InputPerMTok: 2500000, OutputPerMTok: 10000000, CachedInputPerMTok: 2500000, Set: true}},
			{Name: "openai/gpt-4o", Line: 53,
				Targets: []Target{{Provider: "azure-eu", Model: "gpt-4o-deployment", Weight: 1}}},
			{Name: "free", Line: 55,
				Targets: []Target{{Provider: "mock", Model: "echo", Weight: 1}},
				Pricing: Pricing{Set: true}},
		},
		Cache:  Cache{Enabled: false, TTL: 15 * time.Minute, Scope: "key"},
		Limits: Limits{MaxBodyBytes: 1048576},
		Server: Server{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute, ShutdownTimeout: 45 * time.Second},
		Source: "testdata/full.yaml",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
}

func TestParseContractExample(t *testing.T) {
	// The example of CONTRACT section 2, with its second provider and
	// fallback model added so that it validates.
	src := `providers:
  - name: openai
    type: openai
    base_url: https://api.openai.com/v1
    api_key: ${OPENAI_API_KEY}
    timeout: 60s
    headers: {}
    api_version: ""
    region: ""
  - {name: anthropic, type: anthropic}
models:
  - name: chat-default
    targets:
      - {provider: openai, model: gpt-4o-mini, weight: 90}
      - {provider: anthropic, model: claude-haiku-4-5, weight: 10}
    fallbacks: [backup-model]
    pricing: {input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075}
  - {name: backup-model, targets: [{provider: anthropic, model: claude-sonnet-4-5}]}
cache:
  enabled: true
  ttl: 1h
  scope: customer
limits:
  max_body_bytes: 10485760
`
	cfg := mustParse(t, src, map[string]string{"OPENAI_API_KEY": "sk"})
	if got := len(cfg.Providers) + len(cfg.Models); got != 4 {
		t.Errorf("providers+models = %d, want 4", got)
	}
	if diff := cmp.Diff(defaultCache, cfg.Cache); diff != "" {
		t.Errorf("cache (-want +got):\n%s", diff)
	}
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		want     provider.Config
	}{
		{"openai", "{name: p, type: openai}",
			provider.Config{Name: "p", Type: "openai", BaseURL: "https://api.openai.com/v1", Timeout: time.Minute}},
		{"ollama", "{name: p, type: ollama}",
			provider.Config{Name: "p", Type: "ollama", BaseURL: "http://localhost:11434/v1", Timeout: time.Minute}},
		{"anthropic", "{name: p, type: anthropic}",
			provider.Config{Name: "p", Type: "anthropic", BaseURL: "https://api.anthropic.com", Timeout: time.Minute}},
		{"gemini", "{name: p, type: gemini}",
			provider.Config{Name: "p", Type: "gemini", BaseURL: "https://generativelanguage.googleapis.com", Timeout: time.Minute}},
		{"mock", "{name: p, type: mock}",
			provider.Config{Name: "p", Type: "mock", Timeout: time.Minute}},
		{"bedrock", "{name: p, type: bedrock, region: us-west-2}",
			provider.Config{Name: "p", Type: "bedrock", Region: "us-west-2", BaseURL: "https://bedrock-runtime.us-west-2.amazonaws.com", Timeout: time.Minute}},
		{"bedrock explicit base_url", "{name: p, type: bedrock, region: us-west-2, base_url: 'https://vpce.example.com/'}",
			provider.Config{Name: "p", Type: "bedrock", Region: "us-west-2", BaseURL: "https://vpce.example.com", Timeout: time.Minute}},
		{"openai-compatible", "{name: p, type: openai-compatible, base_url: 'http://h:1/v1//'}",
			provider.Config{Name: "p", Type: "openai-compatible", BaseURL: "http://h:1/v1", Timeout: time.Minute}},
		{"azure", "{name: p, type: azure, base_url: 'https://r.openai.azure.com', api_version: '2024-10-21'}",
			provider.Config{Name: "p", Type: "azure", BaseURL: "https://r.openai.azure.com", APIVersion: "2024-10-21", Timeout: time.Minute}},
		{"empty values mean not set", "{name: p, type: openai, base_url: '', timeout: ~, headers: }",
			provider.Config{Name: "p", Type: "openai", BaseURL: "https://api.openai.com/v1", Timeout: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, "providers:\n  - "+tt.provider+"\n", nil)
			if diff := cmp.Diff([]provider.Config{tt.want}, cfg.Providers); diff != "" {
				t.Errorf("providers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(defaultCache, cfg.Cache); diff != "" {
				t.Errorf("cache (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(defaultLimits, cfg.Limits); diff != "" {
				t.Errorf("limits (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(defaultServer, cfg.Server); diff != "" {
				t.Errorf("server (-want +got):\n%s", diff)
			}
			if cfg.Models != nil {
				t.Errorf("models = %v, want none", cfg.Models)
			}
		})
	}
}

// problemCase is a config file and the problems Parse must report for it.
type problemCase struct {
	name string
	src  string
	want []string
}

// mockProvider is a valid providers block, lines 1-2.
const mockProvider = "providers:\n  - {name: m, type: mock}\n"

// testProblems parses each case as "t.yaml" and compares the problems.
func testProblems(t *testing.T, tests []problemCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.src), "t.yaml", envOf(nil))
			if cfg != nil {
				t.Errorf("Parse returned a config with error %v", err)
			}
			if diff := cmp.Diff(tt.want, problemLines(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseFileErrors covers problems with the file as a whole and its top level.
func TestParseFileErrors(t *testing.T) {
	testProblems(t, []problemCase{
		{"empty file", "", []string{"t.yaml:1: providers: at least one provider is required"}},
		{"empty providers", "cache: {}\nproviders: []\n", []string{"t.yaml:2: providers: at least one provider is required"}},
		{"top level list", "- a\n- b\n", []string{
			"t.yaml:1: want a mapping of providers, models, cache, limits and server at the top level, got a list"}},
		{"providers not a list", "providers: {name: m}\n", []string{"t.yaml:1: providers: want a list, got a mapping"}},
		{"provider not a mapping", "providers:\n  - openai\n", []string{"t.yaml:2: providers[0]: want a mapping, got a single value"}},
	})
}

// TestParseProviderErrors covers problems in the providers list.
func TestParseProviderErrors(t *testing.T) {
	testProblems(t, []problemCase{
		{"name missing", "providers:\n  - type: mock\n", []string{"t.yaml:2: providers[0].name: missing (required)"}},
		{"name empty", "providers:\n  - type: mock\n    name: ''\n", []string{"t.yaml:3: providers[0].name: must not be empty"}},
		{"name with slash", "providers:\n  - {name: a/b, type: mock}\n", []string{
			`t.yaml:2: providers[0].name: provider name "a/b" must not contain "/" or whitespace`}},
		{"name with space", "providers:\n  - type: mock\n    name: a b\n", []string{
			`t.yaml:3: providers[0].name: provider name "a b" must not contain "/" or whitespace`}},
		{"duplicate name", mockProvider + "  - {name: x, type: mock}\n  - name: m\n    type: mock\n", []string{
			`t.yaml:4: providers[2].name: duplicate provider name "m" (first at line 2)`}},
		{"type missing", "providers:\n  - name: a\n", []string{"t.yaml:2: providers[0].type: missing (required)"}},
		{"unknown type", "providers:\n  - name: a\n    type: opneai\n", []string{
			`t.yaml:3: providers[0].type: unknown provider type "opneai" (want one of openai, openai-compatible, azure, anthropic, gemini, bedrock, ollama, mock)`}},
		{"base_url relative", "providers:\n  - {name: a, type: openai, base_url: api.openai.com/v1}\n", []string{
			"t.yaml:2: providers[0].base_url: want an absolute http:// or https:// URL (no scheme given)"}},
		{"base_url scheme", "providers:\n  - {name: a, type: openai, base_url: 'ftp://h/v1'}\n", []string{
			`t.yaml:2: providers[0].base_url: want an absolute http:// or https:// URL, got scheme "ftp"`}},
		{"base_url query", "providers:\n  - {name: a, type: openai, base_url: 'https://h/v1?x=1'}\n", []string{
			"t.yaml:2: providers[0].base_url: must not have a query or fragment"}},
		{"base_url without host", "providers:\n  - {name: a, type: openai, base_url: 'https:///v1'}\n", []string{
			"t.yaml:2: providers[0].base_url: want an absolute http:// or https:// URL (no host given)"}},
		{"base_url unparsable", "providers:\n  - {name: a, type: openai, base_url: 'http://[::1'}\n", []string{
			"t.yaml:2: providers[0].base_url: want an absolute http:// or https:// URL (this one does not parse)"}},
		{"unknown type adds no type rules", "providers:\n  - {name: a, type: azur, api_version: v, mock: {}}\n", []string{
			`t.yaml:2: providers[0].type: unknown provider type "azur" (want one of openai, openai-compatible, azure, anthropic, gemini, bedrock, ollama, mock)`}},
		{"openai-compatible needs base_url", "providers:\n  - {name: a, type: openai-compatible}\n", []string{
			"t.yaml:2: providers[0].base_url: missing (required for type openai-compatible)"}},
		{"azure needs base_url and api_version", "providers:\n  - name: a\n    type: azure\n", []string{
			"t.yaml:2: providers[0].base_url: missing (required for type azure)",
			"t.yaml:2: providers[0].api_version: missing (required for type azure)"}},
		{"bedrock needs region", "providers:\n  - {name: a, type: bedrock}\n", []string{
			"t.yaml:2: providers[0].region: missing (required for type bedrock)"}},
		{"bedrock bad region", "providers:\n  - name: a\n    type: bedrock\n    region: 'x.evil.com/'\n", []string{
			`t.yaml:4: providers[0].region: invalid AWS region "x.evil.com/" (want e.g. us-east-1)`}},
		{"bedrock half credentials", "providers:\n  - {name: a, type: bedrock, region: us-east-1, access_key_id: AK}\n", []string{
			"t.yaml:2: providers[0]: access_key_id and secret_access_key go together: give both or neither"}},
		{"field of another type", "providers:\n  - name: a\n    type: openai\n    api_version: v1\n    region: r\n", []string{
			"t.yaml:4: providers[0].api_version: only used by type azure, not openai",
			"t.yaml:5: providers[0].region: only used by type bedrock, not openai"}},
		{"mock block on openai", "providers:\n  - name: a\n    type: openai\n    mock: {chunks: 2}\n", []string{
			"t.yaml:4: providers[0].mock: only used by type mock, not openai"}},
		{"timeout zero", "providers:\n  - {name: a, type: openai, timeout: 0}\n", []string{
			"t.yaml:2: providers[0].timeout: must be greater than zero"}},
		{"timeout bad", "providers:\n  - name: a\n    type: openai\n    timeout: 5 min\n", []string{
			`t.yaml:4: providers[0].timeout: invalid duration "5 min" (want Go syntax like 60s, 1h or 250ms, or whole seconds)`}},
		{"api_key not a scalar", "providers:\n  - name: a\n    type: openai\n    api_key: [x]\n", []string{
			"t.yaml:4: providers[0].api_key: want a single value, got a list"}},
		{"headers", "providers:\n  - name: a\n    type: openai\n    headers:\n      Bad Name: x\n      X-A: '1'\n      x-a: '2'\n", []string{
			`t.yaml:5: providers[0].headers["Bad Name"]: invalid header name`,
			"t.yaml:7: providers[0].headers.x-a: duplicate header (first at line 6; names are case-insensitive)"}},
		{"headers not a mapping", "providers:\n  - {name: a, type: openai, headers: [a]}\n", []string{
			"t.yaml:2: providers[0].headers: want a mapping of header names to values, got a list"}},
		{"mock knobs", "providers:\n  - name: m\n    type: mock\n    mock:\n      latency: -1s\n      chunks: -1\n      fail_status: 200\n      fail_every: x\n", []string{
			"t.yaml:5: providers[0].mock.latency: must not be negative, got -1s",
			"t.yaml:6: providers[0].mock.chunks: must be at least 0, got -1",
			"t.yaml:7: providers[0].mock.fail_status: must be 0 (meaning 500) or an HTTP error status 400-599, got 200",
			`t.yaml:8: providers[0].mock.fail_every: want an integer, got "x"`}},
	})
}

// TestParseModelErrors covers problems in the models list.
func TestParseModelErrors(t *testing.T) {
	testProblems(t, []problemCase{
		{"model name missing and targets missing", mockProvider + "models:\n  - pricing: {}\n", []string{
			"t.yaml:4: models[0].name: missing (required)",
			"t.yaml:4: models[0].targets: at least one target is required"}},
		{"duplicate model", mockProvider + "models:\n  - {name: a, targets: [{provider: m, model: x}]}\n  - {name: a, targets: [{provider: m, model: x}]}\n", []string{
			`t.yaml:5: models[1].name: duplicate model name "a" (first at line 4)`}},
		{"targets", mockProvider + "models:\n  - name: a\n    targets:\n      - {provider: mx, model: x}\n      - {provider: m}\n      - {model: x, provider: m, weight: -1}\n      - {model: x, provider: m, weight: lots}\n", []string{
			`t.yaml:6: models[0].targets[0].provider: unknown provider "mx" (did you mean "m"?)`,
			"t.yaml:7: models[0].targets[1].model: missing (required)",
			"t.yaml:8: models[0].targets[2].weight: must be at least 0, got -1",
			`t.yaml:9: models[0].targets[3].weight: want an integer, got "lots"`}},
		{"all weights zero", mockProvider + "models:\n  - name: a\n    targets:\n      - {provider: m, model: x, weight: 0}\n      - {provider: m, model: y, weight: 0}\n", []string{
			"t.yaml:5: models[0].targets: at least one target needs a weight above zero"}},
		{"weight too large", mockProvider + "models:\n  - {name: a, targets: [{provider: m, model: x, weight: 1000001}]}\n", []string{
			"t.yaml:4: models[0].targets[0].weight: must be at most 1000000, got 1000001"}},
		{"fallbacks", mockProvider + "models:\n  - name: a\n    targets: [{provider: m, model: x}]\n    fallbacks:\n      - a\n      - bb\n      - b\n      - b\n  - {name: b, targets: [{provider: m, model: x}]}\n", []string{
			"t.yaml:7: models[0].fallbacks[0]: a model cannot fall back to itself",
			`t.yaml:8: models[0].fallbacks[1]: unknown model "bb" (did you mean "b"?)`,
			`t.yaml:10: models[0].fallbacks[3]: model "b" is listed twice`}},
		{"fallbacks not a list", mockProvider + "models:\n  - {name: a, targets: [{provider: m, model: x}], fallbacks: b}\n", []string{
			"t.yaml:4: models[0].fallbacks: want a list, got a single value"}},
		{"fallback cycle", mockProvider + "models:\n  - {name: a, targets: [{provider: m, model: x}], fallbacks: [b]}\n  - {name: b, targets: [{provider: m, model: x}], fallbacks: [c]}\n  - {name: c, targets: [{provider: m, model: x}], fallbacks: [a]}\n  - {name: d, targets: [{provider: m, model: x}], fallbacks: [a, b]}\n", []string{
			`t.yaml:4: models[0].fallbacks: fallback cycle "a" -> "b" -> "c" -> "a"`}},
		{"two fallback cycles", mockProvider + "models:\n  - {name: a, targets: [{provider: m, model: x}], fallbacks: [b]}\n  - {name: b, targets: [{provider: m, model: x}], fallbacks: [a]}\n  - {name: c, targets: [{provider: m, model: x}], fallbacks: [d]}\n  - {name: d, targets: [{provider: m, model: x}], fallbacks: [c]}\n", []string{
			`t.yaml:4: models[0].fallbacks: fallback cycle "a" -> "b" -> "a"`,
			`t.yaml:6: models[2].fallbacks: fallback cycle "c" -> "d" -> "c"`}},
	})
}

// TestParseBlockErrors covers the cache, limits and server blocks, keys and documents.
func TestParseBlockErrors(t *testing.T) {
	testProblems(t, []problemCase{
		{"cache", mockProvider + "cache:\n  enabled: yes\n  ttl: 0\n  scope: team\n", []string{
			`t.yaml:4: cache.enabled: want true or false, got "yes"`,
			"t.yaml:5: cache.ttl: must be greater than zero",
			`t.yaml:6: cache.scope: unknown scope "team" (want one of global, customer, key)`}},
		{"limits", mockProvider + "limits:\n  max_body_bytes: 10MB\n", []string{
			`t.yaml:4: limits.max_body_bytes: want an integer, got "10MB"`}},
		{"limits zero", mockProvider + "limits: {max_body_bytes: 0}\n", []string{
			"t.yaml:3: limits.max_body_bytes: must be at least 1, got 0"}},
		{"server", mockProvider + "server:\n  idle_timeout: -5s\n  shutdown_timeout: 0s\n", []string{
			"t.yaml:4: server.idle_timeout: must not be negative, got -5s",
			"t.yaml:5: server.shutdown_timeout: must be greater than zero"}},
		{"block not a mapping", mockProvider + "cache: [true]\n", []string{"t.yaml:3: cache: want a mapping, got a list"}},
		{"unknown keys", mockProvider + "provider: []\ncache:\n  tll: 1h\n  colour: blue\n", []string{
			`t.yaml:3: provider: unknown key (did you mean "providers"?)`,
			`t.yaml:5: cache.tll: unknown key (did you mean "ttl"?)`,
			"t.yaml:6: cache.colour: unknown key"}},
		{"unknown provider key", "providers:\n  - name: a\n    type: openai\n    apikey: x\n", []string{
			`t.yaml:4: providers[0].apikey: unknown key (did you mean "api_key"?)`}},
		{"duplicate key", mockProvider + "cache:\n  ttl: 1h\n  ttl: 2h\n", []string{
			"t.yaml:5: cache.ttl: duplicate key (first at line 4)"}},
		{"merge key", "base: &b {type: mock}\nproviders:\n  - <<: *b\n    name: m\n", []string{
			`t.yaml:1: base: unknown key`,
			"t.yaml:3: providers[0]: merge keys (<<) are not supported; repeat the fields or use an alias for the whole value",
			"t.yaml:3: providers[0].type: missing (required)"}},
		{"two documents", mockProvider + "---\nproviders: []\n", []string{"t.yaml:3: more than one YAML document; want one"}},
	})
}

func TestParseManyErrorsAtOnce(t *testing.T) {
	src := `providers:
  - name: openai
    type: opneai
    timeout: 0
  - name: openai
    type: openai
models:
  - name: chat
    targets: [{provider: nobody, model: x}]
    fallbacks: [ghost]
    pricing: {input_per_mtok: -1}
cache: {scope: all}
`
	want := []string{
		`t.yaml:3: providers[0].type: unknown provider type "opneai" (want one of openai, openai-compatible, azure, anthropic, gemini, bedrock, ollama, mock)`,
		"t.yaml:4: providers[0].timeout: must be greater than zero",
		`t.yaml:5: providers[1].name: duplicate provider name "openai" (first at line 2)`,
		`t.yaml:9: models[0].targets[0].provider: unknown provider "nobody"`,
		`t.yaml:10: models[0].fallbacks[0]: unknown model "ghost"`,
		`t.yaml:11: models[0].pricing.input_per_mtok: invalid price "-1": must not be negative`,
		`t.yaml:12: cache.scope: unknown scope "all" (want one of global, customer, key)`,
	}
	_, err := Parse([]byte(src), "t.yaml", envOf(nil))
	if diff := cmp.Diff(want, problemLines(t, err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if got, wantErr := err.Error(), strings.Join(want, "\n"); got != wantErr {
		t.Errorf("Error() = %q, want %q", got, wantErr)
	}
}

func TestParseSyntaxErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		// Parser errors, whose lines the YAML library counts from 0.
		{"unclosed flow", "cache: {}\nproviders:\n  - {name: a, type: mock\ncache: {}\n", "t.yaml:3: invalid YAML: did not find expected ',' or '}'"},
		{"extra bracket", "cache: {}\n\nproviders: [{name: a, type: mock}]]\n", "t.yaml:3: invalid YAML: did not find expected key"},
		{"list in mapping", "cache: {}\nlimits: {}\n- a\n", "t.yaml:3: invalid YAML: did not find expected key"},
		// Scanner errors.
		{"tab indent", "providers:\n\t- name: a\n", "t.yaml:2: invalid YAML: found character that cannot start any token"},
		{"bad mapping", "providers:\n  - name: a\n    type: mock: x\n", "t.yaml:3: invalid YAML: mapping values are not allowed in this context"},
		{"bad escape", "providers:\n  - name: \"a\\q\"\n", "t.yaml:2: invalid YAML: found unknown escape character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "t.yaml", envOf(nil))
			if diff := cmp.Diff([]string{tt.want}, problemLines(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseExpansion(t *testing.T) {
	env := map[string]string{
		"KEY":     "sk-123",
		"HOST":    "llm.internal",
		"TIMEOUT": "45s",
		"WEIGHT":  "7",
		"MODEL":   "gpt-4o",
		"TRICKY":  "a: b # not a comment\n- [x, {y}] &z *w",
	}
	src := `providers:
  - name: p
    type: openai-compatible
    base_url: https://${HOST}:${PORT:-8443}/v1
    api_key: ${TRICKY}
    timeout: ${TIMEOUT}
    headers:
      X-Key: Bearer ${KEY}
      X-Literal: $${NOT_EXPANDED} and $$ and $x
      X-Empty: ${UNSET:-}
      ${KEY}: key names are not expanded
models:
  - name: ${MODEL}-public
    targets: [{provider: p, model: "${MODEL}", weight: "${WEIGHT}"}]
    pricing: {input_per_mtok: "${PRICE:-0.5}"}
cache: {ttl: "${TTL:-90}"}
`
	_, err := Parse([]byte(src), "t.yaml", envOf(env))
	// "${KEY}" is not a valid header name: key names are taken literally.
	if diff := cmp.Diff([]string{`t.yaml:11: providers[0].headers["${KEY}"]: invalid header name`}, problemLines(t, err)); diff != "" {
		t.Fatalf("problems (-want +got):\n%s", diff)
	}
	src = strings.Replace(src, "      ${KEY}: key names are not expanded\n", "", 1)
	cfg := mustParse(t, src, env)
	p := cfg.Providers[0]
	wantProvider := provider.Config{
		Name: "p", Type: "openai-compatible", BaseURL: "https://llm.internal:8443/v1", APIKey: env["TRICKY"],
		Timeout: 45 * time.Second,
		Headers: map[string]string{"X-Key": "Bearer sk-123", "X-Literal": "${NOT_EXPANDED} and $$ and $x"},
	}
	if diff := cmp.Diff(wantProvider, p); diff != "" {
		t.Errorf("provider (-want +got):\n%s", diff)
	}
	wantModels := []Model{{Name: "gpt-4o-public", Line: 12,
		Targets: []Target{{Provider: "p", Model: "gpt-4o", Weight: 7}},
		Pricing: Pricing{InputPerMTok: 500000, CachedInputPerMTok: 500000, Set: true}}}
	if diff := cmp.Diff(wantModels, cfg.Models); diff != "" {
		t.Errorf("models (-want +got):\n%s", diff)
	}
	if cfg.Cache.TTL != 90*time.Second {
		t.Errorf("cache.ttl = %v, want 90s", cfg.Cache.TTL)
	}
}

func TestParseExpansionErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unset", "providers:\n  - name: p\n    type: openai\n    api_key: ${OPENAI_API_KEY}\n", []string{
			"t.yaml:4: providers[0].api_key: environment variable OPENAI_API_KEY is not set (write ${OPENAI_API_KEY:-default} to make it optional)"}},
		{"two unset in one value", "providers:\n  - {name: p, type: openai, base_url: 'https://${A}/${B}'}\n", []string{
			"t.yaml:2: providers[0].base_url: environment variable A is not set (write ${A:-default} to make it optional)",
			"t.yaml:2: providers[0].base_url: environment variable B is not set (write ${B:-default} to make it optional)"}},
		{"unterminated", "providers:\n  - {name: p, type: openai, api_key: '${KEY'}\n", []string{
			`t.yaml:2: providers[0].api_key: unterminated "${" (write "$${" for a literal "${")`}},
		{"invalid name", "providers:\n  - {name: '${1X}', type: openai}\n", []string{
			`t.yaml:2: providers[0].name: invalid variable reference in "${...}" (want ${NAME} or ${NAME:-default}, NAME of letters, digits and "_")`}},
		{"other operator", "providers:\n  - {name: '${X:=y}', type: openai}\n", []string{
			"t.yaml:2: providers[0].name: unsupported form ${X:...} (want ${NAME} or ${NAME:-default})"}},
		{"required value expands to empty", "providers:\n  - {name: '${NAME:-}', type: openai}\n", []string{
			"t.yaml:2: providers[0].name: must not be empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "t.yaml", envOf(nil))
			if diff := cmp.Diff(tt.want, problemLines(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDurations(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
		err   string // the problem's message, empty when valid
	}{
		{"60s", 60 * time.Second, ""},
		{"1h", time.Hour, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"1m30s", 90 * time.Second, ""},
		{"90", 90 * time.Second, ""},
		{"'120'", 120 * time.Second, ""},
		{"0", 0, "must be greater than zero"},
		{"0s", 0, "must be greater than zero"},
		{"-1", 0, "must not be negative, got -1"},
		{"1.5", 0, `invalid duration "1.5" (want Go syntax like 60s, 1h or 250ms, or whole seconds)`},
		{"1d", 0, `invalid duration "1d" (want Go syntax like 60s, 1h or 250ms, or whole seconds)`},
		{"99999999999999999", 0, `invalid duration "99999999999999999" (want Go syntax like 60s, 1h or 250ms, or whole seconds)`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			src := "providers:\n  - {name: p, type: openai, timeout: " + tt.value + "}\n"
			cfg, err := Parse([]byte(src), "t.yaml", envOf(nil))
			if tt.err != "" {
				want := []string{"t.yaml:2: providers[0].timeout: " + tt.err}
				if diff := cmp.Diff(want, problemLines(t, err)); diff != "" {
					t.Errorf("problems (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := cfg.Providers[0].Timeout; got != tt.want {
				t.Errorf("timeout = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("mock knobs may be zero", func(t *testing.T) {
		cfg := mustParse(t, "providers:\n  - {name: m, type: mock, mock: {latency: 0, chunk_delay: 10ms}}\n", nil)
		want := provider.MockConfig{ChunkDelay: 10 * time.Millisecond}
		if diff := cmp.Diff(want, cfg.Providers[0].Mock); diff != "" {
			t.Errorf("mock (-want +got):\n%s", diff)
		}
	})
}

func TestParsePrices(t *testing.T) {
	tests := []struct {
		value string
		want  int64
		err   string
	}{
		{"0.15", 150000, ""},
		{"2.5", 2500000, ""},
		{"0.60", 600000, ""},
		{"0.075", 75000, ""},
		{"0.29", 290000, ""}, // 0.29*1e6 is 289999.99999999994 in float64
		{"1.13", 1130000, ""},
		{"3", 3000000, ""},
		{"0", 0, ""},
		{".5", 500000, ""},
		{"0.000001", 1, ""},
		{"1.0000000", 1000000, ""},
		{"'0.15'", 150000, ""},
		{"9223372036854.775807", 9223372036854775807, ""},
		{"0.0000001", 0, `invalid price "0.0000001": more precise than 1 micro-USD (6 decimal places)`},
		{"-1", 0, `invalid price "-1": must not be negative`},
		{"-0.5", 0, `invalid price "-0.5": must not be negative`},
		{"1e-3", 0, `invalid price "1e-3": want a decimal number of USD like 0.15 or 2`},
		{"0x10", 0, `invalid price "0x10": want a decimal number of USD like 0.15 or 2`},
		{"free", 0, `invalid price "free": want a decimal number of USD like 0.15 or 2`},
		{"9223372036855", 0, `invalid price "9223372036855": too large`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			src := "providers:\n  - {name: m, type: mock}\nmodels:\n  - name: x\n    targets: [{provider: m, model: echo}]\n    pricing:\n      output_per_mtok: " + tt.value + "\n"
			cfg, err := Parse([]byte(src), "t.yaml", envOf(nil))
			if tt.err != "" {
				want := []string{"t.yaml:7: models[0].pricing.output_per_mtok: " + tt.err}
				if diff := cmp.Diff(want, problemLines(t, err)); diff != "" {
					t.Errorf("problems (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Pricing{OutputPerMTok: tt.want, Set: true}
			if diff := cmp.Diff(want, cfg.Models[0].Pricing); diff != "" {
				t.Errorf("pricing (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePricingSet(t *testing.T) {
	tests := []struct {
		name    string
		pricing string
		want    Pricing
	}{
		{"absent", "", Pricing{}},
		{"empty block", "    pricing: {}\n", Pricing{}},
		{"null values", "    pricing: {input_per_mtok: ~, output_per_mtok: '${P:-}'}\n", Pricing{}},
		{"free", "    pricing: {input_per_mtok: 0, output_per_mtok: 0}\n", Pricing{Set: true}},
		{"cached defaults to input", "    pricing: {input_per_mtok: 1.25}\n", Pricing{InputPerMTok: 1250000, CachedInputPerMTok: 1250000, Set: true}},
		{"cached given", "    pricing: {input_per_mtok: 1.25, cached_input_per_mtok: 0}\n", Pricing{InputPerMTok: 1250000, Set: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "providers:\n  - {name: m, type: mock}\nmodels:\n  - name: x\n    targets: [{provider: m, model: echo}]\n" + tt.pricing
			cfg := mustParse(t, src, nil)
			if diff := cmp.Diff(tt.want, cfg.Models[0].Pricing); diff != "" {
				t.Errorf("pricing (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAliases(t *testing.T) {
	src := `providers:
  - &p {name: m, type: mock}
models:
  - name: a
    targets: &t [{provider: m, model: echo, weight: 2}]
  - name: b
    targets: *t
`
	cfg := mustParse(t, src, nil)
	if diff := cmp.Diff(cfg.Models[0].Targets, cfg.Models[1].Targets); diff != "" {
		t.Errorf("aliased targets differ (-a +b):\n%s", diff)
	}
}

func TestParseNeverLeaksSecrets(t *testing.T) {
	const secret = "s3cr3t-value"
	env := map[string]string{"SECRET": secret, "SECRET_NL": secret + "\r\nX-Injected: 1"}
	src := `providers:
  - name: p
    type: opneai
    api_key: ${SECRET}
    base_url: ftp://user:` + secret + `@host/v1
    headers:
      X-Auth: ${SECRET_NL}
  - name: q
    type: bedrock
    region: us-east-1
    secret_access_key: ${SECRET}
  - name: r
    type: openai
    base_url: "http://user:` + secret + `@host/v1?q=1"
`
	_, err := Parse([]byte(src), "t.yaml", envOf(env))
	if err == nil {
		t.Fatal("Parse succeeded, want errors")
	}
	msg := err.Error()
	if strings.Contains(msg, secret) {
		t.Errorf("error leaks the secret:\n%s", msg)
	}
	if got := len(problemLines(t, err)); got != 5 {
		t.Errorf("got %d problems, want 5:\n%s", got, msg)
	}
	if !strings.Contains(msg, "<redacted>") {
		t.Errorf("error does not say <redacted>:\n%s", msg)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "f.yaml", Line: 3, Path: "cache.ttl", Msg: "bad"}, "f.yaml:3: cache.ttl: bad"},
		{Problem{File: "f.yaml", Msg: "bad"}, "f.yaml: bad"},
		{Problem{Path: "TOLLGATE_ADDR", Msg: "bad"}, "TOLLGATE_ADDR: bad"},
		{Problem{Line: 2, Msg: "bad"}, "line 2: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
