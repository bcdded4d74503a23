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
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
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
func Canonical(body []byte, publicModel string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("cache: decode request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("cache: decode request: trailing data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, ErrNotObject
	}
	for k, val := range obj {
		if val == nil {
			delete(obj, k)
		}
	}
	for _, f := range ignoredFields {
		delete(obj, f)
	}
	obj["model"] = publicModel
	normalizeNumbers(obj)
	for _, d := range defaultFields {
		if val, ok := obj[d.name]; ok && scalarText(val) == d.value {
			delete(obj, d.name)
		}
	}
	if s, ok := obj["stop"].(string); ok {
		obj["stop"] = []any{s}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil { // only decoded JSON values
		return nil, fmt.Errorf("cache: encode canonical request: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// scalarText is the JSON text of a number or boolean, else "".
func scalarText(v any) string {
	switch x := v.(type) {
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// normalizeNumbers rewrites every json.Number inside v (a map or slice
// from the decoder) to its canonical text, in place. Maps are sorted by
// encoding/json when encoded, so key order needs no work here.
func normalizeNumbers(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if n, ok := e.(json.Number); ok {
				x[k] = canonicalNumber(n)
			} else {
				normalizeNumbers(e)
			}
		}
	case []any:
		for i, e := range x {
			if n, ok := e.(json.Number); ok {
				x[i] = canonicalNumber(n)
			} else {
				normalizeNumbers(e)
			}
		}
	}
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
