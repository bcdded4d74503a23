package mock

import (
	"crypto/sha256"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
)

// answer is the mock's reply to one chat request: n identical choices of
// either text or one tool call.
type answer struct {
	n      int
	text   string    // the text, when call is nil
	call   *toolCall // the tool call, or nil
	finish string
	tokens int // completion tokens of one choice
}

// toolCall is the one function call a tool-call answer makes.
type toolCall struct {
	id, name, args string
}

// answer works out the reply to req.
func (a *Adapter) answer(req *provider.ChatRequest) answer {
	root := gjson.ParseBytes(req.Body)
	msgs := root.Get("messages").Array()
	ans := answer{n: choices(root.Get("n"))}
	role := ""
	if len(msgs) > 0 {
		role = msgs[len(msgs)-1].Get("role").String()
	}
	if role == "user" {
		if name := toolToCall(root); name != "" {
			ans.call = &toolCall{id: callID(req.Body), name: name, args: "{}"}
			ans.finish = "tool_calls"
			ans.tokens = a.tokens.CountText(req.Model, name) + a.tokens.CountText(req.Model, ans.call.args)
			return ans
		}
	}
	var text string
	if role == "tool" {
		text = "echo: tool results: " + toolResults(msgs)
	} else {
		text = "echo: " + lastUserText(msgs)
	}
	ans.text, ans.tokens, ans.finish = a.truncate(req.Model, text, maxTokens(root))
	return ans
}

// choices reads n: default 1, clamped to 1…128.
func choices(n gjson.Result) int {
	if !n.Exists() {
		return 1
	}
	return int(min(max(n.Int(), 1), maxChoices))
}

// maxTokens reads the completion token limit, preferring
// max_completion_tokens to the deprecated max_tokens; 0 means none.
func maxTokens(root gjson.Result) int {
	v := root.Get("max_completion_tokens")
	if v.Type != gjson.Number {
		v = root.Get("max_tokens")
	}
	if v.Type != gjson.Number || v.Int() <= 0 {
		return 0
	}
	return int(min(v.Int(), 1<<31))
}

// toolToCall returns the function a tool-call answer calls: the one
// tool_choice forces, else the first function tool. It returns "" when the
// request has no tools or tool_choice is "none".
func toolToCall(root gjson.Result) string {
	tools := root.Get("tools")
	if !tools.IsArray() || tools.Get("#").Int() == 0 {
		return ""
	}
	choice := root.Get("tool_choice")
	if choice.Type == gjson.String && choice.Str == "none" {
		return ""
	}
	if name := choice.Get("function.name").String(); name != "" {
		return name
	}
	name := ""
	tools.ForEach(func(_, t gjson.Result) bool {
		name = t.Get("function.name").String()
		return name == ""
	})
	return name
}

// callID derives the tool call id from the request: "call_" and 24
// lowercase letters and digits of its SHA-256.
func callID(body []byte) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	sum := sha256.Sum256(body)
	b := make([]byte, 0, 5+24)
	b = append(b, "call_"...)
	for _, c := range sum[:24] {
		b = append(b, alphabet[int(c)%len(alphabet)])
	}
	return string(b)
}

// lastUserText returns the text of the last user message.
func lastUserText(msgs []gjson.Result) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Get("role").String() == "user" {
			return contentText(msgs[i].Get("content"))
		}
	}
	return ""
}

// toolResults joins the contents of the trailing tool messages with "; ".
func toolResults(msgs []gjson.Result) string {
	i := len(msgs)
	for i > 0 && msgs[i-1].Get("role").String() == "tool" {
		i--
	}
	parts := make([]string, 0, len(msgs)-i)
	for _, m := range msgs[i:] {
		parts = append(parts, contentText(m.Get("content")))
	}
	return strings.Join(parts, "; ")
}

// contentText renders message content as text: a string as is, parts
// joined with a space, media parts as placeholders such as "[image]".
func contentText(content gjson.Result) string {
	if content.Type == gjson.String {
		return content.Str
	}
	if !content.IsArray() {
		return ""
	}
	var parts []string
	content.ForEach(func(_, p gjson.Result) bool {
		switch p.Get("type").String() {
		case "image_url":
			parts = append(parts, "[image]")
		case "input_audio":
			parts = append(parts, "[audio]")
		case "file":
			parts = append(parts, "[file]")
		default:
			parts = append(parts, p.Get("text").String())
		}
		return true
	})
	return strings.Join(parts, " ")
}

// truncate cuts text to at most limit tokens (0: no limit) and returns it
// with its token count and finish reason. It cuts after the longest run of
// whole words that fits, or inside the first word when even that does not
// fit; each candidate is counted, so the result is token-accurate.
func (a *Adapter) truncate(model, text string, limit int) (string, int, string) {
	n := a.tokens.CountText(model, text)
	if limit <= 0 || n <= limit {
		return text, n, "stop"
	}
	if cut, n, ok := a.longestFit(model, text, wordEnds(text), limit); ok {
		return cut, n, "length"
	}
	first := text
	if ends := wordEnds(text); len(ends) > 0 {
		first = text[:ends[0]]
	}
	if cut, n, ok := a.longestFit(model, first, runeEnds(first), limit); ok {
		return cut, n, "length"
	}
	return "", 0, "length"
}

// longestFit binary-searches the longest prefix text[:ends[i]] of at most
// limit tokens. Token counts grow with the prefix at these cut points.
func (a *Adapter) longestFit(model, text string, ends []int, limit int) (string, int, bool) {
	best, bestN, ok := "", 0, false
	lo, hi := 0, len(ends)-1
	for lo <= hi {
		mid := (lo + hi) / 2
		cut := text[:ends[mid]]
		if n := a.tokens.CountText(model, cut); n <= limit {
			best, bestN, ok = cut, n, true
			lo = mid + 1
		} else {
			hi = mid - 1
		}
	}
	return best, bestN, ok
}

// wordEnds returns the byte offsets just after each word (run of
// non-space runes) of s.
func wordEnds(s string) []int {
	var ends []int
	inWord := false
	for i, r := range s {
		space := unicode.IsSpace(r)
		if inWord && space {
			ends = append(ends, i)
		}
		inWord = !space
	}
	if inWord {
		ends = append(ends, len(s))
	}
	return ends
}

// runeEnds returns the byte offsets just after each rune of s.
func runeEnds(s string) []int {
	ends := make([]int, 0, utf8.RuneCountInString(s))
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		ends = append(ends, i)
	}
	return ends
}
