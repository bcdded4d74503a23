package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// sseData returns the data of every event of an SSE fixture but [DONE].
func sseData(t *testing.T, name string) [][]byte {
	t.Helper()
	var out [][]byte
	for line := range bytes.Lines(pt.Fixture(t, name)) {
		line = bytes.TrimSpace(line)
		if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			d = bytes.TrimSpace(d)
			if string(d) != "[DONE]" {
				out = append(out, d)
			}
		}
	}
	return out
}

// streamSummary is what a client takes from a stream: per choice the text,
// the tool calls with parsed arguments and the finish reason, and usage.
type streamSummary struct {
	Text    map[int]string
	Tools   map[int][]summaryTool
	Finish  map[int]string
	Usage   string
	Model   string
	ID      string
	Objects []string
}

type summaryTool struct {
	ID, Name string
	Args     any
}

func summarize(t *testing.T, chunks [][]byte) streamSummary {
	t.Helper()
	s := streamSummary{Text: map[int]string{}, Tools: map[int][]summaryTool{}, Finish: map[int]string{}}
	raw := map[int]map[int]*struct{ id, name, args string }{}
	for _, c := range chunks {
		if !json.Valid(c) {
			t.Fatalf("invalid chunk %s", c)
		}
		r := gjson.ParseBytes(c)
		s.Model, s.ID = r.Get("model").String(), r.Get("id").String()
		if o := r.Get("object").String(); len(s.Objects) == 0 || s.Objects[len(s.Objects)-1] != o {
			s.Objects = append(s.Objects, o)
		}
		r.Get("choices").ForEach(func(_, ch gjson.Result) bool {
			i := int(ch.Get("index").Int())
			s.Text[i] += ch.Get("delta.content").String()
			if f := ch.Get("finish_reason").String(); f != "" {
				s.Finish[i] = f
			}
			ch.Get("delta.tool_calls").ForEach(func(_, tc gjson.Result) bool {
				if raw[i] == nil {
					raw[i] = map[int]*struct{ id, name, args string }{}
				}
				ti := int(tc.Get("index").Int())
				if raw[i][ti] == nil {
					raw[i][ti] = &struct{ id, name, args string }{}
				}
				raw[i][ti].id += tc.Get("id").String()
				raw[i][ti].name += tc.Get("function.name").String()
				raw[i][ti].args += tc.Get("function.arguments").String()
				return true
			})
			return true
		})
		if u := r.Get("usage"); u.IsObject() {
			if len(r.Get("choices").Array()) != 0 {
				t.Errorf("usage chunk with choices: %s", c)
			}
			s.Usage = u.Get("@this|@pretty:{\"sortKeys\":true}").String()
			s.Usage = gjson.Parse(s.Usage).Get("[prompt_tokens,completion_tokens,total_tokens]").String()
		}
	}
	for i, calls := range raw {
		for ti := range len(calls) {
			c := calls[ti]
			var args any
			if err := json.Unmarshal([]byte(c.args), &args); err != nil {
				t.Fatalf("tool call %d arguments %q: %v", ti, c.args, err)
			}
			s.Tools[i] = append(s.Tools[i], summaryTool{c.id, c.name, args})
		}
	}
	return s
}

func assemble(t *testing.T, chunks [][]byte) *Entry {
	t.Helper()
	var a Assembler
	for _, c := range chunks {
		if err := a.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := a.Usage()
	e, err := a.Entry(u)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(e.Body) || gjson.GetBytes(e.Body, "object").String() != "chat.completion" {
		t.Fatalf("assembled body %s", e.Body)
	}
	return e
}

// TestReplaySameAsFreshStream assembles recorded upstream streams, replays
// the entry, and checks that a client sees the same text, tool calls,
// finish reasons and usage as from the fresh stream.
func TestReplaySameAsFreshStream(t *testing.T) {
	for _, name := range []string{"openai/stream_text.sse", "openai/chunk_sequence_tools.sse", "openai/stream_n2_interleaved.sse"} {
		t.Run(name, func(t *testing.T) {
			fresh := sseData(t, name)
			e := assemble(t, fresh)
			hasUsage := gjson.GetBytes(fresh[len(fresh)-1], "usage").IsObject()
			replay, err := Replay(e, hasUsage)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(summarize(t, fresh), summarize(t, replay)); diff != "" {
				t.Errorf("replay differs from the fresh stream (-fresh +replay):\n%s", diff)
			}
			// A replayed stream assembles back to the same entry, but for
			// the system fingerprint, which replay does not carry.
			want, _ := sjson.DeleteBytes(e.Body, "system_fingerprint")
			if again := assemble(t, replay); !bytes.Equal(again.Body, want) {
				t.Errorf("re-assembled body\n%s\nwant\n%s", again.Body, e.Body)
			}
			// Without include_usage there is no usage chunk.
			if hasUsage {
				noUsage, _ := Replay(e, false)
				if len(noUsage) != len(replay)-1 || gjson.GetBytes(noUsage[len(noUsage)-1], "usage").IsObject() {
					t.Error("usage chunk replayed without include_usage")
				}
			}
		})
	}
}

func TestAssembledBody(t *testing.T) {
	e := assemble(t, sseData(t, "openai/chunk_sequence_tools.sse"))
	b := gjson.ParseBytes(e.Body)
	if b.Get("choices.0.message.content").Type != gjson.Null {
		t.Errorf("content of a tool-call answer: %s", b.Get("choices.0.message.content").Raw)
	}
	if got := b.Get("choices.0.message.tool_calls.1.function.arguments").String(); !json.Valid([]byte(got)) || !strings.Contains(got, "Tokyo") {
		t.Errorf("second tool call arguments %q", got)
	}
	if b.Get("choices.0.finish_reason").String() != "tool_calls" || b.Get("usage.total_tokens").Int() != 200 || e.Usage.TotalTokens != 200 {
		t.Errorf("body %s usage %+v", e.Body, e.Usage)
	}
}

// TestReplayNonStreamAnswer replays a cached non-streaming answer as a
// stream: what a streaming request sees after a non-streaming one filled
// the cache.
func TestReplayNonStreamAnswer(t *testing.T) {
	for _, name := range []string{"openai/response_text.json", "openai/response_tool_calls.json"} {
		t.Run(name, func(t *testing.T) {
			body := pt.Fixture(t, name)
			e := FromResponse(&provider.ChatResponse{Body: body, Model: "gpt", Usage: provider.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}}, "openai", "chat-default", time.Now())
			chunks, err := Replay(e, true)
			if err != nil {
				t.Fatal(err)
			}
			s := summarize(t, chunks)
			orig := gjson.ParseBytes(body)
			if s.Text[0] != orig.Get("choices.0.message.content").String() || s.Finish[0] != orig.Get("choices.0.finish_reason").String() {
				t.Errorf("replay %+v of %s", s, body)
			}
			if n := len(orig.Get("choices.0.message.tool_calls").Array()); n != len(s.Tools[0]) {
				t.Errorf("%d tool calls replayed, want %d", len(s.Tools[0]), n)
			}
			if s.Usage != "[3,4,7]" {
				t.Errorf("usage %s", s.Usage)
			}
		})
	}
}

func TestReplayLongAndRefusal(t *testing.T) {
	text := strings.Repeat("é漢字🙂 word ", 40)
	body := `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":` + string(mustJSON(t, text)) + `,"refusal":null},"finish_reason":"stop"},{"index":1,"message":{"role":"assistant","content":null,"refusal":"no"},"finish_reason":"stop"}]}`
	chunks, err := Replay(&Entry{Body: []byte(body)}, false)
	if err != nil {
		t.Fatal(err)
	}
	s := summarize(t, chunks)
	if s.Text[0] != text {
		t.Error("long text not replayed exactly")
	}
	var refusal string
	for _, c := range chunks {
		refusal += gjson.GetBytes(c, "choices.0.delta.refusal").String()
	}
	if refusal != "no" {
		t.Errorf("refusal %q", refusal)
	}
	if again := assemble(t, append(chunks, []byte(`{"choices":[],"usage":{"prompt_tokens":1}}`))); gjson.GetBytes(again.Body, "choices.1.message.refusal").String() != "no" {
		t.Errorf("refusal not assembled: %s", again.Body)
	}
	if _, err := Replay(&Entry{Body: []byte("{")}, false); err == nil {
		t.Error("invalid body replayed")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAssemblerIncomplete(t *testing.T) {
	chunks := sseData(t, "openai/stream_text.sse")
	var a Assembler
	for _, c := range chunks[:len(chunks)-3] {
		_ = a.Add(c)
	}
	if _, err := a.Entry(provider.Usage{}); !errors.Is(err, ErrIncomplete) {
		t.Errorf("broken stream: %v, want ErrIncomplete", err)
	}
	var empty Assembler
	if _, err := empty.Entry(provider.Usage{}); !errors.Is(err, ErrIncomplete) {
		t.Errorf("empty stream: %v", err)
	}
	var bad Assembler
	if bad.Add([]byte("{nope")) == nil {
		t.Error("invalid chunk accepted")
	}
	if _, err := bad.Entry(provider.Usage{}); err == nil {
		t.Error("entry after an invalid chunk")
	}
}

// FuzzAssembler: arbitrary chunks never panic the Assembler, and whatever
// it assembles replays.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte(`{"id":"x","choices":[{"index":0,"delta":{"content":"a","tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}`))
	f.Add([]byte(`{"choices":[{"index":-1,"delta":{"tool_calls":[{"index":99999}]}}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, chunk []byte) {
		var a Assembler
		_ = a.Add(chunk)
		_ = a.Add(chunk)
		u, _ := a.Usage()
		e, err := a.Entry(u)
		if err != nil {
			return
		}
		chunks, err := Replay(e, true)
		if err != nil {
			t.Fatalf("replay of an assembled entry: %v", err)
		}
		for _, c := range chunks {
			if !json.Valid(c) {
				t.Fatalf("invalid replayed chunk %s", c)
			}
		}
	})
}
