package gemini

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/sjson"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// decodeResponse translates a generateContent answer into an OpenAI
// chat.completion. reqModel stands in for the model when Gemini names
// none; logprobs says whether the client asked for log probabilities.
func (a *Adapter) decodeResponse(data []byte, reqModel string, logprobs bool) (*provider.ChatResponse, error) {
	var resp generateResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindServer, Status: http.StatusBadGateway,
			Message: fmt.Sprintf("provider %q sent an answer that is not a generateContent response", a.name), Err: err}
	}
	if resp.Error != nil {
		return nil, a.rpcErrorOf(statusForRPC(resp.Error), nil, resp.Error)
	}
	cc := &openaiwire.ChatCompletion{
		ID:      resp.ResponseID,
		Created: a.now().Unix(),
		Model:   resp.ModelVersion,
	}
	if cc.ID == "" {
		cc.ID = a.newID("chatcmpl-")
	}
	if cc.Model == "" {
		cc.Model = reqModel
	}
	var lps [][]byte
	switch {
	case len(resp.Candidates) > 0:
		for i := range resp.Candidates {
			ch, err := a.choice(i, &resp.Candidates[i])
			if err != nil {
				return nil, err
			}
			cc.Choices = append(cc.Choices, ch)
			if logprobs {
				lps = append(lps, openAILogprobs(resp.Candidates[i].LogprobsResult))
			}
		}
	case resp.PromptFeedback != nil && resp.PromptFeedback.BlockReason != "":
		cc.Choices = []openaiwire.Choice{{FinishReason: openaiwire.FinishContentFilter}}
	default:
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindServer, Status: http.StatusBadGateway,
			Message: fmt.Sprintf("provider %q sent an answer without candidates", a.name)}
	}
	u := usageOf(resp.UsageMetadata)
	cc.Usage = openaiwire.NewUsage(u)
	body := cc.Marshal()
	for i, lp := range lps {
		if lp == nil {
			continue
		}
		var err error
		if body, err = sjson.SetRawBytes(body, "choices."+strconv.Itoa(i)+".logprobs", lp); err != nil {
			return nil, fmt.Errorf("gemini: set logprobs: %w", err)
		}
	}
	return &provider.ChatResponse{Body: body, Model: cc.Model, Usage: u}, nil
}

// choice translates candidate i: text (without thoughts) as content,
// thoughts as reasoning_content, function calls as tool calls.
func (a *Adapter) choice(i int, c *candidate) (openaiwire.Choice, error) {
	var text, thoughts strings.Builder
	var calls []openaiwire.ToolCall
	for _, p := range c.Content.Parts {
		switch {
		case p.FunctionCall != nil:
			calls = append(calls, openaiwire.ToolCall{
				ID:   a.toolCallID(p.ThoughtSignature),
				Type: "function",
				Function: openaiwire.FunctionCall{
					Name:      p.FunctionCall.Name,
					Arguments: arguments(p.FunctionCall.Args),
				},
			})
		case p.Text != nil && p.Thought:
			thoughts.WriteString(*p.Text)
		case p.Text != nil:
			text.WriteString(*p.Text)
		}
	}
	finish, err := a.finishReason(c.FinishReason, len(calls) > 0)
	if err != nil {
		return openaiwire.Choice{}, err
	}
	ch := openaiwire.Choice{
		Index:        i,
		FinishReason: finish,
		Message: openaiwire.ResponseMessage{
			Role:             "assistant",
			ToolCalls:        calls,
			ReasoningContent: thoughts.String(),
		},
	}
	if s := text.String(); s != "" || (len(calls) == 0 && finish != openaiwire.FinishContentFilter) {
		ch.Message.Content = &s
	}
	return ch, nil
}

// arguments serialises functionCall.args compactly, as OpenAI's
// arguments string; absent args are an empty object.
func arguments(args json.RawMessage) string {
	if !present(args) {
		return "{}"
	}
	return string(compact(args))
}

// finishReason maps Gemini's finishReason to OpenAI's. hasCalls says the
// candidate called functions (Gemini still says STOP then). Reasons that
// mean a broken tool call are errors; unknown reasons are "stop". An empty
// reason (a stream event before the last) is "".
func (a *Adapter) finishReason(reason string, hasCalls bool) (string, error) {
	switch reason {
	case "":
		return "", nil
	case "MAX_TOKENS":
		return openaiwire.FinishLength, nil
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return openaiwire.FinishContentFilter, nil
	case "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS":
		return "", a.finishError(reason)
	}
	if hasCalls {
		return openaiwire.FinishToolCalls, nil
	}
	return openaiwire.FinishStop, nil
}

// usageOf converts usageMetadata: prompt includes tool-use prompt tokens,
// completion includes thoughts.
func usageOf(m *usageMetadata) provider.Usage {
	if m == nil {
		return provider.Usage{}
	}
	u := provider.Usage{
		PromptTokens:     m.PromptTokenCount + m.ToolUsePromptTokenCount,
		CompletionTokens: m.CandidatesTokenCount + m.ThoughtsTokenCount,
		TotalTokens:      m.TotalTokenCount,
		CachedTokens:     m.CachedContentTokenCount,
		ReasoningTokens:  m.ThoughtsTokenCount,
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	return u
}
