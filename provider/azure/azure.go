// Package azure is the adapter for Azure OpenAI (provider type azure).
//
// Azure OpenAI speaks OpenAI's Chat Completions wire format, so the adapter
// is provider/openai with Azure's URLs, credential header, per-api-version
// request edits and error wording; answers and streams are OpenAI's own
// handling, with two Azure repairs on streams (below).
//
// # Configuration
//
// base_url is the resource endpoint (https://NAME.openai.azure.com, or a
// proxy in front of it; a trailing /openai is tolerated), a target's model
// is the deployment name, and api_version is required:
//
//   - a dated version ("2024-10-21", "2025-04-01-preview"): POST
//     {base_url}/openai/deployments/{deployment}/chat/completions?api-version={v}
//     (and …/embeddings); the chat body carries no model, the URL names
//     the deployment (embeddings bodies keep model = the deployment, as
//     Azure's own SDKs send them).
//   - "v1": POST {base_url}/openai/v1/chat/completions (and …/embeddings)
//     with model = the deployment; "preview" is the same with
//     ?api-version=preview (v1 preview features).
//
// The API key is sent as "api-key: <key>", never as Authorization. For
// Microsoft Entra ID, leave api_key empty and set headers: {Authorization:
// "Bearer <token>"}.
//
// # Request fields
//
// The client's JSON is forwarded with minimal edits; every field not named
// here (including Azure's own, such as data_sources) goes through as is.
//
// Translated (sent, edited where noted):
//
//   - messages: system, user (text, image_url by https URL or data URL,
//     input_audio and file parts as is), assistant with tool_calls, tool
//     with tool_call_id (ids pass through untouched); developer is sent as
//     developer from 2024-12-01-preview and as system before.
//   - tools, tool_choice, functions, function_call; parallel_tool_calls from
//     2024-09-01-preview.
//   - temperature, top_p, n, stop, seed, presence_penalty,
//     frequency_penalty, logit_bias, logprobs, top_logprobs, user.
//   - max_tokens; max_completion_tokens from 2024-09-01-preview, renamed to
//     max_tokens before (unless max_tokens is also set).
//   - response_format: text and json_object always; json_schema from
//     2024-08-01-preview.
//   - reasoning_effort, store and metadata from 2024-12-01-preview;
//     prediction, audio and modalities from 2025-01-01-preview.
//   - safety_identifier: sent on v1; on dated versions it becomes user (when
//     user is absent).
//   - stream; stream_options.include_usage is always forced on for
//     streams from 2024-09-01-preview, so metering gets Azure's exact usage.
//   - service_tier on v1.
//
// Ignored safely (dropped before sending): model (the deployment decides);
// before 2024-09-01-preview stream_options (usage is then counted by the
// gateway) and parallel_tool_calls:true (the default); before
// 2024-12-01-preview store and metadata; modalities:["text"] before
// 2025-01-01-preview; service_tier and safety_identifier (moved to user) on
// dated versions.
//
// Refused with a 400 invalid_request_error naming the parameter:
// web_search_options (Azure has web search only in its Responses API);
// before 2024-08-01-preview response_format json_schema; before
// 2024-09-01-preview parallel_tool_calls:false; before 2024-12-01-preview
// reasoning_effort; before 2025-01-01-preview prediction, audio, and
// modalities other than ["text"]. On v1 only web_search_options is
// refused.
//
// # Answers
//
// Answers are forwarded as Azure sent them, with prompt_filter_results and
// content_filter_results, and finish_reason content_filter when Azure
// filtered the output. In streams, chunks with no choices and no usage (the
// prompt-filter chunk Azure sends first, with empty id and model) are
// dropped, and when Azure sent no usage chunk (api-versions before
// 2024-09-01-preview cannot be asked for one) the adapter ends the stream
// with a usage chunk of its own, counted locally and marked estimated.
//
// # Errors
//
// Azure's error envelope is read as OpenAI's: a prompt blocked by the
// content filter (400, code content_filter, param prompt) is passed back as
// a 400 invalid_request_error with Azure's message, code and param; 401
// and 403 are credential failures (never with Azure's text); 404
// (DeploymentNotFound) is not-found; 429 is a rate limit, its retry delay
// taken from retry-after-ms or retry-after, else from the message ("Please
// retry after 60 seconds"); code InsufficientQuota or insufficient_quota is
// a quota failure; 408 and 504 are timeouts; 5xx are server failures. An
// error inside a stream whose code is an HTTP status ("429") is classified
// by it.
package azure

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openai"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// Adapter talks to one Azure OpenAI resource. It is safe for concurrent
// use.
type Adapter struct {
	name    string
	version apiVersion
	inner   *openai.Adapter
	// now and newID stamp a usage chunk the adapter has to make up for a
	// stream that carried no id of its own; tests replace them.
	now   func() time.Time
	newID func() string
}

var (
	_ provider.Adapter  = (*Adapter)(nil)
	_ provider.Embedder = (*Adapter)(nil)
)

// New builds an adapter for a provider of type azure. It is a
// provider.Factory.
func New(cfg provider.Config, deps provider.Deps) (provider.Adapter, error) {
	a, err := newAdapter(cfg, deps)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// newAdapter checks the configuration and builds the OpenAI adapter
// underneath with Azure's URLs, header, edits and error rules.
func newAdapter(cfg provider.Config, deps provider.Deps) (*Adapter, error) {
	v, err := parseAPIVersion(cfg.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("azure: provider %q: %w", cfg.Name, err)
	}
	base, err := resourceBase(cfg.BaseURL, v)
	if err != nil {
		return nil, fmt.Errorf("azure: provider %q: %w", cfg.Name, err)
	}
	cfg.BaseURL = base
	name := cfg.Name
	inner, err := openai.NewWithOptions(cfg, deps, openai.Options{
		ChatURL:       func(model string) string { return v.url(base, model, "chat/completions") },
		EmbeddingsURL: func(model string) string { return v.url(base, model, "embeddings") },
		AuthHeader:    "api-key",
		EditChat: func(_ *provider.ChatRequest, body []byte, _ bool) ([]byte, error) {
			return editChat(name, v, body)
		},
		Classify: classify,
	})
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	return &Adapter{
		name:    cfg.Name,
		version: v,
		inner:   inner,
		now:     time.Now,
		newID:   func() string { return openaiwire.NewID("chatcmpl-") },
	}, nil
}

// resourceBase checks base_url and returns it without a trailing slash and
// without the /openai (or, for the v1 API, /openai/v1) that users copy
// from the portal.
func resourceBase(raw string, v apiVersion) (string, error) {
	if raw == "" {
		return "", errors.New("base_url is required (the resource endpoint, https://NAME.openai.azure.com)")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", errors.New("base_url must be an absolute http(s) URL without a query")
	}
	base := strings.TrimRight(raw, "/")
	if v.v1 {
		base = strings.TrimSuffix(base, "/openai/v1")
	}
	return strings.TrimSuffix(base, "/openai"), nil
}

// ChatCompletion implements provider.Adapter.
func (a *Adapter) ChatCompletion(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	return a.inner.ChatCompletion(ctx, req)
}

// ChatCompletionStream implements provider.Adapter.
func (a *Adapter) ChatCompletionStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	s, err := a.inner.ChatCompletionStream(ctx, req)
	if err != nil {
		return nil, err
	}
	return newStream(a, req, s), nil
}

// Embeddings implements provider.Embedder, through the deployment's
// embeddings endpoint.
func (a *Adapter) Embeddings(ctx context.Context, req *provider.EmbeddingsRequest) (*provider.EmbeddingsResponse, error) {
	return a.inner.Embeddings(ctx, req)
}
