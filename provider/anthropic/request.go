package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// DefaultMaxTokens is the max_tokens sent when the client set neither
// max_completion_tokens nor max_tokens: Anthropic requires the field.
const DefaultMaxTokens = 4096

// minThinkingBudget is the smallest thinking budget Anthropic accepts.
const minThinkingBudget = 1024

// thinkingBudget maps a reasoning_effort to a thinking budget in tokens;
// it reports false for an effort it does not know.
func thinkingBudget(effort string) (int, bool) {
	switch effort {
	case "minimal":
		return 1024, true
	case "low":
		return 2048, true
	case "medium":
		return 8192, true
	case "high":
		return 16384, true
	case "xhigh":
		return 24576, true
	}
	return 0, false
}

// jsonObjectInstruction is added to the system prompt for
// response_format json_object, which Anthropic has no native mode for.
const jsonObjectInstruction = "Respond only with a single valid JSON object. Do not write any text before or after it, and do not wrap it in a code block."

// defaultInputSchema is the input_schema of a function declared without
// parameters.
const defaultInputSchema = `{"type":"object","properties":{}}`

// translator turns one OpenAI request into a Messages request. It lives
// for one call.
type translator struct {
	name string
	out  *messagesRequest
}

// buildRequest decodes the client's body and encodes the Messages request
// for model.
func (a *Adapter) buildRequest(req *provider.ChatRequest, stream bool) ([]byte, error) {
	in, err := openaiwire.DecodeChatRequest(req.Body)
	if err != nil {
		return nil, invalidValue(a.name, "", "The request body could not be read: %v", err)
	}
	out, err := translateRequest(a.name, req.Model, in, stream)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // prompts travel as written
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("anthropic: encode request: %w", err)
	}
	return b.Bytes(), nil
}

// translateRequest maps an OpenAI chat request to Anthropic's. Fields that
// would change the answer but cannot be honoured are refused with a 400
// naming them; tuning-only fields Anthropic lacks are dropped.
func translateRequest(name, model string, in *openaiwire.ChatRequest, stream bool) (*messagesRequest, error) {
	t := &translator{name: name, out: &messagesRequest{Model: model, Stream: stream}}
	if err := t.refuseUnsupported(in); err != nil {
		return nil, err
	}
	if err := t.messages(in.Messages); err != nil {
		return nil, err
	}
	if err := t.sampling(in); err != nil {
		return nil, err
	}
	if err := t.tools(in); err != nil {
		return nil, err
	}
	if err := t.responseFormat(in.ResponseFormat); err != nil {
		return nil, err
	}
	if err := t.reasoning(in); err != nil {
		return nil, err
	}
	if u := in.EndUser(); u != "" {
		t.out.Metadata = &metadata{UserID: u}
	}
	return t.out, nil
}

// refuseUnsupported rejects the OpenAI fields that change the answer and
// have no Anthropic equivalent.
func (t *translator) refuseUnsupported(in *openaiwire.ChatRequest) error {
	switch {
	case in.N != nil && *in.N > 1:
		return openaiwire.Unsupported(t.name, "n", "Anthropic returns one choice per request; n must be 1.")
	case in.Logprobs != nil && *in.Logprobs:
		return openaiwire.Unsupported(t.name, "logprobs", "Anthropic does not return log probabilities.")
	case in.TopLogprobs != nil && *in.TopLogprobs > 0:
		return openaiwire.Unsupported(t.name, "top_logprobs", "Anthropic does not return log probabilities.")
	case present(in.Audio):
		return openaiwire.Unsupported(t.name, "audio", "Anthropic does not produce audio output.")
	case present(in.WebSearchOptions):
		return openaiwire.Unsupported(t.name, "web_search_options", "web_search_options is not supported for Anthropic models.")
	case present(in.Functions):
		return openaiwire.Unsupported(t.name, "functions", "The deprecated functions parameter is not supported for Anthropic models; use tools.")
	case present(in.FunctionCall):
		return openaiwire.Unsupported(t.name, "function_call", "The deprecated function_call parameter is not supported for Anthropic models; use tool_choice.")
	}
	if present(in.Modalities) {
		var mods []string
		if err := json.Unmarshal(in.Modalities, &mods); err != nil {
			return invalidValue(t.name, "modalities", "modalities must be an array of strings.")
		}
		for _, m := range mods {
			if m != "text" {
				return openaiwire.Unsupported(t.name, "modalities", "Anthropic produces text only; modality %q is not supported.", m)
			}
		}
	}
	return nil
}

// present reports whether a raw field was sent with a non-null value.
func present(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null"
}

// sampling sets max_tokens, temperature, top_p and stop sequences.
func (t *translator) sampling(in *openaiwire.ChatRequest) error {
	t.out.MaxTokens = DefaultMaxTokens
	if n, ok := in.MaxOutputTokens(); ok && n > 0 {
		t.out.MaxTokens = n
	}
	if in.Temperature != nil {
		if *in.Temperature > 1 {
			return openaiwire.Unsupported(t.name, "temperature",
				"Anthropic accepts a temperature between 0 and 1; %s is out of range.", strconv.FormatFloat(*in.Temperature, 'g', -1, 64))
		}
		t.out.Temperature = in.Temperature
	}
	t.out.TopP = in.TopP
	if len(in.Stop) > 0 {
		t.out.StopSequences = in.Stop
	}
	return nil
}

// tools translates the function tools, tool_choice and
// parallel_tool_calls. Without tools, tool_choice and parallel_tool_calls
// mean nothing and are not sent.
func (t *translator) tools(in *openaiwire.ChatRequest) error {
	for i, tl := range in.Tools {
		if tl.Type != "function" && tl.Type != "" {
			return openaiwire.Unsupported(t.name, "tools["+strconv.Itoa(i)+"].type",
				"Only function tools are supported for Anthropic models, not %q.", tl.Type)
		}
		schema := tl.Function.Parameters
		if !present(schema) {
			schema = json.RawMessage(defaultInputSchema)
		}
		t.out.Tools = append(t.out.Tools, tool{
			Name:        tl.Function.Name,
			Description: tl.Function.Description,
			InputSchema: schema,
			Strict:      tl.Function.Strict,
		})
	}
	if len(t.out.Tools) == 0 {
		return nil
	}
	if tc := in.ToolChoice; tc != nil {
		switch tc.Mode {
		case "auto":
			t.out.ToolChoice = &toolChoice{Type: "auto"}
		case "none":
			t.out.ToolChoice = &toolChoice{Type: "none"}
		case "required":
			t.out.ToolChoice = &toolChoice{Type: "any"}
		case "function":
			t.out.ToolChoice = &toolChoice{Type: "tool", Name: tc.Function}
		default:
			return openaiwire.Unsupported(t.name, "tool_choice", "tool_choice %q is not supported for Anthropic models.", tc.Mode)
		}
	}
	if in.ParallelToolCalls != nil && !*in.ParallelToolCalls {
		if t.out.ToolChoice == nil {
			t.out.ToolChoice = &toolChoice{Type: "auto"}
		}
		if t.out.ToolChoice.Type != "none" {
			t.out.ToolChoice.DisableParallelToolUse = true
		}
	}
	return nil
}

// responseFormat maps json_schema to Anthropic's structured output and
// json_object to an instruction in the system prompt.
func (t *translator) responseFormat(rf *openaiwire.ResponseFormat) error {
	if rf == nil {
		return nil
	}
	switch rf.Type {
	case "", "text":
		return nil
	case "json_object":
		t.out.System = append(t.out.System, block{Type: blockText, Text: jsonObjectInstruction})
		return nil
	case "json_schema":
		if rf.JSONSchema == nil || !present(rf.JSONSchema.Schema) {
			return invalidValue(t.name, "response_format.json_schema.schema", "A json_schema response format needs a schema.")
		}
		t.out.OutputConfig = &outputConfig{Format: &outputFormat{Type: "json_schema", Schema: rf.JSONSchema.Schema}}
		return nil
	}
	return openaiwire.Unsupported(t.name, "response_format.type", "response_format type %q is not supported for Anthropic models.", rf.Type)
}

// reasoning maps reasoning_effort to an extended-thinking budget. The
// budget must be below max_tokens: with no client limit, max_tokens grows
// to budget + DefaultMaxTokens; with one, the budget shrinks to fit it.
func (t *translator) reasoning(in *openaiwire.ChatRequest) error {
	effort := in.ReasoningEffort
	if effort == "" || effort == "none" {
		return nil
	}
	budget, ok := thinkingBudget(effort)
	if !ok {
		return openaiwire.Unsupported(t.name, "reasoning_effort", "reasoning_effort %q is not supported for Anthropic models.", effort)
	}
	if lastAssistantCalledTools(in.Messages) {
		// Anthropic requires the signed thinking block of the turn that
		// made the tool calls, which OpenAI's history cannot carry: the
		// tool loop continues without thinking.
		return nil
	}
	if _, ok := in.MaxOutputTokens(); !ok {
		t.out.MaxTokens = budget + DefaultMaxTokens
	} else if budget >= t.out.MaxTokens {
		budget = t.out.MaxTokens - 1
	}
	if budget < minThinkingBudget {
		return openaiwire.Unsupported(t.name, "reasoning_effort",
			"Anthropic needs a token limit above %d to think; raise max_completion_tokens or drop reasoning_effort.", minThinkingBudget)
	}
	t.out.Thinking = &thinking{Type: "enabled", BudgetTokens: budget}
	return nil
}

// lastAssistantCalledTools reports whether the conversation's last
// assistant message made tool calls.
func lastAssistantCalledTools(msgs []openaiwire.Message) bool {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "assistant" {
			return len(msgs[i].ToolCalls) > 0
		}
	}
	return false
}

// invalidValue is a 400 for a request value the adapter cannot read.
func invalidValue(name, param, format string, args ...any) *provider.Error {
	return &provider.Error{
		Provider: name,
		Kind:     provider.KindInvalidRequest,
		Status:   http.StatusBadRequest,
		Type:     "invalid_request_error",
		Code:     "invalid_value",
		Param:    param,
		Message:  fmt.Sprintf(format, args...),
	}
}
