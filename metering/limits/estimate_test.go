package limits

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-gw/tollgate/metering/tokens"
)

// chat returns a chat completion body with the given messages, alternating
// user and assistant after an optional system message.
func chat(t testing.TB, system string, texts ...string) []byte {
	t.Helper()
	var msgs []map[string]any
	if system != "" {
		msgs = append(msgs, map[string]any{"role": "system", "content": system})
	}
	for i, s := range texts {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		msgs = append(msgs, map[string]any{"role": role, "content": s})
	}
	b, err := json.Marshal(map[string]any{"model": "gpt-4o", "messages": msgs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const english = `The gateway sits between applications and the model providers. Every request is authenticated with a client key, checked against the limits of the key's tier, and only then forwarded upstream. When the answer arrives, its usage is recorded in the ledger, priced in integer micro-dollars, and the reservation made at admission is settled to the exact figure. Operators can see spend per customer, per key and per model, and they can change a tier's limits at runtime without restarting anything. `

const python = `def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    seq = [0, 1]
    while len(seq) < n:
        seq.append(seq[-1] + seq[-2])
    return seq[:n]

if __name__ == "__main__":
    for i, x in enumerate(fibonacci(20)):
        print(f"{i:>3}: {x}")
`

const chinese = `人工智能网关位于应用程序和模型提供商之间。每个请求都使用客户端密钥进行身份验证，并根据密钥所属层级的限制进行检查，然后才转发到上游。答案到达后，其用量会记录在账本中，以整数微美元计价，并将准入时的预留结算为精确数字。运营人员可以按客户、按密钥和按模型查看支出。`

const japanese = `ゲートウェイはアプリケーションとモデル提供者の間に位置します。すべてのリクエストはクライアントキーで認証され、キーのティアの制限と照合されてから上流に転送されます。回答が届くと、その使用量が台帳に記録されます。`

const emoji = `Launch day! 🚀🎉 The team 👨‍👩‍👧‍👦 shipped it 💯 — thanks everyone 🙏🙏 ❤️🔥✨ Flags: 🇩🇪🇯🇵🇧🇷 Weather: ☀️🌧️⛈️ Food: 🍕🍣🌮🥗 Done ✅`

const mixed = `Привет! Как дела? Это тестовое сообщение. مرحبا كيف حالك؟ नमस्ते, आप कैसे हैं? 안녕하세요, 오늘 날씨가 좋네요. Γειά σου κόσμε. Ça va très bien, merci!`

// corpus returns the request bodies the estimate is measured on.
func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	tools, err := json.Marshal(map[string]any{
		"model": "gpt-4o",
		"messages": []map[string]any{
			{"role": "system", "content": "You are a helpful assistant."},
			{"role": "user", "content": "What's the weather in Paris and in Tokyo?"},
		},
		"tools": []map[string]any{{"type": "function", "function": map[string]any{
			"name": "get_weather", "description": "Current weather for a city",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{
				"city": map[string]any{"type": "string"}, "unit": map[string]any{"type": "string", "enum": []string{"c", "f"}}},
				"required": []string{"city"}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := map[string][]byte{
		"english short":    chat(t, "", "hi"),
		"english prose":    chat(t, "", strings.Repeat(english, 8)),
		"english dialogue": chat(t, "You are terse.", english, "Understood.", "Summarize that in one line.", "A gateway meters and limits model calls.", "Thanks!"),
		"code python":      chat(t, "", "Explain this code:\n\n"+python),
		"code go":          chat(t, "You review Go code.", "Review this file:\n\n"+readFile(t, "memory.go")),
		"json document":    chat(t, "", "Extract the arguments:\n"+readFile(t, "../../provider/providertest/testdata/openai/response_tool_calls.json")),
		"chinese":          chat(t, "", strings.Repeat(chinese, 4)),
		"japanese":         chat(t, "", strings.Repeat(japanese, 4)),
		"emoji":            chat(t, "", strings.Repeat(emoji, 10)),
		"mixed scripts":    chat(t, "", strings.Repeat(mixed, 5)),
		"tools":            tools,
	}
	for _, pattern := range []string{"../../provider/providertest/testdata/openai/request_*.json", "../tokens/testdata/request_*.json"} {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixtures %s: %v", pattern, err)
		}
		for _, f := range files {
			c["fixture "+filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f)] = []byte(readFile(t, f))
		}
	}
	return c
}

// TestEstimateIsConservative measures EstimatePromptTokens against
// tiktoken's exact count (o200k_base for gpt-4o, cl100k_base for gpt-4) on
// the corpus: the estimate must never be lower. Run with -v for the ratios.
func TestEstimateIsConservative(t *testing.T) {
	counter := tokens.New()
	models := []string{"gpt-4o", "gpt-4"}
	lo, hi := map[string]float64{}, map[string]float64{}
	c := corpus(t)
	for _, name := range slices.Sorted(maps.Keys(c)) {
		body := c[name]
		est := EstimatePromptTokens(body)
		line := fmt.Sprintf("%-48s %6d bytes  estimate %6d", name, len(body), est)
		for _, m := range models {
			exact := int64(counter.CountChat(m, body))
			if est < exact {
				t.Errorf("%s: estimate %d < %s's exact %d", name, est, m, exact)
			}
			r := float64(est) / float64(exact)
			if lo[m] == 0 || r < lo[m] {
				lo[m] = r
			}
			hi[m] = math.Max(hi[m], r)
			line += fmt.Sprintf("  %s %6d (×%.2f)", m, exact, r)
		}
		t.Log(line)
	}
	for _, m := range models {
		t.Logf("%s: estimate / exact from ×%.2f to ×%.2f", m, lo[m], hi[m])
	}
}

// TestEstimateKnownLimits logs, without asserting, the text that
// tokenizes densely enough to beat the estimate (see estimate.go).
func TestEstimateKnownLimits(t *testing.T) {
	counter := tokens.New()
	for name, text := range map[string]string{
		"hex digests": strings.Repeat("3f2a9c7b1e4d8a0f5c6b2d9e7a1f3c8b ", 40),
		"base64":      strings.Repeat("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk ", 40),
		"digits":      strings.Repeat("3141592653 5897932384 6264338327 ", 40),
	} {
		body := chat(t, "", text)
		est, exact := EstimatePromptTokens(body), counter.CountChat("gpt-4o", body)
		t.Logf("%-12s estimate %5d, gpt-4o exact %5d (×%.2f)", name, est, exact, float64(est)/float64(exact))
	}
}

// TestEstimateMedia checks that media parts count their fixed figures, not
// their size.
func TestEstimateMedia(t *testing.T) {
	image := "data:image/png;base64," + strings.Repeat("iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB", 32_000) // 1 MB
	body := fmt.Appendf(nil, `{"model":"gpt-4o","messages":[{"role":"user","content":[
		{"type":"text","text":"What is in these?"},
		{"type":"image_url","image_url":{"url":%q}},
		{"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"low"}},
		{"type":"input_audio","input_audio":{"data":%q,"format":"wav"}},
		{"type":"file","file":{"file_data":%q,"filename":"a.pdf"}}]}]}`, image, image[22:], image[22:])
	est := EstimatePromptTokens(body)
	media := int64(ImageTokens + ImageLowTokens + AudioTokens + FileTokens)
	if est < media || est > media+100 {
		t.Fatalf("estimate %d, want the media figures %d plus a few dozen", est, media)
	}
	if exact := int64(tokens.New().CountChat("gpt-4o", body)); est < exact {
		t.Fatalf("estimate %d < exact %d", est, exact)
	}
}

func TestReservationTokens(t *testing.T) {
	base := `{"model":"m","messages":[{"role":"user","content":"hi"}]`
	prompt := EstimatePromptTokens([]byte(base + `}`))
	tests := []struct {
		name       string
		body       string
		max, deflt int64
		answer     int64 // expected minus the prompt estimate of body
	}{
		{"caller's max_tokens", base + `}`, 100, 50, 100},
		{"body's max_tokens", base + `,"max_tokens":300}`, 0, 50, 300},
		{"body's max_completion_tokens first", base + `,"max_tokens":300,"max_completion_tokens":200}`, 0, 50, 200},
		{"caller's default", base + `}`, 0, 50, 50},
		{"package default", base + `}`, 0, 0, DefaultMaxTokens},
		{"n choices", base + `,"n":3,"max_tokens":10}`, 0, 0, 30},
		{"n capped", base + `,"n":100000,"max_tokens":10}`, 0, 0, 10 * MaxChoices},
		{"n nonsense", base + `,"n":-4,"max_tokens":10}`, 0, 0, 10},
		{"huge max_tokens", base + `,"max_tokens":9223372036854775807}`, 0, 0, 1 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			got := ReservationTokens(body, tt.max, tt.deflt)
			if want := EstimatePromptTokens(body) + tt.answer; got != want {
				t.Fatalf("ReservationTokens = %d, want %d", got, want)
			}
		})
	}
	if prompt < 10 {
		t.Fatalf("prompt estimate of a one-message body %d: implausibly low", prompt)
	}
}

// naiveClasses is byteClasses one byte at a time.
func naiveClasses(b []byte) (ascii, nonASCII, quads int64) {
	for _, c := range b {
		switch {
		case c < 0x80:
			ascii++
		case c >= 0xF0:
			nonASCII++
			quads++
		default:
			nonASCII++
		}
	}
	return ascii, nonASCII, quads
}

func FuzzEstimatePromptTokens(f *testing.F) {
	f.Add([]byte(`{"messages":[{"role":"user","content":"héllo 🙂 世界"}]}`))
	f.Add([]byte(`{"messages":[{"content":[{"type":"image_url","image_url":"x"}]}],"n":"x","max_tokens":[]}`))
	f.Add([]byte("\xff\xf0\x80not json"))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, n, q := byteClasses(body)
		if wa, wn, wq := naiveClasses(body); a != wa || n != wn || q != wq {
			t.Fatalf("byteClasses = %d %d %d, want %d %d %d", a, n, q, wa, wn, wq)
		}
		if est := EstimatePromptTokens(body); est < 0 {
			t.Fatalf("negative estimate %d", est)
		}
		if r := ReservationTokens(body, 0, 0); r < 0 {
			t.Fatalf("negative reservation %d", r)
		}
	})
}
