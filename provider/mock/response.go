package mock

import (
	"strconv"

	"github.com/tollgate-gw/tollgate/provider"
)

// appendCompletion appends the chat.completion JSON of ans.
func appendCompletion(b []byte, id string, created int64, model string, ans *answer, u provider.Usage) []byte {
	b = append(b, '{')
	b = appendStr(b, "id", id)
	b = appendStr(b, "object", "chat.completion")
	b = appendInt(b, "created", created)
	b = appendStr(b, "model", model)
	b = append(appendKey(b, "choices"), '[')
	for i := range ans.n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendInt(b, "index", int64(i))
		b = append(appendKey(b, "message"), '{')
		b = appendStr(b, "role", "assistant")
		if ans.call != nil {
			b = appendRaw(b, "content", "null")
			b = append(appendKey(b, "tool_calls"), '[', '{')
			b = appendStr(b, "id", ans.call.id)
			b = appendStr(b, "type", "function")
			b = append(appendKey(b, "function"), '{')
			b = appendStr(b, "name", ans.call.name)
			b = appendStr(b, "arguments", ans.call.args)
			b = append(b, '}', '}', ']')
		} else {
			b = appendStr(b, "content", ans.text)
		}
		b = appendRaw(b, "refusal", "null")
		b = append(b, '}')
		b = appendRaw(b, "logprobs", "null")
		b = appendStr(b, "finish_reason", ans.finish)
		b = append(b, '}')
	}
	b = append(b, ']')
	b = appendUsage(b, u)
	b = appendStr(b, "system_fingerprint", fingerprint)
	return append(b, '}')
}

// appendChunkHead opens a chat.completion.chunk up to its choices array.
func appendChunkHead(b []byte, id, created, model string) []byte {
	b = append(b, '{')
	b = appendStr(b, "id", id)
	b = appendStr(b, "object", "chat.completion.chunk")
	b = appendRaw(b, "created", created)
	b = appendStr(b, "model", model)
	b = appendStr(b, "system_fingerprint", fingerprint)
	return append(appendKey(b, "choices"), '[')
}

// appendDeltaOpen opens choice index of a chunk, up to the inside of its
// delta object.
func appendDeltaOpen(b []byte, index int) []byte {
	b = append(b, '{')
	b = appendInt(b, "index", int64(index))
	return append(appendKey(b, "delta"), '{')
}

// appendDeltaClose closes the delta opened by appendDeltaOpen and the
// chunk; finish is "" while the choice is unfinished.
func appendDeltaClose(b []byte, finish string) []byte {
	b = append(b, '}')
	b = appendRaw(b, "logprobs", "null")
	if finish == "" {
		b = appendRaw(b, "finish_reason", "null")
	} else {
		b = appendStr(b, "finish_reason", finish)
	}
	b = append(b, '}', ']')
	b = appendRaw(b, "usage", "null")
	return append(b, '}')
}

// formatCreated renders a unix time once per stream.
func formatCreated(unix int64) string { return strconv.FormatInt(unix, 10) }
