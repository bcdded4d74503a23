// Package bedrock is the adapter for Amazon Bedrock's Converse and
// ConverseStream APIs (provider type "bedrock"), and for Amazon Titan text
// embeddings through InvokeModel.
//
// # Endpoint and credentials
//
// region is required; base_url defaults to
// https://bedrock-runtime.{region}.amazonaws.com. Requests go to
// POST {base}/model/{modelId}/converse and /converse-stream, with the model
// id (a model id, inference-profile id or ARN) path-escaped. Credentials,
// first match wins:
//
//   - api_key: a Bedrock API key, sent as "Authorization: Bearer <key>".
//   - access_key_id and secret_access_key: AWS Signature Version 4
//     (service "bedrock", the configured region, payload hash of the body).
//   - AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from
//     the environment, read once when the adapter is built: SigV4.
//   - AWS_BEARER_TOKEN_BEDROCK from the environment: a Bedrock API key.
//
// Credentials are static for the adapter's lifetime: temporary credentials
// from the environment are not refreshed.
//
// # Request translation (OpenAI → Converse)
//
// Translated:
//   - system and developer messages → system [{text}], all of them, in
//     order, wherever they appear in the conversation;
//   - user and assistant messages → messages with content blocks;
//     consecutive messages of the same Bedrock role are merged, since
//     Bedrock wants the roles to alternate, with tool results first in
//     their user turn; empty text is not sent (Bedrock refuses blank text
//     blocks);
//   - text parts → {text}; image_url parts → {image:{format,source:{bytes}}}
//     (png, jpeg, gif, webp): base64 data URLs are sent inline, http(s)
//     URLs are downloaded through the gateway's image fetcher; file parts with
//     inline file_data → {document:{format,name,source:{bytes}}} (pdf, csv,
//     doc, docx, xls, xlsx, html, txt, md);
//   - assistant tool_calls → {toolUse:{toolUseId,name,input}} with the ids
//     kept and the arguments parsed into an object; tool messages → a user
//     message of {toolResult:{toolUseId,content,status:"success"}} blocks
//     (content [{json}] when the result is a JSON object, else [{text}]);
//   - tools → toolConfig.tools[].toolSpec {name, description,
//     inputSchema.json} (no parameters → an empty object schema);
//   - tool_choice auto → {auto:{}}, required → {any:{}}, a named function →
//     {tool:{name}}; none → toolConfig is left out (Bedrock has no "none"),
//     except when the conversation already holds tool calls or results,
//     which Bedrock accepts only with a toolConfig: then the tools are sent
//     without a toolChoice, and the model could still call one (best
//     effort);
//   - max_completion_tokens, else max_tokens → inferenceConfig.maxTokens;
//     temperature → temperature; top_p → topP; stop → stopSequences;
//   - response_format json_schema and json_object → a forced tool (policy):
//     a tool named after the schema ("json_response" for json_object) whose
//     input schema is the requested schema, with toolChoice {tool}; the
//     tool's input comes back as the message content with finish_reason
//     "stop". Only models that support toolChoice {tool} (Anthropic Claude,
//     Mistral Large, Amazon Nova) can honour it; others answer 400.
//
// Ignored safely (tuning only, no Converse equivalent): seed,
// presence_penalty, frequency_penalty, logit_bias, user,
// safety_identifier, service_tier, reasoning_effort (model-specific on
// Bedrock), parallel_tool_calls, prediction, metadata, store, the name of
// messages, image_url.detail, tools[].function.strict, json_schema.strict,
// and stream_options (usage is always read from the metadata event and
// reported in a final usage chunk that the gateway shows when asked).
// temperature is passed as sent: models whose range is 0–1 answer 400
// above 1.
//
// Refused with 400 naming the parameter: n > 1; logprobs true and
// top_logprobs > 0; audio, modalities other than ["text"],
// web_search_options, functions and function_call; input_audio parts;
// file parts by file_id; image or document media types Bedrock does not
// take; image URLs when the gateway has no image fetcher;
// tool_choice allowed_tools; response_format json_schema or json_object
// together with tools the model may call.
//
// # Response translation (Converse → OpenAI)
//
// text blocks → content (joined); toolUse → tool_calls (input serialised
// compactly); reasoningContent text → reasoning_content. stopReason
// end_turn and stop_sequence → "stop", max_tokens and
// model_context_window_exceeded → "length", tool_use → "tool_calls",
// content_filtered and guardrail_intervened → "content_filter", anything
// else → "stop". usage: prompt_tokens = inputTokens + cacheReadInputTokens
// + cacheWriteInputTokens, cached_tokens = cacheReadInputTokens,
// cache_write_tokens = cacheWriteInputTokens, completion_tokens =
// outputTokens. Bedrock returns no answer id or model name: the id is a
// generated "chatcmpl-…" and the model is the requested model id.
//
// Streams decode the binary AWS event stream: messageStart → the role
// chunk; contentBlockStart with toolUse → a tool call's first delta (id,
// name); contentBlockDelta text → content, toolUse.input → argument
// fragments, reasoningContent.text → reasoning_content; messageStop → the
// finish chunk; metadata → the usage chunk. Exception frames
// (throttlingException, modelStreamErrorException, …) end the stream with
// a classified *provider.Error.
//
// # Errors
//
// AWS error types (x-amzn-ErrorType header, else the body's __type or
// code) are classified: ValidationException → invalid request (400, with
// the upstream message; context_length_exceeded when it says the input is
// too long); AccessDeniedException, UnrecognizedClientException and the
// signature and token errors → auth (never with the upstream text);
// ResourceNotFoundException → not found; ThrottlingException → rate
// limited (quota when it names a daily limit); ServiceQuotaExceededException
// → quota; ModelTimeoutException → timeout; ModelNotReadyException,
// ModelErrorException, ServiceUnavailableException and
// InternalServerException → server. Other answers are classified by
// status.
//
// # Embeddings
//
// Amazon Titan text embedding models (amazon.titan-embed-text-v1, -v2 and
// amazon.titan-embed-g1-text-02) through InvokeModel, one upstream call
// per input: {"inputText", "dimensions" (v2 only)} → the OpenAI list shape,
// base64 encoding done by the gateway. Token-array inputs and other model
// families are refused with 400.
package bedrock
