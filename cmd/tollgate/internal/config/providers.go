package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-gw/tollgate/provider"
)

// Provider types known to the config file.
const (
	typeOpenAI           = "openai"
	typeOpenAICompatible = "openai-compatible"
	typeAzure            = "azure"
	typeAnthropic        = "anthropic"
	typeGemini           = "gemini"
	typeBedrock          = "bedrock"
	typeOllama           = "ollama"
	typeMock             = "mock"

	knownTypes = "openai, openai-compatible, azure, anthropic, gemini, bedrock, ollama, mock"
)

// DefaultProviderTimeout is a provider's timeout when the file gives none.
const DefaultProviderTimeout = 60 * time.Second

// defaultBaseURL returns the base URL of a provider type whose endpoint is
// well known, and whether the type is known at all.
func defaultBaseURL(typ string) (string, bool) {
	switch typ {
	case typeOpenAI:
		return "https://api.openai.com/v1", true
	case typeOllama:
		return "http://localhost:11434/v1", true
	case typeAnthropic:
		return "https://api.anthropic.com", true
	case typeGemini:
		return "https://generativelanguage.googleapis.com", true
	case typeOpenAICompatible, typeAzure, typeBedrock, typeMock:
		return "", true
	}
	return "", false
}

// providers decodes the providers list. It also returns every name given,
// valid or not, so that targets naming a badly configured provider are not
// reported a second time.
// line is that of the providers key, or of the document when it is absent.
func (d *decoder) providers(n *yaml.Node, line int) ([]provider.Config, map[string]bool) {
	items := d.items(n, "providers")
	if len(items) == 0 && !d.reported("providers") {
		d.addf(line, "providers", "at least one provider is required")
	}
	out := make([]provider.Config, 0, len(items))
	names := make(map[string]bool, len(items))
	first := map[string]int{}
	for i, item := range items {
		path := fmt.Sprintf("providers[%d]", i)
		p, nameLine := d.provider(item, path)
		out = append(out, p)
		if p.Name == "" {
			continue
		}
		names[p.Name] = true
		if line, dup := first[p.Name]; dup {
			d.addf(nameLine, path+".name", "duplicate provider name %q (first at line %d)", p.Name, line)
		} else {
			first[p.Name] = nameLine
		}
	}
	return out, names
}

// provider decodes one providers entry and returns it with the line of its
// name.
func (d *decoder) provider(n *yaml.Node, path string) (provider.Config, int) {
	line := lineOf(n, 0)
	f, _ := d.fields(n, path, "name", "type", "base_url", "api_key", "timeout", "headers",
		"api_version", "region", "access_key_id", "secret_access_key", "mock")
	var p provider.Config
	if f == nil {
		return p, line
	}
	p.Name, _ = d.required(f["name"], line, path+".name")
	if strings.ContainsFunc(p.Name, func(r rune) bool { return r == '/' || unicode.IsSpace(r) }) {
		d.addf(lineOf(f["name"], line), path+".name", "provider name %q must not contain \"/\" or whitespace", p.Name)
	}
	if typ, ok := d.required(f["type"], line, path+".type"); ok {
		if _, known := defaultBaseURL(typ); !known {
			d.addf(f["type"].Line, path+".type", "unknown provider type %q (want one of %s)", typ, knownTypes)
		}
		p.Type = typ
	}
	p.BaseURL = d.baseURL(f["base_url"], path+".base_url")
	p.APIKey, _ = d.text(f["api_key"], path+".api_key")
	p.Timeout = d.duration(f["timeout"], path+".timeout", true, DefaultProviderTimeout)
	p.Headers = d.headers(f["headers"], path+".headers")
	p.APIVersion, _ = d.text(f["api_version"], path+".api_version")
	p.Region, _ = d.text(f["region"], path+".region")
	p.AccessKeyID, _ = d.text(f["access_key_id"], path+".access_key_id")
	p.SecretAccessKey, _ = d.text(f["secret_access_key"], path+".secret_access_key")
	if f["mock"] != nil {
		p.Mock = d.mock(f["mock"], path+".mock")
	}
	d.typeRules(&p, f, line, path)
	return p, lineOf(f["name"], line)
}

// typeRules checks the fields that depend on the provider type and fills
// in the type's default base URL.
func (d *decoder) typeRules(p *provider.Config, f map[string]*yaml.Node, line int, path string) {
	if _, known := defaultBaseURL(p.Type); !known {
		return // already reported; rules of another type would only add noise
	}
	onlyFor := func(key, typ, value string) {
		if value != "" && p.Type != typ {
			d.addf(lineOf(f[key], line), path+"."+key, "only used by type %s, not %s", typ, p.Type)
		}
	}
	onlyFor("api_version", typeAzure, p.APIVersion)
	onlyFor("region", typeBedrock, p.Region)
	onlyFor("access_key_id", typeBedrock, p.AccessKeyID)
	onlyFor("secret_access_key", typeBedrock, p.SecretAccessKey)
	if !isNull(f["mock"]) && p.Type != typeMock {
		d.addf(f["mock"].Line, path+".mock", "only used by type mock, not %s", p.Type)
	}
	needs := func(key, value string) {
		if value == "" && !d.reported(path+"."+key) {
			d.addf(lineOf(f[key], line), path+"."+key, "missing (required for type %s)", p.Type)
		}
	}
	switch p.Type {
	case typeOpenAICompatible:
		needs("base_url", p.BaseURL)
	case typeAzure:
		needs("base_url", p.BaseURL)
		needs("api_version", p.APIVersion)
	case typeBedrock:
		needs("region", p.Region)
		if p.Region != "" && !validRegion(p.Region) {
			d.addf(lineOf(f["region"], line), path+".region", "invalid AWS region %q (want e.g. us-east-1)", p.Region)
		}
		if (p.AccessKeyID == "") != (p.SecretAccessKey == "") {
			d.addf(line, path, "access_key_id and secret_access_key go together: give both or neither")
		}
		if p.BaseURL == "" && validRegion(p.Region) {
			p.BaseURL = "https://bedrock-runtime." + p.Region + ".amazonaws.com"
		}
	}
	if p.BaseURL == "" && !d.reported(path+".base_url") {
		p.BaseURL, _ = defaultBaseURL(p.Type)
	}
}

// validRegion reports whether s looks like an AWS region name, which ends
// up in a host name.
func validRegion(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
}

// baseURL reads an optional absolute http(s) URL and trims trailing
// slashes. Messages never show the URL: it may carry credentials, in its
// user info or, for some providers, in its query.
func (d *decoder) baseURL(n *yaml.Node, path string) string {
	s, ok := d.text(n, path)
	if !ok {
		return ""
	}
	const want = "want an absolute http:// or https:// URL"
	u, err := url.Parse(s)
	switch {
	case err != nil:
		d.addf(n.Line, path, "%s (this one does not parse)", want)
	case u.Scheme == "":
		d.addf(n.Line, path, "%s (no scheme given)", want)
	case u.Scheme != "http" && u.Scheme != "https":
		d.addf(n.Line, path, "%s, got scheme %q", want, u.Scheme)
	case u.Host == "" || u.Opaque != "":
		d.addf(n.Line, path, "%s (no host given)", want)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		d.addf(n.Line, path, "must not have a query or fragment")
	default:
		return strings.TrimRight(s, "/")
	}
	return ""
}

// headers decodes the extra upstream headers. A header whose value expands
// to empty is left out, so that "${OPTIONAL:-}" values can be turned off.
// Values are secrets: messages never show them.
func (d *decoder) headers(n *yaml.Node, path string) map[string]string {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.addf(n.Line, path, "want a mapping of header names to values, got %s", describe(n))
		return nil
	}
	out := map[string]string{}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			d.addf(k.Line, path, "want a header name, got %s", describe(k))
			continue
		}
		name, kp := k.Value, join(path, k.Value)
		if !validHeaderName(name) {
			d.addf(k.Line, kp, "invalid header name")
			continue
		}
		if line, dup := first[strings.ToLower(name)]; dup {
			d.addf(k.Line, kp, "duplicate header (first at line %d; names are case-insensitive)", line)
			continue
		}
		first[strings.ToLower(name)] = k.Line
		v, ok := d.text(n.Content[i+1], kp)
		if !ok {
			continue
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			d.addf(k.Line, kp, "value <redacted> contains a line break or NUL")
			continue
		}
		out[name] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// mock decodes the mock provider's knobs; all of them may be zero.
func (d *decoder) mock(n *yaml.Node, path string) provider.MockConfig {
	f, _ := d.fields(n, path, "latency", "chunk_delay", "chunks", "fail_every", "fail_status")
	var m provider.MockConfig
	m.Latency = d.duration(f["latency"], path+".latency", false, 0)
	m.ChunkDelay = d.duration(f["chunk_delay"], path+".chunk_delay", false, 0)
	chunks, _ := d.integer(f["chunks"], path+".chunks", 0, 1_000_000, 0)
	every, _ := d.integer(f["fail_every"], path+".fail_every", 0, 1<<31-1, 0)
	status, ok := d.integer(f["fail_status"], path+".fail_status", 0, 599, 0)
	if ok && status != 0 && status < 400 {
		d.addf(f["fail_status"].Line, path+".fail_status", "must be 0 (meaning 500) or an HTTP error status 400-599, got %d", status)
		status = 0
	}
	m.Chunks, m.FailEvery, m.FailStatus = int(chunks), int(every), int(status)
	return m
}
