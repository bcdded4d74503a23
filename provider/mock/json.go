package mock

import (
	"strconv"
	"unicode/utf8"

	"github.com/tollgate-gw/tollgate/provider"
)

// The answers are built by appending to byte slices: a stream's chunks are
// rebuilt in one reused buffer, so a chunk costs no allocation beyond its
// text.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does; U+2028 and U+2029 are escaped for JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendKey appends `"key":`, after a comma unless it opens an object.
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
	return appendString(appendKey(b, key), v)
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
