// Package anthropic is the adapter for Anthropic's Messages API (provider
// type anthropic). It decodes the client's OpenAI Chat Completions request,
// sends POST {base_url}/v1/messages (base_url defaults to
// https://api.anthropic.com, the base URL Anthropic's SDKs take) with
// x-api-key, anthropic-version: 2023-06-01 and any configured headers (for
// example anthropic-beta), and translates the answer or event stream back
// to OpenAI's shapes. Anthropic has no embeddings: the adapter is not a
// provider.Embedder.
//
// # Request fields
//
// Translated:
//
//   - system and developer messages, wherever they appear: the top-level
//     system prompt, one text block per message (or text part), in order.
//   - user messages: text parts; image_url parts (a base64 data URL of a
//     JPEG, PNG, GIF or WebP becomes an inline base64 image, an http(s)
//     URL a url source that Anthropic fetches itself; detail is dropped);
//     file parts with inline PDF data become document blocks.
//   - assistant messages: text (refusals included), then one tool_use
//     block per tool call, id kept, arguments parsed into a JSON object.
//   - tool messages: tool_result blocks (tool_use_id = tool_call_id) in a
//     user turn, placed before any other content of that turn.
//   - consecutive turns of one role are merged into one turn; empty text is
//     not sent (Anthropic rejects empty text blocks).
//   - max_completion_tokens, else max_tokens, else DefaultMaxTokens (4096):
//     max_tokens, which Anthropic requires.
//   - temperature (0 to 1), top_p, stop (stop_sequences).
//   - tools (function tools: name, description, parameters as input_schema,
//     default {"type":"object","properties":{}}, strict).
//   - tool_choice: auto, none, required (any), a named function (tool).
//     parallel_tool_calls false sets disable_parallel_tool_use (on an auto
//     choice when the client sent none). Both are sent only with tools.
//   - response_format json_schema: output_config.format, Anthropic's
//     structured output (the name, description and strict flag have no
//     counterpart; Anthropic's structured output is always strict).
//   - response_format json_object: Anthropic has no JSON mode; the adapter
//     appends an instruction to the system prompt asking for a single JSON
//     object and nothing else. The answer is not validated.
//   - reasoning_effort: extended thinking, thinking.budget_tokens =
//     minimal 1024, low 2048, medium 8192, high 16384, xhigh 24576; none
//     leaves thinking off. Without a client limit, max_tokens becomes the
//     budget plus 4096; with one, the budget shrinks below it. When the
//     last assistant message made tool calls, thinking is left off for that
//     request: Anthropic wants the signed thinking block of that turn back,
//     and OpenAI's message history cannot carry it. Anthropic itself
//     rejects thinking combined with a temperature, or with a forced tool
//     choice; those errors reach the client as 400s.
//   - safety_identifier, else user: metadata.user_id.
//
// Dropped silently (tuning only, no Anthropic equivalent): seed,
// presence_penalty, frequency_penalty, logit_bias, service_tier, store,
// metadata, prediction, n = 1, logprobs = false, modalities ["text"],
// message names, image detail.
//
// Refused with a 400 invalid_request_error naming the parameter (they
// would change the answer): n > 1, temperature > 1 (not clamped),
// logprobs true, top_logprobs > 0, audio, modalities other than text,
// web_search_options, the legacy functions and function_call, tool types
// other than function, tool_choice allowed_tools, response_format types
// other than text/json_object/json_schema (or json_schema without a
// schema), unknown reasoning_effort values or one that leaves no room for
// the minimum thinking budget of 1024 tokens, message roles other than
// system/developer/user/assistant/tool, input_audio parts, images that
// are not http(s) or a JPEG/PNG/GIF/WebP data URL, uploaded files
// (file_id) and non-PDF files, non-text parts in system messages, and tool
// call arguments that are not a JSON object
// (messages[i].tool_calls[j].function.arguments).
//
// # Answers
//
// The id is Anthropic's msg_… id and the model the one Anthropic reports.
// Text blocks make the content (null when the answer is only tool calls),
// tool_use blocks the tool calls (ids kept, input serialised compactly),
// thinking blocks the non-standard reasoning_content field, as DeepSeek
// names it; redacted thinking and server-tool blocks are not shown.
// stop_reason maps to finish_reason: end_turn, stop_sequence and
// pause_turn to stop; max_tokens and model_context_window_exceeded to
// length; tool_use to tool_calls; refusal to content_filter; anything new
// to stop. Usage: prompt_tokens = input + cache reads + cache writes,
// cached_tokens = cache reads, cache_write_tokens = cache writes,
// reasoning_tokens from output_tokens_details where Anthropic sends it.
//
// Streams are translated event by event: message_start yields the role
// chunk; text and thinking deltas yield content and reasoning_content
// chunks; each tool_use block yields a tool call start (id and name) with
// the next per-answer tool index, then its input_json_delta fragments as
// they came (empty fragments skipped); signatures, citations, pings and
// block boundaries yield nothing; message_delta yields the finish chunk
// and updates the usage (its counts are cumulative); message_stop yields
// the usage chunk, then io.EOF. An error event ends the stream with a
// *provider.Error classified like an HTTP error of that type.
//
// # Errors
//
// By Anthropic's error type, else by status: authentication_error (401)
// and permission_error (403) are KindAuth, without Anthropic's text;
// rate_limit_error (429) is KindRateLimited with retry-after (a 429 whose
// details say enforced_spend_limit_reached is KindQuota); billing_error
// (402) is KindQuota; not_found_error (404) KindNotFound;
// invalid_request_error (400) and request_too_large (413) are
// KindInvalidRequest with Anthropic's message (code
// context_length_exceeded when it says the prompt is too long);
// api_error (500) and overloaded_error (529) are KindServer; timeout_error
// (504) is KindTimeout. Messages are prefixed with the provider name
// ("anthropic: Overloaded"); Anthropic's request-id goes into the error's
// cause, for the logs.
package anthropic
