package mock

import (
	"strconv"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// The answers are built by appending to byte slices: a stream's chunks are
// rebuilt in one reused buffer, so a chunk costs no allocation beyond its
// text. Strings are encoded with openaiwire.AppendString.

func appendKey(b []byte, key string) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' && b[n-1] != '[' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendInt appends `"key":v`.
func appendInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(appendKey(b, key), v, 10)
}

// appendStr appends `"key":"v"`.
func appendStr(b []byte, key, v string) []byte {
	return openaiwire.AppendString(appendKey(b, key), v)
}

// appendRaw appends `"key":raw` where raw is already JSON.
func appendRaw(b []byte, key, raw string) []byte {
	return append(appendKey(b, key), raw...)
}

// appendUsage appends `"usage":{…}` in OpenAI's shape.
func appendUsage(b []byte, u provider.Usage) []byte {
	b = append(appendKey(b, "usage"), '{')
	b = appendInt(b, "prompt_tokens", int64(u.PromptTokens))
	b = appendInt(b, "completion_tokens", int64(u.CompletionTokens))
	b = appendInt(b, "total_tokens", int64(u.TotalTokens))
	b = appendRaw(b, "prompt_tokens_details", `{"cached_tokens":0}`)
	b = appendRaw(b, "completion_tokens_details", `{"reasoning_tokens":0}`)
	return append(b, '}')
}
