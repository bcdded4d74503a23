package gemini

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/provider"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testKey is the upstream key the tests configure.
const testKey = "AIza-test-secret-key-0123456789"

// testCreated is the clock the tests inject (the fixtures' created).
const testCreated = 1755694800

// readTestdata returns testdata/name.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wordCounter counts whitespace-separated words: a stand-in tokenizer.
type wordCounter struct{}

func (wordCounter) CountText(_, text string) int { return len(strings.Fields(text)) }
func (wordCounter) CountChat(_ string, body []byte) int {
	return len(strings.Fields(string(body)))
}

// fakeFetcher serves images from a map of URL to bytes.
type fakeFetcher struct {
	mu      sync.Mutex
	images  map[string][]byte
	fetched []string
}

func (f *fakeFetcher) FetchImage(_ context.Context, url string) (string, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetched = append(f.fetched, url)
	b, ok := f.images[url]
	if !ok {
		return "", nil, errors.New("image not found (status 404)")
	}
	return http.DetectContentType(b), b, nil
}

// pixelPNG is the 1×1 PNG of the multimodal fixtures.
const pixelPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// testFetcher knows the fixtures' https image.
func testFetcher(t testing.TB) *fakeFetcher {
	png, err := base64.StdEncoding.DecodeString(pixelPNG)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeFetcher{images: map[string][]byte{"https://example.com/images/pixel.png": png}}
}

// seqIDs returns an id generator that yields "call_GEN_0", "call_GEN_1",
// … for tool calls and "chatcmpl-GEN" for answers, as the fixtures show.
func seqIDs() func(string) string {
	var mu sync.Mutex
	n := 0
	return func(prefix string) string {
		if prefix != "call_" {
			return prefix + "GEN"
		}
		mu.Lock()
		defer mu.Unlock()
		id := fmt.Sprintf("call_GEN_%d", n)
		n++
		return id
	}
}

// newTestAdapter builds an adapter for baseURL with a deterministic clock
// and id generator; images may be nil.
func newTestAdapter(t testing.TB, baseURL string, images provider.ImageFetcher) *Adapter {
	t.Helper()
	pa, err := New(provider.Config{Name: "gemini", Type: "gemini", BaseURL: baseURL, APIKey: testKey},
		provider.Deps{HTTPClient: &http.Client{Transport: &http.Transport{}}, Tokens: wordCounter{}, Images: images})
	if err != nil {
		t.Fatal(err)
	}
	a := pa.(*Adapter)
	a.now = func() time.Time { return time.Unix(testCreated, 0) }
	a.newID = seqIDs()
	return a
}

// parseJSON decodes b into generic values, failing the test otherwise.
func parseJSON(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	return v
}

// normalize makes an OpenAI answer or chunk comparable with a fixture:
// created is dropped, generated tool-call ids lose their encoded thought
// signature, zero-valued usage details are dropped (the fixtures show
// cached_tokens: 0, the gateway omits it), and tool arguments are parsed.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "created")
		for k, val := range x {
			switch {
			case k == "prompt_tokens_details" || k == "completion_tokens_details":
				if allZero(val) {
					delete(x, k)
				}
			case k == "id":
				if s, ok := val.(string); ok && strings.HasPrefix(s, "call_") {
					x[k], _, _ = strings.Cut(s, sigMarker)
				}
			case k == "arguments":
				if s, ok := val.(string); ok && json.Valid([]byte(s)) {
					var parsed any
					_ = json.Unmarshal([]byte(s), &parsed)
					x[k] = parsed
				}
			default:
				x[k] = normalize(val)
			}
		}
		return x
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
		return x
	}
	return v
}

// allZero reports whether a details object holds only zeros.
func allZero(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return v == nil
	}
	for _, val := range m {
		if n, ok := val.(json.Number); !ok || n.String() != "0" {
			return false
		}
	}
	return true
}

// pretty indents JSON for a golden file.
func pretty(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatalf("indent: %v\n%s", err, b)
	}
	return append(buf.Bytes(), '\n')
}

// checkGoldenJSON compares got with testdata/name as parsed, normalised
// JSON, or rewrites the file with -update.
func checkGoldenJSON(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty(t, got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := readTestdata(t, name)
	if diff := cmp.Diff(normalize(parseJSON(t, want)), normalize(parseJSON(t, got))); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s\ngot: %s", name, diff, got)
	}
}

// diffJSON diffs two parsed JSON values.
func diffJSON(want, got any) string { return cmp.Diff(want, got) }
