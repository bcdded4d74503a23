package anthropic

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/provider"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixedNow is the clock of every test adapter: the created value of the
// translation fixtures.
var fixedNow = time.Unix(1755694800, 0)

// wordCounter is a deterministic stand-in for the tiktoken counter.
type wordCounter struct{}

func (wordCounter) CountText(_, text string) int { return len(strings.Fields(text)) }

func (wordCounter) CountChat(_ string, body []byte) int { return len(strings.Fields(string(body))) }

// newTestAdapter builds an adapter for baseURL with a fixed clock.
func newTestAdapter(t testing.TB, name, baseURL, apiKey string) *Adapter {
	t.Helper()
	a, err := New(provider.Config{Name: name, Type: "anthropic", BaseURL: baseURL, APIKey: apiKey},
		provider.Deps{HTTPClient: &http.Client{Transport: &http.Transport{}}, Tokens: wordCounter{}})
	if err != nil {
		t.Fatal(err)
	}
	ad := a.(*Adapter)
	ad.now = func() time.Time { return fixedNow }
	return ad
}

// readTestdata returns a file under testdata.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGolden compares got with the golden file name under testdata, as
// parsed JSON normalised by normalise, or rewrites the file with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		var v any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, got)
		}
		pretty, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(pretty, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := readTestdata(t, name)
	if d := cmp.Diff(normalise(t, want), normalise(t, got)); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, d)
	}
}

// normalise parses a JSON document for comparison: created is dropped,
// tool-call arguments are parsed (compare them as JSON, not as strings),
// and zero token details are dropped (the fixtures spell out
// "cached_tokens": 0, openaiwire omits zero details).
func normalise(t testing.TB, doc []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	return normaliseValue(v)
}

func normaliseValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "created")
		for _, k := range []string{"prompt_tokens_details", "completion_tokens_details"} {
			if d, ok := x[k].(map[string]any); ok {
				for dk, dv := range d {
					if dv == 0.0 {
						delete(d, dk)
					}
				}
				if len(d) == 0 {
					delete(x, k)
				}
			}
		}
		if fn, ok := x["function"].(map[string]any); ok && x["id"] != nil {
			// A whole tool call: its arguments are a complete JSON text.
			if s, ok := fn["arguments"].(string); ok && s != "" {
				var parsed any
				if json.Unmarshal([]byte(s), &parsed) == nil {
					fn["arguments"] = parsed
				}
			}
		}
		for k, e := range x {
			x[k] = normaliseValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normaliseValue(e)
		}
	}
	return v
}

// sseLines splits an SSE transcript into its lines, data payloads
// normalised as JSON, other non-empty lines kept verbatim.
func sseLines(t testing.TB, body []byte) []any {
	t.Helper()
	var out []any
	for _, line := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n") {
		if line == "" {
			continue
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok && d != "[DONE]" {
			out = append(out, normalise(t, []byte(d)))
			continue
		}
		out = append(out, line)
	}
	return out
}

// checkGoldenSSE compares an SSE transcript with a golden file, or
// rewrites the file with -update.
func checkGoldenSSE(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if d := cmp.Diff(sseLines(t, readTestdata(t, name)), sseLines(t, got)); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, d)
	}
}
