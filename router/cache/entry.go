package cache

import (
	"errors"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// Entry is one cached answer. Once stored it is shared by every reader:
// treat it, and its Body, as read-only.
type Entry struct {
	// Body is the answer as an OpenAI chat.completion JSON object; a hit
	// on a non-streaming request sends it as is.
	Body []byte
	// Model is the upstream model that answered (x-tollgate-model).
	Model string
	// Provider is the provider that answered (x-tollgate-provider).
	Provider string
	// PublicModel is the public model the client asked for; Purge matches
	// on it.
	PublicModel string
	// Usage is the answer's token usage, metered again on every hit as a
	// cached request.
	Usage provider.Usage
	// CreatedAt is when the answer was produced.
	CreatedAt time.Time
}

// size estimates the memory an entry holds, for the LRU's byte budget.
func (e *Entry) size() int64 {
	return int64(len(e.Body)+len(e.Model)+len(e.Provider)+len(e.PublicModel)) + 128
}

// FromResponse makes an entry of a non-streaming answer.
func FromResponse(resp *provider.ChatResponse, providerName, publicModel string, now time.Time) *Entry {
	return &Entry{Body: resp.Body, Model: resp.Model, Provider: providerName, PublicModel: publicModel, Usage: resp.Usage, CreatedAt: now}
}

// ErrIncomplete is returned by Assembler.Entry when the stream did not
// finish every choice it started: a broken stream is never cached.
var ErrIncomplete = errors.New("cache: stream incomplete")

// Assembler rebuilds a chat.completion from the chat.completion.chunk
// objects of a stream, so that a streamed answer can be stored and later
// served to streaming and non-streaming requests alike. Feed it every
// chunk's JSON with Add, then call Entry. Its zero value is ready; it
// lives for one stream and is not safe for concurrent use.
type Assembler struct {
	id, model, fingerprint string
	created                int64
	choices                map[int]*asmChoice
	usage                  *provider.Usage
	err                    error
}

// asmChoice is one choice being assembled.
type asmChoice struct {
	content, reasoning, refusal []byte
	hasContent, hasRefusal      bool
	tools                       map[int]*openaiwire.ToolCall
	finish                      string
}

// Add takes one chunk's JSON (the data of one SSE event, not [DONE]). An
// invalid chunk is reported here and again by Entry.
func (a *Assembler) Add(data []byte) error {
	if !gjson.ValidBytes(data) {
		if a.err == nil {
			a.err = fmt.Errorf("cache: assemble: invalid chunk JSON")
		}
		return a.err
	}
	c := gjson.ParseBytes(data)
	if a.id == "" {
		a.id = c.Get("id").String()
		a.created = c.Get("created").Int()
	}
	if m := c.Get("model").String(); m != "" {
		a.model = m
	}
	if f := c.Get("system_fingerprint").String(); f != "" {
		a.fingerprint = f
	}
	if a.choices == nil {
		a.choices = make(map[int]*asmChoice)
	}
	c.Get("choices").ForEach(func(_, ch gjson.Result) bool {
		a.addChoice(ch)
		return true
	})
	if u := c.Get("usage"); u.IsObject() {
		pu := parseUsage(u)
		a.usage = &pu
	}
	return nil
}

// addChoice merges one choice delta.
func (a *Assembler) addChoice(ch gjson.Result) {
	i := int(ch.Get("index").Int())
	s := a.choices[i]
	if s == nil {
		s = &asmChoice{tools: make(map[int]*openaiwire.ToolCall)}
		a.choices[i] = s
	}
	d := ch.Get("delta")
	if v := d.Get("content"); v.Type == gjson.String {
		s.content = append(s.content, v.Str...)
		s.hasContent = true
	}
	if v := d.Get("reasoning_content"); v.Type == gjson.String {
		s.reasoning = append(s.reasoning, v.Str...)
	}
	if v := d.Get("refusal"); v.Type == gjson.String {
		s.refusal = append(s.refusal, v.Str...)
		s.hasRefusal = true
	}
	d.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		ti := int(tc.Get("index").Int())
		t := s.tools[ti]
		if t == nil {
			t = &openaiwire.ToolCall{Type: "function"}
			s.tools[ti] = t
		}
		if v := tc.Get("id").String(); v != "" {
			t.ID = v
		}
		if v := tc.Get("type").String(); v != "" {
			t.Type = v
		}
		if v := tc.Get("function.name").String(); v != "" {
			t.Function.Name += v
		}
		t.Function.Arguments += tc.Get("function.arguments").String()
		return true
	})
	if f := ch.Get("finish_reason").String(); f != "" {
		s.finish = f
	}
}

// parseUsage reads OpenAI's usage object.
func parseUsage(u gjson.Result) provider.Usage {
	return provider.Usage{
		PromptTokens:     int(u.Get("prompt_tokens").Int()),
		CompletionTokens: int(u.Get("completion_tokens").Int()),
		TotalTokens:      int(u.Get("total_tokens").Int()),
		CachedTokens:     int(u.Get("prompt_tokens_details.cached_tokens").Int()),
		CacheWriteTokens: int(u.Get("prompt_tokens_details.cache_write_tokens").Int()),
		ReasoningTokens:  int(u.Get("completion_tokens_details.reasoning_tokens").Int()),
	}
}

// Usage returns the usage the stream's usage chunk reported, if any.
func (a *Assembler) Usage() (provider.Usage, bool) {
	if a.usage == nil {
		return provider.Usage{}, false
	}
	return *a.usage, true
}

// Entry returns the assembled answer with usage u (pass Stream.Usage(),
// the exact figure metering uses; the body's usage object is built from
// it). Provider, PublicModel and CreatedAt are left for the caller. It
// fails with ErrIncomplete unless every choice finished, and when a
// chunk was invalid.
func (a *Assembler) Entry(u provider.Usage) (*Entry, error) {
	if a.err != nil {
		return nil, a.err
	}
	if len(a.choices) == 0 {
		return nil, fmt.Errorf("%w: no choices", ErrIncomplete)
	}
	out := openaiwire.ChatCompletion{ID: a.id, Created: a.created, Model: a.model, SystemFingerprint: a.fingerprint, Usage: openaiwire.NewUsage(u)}
	for _, i := range sortedKeys(a.choices) {
		s := a.choices[i]
		if s.finish == "" {
			return nil, fmt.Errorf("%w: choice %d has no finish reason", ErrIncomplete, i)
		}
		msg := openaiwire.ResponseMessage{Role: "assistant", ReasoningContent: string(s.reasoning)}
		if s.hasContent && (len(s.content) > 0 || len(s.tools) == 0) {
			text := string(s.content)
			msg.Content = &text
		}
		if s.hasRefusal {
			r := string(s.refusal)
			msg.Refusal = &r
		}
		for _, ti := range sortedKeys(s.tools) {
			t := *s.tools[ti]
			msg.ToolCalls = append(msg.ToolCalls, t)
		}
		out.Choices = append(out.Choices, openaiwire.Choice{Index: i, Message: msg, FinishReason: s.finish})
	}
	return &Entry{Body: out.Marshal(), Model: a.model, Usage: u}, nil
}

// sortedKeys returns a map's int keys in order.
func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// replayPiece is the size in bytes a replayed text is cut into.
const replayPiece = 48

// Replay turns a cached answer into the chat.completion.chunk objects of
// a stream, in order: per choice a role chunk, the reasoning and content
// in pieces, a refusal, each tool call as a start chunk (index, id,
// name) followed by its arguments in pieces, and a finish chunk; then,
// when includeUsage, the usage chunk (the last element; it has no
// choices). Logprobs of the cached answer are not replayed. Each returned
// slice is freshly allocated.
func Replay(e *Entry, includeUsage bool) ([][]byte, error) {
	if !gjson.ValidBytes(e.Body) {
		return nil, fmt.Errorf("cache: replay: invalid cached body")
	}
	body := gjson.ParseBytes(e.Body)
	w := openaiwire.Chunks{ID: body.Get("id").String(), Created: body.Get("created").Int(), Model: body.Get("model").String()}
	var out [][]byte
	emit := func(b []byte) { out = append(out, append([]byte(nil), b...)) }
	var err error
	body.Get("choices").ForEach(func(_, ch gjson.Result) bool {
		err = replayChoice(&w, ch, emit)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if includeUsage {
		emit(w.Usage(e.Usage))
	}
	return out, nil
}

// replayChoice emits the chunks of one choice.
func replayChoice(w *openaiwire.Chunks, ch gjson.Result, emit func([]byte)) error {
	i := int(ch.Get("index").Int())
	msg := ch.Get("message")
	emit(w.Role(i))
	for _, p := range pieces(msg.Get("reasoning_content").String()) {
		emit(w.Reasoning(i, p))
	}
	for _, p := range pieces(msg.Get("content").String()) {
		emit(w.Content(i, p))
	}
	if r := msg.Get("refusal"); r.Type == gjson.String {
		b, err := sjson.SetBytes(append([]byte(nil), w.Content(i, "")...), "choices.0.delta", map[string]string{"refusal": r.Str})
		if err != nil {
			return fmt.Errorf("cache: replay refusal: %w", err)
		}
		emit(b)
	}
	var ti int
	msg.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		emit(w.ToolCallStart(i, ti, tc.Get("id").String(), tc.Get("function.name").String()))
		for _, p := range pieces(tc.Get("function.arguments").String()) {
			emit(w.ToolCallArgs(i, ti, p))
		}
		ti++
		return true
	})
	emit(w.Finish(i, ch.Get("finish_reason").String()))
	return nil
}

// pieces cuts s into parts of about replayPiece bytes, at rune
// boundaries.
func pieces(s string) []string {
	var out []string
	for len(s) > 0 {
		n := min(replayPiece, len(s))
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n++
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}
