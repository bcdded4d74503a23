package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// translateResponse turns a Converse answer into an OpenAI
// chat.completion. The model is the requested model id (Bedrock reports
// none); jsonTool names the forced response_format tool, if any.
func (a *Adapter) translateResponse(data []byte, req *provider.ChatRequest, jsonTool string) (*provider.ChatResponse, error) {
	var cr converseResponse
	if err := json.Unmarshal(data, &cr); err != nil {
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q sent an answer that is not a Converse response", a.name),
			Err:     fmt.Errorf("bedrock: decode response: %w", err)}
	}
	var (
		text, reasoning strings.Builder
		calls           []openaiwire.ToolCall
		jsonAnswer      *string
	)
	if m := cr.Output.Message; m != nil {
		for _, blk := range m.Content {
			switch {
			case blk.Text != nil:
				text.WriteString(*blk.Text)
			case blk.ToolUse != nil:
				args := compactArgs(blk.ToolUse.Input)
				if jsonTool != "" && blk.ToolUse.Name == jsonTool && jsonAnswer == nil {
					jsonAnswer = &args
					continue
				}
				calls = append(calls, openaiwire.ToolCall{ID: blk.ToolUse.ToolUseID, Type: "function",
					Function: openaiwire.FunctionCall{Name: blk.ToolUse.Name, Arguments: args}})
			case blk.ReasoningContent != nil && blk.ReasoningContent.ReasoningText != nil:
				reasoning.WriteString(blk.ReasoningContent.ReasoningText.Text)
			}
		}
	}
	msg := openaiwire.ResponseMessage{Role: "assistant", ToolCalls: calls, ReasoningContent: reasoning.String()}
	switch s := text.String(); {
	case jsonAnswer != nil:
		// The forced tool's input is the answer; a preamble is not JSON.
		msg.Content = jsonAnswer
	case s != "" || len(calls) == 0:
		msg.Content = &s
	}
	usage := convertUsage(cr.Usage)
	if cr.Usage == nil {
		usage = a.estimate(req.Model, req.Body, generated(msg))
	}
	cc := openaiwire.ChatCompletion{
		ID:      a.newID("chatcmpl-"),
		Created: a.now().Unix(),
		Model:   req.Model,
		Choices: []openaiwire.Choice{{Message: msg, FinishReason: finishReason(cr.StopReason, len(calls) > 0)}},
		Usage:   openaiwire.NewUsage(usage),
	}
	return &provider.ChatResponse{Body: cc.Marshal(), Model: req.Model, Usage: usage}, nil
}

// generated is the text of an answer, for a local token count.
func generated(m openaiwire.ResponseMessage) []byte {
	var b []byte
	if m.Content != nil {
		b = append(b, *m.Content...)
	}
	b = append(b, m.ReasoningContent...)
	for _, tc := range m.ToolCalls {
		b = append(b, tc.Function.Name...)
		b = append(b, tc.Function.Arguments...)
	}
	return b
}

// compactArgs serialises a toolUse input compactly, as OpenAI's arguments
// string; a missing input is an empty object.
func compactArgs(input json.RawMessage) string {
	if !present(input) {
		return "{}"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, input); err != nil {
		return string(input)
	}
	return b.String()
}

// finishReason maps a Bedrock stopReason to OpenAI's finish_reason.
// toolCalls says whether the answer holds tool calls for the client (a
// forced response_format tool does not count): tool_use without them is a
// plain stop.
func finishReason(stop string, toolCalls bool) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return openaiwire.FinishLength
	case "content_filtered", "guardrail_intervened":
		return openaiwire.FinishContentFilter
	}
	if toolCalls {
		return openaiwire.FinishToolCalls
	}
	return openaiwire.FinishStop
}

// convertUsage maps Bedrock's usage to OpenAI's terms: inputTokens
// excludes the cache reads and writes, which OpenAI's prompt_tokens
// includes.
func convertUsage(u *tokenUsage) provider.Usage {
	if u == nil {
		return provider.Usage{}
	}
	p := u.InputTokens + u.CacheReadInputTokens + u.CacheWriteInputTokens
	return provider.Usage{
		PromptTokens:     p,
		CompletionTokens: u.OutputTokens,
		TotalTokens:      p + u.OutputTokens,
		CachedTokens:     u.CacheReadInputTokens,
		CacheWriteTokens: u.CacheWriteInputTokens,
	}
}
