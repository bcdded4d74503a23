package bedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// maxResponseBytes bounds a non-streaming answer read into memory.
const maxResponseBytes = 64 << 20

// maxErrorBytes bounds an error body read from the upstream.
const maxErrorBytes = 1 << 20

// signingService is SigV4's service name for bedrock-runtime.
const signingService = "bedrock"

// Content types of the two answer shapes.
const (
	contentTypeJSON        = "application/json"
	contentTypeEventStream = "application/vnd.amazon.eventstream"
)

// Adapter talks to Amazon Bedrock in one region. It is safe for
// concurrent use.
type Adapter struct {
	name      string
	base      string
	region    string
	transport http.RoundTripper
	tokens    provider.TokenCounter
	images    provider.ImageFetcher
	headers   [][2]string
	// bearer is "Bearer <api key>"; when empty, requests are signed with
	// creds.
	bearer string
	creds  aws.Credentials
	signer *v4.Signer

	// now and newID are the clock and the id generator; tests replace
	// them to make answers deterministic.
	now   func() time.Time
	newID func(prefix string) string
}

var (
	_ provider.Adapter  = (*Adapter)(nil)
	_ provider.Embedder = (*Adapter)(nil)
)

// New builds an adapter for a provider of type bedrock. It is a
// provider.Factory; credentials missing from the config are read from the
// process environment.
func New(cfg provider.Config, deps provider.Deps) (provider.Adapter, error) {
	return newAdapter(cfg, deps, os.Getenv)
}

// newAdapter is New with the environment lookup injectable.
func newAdapter(cfg provider.Config, deps provider.Deps, getenv func(string) string) (*Adapter, error) {
	if cfg.Region == "" {
		return nil, fmt.Errorf("bedrock: provider %q: region is required", cfg.Name)
	}
	base := cfg.BaseURL
	if base == "" {
		base = "https://bedrock-runtime." + cfg.Region + ".amazonaws.com"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bedrock: provider %q: base_url must be an absolute http(s) URL", cfg.Name)
	}
	if deps.HTTPClient == nil {
		return nil, fmt.Errorf("bedrock: provider %q: no HTTP client", cfg.Name)
	}
	a := &Adapter{
		name:      cfg.Name,
		base:      strings.TrimRight(base, "/"),
		region:    cfg.Region,
		transport: deps.HTTPClient.Transport,
		tokens:    deps.Tokens,
		images:    deps.Images,
		signer:    v4.NewSigner(),
		now:       time.Now,
		newID:     openaiwire.NewID,
	}
	if a.transport == nil {
		a.transport = http.DefaultTransport
	}
	for k, v := range cfg.Headers {
		a.headers = append(a.headers, [2]string{http.CanonicalHeaderKey(k), v})
	}
	switch {
	case cfg.APIKey != "":
		a.bearer = "Bearer " + cfg.APIKey
	case cfg.AccessKeyID != "" || cfg.SecretAccessKey != "":
		if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
			return nil, fmt.Errorf("bedrock: provider %q: access_key_id and secret_access_key go together", cfg.Name)
		}
		a.creds = aws.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey, Source: "config"}
	case getenv("AWS_ACCESS_KEY_ID") != "" && getenv("AWS_SECRET_ACCESS_KEY") != "":
		a.creds = aws.Credentials{
			AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
			SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
			SessionToken:    getenv("AWS_SESSION_TOKEN"),
			Source:          "environment",
		}
	case getenv("AWS_BEARER_TOKEN_BEDROCK") != "":
		a.bearer = "Bearer " + getenv("AWS_BEARER_TOKEN_BEDROCK")
	default:
		return nil, fmt.Errorf("bedrock: provider %q: no credentials: set api_key, access_key_id and secret_access_key, "+
			"or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", cfg.Name)
	}
	return a, nil
}

// ChatCompletion implements provider.Adapter.
func (a *Adapter) ChatCompletion(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	tr, err := a.translate(ctx, req.Body)
	if err != nil {
		return nil, err
	}
	resp, err := a.post(ctx, modelURL(a.base, req.Model, "converse"), tr.body, contentTypeJSON)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := readBody(resp, maxResponseBytes)
	if err != nil {
		return nil, a.transportError(ctx, "read response", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, a.statusError(resp.StatusCode, resp.Header, data)
	}
	return a.translateResponse(data, req, tr.jsonTool)
}

// ChatCompletionStream implements provider.Adapter.
func (a *Adapter) ChatCompletionStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	tr, err := a.translate(ctx, req.Body)
	if err != nil {
		return nil, err
	}
	resp, err := a.post(ctx, modelURL(a.base, req.Model, "converse-stream"), tr.body, contentTypeEventStream)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), contentTypeEventStream) {
		defer resp.Body.Close()
		data, err := readBody(resp, maxErrorBytes)
		if err != nil {
			return nil, a.transportError(ctx, "read error response", err)
		}
		status := resp.StatusCode
		if status == http.StatusOK {
			// Anything but an event stream is a failure report.
			status = http.StatusBadGateway
		}
		return nil, a.statusError(status, resp.Header, data)
	}
	return newStream(a, req, tr.jsonTool, resp.Body), nil
}

// translate decodes the client's body and builds the Converse body.
func (a *Adapter) translate(ctx context.Context, body []byte) (*translation, error) {
	oreq, err := openaiwire.DecodeChatRequest(body)
	if err != nil {
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindInvalidRequest, Status: http.StatusBadRequest,
			Type: "invalid_request_error", Message: "the request body could not be decoded", Err: err}
	}
	return a.buildRequest(ctx, oreq)
}

// modelURL is the URL of an operation on a model. The model id is escaped
// as the AWS SDKs do it (everything but unreserved characters), so that
// ARNs stay one path segment and the signature matches what is sent.
func modelURL(base, model, op string) string {
	return base + "/model/" + escapeSegment(model) + "/" + op
}

// escapeSegment percent-encodes every byte but RFC 3986's unreserved
// characters.
func escapeSegment(s string) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&0xf])
	}
	return b.String()
}

// post sends body to u, authenticated, and returns the response whatever
// its status.
func (a *Adapter) post(ctx context.Context, u string, body []byte, accept string) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("bedrock: build request: %w", err)
	}
	h := hreq.Header
	h["Content-Type"] = []string{contentTypeJSON}
	h["Accept"] = []string{accept}
	for _, kv := range a.headers {
		h.Set(kv[0], kv[1])
	}
	if a.bearer != "" {
		h["Authorization"] = []string{a.bearer}
	} else {
		sum := sha256.Sum256(body)
		if err := a.signer.SignHTTP(ctx, a.creds, hreq, hex.EncodeToString(sum[:]), signingService, a.region, a.now()); err != nil {
			return nil, fmt.Errorf("bedrock: sign request: %w", err)
		}
	}
	// The transport is called directly: an API POST must not follow
	// redirects.
	resp, err := a.transport.RoundTrip(hreq)
	if err != nil {
		return nil, a.transportError(ctx, "send request", err)
	}
	return resp, nil
}

// transportError classifies a failure to talk to the upstream. A cancelled
// context is returned wrapped as is: the caller knows whether it was the
// client or its own deadline.
func (a *Adapter) transportError(ctx context.Context, op string, err error) error {
	return provider.TransportError(ctx, a.name, "bedrock", op, err)
}

// estimate counts usage locally, for a stream that broke off before the
// upstream reported usage. Without a token counter it falls back to four
// bytes a token.
func (a *Adapter) estimate(model string, reqBody []byte, completion []byte) provider.Usage {
	var p, c int
	if a.tokens != nil {
		p = a.tokens.CountChat(model, reqBody)
		if len(completion) > 0 {
			c = a.tokens.CountText(model, string(completion))
		}
	} else {
		p = (len(reqBody) + 3) / 4
		c = (len(completion) + 3) / 4
	}
	return provider.Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c, Estimated: true}
}

// readBody reads a response body of at most limit bytes.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	b, err := provider.ReadAll(resp.Body, resp.ContentLength, limit)
	if errors.Is(err, provider.ErrTooLarge) {
		return nil, fmt.Errorf("answer larger than %d bytes: %w", limit, err)
	}
	return b, err
}
