// Package gemini is the adapter for Google's Gemini API
// (generativelanguage.googleapis.com, provider type "gemini"). It
// translates the client's OpenAI Chat Completions request into a
// generateContent request, and Gemini's answers, streams and errors back
// into OpenAI's shapes.
//
// Endpoints: POST {base}/v1beta/models/{model}:generateContent, and
// :streamGenerateContent?alt=sse for streams (data-only SSE, CRLF framed,
// no terminator: the end of the body ends the stream). Embeddings use
// :batchEmbedContents. The key travels in the x-goog-api-key header, never
// in the URL. base_url defaults to https://generativelanguage.googleapis.com;
// a base URL that already ends in /v1beta or /v1 is used as the API root.
//
// # Request fields
//
// Translated:
//   - messages: system and developer → systemInstruction (one text part
//     per message, in order); user → role "user"; assistant → role "model"
//     (text, then one functionCall part per tool call, arguments parsed
//     into an object); consecutive tool messages → one "user" content with
//     one functionResponse part each, the function name looked up from the
//     assistant tool call with that tool_call_id, the content used as
//     response when it is a JSON object, else wrapped as {"output": text}.
//   - content parts: text; image_url as a data URL → inlineData; image_url
//     as an http(s) URL → downloaded through the gateway's image fetcher and
//     sent as inlineData; input_audio → inlineData (audio/wav, audio/mp3…);
//     file with file_data (a data URL, or base64 of a .pdf) → inlineData.
//   - tools → tools[0].functionDeclarations (name, description, and the
//     JSON Schema parameters as parametersJsonSchema, unchanged).
//   - tool_choice → toolConfig.functionCallingConfig: none → NONE, auto →
//     AUTO, required → ANY, a named function → ANY + allowedFunctionNames;
//     allowed_tools in mode required → ANY + allowedFunctionNames, in mode
//     auto → AUTO with only the allowed functions declared.
//   - generationConfig: temperature, top_p → topP, max_completion_tokens
//     (else max_tokens) → maxOutputTokens, stop → stopSequences, n →
//     candidateCount, seed → seed (folded into 32 bits when larger),
//     presence_penalty, frequency_penalty, logprobs → responseLogprobs,
//     top_logprobs → logprobs, response_format json_object →
//     responseMimeType application/json, json_schema → that plus
//     responseJsonSchema.
//   - reasoning_effort → thinkingConfig: for gemini-3 models thinkingLevel
//     LOW (none, minimal, low) or HIGH (medium, high, xhigh); for other
//     models thinkingBudget none 0, minimal and low 1024, medium 8192, high
//     and xhigh 24576.
//
// Ignored safely (no Gemini equivalent, or tuning only): user and
// safety_identifier, logit_bias, parallel_tool_calls, service_tier,
// prediction, stream_options (usage is always read), message name,
// image_url.detail, function strict and json_schema strict/name (the
// schema itself is enforced), modalities ["text"], logprobs false,
// tool_choice when there are no tools.
//
// Refused with 400 invalid_request_error naming the param (code
// unsupported_parameter): audio, modalities other than text,
// web_search_options, the legacy functions and function_call, tool types
// other than function, role "function" or an unknown role, non-text parts
// in system/developer messages, content parts of an unknown type, file
// parts by file_id, image URLs that are neither data nor http(s) URLs,
// http(s) image URLs when the gateway has no image fetcher, unknown
// response_format types and reasoning_effort values. Values that cannot be
// translated are refused the same way with code invalid_value: tool
// arguments that are not a JSON object, a tool_call_id that matches no
// earlier tool call, file_data that is neither a data URL nor a .pdf, an
// allowed_tools list without functions; an image URL that cannot be
// fetched has code invalid_image_url.
//
// # Answers
//
// Candidates become choices; thought parts become reasoning_content;
// functionCall parts become tool_calls with gateway-made ids and compact
// JSON arguments (streamed as a start delta with id and name, then one
// delta with the whole arguments, indexed 0, 1, 2… per choice).
// finishReason STOP with function calls → tool_calls; STOP, OTHER,
// LANGUAGE and the unspecified or other image reasons → stop; MAX_TOKENS →
// length; SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII and the
// image safety reasons → content_filter; MALFORMED_FUNCTION_CALL,
// UNEXPECTED_TOOL_CALL and TOO_MANY_TOOL_CALLS → an upstream error (502, or
// an error event mid-stream). A prompt blocked by promptFeedback is a 200
// with one empty choice finishing content_filter. logprobsResult becomes
// OpenAI's choice logprobs (content tokens with their top_logprobs) when
// the client asked for logprobs. The answer id is Gemini's responseId; the
// model is its modelVersion. Usage: prompt = promptTokenCount +
// toolUsePromptTokenCount, completion = candidatesTokenCount +
// thoughtsTokenCount, reasoning = thoughtsTokenCount, cached =
// cachedContentTokenCount; a stream reports the last (cumulative)
// usageMetadata, marked Estimated when the stream broke off.
//
// # Errors
//
// Google RPC errors are classified: 400 with an ErrorInfo reason
// API_KEY_*, 401 and 403 (UNAUTHENTICATED, PERMISSION_DENIED) → auth, with
// no upstream text; other 400s (INVALID_ARGUMENT, FAILED_PRECONDITION) →
// invalid request with Gemini's message (code context_length_exceeded when
// the prompt is too long); 404 → not found; 429 RESOURCE_EXHAUSTED → rate
// limited, Retry-After from RetryInfo.retryDelay or the Retry-After header,
// except a QuotaFailure counted per day → quota; 500 and 503 → server;
// 504 DEADLINE_EXCEEDED → timeout.
//
// # Thought signatures
//
// Gemini 3 requires the thoughtSignature it sent with a functionCall to
// come back with that call in the next turn, but the gateway keeps no
// state and OpenAI's history has no field for it. The signature therefore
// travels inside the tool-call id the gateway invents: "call_" + 24 random
// letters and digits when there is no signature, and "call_" + 8 random +
// "__ts_" + the signature in base64url when there is one. When the client
// sends the history back, the signature is decoded from ids of that form
// and attached to the functionCall part. Such ids can be long (a few
// hundred characters); OpenAI clients accept any string, but replaying the
// same history to OpenAI itself may hit its id length limit. For Gemini 3
// models, the first functionCall of a model turn that carries no signature
// (history begun with another model) gets Google's documented placeholder
// "skip_thought_signature_validator", so that the request is not refused.
// Signatures on text parts are not kept (Gemini does not require them).
//
// # Embeddings
//
// POST /v1/embeddings goes to batchEmbedContents, at most 100 inputs per
// call: input (a string or strings; token ids are refused), dimensions →
// outputDimensionality, encoding_format float or base64. Gemini reports no
// token counts; prompt tokens are counted locally and marked Estimated.
package gemini

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// DefaultBaseURL is the Gemini API's base URL.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// maxResponseBytes bounds a non-streaming answer read into memory.
const maxResponseBytes = 64 << 20

// maxErrorBytes bounds an error body read from the upstream.
const maxErrorBytes = 1 << 20

// Adapter talks to the Gemini API. It is safe for concurrent use.
type Adapter struct {
	name      string
	apiRoot   string // base URL including the API version, no trailing slash
	apiKey    string
	headers   [][2]string
	transport http.RoundTripper
	tokens    provider.TokenCounter
	images    provider.ImageFetcher

	// now and newID are the clock and the id generator; tests replace them
	// for deterministic output.
	now   func() time.Time
	newID func(prefix string) string
}

var (
	_ provider.Adapter  = (*Adapter)(nil)
	_ provider.Embedder = (*Adapter)(nil)
	_ provider.Factory  = New
)

// New builds an adapter for a provider of type gemini. It is a
// provider.Factory.
func New(cfg provider.Config, deps provider.Deps) (provider.Adapter, error) {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gemini: provider %q: base_url must be an absolute http(s) URL", cfg.Name)
	}
	if u.RawQuery != "" {
		return nil, fmt.Errorf("gemini: provider %q: base_url must not have a query (the key goes in a header)", cfg.Name)
	}
	base = strings.TrimRight(base, "/")
	if !strings.HasSuffix(base, "/v1beta") && !strings.HasSuffix(base, "/v1") {
		base += "/v1beta"
	}
	a := &Adapter{
		name:    cfg.Name,
		apiRoot: base,
		apiKey:  cfg.APIKey,
		tokens:  deps.Tokens,
		images:  deps.Images,
		now:     time.Now,
		newID:   openaiwire.NewID,
	}
	if deps.HTTPClient != nil {
		a.transport = deps.HTTPClient.Transport
	}
	if a.transport == nil {
		a.transport = http.DefaultTransport
	}
	for k, v := range cfg.Headers {
		a.headers = append(a.headers, [2]string{http.CanonicalHeaderKey(k), v})
	}
	return a, nil
}

// ChatCompletion implements provider.Adapter.
func (a *Adapter) ChatCompletion(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	creq, body, err := a.encodeRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	resp, err := a.post(ctx, a.modelURL(req.Model, "generateContent"), body, false)
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
	return a.decodeResponse(data, req.Model, creq.Logprobs != nil && *creq.Logprobs)
}

// ChatCompletionStream implements provider.Adapter.
func (a *Adapter) ChatCompletionStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	creq, body, err := a.encodeRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	resp, err := a.post(ctx, a.modelURL(req.Model, "streamGenerateContent")+"?alt=sse", body, true)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := readBody(resp, maxErrorBytes)
		return nil, a.statusError(resp.StatusCode, resp.Header, data)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		// A JSON answer to a stream request is an error report.
		defer resp.Body.Close()
		data, _ := readBody(resp, maxErrorBytes)
		if e := parseRPCError(data); e != nil {
			return nil, a.rpcErrorOf(statusForRPC(e), resp.Header, e)
		}
		return nil, a.statusError(http.StatusBadGateway, resp.Header, data)
	}
	return newStream(a, req, resp.Body, creq.Logprobs != nil && *creq.Logprobs), nil
}

// encodeRequest decodes the client's request and encodes the Gemini body.
func (a *Adapter) encodeRequest(ctx context.Context, req *provider.ChatRequest) (*openaiwire.ChatRequest, []byte, error) {
	creq, err := openaiwire.DecodeChatRequest(req.Body)
	if err != nil {
		return nil, nil, &provider.Error{Provider: a.name, Kind: provider.KindInvalidRequest, Status: http.StatusBadRequest,
			Type: "invalid_request_error", Message: "gemini: the request body is not a valid chat completion request", Err: err}
	}
	greq, err := a.translateRequest(ctx, creq, req.Body, req.Model)
	if err != nil {
		return nil, nil, err
	}
	body, err := marshal(greq)
	if err != nil {
		return nil, nil, fmt.Errorf("gemini: encode request: %w", err)
	}
	return creq, body, nil
}

// modelURL is the URL of method on model. A "models/" prefix on the model
// is accepted and dropped.
func (a *Adapter) modelURL(model, method string) string {
	return a.apiRoot + "/models/" + url.PathEscape(trimModelsPrefix(model)) + ":" + method
}

// post sends body to u and returns the response, whatever its status.
func (a *Adapter) post(ctx context.Context, u string, body []byte, stream bool) (*http.Response, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gemini: build request: %w", err)
	}
	h := hreq.Header
	h["Content-Type"] = []string{"application/json"}
	if stream {
		h["Accept"] = []string{"text/event-stream"}
	} else {
		h["Accept"] = []string{"application/json"}
	}
	if a.apiKey != "" {
		h["X-Goog-Api-Key"] = []string{a.apiKey}
	}
	for _, kv := range a.headers {
		h.Set(kv[0], kv[1])
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
// context is returned wrapped: the caller knows whether it was the client
// or its own deadline.
func (a *Adapter) transportError(ctx context.Context, op string, err error) error {
	return provider.TransportError(ctx, a.name, "gemini", op, err)
}

// countText counts the tokens of text, with a rough fallback when the
// gateway gave the adapter no counter.
func (a *Adapter) countText(model, text string) int {
	if text == "" {
		return 0
	}
	if a.tokens != nil {
		return a.tokens.CountText(model, text)
	}
	return (len(text) + 3) / 4
}

// countChat counts the prompt tokens of an OpenAI request body.
func (a *Adapter) countChat(model string, body []byte) int {
	if a.tokens != nil {
		return a.tokens.CountChat(model, body)
	}
	return (len(body) + 3) / 4
}

// readBody reads a response body of at most limit bytes.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	b, err := provider.ReadAll(resp.Body, resp.ContentLength, limit)
	if errors.Is(err, provider.ErrTooLarge) {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return b, err
}
