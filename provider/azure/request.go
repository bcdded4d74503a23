package azure

import (
	"fmt"
	"strconv"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// chatFields are the top-level request fields the adapter looks at; absent
// ones are the zero Result.
type chatFields struct {
	model                                                            gjson.Result
	maxCompletionTokens, maxTokens, streamOptions, parallelToolCalls gjson.Result
	responseFormat, reasoningEffort, store, metadata                 gjson.Result
	prediction, audio, modalities, webSearchOptions                  gjson.Result
	serviceTier, safetyIdentifier, user, messages                    gjson.Result
}

// readChatFields reads the fields in one pass over the body's top level.
// The results point into body, which must not change while they are used.
func readChatFields(body []byte) chatFields {
	var f chatFields
	gjson.Parse(view(body)).ForEach(func(k, v gjson.Result) bool {
		if p := f.slot(k.Str); p != nil {
			*p = v
		}
		return true
	})
	return f
}

// slot returns where the field named key is kept, nil for other fields.
func (f *chatFields) slot(key string) *gjson.Result {
	switch key {
	case "model":
		return &f.model
	case "max_completion_tokens":
		return &f.maxCompletionTokens
	case "max_tokens":
		return &f.maxTokens
	case "stream_options":
		return &f.streamOptions
	case "parallel_tool_calls":
		return &f.parallelToolCalls
	case "response_format":
		return &f.responseFormat
	case "reasoning_effort":
		return &f.reasoningEffort
	case "store":
		return &f.store
	case "metadata":
		return &f.metadata
	case "prediction":
		return &f.prediction
	case "audio":
		return &f.audio
	case "modalities":
		return &f.modalities
	case "web_search_options":
		return &f.webSearchOptions
	case "service_tier":
		return &f.serviceTier
	case "safety_identifier":
		return &f.safetyIdentifier
	case "user":
		return &f.user
	case "messages":
		return &f.messages
	}
	return nil
}

// set reports whether a field is present with a value other than null.
func set(r gjson.Result) bool { return r.Exists() && r.Type != gjson.Null }

// editChat turns the body the OpenAI adapter prepared (model = deployment,
// include_usage forced for streams) into what the configured api-version
// accepts: fields it cannot honour are refused, fields it does not know
// are dropped or renamed, and the classic deployment API gets no model.
// The package comment lists every rule.
func editChat(name string, v apiVersion, body []byte) ([]byte, error) {
	f := readChatFields(body)
	if err := refuse(name, v, &f); err != nil {
		return nil, err
	}
	e := &editor{body: body}
	if !v.v1 {
		e.del("model", f.model)
		e.del("service_tier", f.serviceTier)
		if set(f.safetyIdentifier) && !set(f.user) {
			e.setRaw("user", f.safetyIdentifier.Raw)
		}
		e.del("safety_identifier", f.safetyIdentifier)
	}
	if !v.has(sinceMaxCompletionTokens) {
		if set(f.maxCompletionTokens) && !set(f.maxTokens) {
			e.setRaw("max_tokens", f.maxCompletionTokens.Raw)
		}
		e.del("max_completion_tokens", f.maxCompletionTokens)
		e.del("stream_options", f.streamOptions)
		e.del("parallel_tool_calls", f.parallelToolCalls)
	}
	if !v.has(sinceDeveloper) {
		e.del("store", f.store)
		e.del("metadata", f.metadata)
		f.messages.ForEach(func(i, m gjson.Result) bool {
			if m.Get("role").Str == "developer" {
				e.setRaw("messages."+strconv.Itoa(int(i.Int()))+".role", `"system"`)
			}
			return true
		})
	}
	if !v.has(sinceAudio) {
		e.del("modalities", f.modalities)
	}
	return e.body, e.err
}

// refuse returns the 400 for the first field the configured api-version
// cannot honour.
func refuse(name string, v apiVersion, f *chatFields) error {
	if set(f.webSearchOptions) {
		return openaiwire.Unsupported(name, "web_search_options",
			"web_search_options is not supported by Azure OpenAI chat completions (provider %q)", name)
	}
	needs := func(param, since string) error {
		return openaiwire.Unsupported(name, param,
			"%s is not supported by provider %q: its Azure api-version %s predates %s-preview, which introduced it",
			param, name, v.raw, since)
	}
	switch {
	case v.v1:
		return nil
	case !v.has(sinceJSONSchema) && f.responseFormat.Get("type").Str == "json_schema":
		return needs("response_format", sinceJSONSchema)
	case !v.has(sinceMaxCompletionTokens) && f.parallelToolCalls.Type == gjson.False:
		return needs("parallel_tool_calls", sinceMaxCompletionTokens)
	case !v.has(sinceDeveloper) && set(f.reasoningEffort):
		return needs("reasoning_effort", sinceDeveloper)
	case !v.has(sinceAudio) && set(f.prediction):
		return needs("prediction", sinceAudio)
	case !v.has(sinceAudio) && set(f.audio):
		return needs("audio", sinceAudio)
	case !v.has(sinceAudio) && !textOnly(f.modalities):
		return needs("modalities", sinceAudio)
	}
	return nil
}

// textOnly reports whether modalities is absent, null, or asks for text
// alone.
func textOnly(m gjson.Result) bool {
	ok := true
	m.ForEach(func(_, v gjson.Result) bool {
		ok = v.Str == "text"
		return ok
	})
	return ok
}

// editor applies edits to a JSON body, keeping the first error.
type editor struct {
	body []byte
	err  error
}

// del removes a top-level field; was is the field as read, so that an
// absent one costs nothing.
func (e *editor) del(path string, was gjson.Result) {
	if e.err != nil || !was.Exists() {
		return
	}
	b, err := sjson.DeleteBytes(e.body, path)
	if err != nil {
		e.err = fmt.Errorf("azure: delete %s: %w", path, err)
		return
	}
	e.body = b
}

// setRaw sets a field to raw JSON.
func (e *editor) setRaw(path, raw string) {
	if e.err != nil {
		return
	}
	b, err := sjson.SetRawBytes(e.body, path, []byte(raw))
	if err != nil {
		e.err = fmt.Errorf("azure: set %s: %w", path, err)
		return
	}
	e.body = b
}

// view returns b as a string without copying; b must not change while the
// string is in use.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
