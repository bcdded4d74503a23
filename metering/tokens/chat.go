package tokens

import "github.com/tidwall/gjson"

// Fixed estimates for content tiktoken cannot see. They are deliberately
// simple: these figures only stand in when an upstream reports no usage.
const (
	// TokensPerMessage is the per-message overhead of OpenAI's chat
	// format (cookbook "How to count tokens", gpt-3.5-turbo-0613 onwards).
	TokensPerMessage = 3
	// TokensPerName is the extra token a message's name costs.
	TokensPerName = 1
	// TokensReplyPriming is added once: every reply is primed with
	// <|start|>assistant<|message|>.
	TokensReplyPriming = 3
	// ImageLowTokens is an image_url part with detail "low": OpenAI's
	// fixed base cost for gpt-4o-class models.
	ImageLowTokens = 85
	// ImageHighTokens is an image_url part with any other detail: the base
	// cost plus four 512px tiles (85 + 4×170), i.e. a typical 1024×1024
	// image. The real cost depends on the image size, which is not looked
	// at.
	ImageHighTokens = 765
	// AudioPartTokens is an input_audio part: a flat guess of about 20 s of
	// speech at OpenAI's ~10 audio tokens per second.
	AudioPartTokens = 200
	// FilePartTokens is a file part (typically a PDF, whose text and page
	// images the upstream extracts): a flat guess of a few pages.
	FilePartTokens = 1000
)

// CountChat returns the prompt tokens of an OpenAI chat request body for
// model, following the OpenAI cookbook: TokensPerMessage per message plus
// the tokens of its role and content, TokensPerName plus the name's tokens
// when a message has a name, and TokensReplyPriming once. Assistant
// tool_calls (and the legacy function_call) count their function name and
// arguments text. Tool definitions count the tokens of each function's
// name, description and the raw JSON of its parameters, an approximation
// of the upstream's own rendering. Content parts other than text count the
// fixed estimates above. A body that is not a JSON object is counted as
// plain text. CountChat never panics.
func (c *Counter) CountChat(model string, body []byte) int {
	e := c.encodingFor(model)
	if !gjson.ValidBytes(body) {
		return e.count(string(body))
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return e.count(string(body))
	}
	n := TokensReplyPriming
	if msgs := root.Get("messages"); msgs.IsArray() {
		msgs.ForEach(func(_, m gjson.Result) bool {
			n += countMessage(e, m)
			return true
		})
	}
	if tools := root.Get("tools"); tools.IsArray() {
		tools.ForEach(func(_, t gjson.Result) bool {
			n += countTool(e, t)
			return true
		})
	}
	return n
}

// countMessage returns the tokens of one message, overhead included.
func countMessage(e *encoding, m gjson.Result) int {
	n := TokensPerMessage
	if !m.IsObject() {
		return n + e.count(m.Raw)
	}
	n += e.count(m.Get("role").String())
	n += countContent(e, m.Get("content"))
	if name := m.Get("name"); name.Exists() {
		n += TokensPerName + e.count(name.String())
	}
	if r := m.Get("refusal"); r.Type == gjson.String {
		n += e.count(r.Str)
	}
	if calls := m.Get("tool_calls"); calls.IsArray() {
		calls.ForEach(func(_, call gjson.Result) bool {
			n += countFunction(e, call.Get("function"))
			return true
		})
	}
	if fc := m.Get("function_call"); fc.IsObject() {
		n += countFunction(e, fc)
	}
	return n
}

// countFunction returns the tokens of a tool call's function name and
// arguments.
func countFunction(e *encoding, fn gjson.Result) int {
	return e.count(fn.Get("name").String()) + e.count(fn.Get("arguments").String())
}

// countContent returns the tokens of a message's content: a string, null,
// or an array of parts.
func countContent(e *encoding, content gjson.Result) int {
	switch {
	case content.Type == gjson.String:
		return e.count(content.Str)
	case content.IsArray():
		n := 0
		content.ForEach(func(_, part gjson.Result) bool {
			n += countPart(e, part)
			return true
		})
		return n
	case content.Type == gjson.Null || !content.Exists():
		return 0
	default: // a number or an object: not valid OpenAI, count it as text
		return e.count(content.Raw)
	}
}

// countPart returns the tokens of one content part.
func countPart(e *encoding, part gjson.Result) int {
	if part.Type == gjson.String { // lenient: a bare string part
		return e.count(part.Str)
	}
	switch part.Get("type").String() {
	case "image_url":
		if part.Get("image_url.detail").String() == "low" {
			return ImageLowTokens
		}
		return ImageHighTokens
	case "input_audio":
		return AudioPartTokens
	case "file":
		return FilePartTokens
	case "refusal":
		return e.count(part.Get("refusal").String())
	default: // "text" and anything unknown that carries text
		return e.count(part.Get("text").String())
	}
}

// countTool returns the tokens of one tool definition: its function's
// name, description and the raw JSON of its parameters.
func countTool(e *encoding, t gjson.Result) int {
	fn := t.Get("function")
	if !fn.Exists() {
		fn = t.Get("custom") // {"type":"custom","custom":{name,description,…}}
	}
	n := e.count(fn.Get("name").String()) + e.count(fn.Get("description").String())
	if p := fn.Get("parameters"); p.Exists() {
		n += e.count(p.Raw)
	}
	return n
}
