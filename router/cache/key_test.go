package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

const baseReq = `{"model":"chat-default","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"temperature":0.5}`

func mustKey(t *testing.T, body, model, scope string) string {
	t.Helper()
	k, err := Key([]byte(body), model, scope)
	if err != nil {
		t.Fatalf("Key(%s): %v", body, err)
	}
	return k
}

func TestKeySame(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"identical", baseReq},
		{"key order", `{"temperature":0.5,"messages":[{"content":"Be brief.","role":"system"},{"content":"Hi","role":"user"}],"model":"chat-default"}`},
		{"whitespace", "{\n  \"model\" : \"chat-default\",\n\t\"messages\": [ {\"role\":\"system\", \"content\":\"Be brief.\"},\r\n{\"role\":\"user\",\"content\":\"Hi\"} ] , \"temperature\": 0.5 }"},
		{"number form", strings.Replace(baseReq, "0.5", "5e-1", 1)},
		{"number form 2", strings.Replace(baseReq, "0.5", "0.50", 1)},
		{"model replaced", strings.Replace(baseReq, "chat-default", "whatever-the-alias", 1)},
		{"model absent", strings.Replace(baseReq, `"model":"chat-default",`, "", 1)},
		{"user", add(baseReq, `"user":"alice"`)},
		{"safety_identifier", add(baseReq, `"safety_identifier":"h123"`)},
		{"stream", add(baseReq, `"stream":true`)},
		{"stream false", add(baseReq, `"stream":false`)},
		{"stream_options", add(baseReq, `"stream":true,"stream_options":{"include_usage":true}`)},
		{"metadata", add(baseReq, `"metadata":{"a":"b"}`)},
		{"store", add(baseReq, `"store":true`)},
		{"service_tier", add(baseReq, `"service_tier":"flex"`)},
		{"prompt_cache_key", add(baseReq, `"prompt_cache_key":"pk"`)},
		{"prompt_cache_retention", add(baseReq, `"prompt_cache_retention":"24h"`)},
		{"n default", add(baseReq, `"n":1`)},
		{"n default float", add(baseReq, `"n":1.0`)},
		{"logprobs default", add(baseReq, `"logprobs":false`)},
		{"presence_penalty default", add(baseReq, `"presence_penalty":0`)},
		{"frequency_penalty default", add(baseReq, `"frequency_penalty":0.0`)},
		{"null field", add(baseReq, `"max_tokens":null`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := mustKey(t, tc.body, "chat-default", "c:1"), mustKey(t, baseReq, "chat-default", "c:1"); got != want {
				c1, _ := Canonical([]byte(tc.body), "chat-default")
				c2, _ := Canonical([]byte(baseReq), "chat-default")
				t.Errorf("different keys:\n%s\n%s", c1, c2)
			}
		})
	}
}

// add inserts fields at the start of a JSON object.
func add(obj, fields string) string { return "{" + fields + "," + obj[1:] }

func TestKeyDifferent(t *testing.T) {
	base := mustKey(t, baseReq, "chat-default", "c:1")
	for _, tc := range []struct{ name, body, model, scope string }{
		{"public model", baseReq, "other-model", "c:1"},
		{"scope", baseReq, "chat-default", "c:2"},
		{"scope global", baseReq, "chat-default", ""},
		{"message text", strings.Replace(baseReq, `"Hi"`, `"Hi!"`, 1), "", ""},
		{"message role", strings.Replace(baseReq, `"system"`, `"developer"`, 1), "", ""},
		{"message order", `{"messages":[{"role":"user","content":"Hi"},{"role":"system","content":"Be brief."}],"temperature":0.5}`, "", ""},
		{"temperature", strings.Replace(baseReq, "0.5", "0.7", 1), "", ""},
		{"temperature absent", strings.Replace(baseReq, `,"temperature":0.5`, "", 1), "", ""},
		{"temperature 1 vs absent", strings.Replace(baseReq, `0.5`, "1", 1), "", ""},
		{"top_p", add(baseReq, `"top_p":0.9`), "", ""},
		{"n", add(baseReq, `"n":2`), "", ""},
		{"seed", add(baseReq, `"seed":42`), "", ""},
		{"max_tokens", add(baseReq, `"max_tokens":10`), "", ""},
		{"max_completion_tokens", add(baseReq, `"max_completion_tokens":10`), "", ""},
		{"stop", add(baseReq, `"stop":"END"`), "", ""},
		{"tools", add(baseReq, `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`), "", ""},
		{"tool_choice", add(baseReq, `"tool_choice":"required"`), "", ""},
		{"parallel_tool_calls", add(baseReq, `"parallel_tool_calls":true`), "", ""},
		{"response_format", add(baseReq, `"response_format":{"type":"json_object"}`), "", ""},
		{"logprobs", add(baseReq, `"logprobs":true`), "", ""},
		{"presence_penalty", add(baseReq, `"presence_penalty":0.1`), "", ""},
		{"frequency_penalty", add(baseReq, `"frequency_penalty":0.1`), "", ""},
		{"logit_bias", add(baseReq, `"logit_bias":{"50256":-100}`), "", ""},
		{"reasoning_effort", add(baseReq, `"reasoning_effort":"high"`), "", ""},
		{"unknown field", add(baseReq, `"brand_new_param":1`), "", ""},
		{"nested user kept", strings.Replace(baseReq, `"content":"Hi"`, `"content":"Hi","name":"bob"`, 1), "", ""},
		{"string vs number", strings.Replace(baseReq, "0.5", `"0.5"`, 1), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model, scope := tc.model, tc.scope
			if model == "" {
				model = "chat-default"
			}
			if scope == "" && !strings.HasPrefix(tc.name, "scope") {
				scope = "c:1"
			}
			if got := mustKey(t, tc.body, model, scope); got == base {
				c, _ := Canonical([]byte(tc.body), model)
				t.Errorf("same key as the base request: %s", c)
			}
		})
	}
}

func TestKeyStopForms(t *testing.T) {
	a := mustKey(t, add(baseReq, `"stop":"END"`), "m", "")
	b := mustKey(t, add(baseReq, `"stop":["END"]`), "m", "")
	c := mustKey(t, add(baseReq, `"stop":["END","X"]`), "m", "")
	if a != b || a == c {
		t.Errorf("stop forms: %s %s %s", a, b, c)
	}
}

func TestKeyNumbers(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"1", "1.0", true},
		{"1", "1e0", true},
		{"100", "1E2", true},
		{"0", "-0", true},
		{"0", "0.0", true},
		{"-1.5", "-15e-1", true},
		{"9007199254740993", "9007199254740992", false},
		{"1", "2", false},
		{"0.1", "0.10000001", false},
	} {
		ka := mustKey(t, `{"seed":`+tc.a+`}`, "m", "")
		kb := mustKey(t, `{"seed":`+tc.b+`}`, "m", "")
		if (ka == kb) != tc.same {
			t.Errorf("%s vs %s: same=%v, want %v", tc.a, tc.b, ka == kb, tc.same)
		}
	}
}

func TestKeyErrors(t *testing.T) {
	for _, body := range []string{``, `[]`, `"x"`, `null`, `{"a":`, `{} {}`, `{"a":1}x`} {
		if _, err := Key([]byte(body), "m", ""); err == nil {
			t.Errorf("Key(%q): no error", body)
		}
	}
	if _, err := Key([]byte(`[1]`), "m", ""); !errors.Is(err, ErrNotObject) {
		t.Errorf("array: %v, want ErrNotObject", err)
	}
}

// TestCrossTenant proves that with scope customer (the default) two
// customers sending the same request never share an entry, and that
// global and key scopes behave as configured.
func TestCrossTenant(t *testing.T) {
	acme := mustKey(t, baseReq, "chat-default", ScopeID(ScopeCustomer, "acme", "k1"))
	globex := mustKey(t, baseReq, "chat-default", ScopeID(ScopeCustomer, "globex", "k2"))
	if acme == globex {
		t.Fatal("scope customer: two customers share a key")
	}
	if d := mustKey(t, baseReq, "chat-default", ScopeID("", "acme", "k1")); d != acme {
		t.Error("empty scope is not customer scope")
	}
	if mustKey(t, baseReq, "chat-default", ScopeID(ScopeCustomer, "acme", "k9")) != acme {
		t.Error("scope customer: two keys of one customer differ")
	}
	g1 := mustKey(t, baseReq, "chat-default", ScopeID(ScopeGlobal, "acme", "k1"))
	g2 := mustKey(t, baseReq, "chat-default", ScopeID(ScopeGlobal, "globex", "k2"))
	if g1 != g2 {
		t.Error("scope global: customers get different keys")
	}
	k1 := mustKey(t, baseReq, "chat-default", ScopeID(ScopeKey, "acme", "k1"))
	k2 := mustKey(t, baseReq, "chat-default", ScopeID(ScopeKey, "acme", "k2"))
	if k1 == k2 {
		t.Error("scope key: two keys share an entry")
	}
	// A customer id can never forge another scope's prefix.
	if ScopeID(ScopeCustomer, "x", "") == ScopeID(ScopeKey, "", "x") {
		t.Error("customer and key scopes collide")
	}
}

// shuffle re-encodes a JSON value with object keys in random order and
// random whitespace.
func shuffle(r *rand.Rand, v any) string {
	ws := func() string { return []string{"", " ", "\n", "\t ", "\r\n  "}[r.IntN(5)] }
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		parts := make([]string, len(keys))
		for i, k := range keys {
			kb, _ := json.Marshal(k)
			parts[i] = ws() + string(kb) + ws() + ":" + ws() + shuffle(r, x[k]) + ws()
		}
		return "{" + strings.Join(parts, ",") + ws() + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = ws() + shuffle(r, e) + ws()
		}
		return "[" + strings.Join(parts, ",") + "]"
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func FuzzKey(f *testing.F) {
	f.Add([]byte(baseReq), uint64(1))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"type":"number"}}}}}],"n":1,"stop":"x"}`), uint64(2))
	f.Add([]byte(`{"a":1e999,"b":-0,"c":[1.0,{"z":null}]}`), uint64(3))
	f.Fuzz(func(t *testing.T, body []byte, seed uint64) {
		k, err := Key(body, "m", "c:1")
		if err != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("Key accepted invalid JSON %q: %v", body, err)
		}
		if _, ok := v.(map[string]any); !ok {
			t.Fatalf("Key accepted a non-object: %q", body)
		}
		// Permuting key order and whitespace never changes the key.
		r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		perm := shuffle(r, v)
		k2, err := Key([]byte(perm), "m", "c:1")
		if err != nil {
			t.Fatalf("permutation %q of %q: %v", perm, body, err)
		}
		if k != k2 {
			t.Fatalf("permutation changed the key:\n%q\n%q", body, perm)
		}
	})
}

func TestKeyPermutations(t *testing.T) {
	body := `{"model":"x","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://e/x.png","detail":"low"}}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"string"}},"required":["x"]}}}],"response_format":{"type":"json_schema","json_schema":{"name":"s","strict":true,"schema":{"type":"object"}}},"temperature":0.2,"seed":7}`
	want := mustKey(t, body, "m", "")
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		p := shuffle(r, v)
		if got := mustKey(t, p, "m", ""); got != want {
			t.Fatalf("permutation changed the key: %s", p)
		}
	}
}
