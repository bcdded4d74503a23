// Package config builds Tollgate's configuration from the TOLLGATE_*
// environment variables (LoadEnv) and the YAML config file (Resolve, Load,
// Parse), or from built-in defaults when there is no file (Default).
//
// The file's schema is that of the public contract (providers, models,
// cache, limits) plus two additions: a provider's mock block, which tunes the
// mock provider, and a top-level server block with the HTTP server's
// timeouts. The file is validated completely before the gateway starts: all
// problems are returned together as a *ValidationError, each one naming the
// file, the line and the field, e.g.
//
//	tollgate.yaml:12: providers[1].type: unknown provider type "opneai" (want one of ...)
//
// List indexes in field paths count from 0.
//
// Rules a user may not guess:
//
//   - Every scalar value may reference environment variables after the YAML
//     is parsed, so values with special characters cannot break it: ${NAME}
//     must be set (and not empty), ${NAME:-default} falls back to default
//     (which may be empty), and $${ is a literal "${". Keys are not expanded.
//   - A value that is empty, null or expands to empty counts as not given:
//     the field takes its default, and a header with an empty value is not
//     sent.
//   - Durations are Go durations ("60s", "1h", "250ms"); a bare integer is a
//     number of seconds.
//   - Prices are USD per million tokens, read as exact decimals into integer
//     micro-USD; a missing cached_input_per_mtok is the input price.
//   - A models entry may have a name of the form "provider/model" even when
//     that provider exists: the explicit entry wins over direct addressing.
//   - A file configures at least one provider; models are optional.
//   - A provider field that belongs to another type (api_version, region,
//     the access keys, the mock block) is an error when it has a value.
//   - Unknown keys are errors. Aliases (*name) are followed; merge keys (<<)
//     and more than one YAML document are not supported.
//   - Secret values (api_key, access keys, header values) never appear in
//     messages.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-gw/tollgate/provider"
)

// DefaultSource is Config.Source for the built-in defaults.
const DefaultSource = "built-in defaults"

// DefaultFile is the config file Resolve looks for in the working directory
// when TOLLGATE_CONFIG is not set.
const DefaultFile = "tollgate.yaml"

// Defaults of the cache, limits and server blocks.
const (
	DefaultCacheTTL          = time.Hour
	DefaultCacheScope        = "customer"
	DefaultMaxBodyBytes      = 10 << 20
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
)

// Config is the gateway's validated configuration.
type Config struct {
	// Providers are the configured upstreams, in file order, with defaults
	// filled in and ${VAR} references expanded.
	Providers []provider.Config
	// Models are the public model names, in file order.
	Models []Model
	// Cache configures the response cache.
	Cache Cache
	// Limits bounds client requests.
	Limits Limits
	// Server holds the HTTP server's timeouts. It is an addition to the
	// public contract (the file's server block).
	Server Server
	// Source is the file the configuration came from, or DefaultSource.
	Source string
}

// Model is a public model name routed to weighted upstream targets.
type Model struct {
	// Name is the model name clients send. It is unique.
	Name string
	// Targets share the traffic by weight; at least one has a weight above
	// zero.
	Targets []Target
	// Fallbacks are other public model names tried in order when every
	// target fails. They never form a cycle.
	Fallbacks []string
	// Pricing is what the model costs.
	Pricing Pricing
	// Line is the line of the entry in the config file, for messages.
	Line int
}

// Target is one upstream of a model.
type Target struct {
	// Provider is the name of a configured provider.
	Provider string
	// Model is the upstream model name (for Azure, the deployment).
	Model string
	// Weight is the target's share of traffic; 1 when not given, 0 disables
	// the target.
	Weight int
}

// Pricing holds prices in USD per one million tokens as integer micro-USD
// (0.15 USD is 150000).
type Pricing struct {
	// InputPerMTok is the price of prompt tokens.
	InputPerMTok int64
	// OutputPerMTok is the price of completion tokens.
	OutputPerMTok int64
	// CachedInputPerMTok is the price of cached prompt tokens; it is
	// InputPerMTok when the file gives no cached price.
	CachedInputPerMTok int64
	// Set reports whether any price was given, so that a model without a
	// price can be told from a free one.
	Set bool
}

// Cache configures the response cache.
type Cache struct {
	// Enabled turns the cache on; default true.
	Enabled bool
	// TTL is how long an entry lives; default one hour.
	TTL time.Duration
	// Scope is who shares entries: "global", "customer" (default) or "key".
	Scope string
}

// Limits bounds client requests.
type Limits struct {
	// MaxBodyBytes is the largest request body accepted; default 10 MiB.
	MaxBodyBytes int64
}

// Server holds the HTTP server's timeouts (the file's server block, keys
// read_header_timeout, idle_timeout and shutdown_timeout).
type Server struct {
	// ReadHeaderTimeout bounds reading a request's headers; default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections; default 120s.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown; default 30s.
	ShutdownTimeout time.Duration
}

// Resolve finds and loads the configuration: the file named by
// env.ConfigPath (TOLLGATE_CONFIG) when set, which must exist; else
// DefaultFile in workDir when present; else Default(getenv). Relative paths
// are taken relative to workDir, and the joined path names the file in
// messages and in Config.Source.
func Resolve(env Env, workDir string, getenv func(string) string) (*Config, error) {
	if env.ConfigPath != "" {
		path := env.ConfigPath
		if !filepath.IsAbs(path) {
			path = filepath.Join(workDir, path)
		}
		cfg, err := Load(path, getenv)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config file named by TOLLGATE_CONFIG does not exist: %w", err)
		}
		return cfg, err
	}
	path := filepath.Join(workDir, DefaultFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return Default(getenv), nil
	} else if err != nil {
		return nil, fmt.Errorf("look for config file: %w", err)
	}
	return Load(path, getenv)
}

// Load reads and parses the config file at path; see Parse.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path, getenv)
}

// Parse decodes and validates a config file's contents. filename names the
// file in messages and becomes Config.Source; getenv resolves ${NAME}
// references (nil means an empty environment). Every problem found is
// returned together in a *ValidationError.
func Parse(data []byte, filename string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	root, problem := parseYAML(data, filename)
	if problem != nil {
		return nil, newValidationError([]Problem{*problem})
	}
	d := &decoder{file: filename, getenv: getenv}
	cfg := d.config(root)
	if err := newValidationError(d.problems); err != nil {
		return nil, err
	}
	cfg.Source = filename
	return cfg, nil
}

// parseYAML parses data as one YAML document and returns its root node (nil
// for an empty file), or the syntax problem.
func parseYAML(data []byte, filename string) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, syntaxProblem(filename, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, &Problem{File: filename, Line: next.Line, Msg: "more than one YAML document; want one"}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxProblem(filename, err)
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return doc.Content[0], nil
	}
	return nil, nil
}

// syntaxProblem turns a YAML library error into a Problem with its line.
func syntaxProblem(filename string, err error) *Problem {
	msg, line := strings.TrimPrefix(err.Error(), "yaml: "), 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, text
			}
		}
	}
	// The YAML library counts lines from 0 in its parser's errors (not in
	// its scanner's), so those point one line too early.
	switch msg {
	case "did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected '-' indicator", "did not find expected <document start>",
		"did not find expected key", "did not find expected node content",
		"found duplicate %TAG directive", "found duplicate %YAML directive",
		"found incompatible YAML document", "found undefined tag handle":
		if line > 0 {
			line++
		}
	}
	return &Problem{File: filename, Line: line, Msg: "invalid YAML: " + msg}
}

// config decodes the top-level mapping.
func (d *decoder) config(root *yaml.Node) *Config {
	rootLine := max(lineOf(root, 1), 1)
	cfg := &Config{}
	if r := deref(root); !isNull(r) && r.Kind != yaml.MappingNode {
		d.addf(r.Line, "", "want a mapping of providers, models, cache, limits and server at the top level, got %s", describe(r))
		return cfg
	}
	f, keyLines := d.fields(root, "", "providers", "models", "cache", "limits", "server")
	var names map[string]bool
	cfg.Providers, names = d.providers(f["providers"], max(keyLines["providers"], rootLine))
	cfg.Models = d.models(f["models"], names)

	c, _ := d.fields(f["cache"], "cache", "enabled", "ttl", "scope")
	cfg.Cache.Enabled = d.boolean(c["enabled"], "cache.enabled", true)
	cfg.Cache.TTL = d.duration(c["ttl"], "cache.ttl", true, DefaultCacheTTL)
	cfg.Cache.Scope = DefaultCacheScope
	if s, ok := d.text(c["scope"], "cache.scope"); ok {
		switch s {
		case "global", "customer", "key":
			cfg.Cache.Scope = s
		default:
			d.addf(c["scope"].Line, "cache.scope", "unknown scope %q (want one of global, customer, key)", s)
		}
	}

	l, _ := d.fields(f["limits"], "limits", "max_body_bytes")
	cfg.Limits.MaxBodyBytes, _ = d.integer(l["max_body_bytes"], "limits.max_body_bytes", 1, 1<<62, DefaultMaxBodyBytes)

	s, _ := d.fields(f["server"], "server", "read_header_timeout", "idle_timeout", "shutdown_timeout")
	cfg.Server.ReadHeaderTimeout = d.duration(s["read_header_timeout"], "server.read_header_timeout", true, DefaultReadHeaderTimeout)
	cfg.Server.IdleTimeout = d.duration(s["idle_timeout"], "server.idle_timeout", true, DefaultIdleTimeout)
	cfg.Server.ShutdownTimeout = d.duration(s["shutdown_timeout"], "server.shutdown_timeout", true, DefaultShutdownTimeout)
	return cfg
}

// Default returns the built-in configuration used when there is no config
// file: a mock provider, plus one provider per credential getenv finds
// (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, OLLAMA_BASE_URL), no
// models, and the default cache, limits and server settings.
//
// An OLLAMA_BASE_URL without a path (the usual "http://localhost:11434")
// gets "/v1" appended, since the ollama provider speaks Ollama's
// OpenAI-compatible API.
func Default(getenv func(string) string) *Config {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	cfg := &Config{
		Providers: []provider.Config{{Name: typeMock, Type: typeMock, Timeout: DefaultProviderTimeout}},
		Cache:     Cache{Enabled: true, TTL: DefaultCacheTTL, Scope: DefaultCacheScope},
		Limits:    Limits{MaxBodyBytes: DefaultMaxBodyBytes},
		Server: Server{
			ReadHeaderTimeout: DefaultReadHeaderTimeout,
			IdleTimeout:       DefaultIdleTimeout,
			ShutdownTimeout:   DefaultShutdownTimeout,
		},
		Source: DefaultSource,
	}
	add := func(typ, baseURL, apiKey string) {
		if baseURL == "" {
			baseURL, _ = defaultBaseURL(typ)
		}
		cfg.Providers = append(cfg.Providers, provider.Config{
			Name: typ, Type: typ, BaseURL: baseURL, APIKey: apiKey, Timeout: DefaultProviderTimeout,
		})
	}
	for _, c := range []struct{ env, typ string }{
		{"OPENAI_API_KEY", typeOpenAI}, {"ANTHROPIC_API_KEY", typeAnthropic}, {"GEMINI_API_KEY", typeGemini},
	} {
		if key := getenv(c.env); key != "" {
			add(c.typ, "", key)
		}
	}
	if u := strings.TrimRight(getenv("OLLAMA_BASE_URL"), "/"); u != "" {
		if i := strings.Index(u, "://"); i >= 0 && !strings.Contains(u[i+3:], "/") {
			u += "/v1"
		}
		add(typeOllama, u, "")
	}
	return cfg
}
