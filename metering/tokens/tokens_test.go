package tokens

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pkoukk/tiktoken-go"
)

// shared is loaded once for the tests that do not care about loading.
var shared = New()

var (
	tkMu    sync.Mutex
	tkCache = map[string]*tiktoken.Tiktoken{}
)

// tok counts s with tiktoken directly, independently of Counter.
func tok(t testing.TB, encoding, s string) int {
	t.Helper()
	installOfflineLoader()
	tkMu.Lock()
	defer tkMu.Unlock()
	tk, ok := tkCache[encoding]
	if !ok {
		var err error
		if tk, err = tiktoken.GetEncoding(encoding); err != nil {
			t.Fatal(err)
		}
		tkCache[encoding] = tk
	}
	return len(tk.EncodeOrdinary(s))
}

func TestCountText(t *testing.T) {
	tests := []struct {
		model, text string
		want        int
	}{
		{"gpt-4o", "", 0},
		{"gpt-4o", "hello world", 2},
		{"gpt-4", "hello world", 2},
		{"gpt-4o", "Hello, world!", 4},
		// The two vocabularies differ on non-Latin scripts and emoji.
		{"gpt-4o", "こんにちは世界", 2},
		{"gpt-4", "こんにちは世界", 4},
		{"gpt-4o-mini", "Привет, как дела?", 6},
		{"gpt-3.5-turbo", "Привет, как дела?", 8},
		{"openai/gpt-4", "🙂🙂", 4},
		{"claude-3-5-sonnet", "🙂🙂", 2},
		// Special tokens are ordinary text: no panic, no special id.
		{"gpt-4o", "<|endoftext|>", 7},
		{"gpt-4", "a<|fim_prefix|>b", tok(t, "cl100k_base", "a<|fim_prefix|>b")},
		// Legacy models use their own encoding.
		{"text-davinci-003", "hello world", tok(t, "p50k_base", "hello world")},
	}
	for _, tt := range tests {
		if got := shared.CountText(tt.model, tt.text); got != tt.want {
			t.Errorf("CountText(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
		}
	}
}

func TestEncodingName(t *testing.T) {
	tests := map[string]string{
		"gpt-4o":                   "o200k_base",
		"gpt-4o-mini-2024-07-18":   "o200k_base",
		"openai/gpt-4.1-nano":      "o200k_base",
		"gpt-4.5-preview":          "o200k_base",
		"gpt-5":                    "o200k_base",
		"gpt-5-mini":               "o200k_base",
		"o1-preview":               "o200k_base",
		"o3-mini":                  "o200k_base",
		"o4-mini":                  "o200k_base",
		"chatgpt-4o-latest":        "o200k_base",
		"GPT-4O":                   "o200k_base",
		"gpt-4":                    "cl100k_base",
		"gpt-4-turbo":              "cl100k_base",
		"azure/gpt-4-32k":          "cl100k_base",
		"gpt-3.5-turbo":            "cl100k_base",
		"gpt-3.5-turbo-instruct":   "cl100k_base",
		"text-embedding-3-small":   "cl100k_base",
		"text-davinci-003":         "p50k_base",
		"davinci":                  "r50k_base",
		"gpt2":                     "o200k_base", // listed by tiktoken-go, not buildable
		"claude-3-5-sonnet-latest": "o200k_base",
		"gemini-2.0-flash":         "o200k_base",
		"ollama/llama3.1:8b":       "o200k_base",
		"":                         "o200k_base",
	}
	for model, want := range tests {
		if got := EncodingName(model); got != want {
			t.Errorf("EncodingName(%q) = %q, want %q", model, got, want)
		}
	}
}

// cookbook is the example conversation of OpenAI's "How to count tokens
// with tiktoken" notebook, for which the API itself reported 129 prompt
// tokens (gpt-3.5-turbo, gpt-4) and 124 (gpt-4o, gpt-4o-mini).
const cookbook = `{"model":"x","messages":[
 {"role":"system","content":"You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
 {"role":"system","name":"example_user","content":"New synergies will help drive top-line growth."},
 {"role":"system","name":"example_assistant","content":"Things working well together will increase revenue."},
 {"role":"system","name":"example_user","content":"Let's circle back when we have more time to touch base on opportunities for increased leverage."},
 {"role":"system","name":"example_assistant","content":"Let's talk later when we're less busy about how to do better."},
 {"role":"user","content":"This late pivot means we don't have time to boil the ocean for the client deliverable."}]}`

func TestCountChatCookbook(t *testing.T) {
	for model, want := range map[string]int{"gpt-3.5-turbo": 129, "gpt-4": 129, "gpt-4o": 124, "gpt-4o-mini": 124} {
		if got := shared.CountChat(model, []byte(cookbook)); got != want {
			t.Errorf("CountChat(%s, cookbook) = %d, want %d", model, got, want)
		}
	}
}

func TestCountChat(t *testing.T) {
	const o = "o200k_base"
	n := func(s string) int { return tok(t, o, s) }
	tests := []struct {
		name string
		body string
		want int
	}{
		{"empty messages", `{"messages":[]}`, 3},
		{"no messages", `{"model":"m"}`, 3},
		{"one message", `{"messages":[{"role":"user","content":"hello world"}]}`,
			3 + 1 + 2 + 3},
		{"name", `{"messages":[{"role":"user","name":"example_user","content":"hello world"}]}`,
			3 + 1 + 2 + 1 + 2 + 3},
		{"null content", `{"messages":[{"role":"assistant","content":null}]}`,
			3 + 1 + 3},
		{"text parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"hello"},{"type":"text","text":" world"}]}]}`,
			3 + 1 + n("hello") + n(" world") + 3},
		{"images", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}},{"type":"image_url","image_url":{"url":"https://x/y.png"}},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"high"}}]}]}`,
			3 + 1 + ImageLowTokens + 2*ImageHighTokens + 3},
		{"audio and file", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}},{"type":"file","file":{"file_id":"f"}}]}]}`,
			3 + 1 + AudioPartTokens + FilePartTokens + 3},
		{"refusal part", `{"messages":[{"role":"assistant","content":[{"type":"refusal","refusal":"I can't."}]}]}`,
			3 + 1 + n("I can't.") + 3},
		{"tool calls", `{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}]}`,
			3 + 1 + n("get_weather") + n(`{"city":"Paris"}`) + 3},
		{"tool message", `{"messages":[{"role":"tool","tool_call_id":"call_1","content":"sunny"}]}`,
			3 + n("tool") + n("sunny") + 3},
		{"tools", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather.","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},{"type":"function","function":{"name":"now"}}]}`,
			3 + 1 + n("hi") + 3 + n("get_weather") + n("Get the weather.") + n(`{"type":"object","properties":{"city":{"type":"string"}}}`) + n("now")},
		{"invalid JSON", `{"messages":[`, n(`{"messages":[`)},
		{"not an object", `"hello world"`, n(`"hello world"`)},
		{"empty body", ``, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shared.CountChat("gpt-4o", []byte(tt.body)); got != tt.want {
				t.Errorf("CountChat = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCountChatFixtures(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// request_basic: the recorded answer reports 22 prompt tokens.
	if got := shared.CountChat("gpt-4o-mini", read("request_basic.json")); got != 22 {
		t.Errorf("request_basic = %d, want 22", got)
	}
	// Text, one low-detail image, one auto-detail image.
	want := 3 + 1 + 8 + ImageLowTokens + ImageHighTokens + 3
	if got := shared.CountChat("gpt-4o-mini", read("request_multimodal.json")); got != want {
		t.Errorf("request_multimodal = %d, want %d", got, want)
	}
	// Tool round trip, in both vocabularies.
	for _, enc := range []string{"o200k_base", "cl100k_base"} {
		n := func(s string) int { return tok(t, enc, s) }
		params := `{
          "type": "object",
          "properties": {
            "city": {
              "type": "string",
              "description": "City name, e.g. Paris"
            },
            "unit": {
              "type": "string",
              "enum": [
                "celsius",
                "fahrenheit"
              ]
            }
          },
          "required": [
            "city"
          ],
          "additionalProperties": false
        }`
		want := 3 + n("system") + n("You are a concise weather assistant.") +
			3 + n("user") + n("What's the weather in Paris and Tokyo right now?") +
			3 + n("assistant") + n("I'll check both cities.") +
			n("get_weather") + n(`{"city":"Paris","unit":"celsius"}`) +
			n("get_weather") + n(`{"city":"Tokyo","unit":"celsius"}`) +
			3 + n("tool") + n(`{"temp_c":18,"condition":"cloudy"}`) +
			3 + n("tool") + n(`{"temp_c":26,"condition":"sunny"}`) +
			3 +
			n("get_weather") + n("Get the current weather for a city.") + n(params)
		model := map[string]string{"o200k_base": "gpt-4o", "cl100k_base": "gpt-4"}[enc]
		if got := shared.CountChat(model, read("request_tools_second_turn.json")); got != want {
			t.Errorf("request_tools_second_turn (%s) = %d, want %d", enc, got, want)
		}
	}
}

// TestConcurrent uses a fresh Counter so that the lazy loads race too.
func TestConcurrent(t *testing.T) {
	c := New()
	models := []string{"gpt-4o", "gpt-4", "claude-3-haiku", "gpt-3.5-turbo"}
	want := make([]int, len(models))
	for i, m := range models {
		want[i] = shared.CountChat(m, []byte(cookbook)) + shared.CountText(m, "こんにちは世界")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 32 {
		wg.Go(func() {
			i := g % len(models)
			for range 4 {
				got := c.CountChat(models[i], []byte(cookbook)) + c.CountText(models[i], "こんにちは世界")
				if got != want[i] {
					errs <- fmt.Errorf("%s: got %d, want %d", models[i], got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// failingTransport records and refuses every HTTP request.
type failingTransport struct{ calls atomic.Int32 }

func (f *failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	f.calls.Add(1)
	return nil, errors.New("network used")
}

// TestOffline proves counting needs no network. It runs the check in a
// fresh child process, so that neither tiktoken-go's global caches nor
// net/http's once-read proxy settings have been touched by other tests:
// with an empty TIKTOKEN_CACHE_DIR and an unreachable proxy, the library's
// default loader could not load anything.
func TestOffline(t *testing.T) {
	if os.Getenv("TOKENS_OFFLINE_CHILD") == "1" {
		offlineChild(t)
		return
	}
	dir := t.TempDir()
	t.Setenv("TIKTOKEN_CACHE_DIR", dir)
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("TOKENS_OFFLINE_CHILD", "1")
	cmd := exec.Command(os.Args[0], "-test.run=^TestOffline$", "-test.v")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestOffline") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func offlineChild(t *testing.T) {
	ft := &failingTransport{}
	http.DefaultTransport = ft
	c := New()
	tests := []struct {
		model, text string
		want        int
	}{
		{"gpt-4o", "こんにちは世界", 2},       // o200k_base
		{"gpt-4", "こんにちは世界", 4},        // cl100k_base
		{"davinci", "hello world", 2},  // r50k_base
		{"text-davinci-003", "x y", 2}, // p50k_base
	}
	for _, tt := range tests {
		if got := c.CountText(tt.model, tt.text); got != tt.want {
			t.Errorf("CountText(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
		}
	}
	if n := ft.calls.Load(); n != 0 {
		t.Errorf("%d HTTP requests made", n)
	}
	entries, err := os.ReadDir(os.Getenv("TIKTOKEN_CACHE_DIR"))
	if err != nil || len(entries) != 0 {
		t.Errorf("cache dir touched: %v %v", entries, err)
	}
}

func FuzzCountChat(f *testing.F) {
	for _, s := range []string{
		cookbook, `{}`, `[]`, `null`, `{"messages":`, `{"messages":[1,"a",null,{}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url"},{"type":"text","text":"<|endoftext|>"}]}],"tools":[{},{"function":{"parameters":1}}]}`,
		`{"messages":[{"role":"assistant","tool_calls":[{"function":{"name":1,"arguments":{}}}],"function_call":{"name":"f"}}]}`,
		"\xff\xfe{\"messages\":[]}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if n := shared.CountChat("gpt-4o", body); n < 0 {
			t.Fatalf("negative count %d", n)
		}
	})
}

// prompt1k is about 1,000 o200k tokens of ordinary English.
var prompt1k = strings.Repeat("The quick brown fox jumps over the lazy dog while the gateway counts every token it forwards upstream. ", 50)

func BenchmarkCountText(b *testing.B) {
	c := New()
	n := c.CountText("gpt-4o", prompt1k)
	b.SetBytes(int64(len(prompt1k)))
	b.ReportAllocs()
	for b.Loop() {
		c.CountText("gpt-4o", prompt1k)
	}
	b.ReportMetric(float64(n), "tokens/op")
}

func BenchmarkCountChat(b *testing.B) {
	c := New()
	body, err := os.ReadFile("testdata/request_tools_second_turn.json")
	if err != nil {
		b.Fatal(err)
	}
	c.CountChat("gpt-4o", body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c.CountChat("gpt-4o", body)
	}
}
