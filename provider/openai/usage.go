package openai

import (
	"strings"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
)

// parseUsage reads an OpenAI usage object. It reports false when u is not
// an object (absent or null). DeepSeek's prompt_cache_hit_tokens stands in
// for cached_tokens where the latter is missing.
func parseUsage(u gjson.Result) (provider.Usage, bool) {
	if !u.IsObject() {
		return provider.Usage{}, false
	}
	var out provider.Usage
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			out.PromptTokens = int(v.Int())
		case "completion_tokens":
			out.CompletionTokens = int(v.Int())
		case "total_tokens":
			out.TotalTokens = int(v.Int())
		case "prompt_tokens_details":
			if c := v.Get("cached_tokens"); c.Exists() {
				out.CachedTokens = int(c.Int())
			}
			out.CacheWriteTokens = int(v.Get("cache_write_tokens").Int())
		case "completion_tokens_details":
			out.ReasoningTokens = int(v.Get("reasoning_tokens").Int())
		case "prompt_cache_hit_tokens":
			if out.CachedTokens == 0 {
				out.CachedTokens = int(v.Int())
			}
		}
		return true
	})
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	return out, true
}

// completionText gathers the generated text of a chat.completion's choices
// (content, reasoning, refusals and tool calls) for a local token count.
func completionText(choices gjson.Result) string {
	var b strings.Builder
	choices.ForEach(func(_, ch gjson.Result) bool {
		m := ch.Get("message")
		for _, f := range [...]string{"content", "reasoning_content", "reasoning", "refusal"} {
			b.WriteString(m.Get(f).Str)
		}
		m.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
			b.WriteString(tc.Get("function.name").Str)
			b.WriteString(tc.Get("function.arguments").Str)
			return true
		})
		return true
	})
	return b.String()
}
