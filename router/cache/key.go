// Package cache is Tollgate's response cache: the canonical key of a chat
// completion request, the cached answer (Entry) and its replay as a
// stream, two Stores (a bounded in-process LRU and Redis), a single-flight
// Group that collapses identical concurrent misses into one upstream call,
// and the client's cache request headers. Cache puts these together for
// the HTTP layer: one Do call per request does the lookup, the single
// flight and the store (see the package example).
//
// Single flight is per process: replicas sharing Redis share entries but
// may each make one upstream call for the same cold key. Followers of a
// streaming miss wait for the whole answer and then get it replayed.
//
// # What is part of the key
//
// Key hashes the cache scope (see ScopeID) and a canonical form of the
// request body: the JSON with object keys sorted at every depth,
// insignificant whitespace removed and numbers normalised (1, 1.0 and 1e0
// are the same number), the "model" field replaced by the public model
// name, and these top-level fields removed because they do not change the
// answer: user, safety_identifier, stream, stream_options, metadata, store,
// service_tier, prompt_cache_key and prompt_cache_retention. A top-level
// field whose value is null is treated as absent.
//
// Defaults are normalised only where absent and the default mean the same
// thing on every provider the gateway translates to: n 1, logprobs false,
// presence_penalty 0 and frequency_penalty 0 are removed, and a stop given
// as one string equals the same stop given as a one-element array.
// Parameters whose default differs between providers (temperature, top_p,
// max_tokens, parallel_tool_calls, …) are kept exactly as sent: an absent
// temperature and temperature 1 are different keys. Every other field,
// including fields the gateway does not know, is part of the key, so a
// new OpenAI parameter can only cause a miss, never a wrong hit.
//
// Requests that sample (temperature above 0, n above 1) are cached like
// any other: the contract treats identical requests as identical, so a
// hit replays the first sampled answer until the entry expires. Clients
// that want a fresh sample send x-tollgate-cache: no-cache.
package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// keyVersion is hashed into every key; bump it when the canonical form
// changes so old entries are never matched.
const keyVersion = "tollgate-cache-v1"

// ignoredFields are the top-level request fields that do not change the
// answer and are left out of the key.
var ignoredFields = [...]string{
	"user", "safety_identifier", "stream", "stream_options", "metadata",
	"store", "service_tier", "prompt_cache_key", "prompt_cache_retention",
}

// defaultFields are top-level fields removed when they hold the value
// that every provider also assumes when the field is absent. Values are
// canonical number or JSON text.
var defaultFields = [...]struct{ name, value string }{
	{"n", "1"},
	{"logprobs", "false"},
	{"presence_penalty", "0"},
	{"frequency_penalty", "0"},
}

// ErrNotObject is returned by Key when the body is not a JSON object.
var ErrNotObject = errors.New("cache: request body is not a JSON object")

// Key returns the cache key of a chat completion request body for the
// public model it was sent to, within the scope given by ScopeID: the hex
// SHA-256 of the scope and the canonical request (see the package
// documentation for what the canonical form keeps and drops). It fails
// only when body is not a JSON object.
func Key(body []byte, publicModel, scopeID string) (string, error) {
	canon, err := Canonical(body, publicModel)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(keyVersion))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(len(scopeID))))
	h.Write([]byte{':'})
	h.Write([]byte(scopeID))
	h.Write([]byte{0})
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Canonical returns the canonical form of a chat completion request body
// that Key hashes. It is exported for debugging and tests.
//
// It is written in one pass over the JSON (no decoding into maps): object
// keys sorted bytewise at every depth, the last of duplicate keys kept (as
// encoding/json does), strings re-encoded as encoding/json encodes them,
// numbers canonical, and the top-level rules of the package documentation
// applied (nulls, ignored fields, the public model, defaults, stop).
func Canonical(body []byte, publicModel string) ([]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, errors.New("cache: decode request: not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, ErrNotObject
	}
	ms := members(root)
	kept := ms[:0]
	for _, m := range ms {
		if m.val.Type == gjson.Null || m.key == "model" || slices.Contains(ignoredFields[:], m.key) || isDefault(m) {
			continue
		}
		kept = append(kept, m)
	}
	kept = append(kept, member{key: "model", val: gjson.Result{Type: gjson.String, Str: publicModel}})
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].key < kept[j].key })
	b := make([]byte, 0, len(body)+len(publicModel))
	b = append(b, '{')
	for i, m := range kept {
		if i > 0 {
			b = append(b, ',')
		}
		b = openaiwire.AppendString(b, m.key)
		b = append(b, ':')
		if m.key == "stop" && m.val.Type == gjson.String { // "x" and ["x"] stop alike
			b = append(openaiwire.AppendString(append(b, '['), validUTF8(m.val.Str)), ']')
			continue
		}
		b = appendCanonical(b, m.val)
	}
	return append(b, '}'), nil
}

// member is one key and value of a JSON object.
type member struct {
	key string
	val gjson.Result
}

// members returns an object's members sorted by key, keeping the last of
// duplicate keys.
func members(obj gjson.Result) []member {
	var ms []member
	obj.ForEach(func(k, v gjson.Result) bool {
		ms = append(ms, member{key: validUTF8(k.Str), val: v})
		return true
	})
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].key < ms[j].key })
	out := ms[:0]
	for i, m := range ms {
		if i+1 < len(ms) && ms[i+1].key == m.key {
			continue // a later duplicate wins
		}
		out = append(out, m)
	}
	return out
}

// appendCanonical writes v in canonical form.
func appendCanonical(b []byte, v gjson.Result) []byte {
	switch v.Type {
	case gjson.Null:
		return append(b, "null"...)
	case gjson.False:
		return append(b, "false"...)
	case gjson.True:
		return append(b, "true"...)
	case gjson.Number:
		return append(b, canonicalNumber(json.Number(v.Raw))...)
	case gjson.String:
		return openaiwire.AppendString(b, validUTF8(v.Str))
	}
	if v.IsArray() {
		b = append(b, '[')
		first := true
		v.ForEach(func(_, e gjson.Result) bool {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendCanonical(b, e)
			return true
		})
		return append(b, ']')
	}
	b = append(b, '{')
	for i, m := range members(v) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(openaiwire.AppendString(b, m.key), ':')
		b = appendCanonical(b, m.val)
	}
	return append(b, '}')
}

// validUTF8 replaces each invalid UTF-8 byte with U+FFFD, as encoding/json does when
// it decodes, so that a raw invalid byte and U+FFFD written out canonicalise
// alike.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // utf8.RuneError (U+FFFD) for each invalid byte
		i += size
	}
	return b.String()
}

// isDefault reports whether a top-level member holds the value every
// provider assumes when the field is absent.
func isDefault(m member) bool {
	var text string
	switch m.val.Type {
	case gjson.Number:
		text = string(canonicalNumber(json.Number(m.val.Raw)))
	case gjson.True, gjson.False:
		text = m.val.Raw
	default:
		return false
	}
	for _, d := range defaultFields {
		if d.name == m.key && d.value == text {
			return true
		}
	}
	return false
}

// canonicalNumber makes equal numbers textually equal. Integers written
// without fraction or exponent are kept exact (seeds are 64-bit); any
// other number is compared as the float64 a provider would parse, so
// 1.0, 1e0 and 1 agree. A number that does not fit a float64 is kept as
// written: it can only miss, never collide.
func canonicalNumber(n json.Number) json.Number {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return "0"
		}
		return n
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return n
	}
	if f == 0 {
		return "0"
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
}

// Scope names accepted by ScopeID, as written in the config file's
// cache.scope.
const (
	ScopeGlobal   = "global"
	ScopeCustomer = "customer"
	ScopeKey      = "key"
)

// ScopeID returns the scope part of a cache key for the configured scope:
// "" for global (every tenant shares answers), "c:"+customerID for
// customer (the default: one customer never sees another's answers) and
// "k:"+keyID for key. An unknown or empty scope is treated as customer,
// the safe choice.
func ScopeID(scope, customerID, keyID string) string {
	switch scope {
	case ScopeGlobal:
		return ""
	case ScopeKey:
		return "k:" + keyID
	default:
		return "c:" + customerID
	}
}
