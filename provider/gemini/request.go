package gemini

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// translateRequest turns the client's OpenAI request into a Gemini
// request for model. body is the client's raw JSON, for the few fields
// openaiwire keeps no detail of. Fields Gemini cannot honour are refused
// with openaiwire.Unsupported before anything is sent.
func (a *Adapter) translateRequest(ctx context.Context, r *openaiwire.ChatRequest, body []byte, model string) (*generateRequest, error) {
	if err := a.refuseUnsupported(r); err != nil {
		return nil, err
	}
	out := &generateRequest{}
	if err := a.translateMessages(ctx, r.Messages, out); err != nil {
		return nil, err
	}
	if isGemini3(model) {
		fillMissingSignatures(out.Contents)
	}
	if err := a.translateTools(r, body, out); err != nil {
		return nil, err
	}
	gc, err := a.generationConfig(r, model)
	if err != nil {
		return nil, err
	}
	out.GenerationConfig = gc
	return out, nil
}

// invalidValue is a 400 for a request value the adapter cannot translate
// (as opposed to a parameter Gemini lacks).
func invalidValue(name, param, format string, args ...any) error {
	e := openaiwire.Unsupported(name, param, format, args...)
	e.Code = "invalid_value"
	return e
}

// present reports whether a raw field was sent with a value other than
// null.
func present(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}

// refuseUnsupported rejects the OpenAI-only fields that would change the
// answer.
func (a *Adapter) refuseUnsupported(r *openaiwire.ChatRequest) error {
	switch {
	case present(r.Audio):
		return openaiwire.Unsupported(a.name, "audio", "gemini: audio output is not supported")
	case present(r.WebSearchOptions):
		return openaiwire.Unsupported(a.name, "web_search_options", "gemini: web search is not supported")
	case present(r.Functions):
		return openaiwire.Unsupported(a.name, "functions", "gemini: the legacy functions parameter is not supported; use tools")
	case present(r.FunctionCall):
		return openaiwire.Unsupported(a.name, "function_call", "gemini: the legacy function_call parameter is not supported; use tool_choice")
	}
	if present(r.Modalities) {
		var mods []string
		if err := json.Unmarshal(r.Modalities, &mods); err != nil {
			return invalidValue(a.name, "modalities", "gemini: modalities must be an array of strings")
		}
		for _, m := range mods {
			if m != "text" {
				return openaiwire.Unsupported(a.name, "modalities", "gemini: only the text output modality is supported, not %q", m)
			}
		}
	}
	return nil
}

// messageBuilder accumulates the Gemini contents of a conversation.
type messageBuilder struct {
	a   *Adapter
	out *generateRequest
	// names maps a tool call id to its function name, from the assistant
	// messages, for the tool messages that answer them.
	names map[string]string
	// toolTurn is the index in out.Contents of the content that collects
	// the current run of tool messages, or -1.
	toolTurn int
}

// translateMessages fills the system instruction and contents.
func (a *Adapter) translateMessages(ctx context.Context, msgs []openaiwire.Message, out *generateRequest) error {
	b := &messageBuilder{a: a, out: out, names: map[string]string{}, toolTurn: -1}
	for _, m := range msgs {
		if m.Role == "assistant" {
			for _, tc := range m.ToolCalls {
				b.names[tc.ID] = tc.Function.Name
			}
		}
	}
	out.Contents = []content{}
	for i, m := range msgs {
		if err := b.add(ctx, i, m); err != nil {
			return err
		}
	}
	return nil
}

// add translates message i.
func (b *messageBuilder) add(ctx context.Context, i int, m openaiwire.Message) error {
	param := "messages[" + strconv.Itoa(i) + "]"
	if m.Role != "tool" {
		b.toolTurn = -1
	}
	switch m.Role {
	case "system", "developer":
		return b.addSystem(param, m)
	case "user":
		parts, err := b.a.userParts(ctx, param, m.Content)
		if err != nil {
			return err
		}
		b.out.Contents = append(b.out.Contents, content{Role: "user", Parts: parts})
		return nil
	case "assistant":
		return b.addAssistant(param, m)
	case "tool":
		return b.addTool(param, m)
	default:
		return openaiwire.Unsupported(b.a.name, param+".role", "gemini: messages with role %q are not supported", m.Role)
	}
}

// addSystem appends a system or developer message to the system
// instruction.
func (b *messageBuilder) addSystem(param string, m openaiwire.Message) error {
	for j, p := range m.Content.Parts {
		if p.Type != "text" {
			return openaiwire.Unsupported(b.a.name, fmt.Sprintf("%s.content[%d]", param, j),
				"gemini: %s messages may hold only text, not %q parts", m.Role, p.Type)
		}
	}
	if b.out.SystemInstruction == nil {
		b.out.SystemInstruction = &content{}
	}
	b.out.SystemInstruction.Parts = append(b.out.SystemInstruction.Parts, textPart(m.Content.PlainText()))
	return nil
}

// addAssistant appends a model turn: its text, then its tool calls, each
// with the thought signature its id carries.
func (b *messageBuilder) addAssistant(param string, m openaiwire.Message) error {
	var parts []part
	text := m.Content.PlainText()
	if text == "" && m.Refusal != "" {
		text = m.Refusal
	}
	if text != "" {
		parts = append(parts, textPart(text))
	}
	for j, tc := range m.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			return openaiwire.Unsupported(b.a.name, fmt.Sprintf("%s.tool_calls[%d].type", param, j),
				"gemini: tool calls of type %q are not supported", tc.Type)
		}
		args, err := openaiwire.ParseArguments(tc.Function.Arguments)
		if err != nil {
			return invalidValue(b.a.name, fmt.Sprintf("%s.tool_calls[%d].function.arguments", param, j),
				"gemini: %v", err)
		}
		p := part{FunctionCall: &functionCall{Name: tc.Function.Name, Args: compact(args)}}
		if sig, ok := signatureFromID(tc.ID); ok {
			p.ThoughtSignature = sig
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		// An empty model turn carries nothing and Gemini refuses empty
		// contents.
		return nil
	}
	b.out.Contents = append(b.out.Contents, content{Role: "model", Parts: parts})
	return nil
}

// addTool appends a tool result as a functionResponse part, to the same
// user content as the tool results right before it.
func (b *messageBuilder) addTool(param string, m openaiwire.Message) error {
	name, ok := b.names[m.ToolCallID]
	if !ok {
		return invalidValue(b.a.name, param+".tool_call_id",
			"gemini: tool_call_id %q matches no tool call of an earlier assistant message", m.ToolCallID)
	}
	p := part{FunctionResponse: &functionResponse{Name: name, Response: toolResponse(m.Content.PlainText())}}
	if b.toolTurn >= 0 {
		c := &b.out.Contents[b.toolTurn]
		c.Parts = append(c.Parts, p)
		return nil
	}
	b.out.Contents = append(b.out.Contents, content{Role: "user", Parts: []part{p}})
	b.toolTurn = len(b.out.Contents) - 1
	return nil
}

// skipSignature is the placeholder Google documents for a functionCall
// of Gemini 3 history that has no real thought signature (a conversation
// begun with another model, or ids not made by this gateway).
const skipSignature = "skip_thought_signature_validator"

// isGemini3 reports whether model is a Gemini 3 model, which validates
// thought signatures and takes a thinking level.
func isGemini3(model string) bool { return strings.Contains(model, "gemini-3") }

// fillMissingSignatures gives the first functionCall part of every model
// turn the placeholder signature when it has none, so that Gemini 3
// accepts history it did not sign. Real signatures are never replaced.
func fillMissingSignatures(contents []content) {
	for i := range contents {
		if contents[i].Role != "model" {
			continue
		}
		for j := range contents[i].Parts {
			p := &contents[i].Parts[j]
			if p.FunctionCall == nil {
				continue
			}
			if p.ThoughtSignature == "" {
				p.ThoughtSignature = skipSignature
			}
			break
		}
	}
}

// toolResponse is a functionResponse.response: the tool's content when it
// is a JSON object, else {"output": content}.
func toolResponse(text string) json.RawMessage {
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
		return compact(json.RawMessage(t))
	}
	b := append([]byte(`{"output":`), openaiwire.AppendString(nil, text)...)
	return append(b, '}')
}

// userParts translates a user message's content.
func (a *Adapter) userParts(ctx context.Context, param string, c openaiwire.Content) ([]part, error) {
	if !c.IsParts {
		return []part{textPart(c.Text)}, nil
	}
	parts := make([]part, 0, len(c.Parts))
	for j, p := range c.Parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		switch p.Type {
		case "text":
			parts = append(parts, textPart(p.Text))
		case "image_url":
			if p.ImageURL == nil {
				return nil, invalidValue(a.name, pp+".image_url", "gemini: image_url part without an image_url")
			}
			bl, err := a.image(ctx, pp+".image_url", p.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part{InlineData: bl})
		case "input_audio":
			if p.InputAudio == nil {
				return nil, invalidValue(a.name, pp+".input_audio", "gemini: input_audio part without input_audio")
			}
			parts = append(parts, part{InlineData: &blob{MIMEType: audioMIME(p.InputAudio.Format), Data: p.InputAudio.Data}})
		case "file":
			bl, err := a.file(pp+".file", p.File)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part{InlineData: bl})
		default:
			return nil, openaiwire.Unsupported(a.name, pp+".type", "gemini: content parts of type %q are not supported", p.Type)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, textPart(""))
	}
	return parts, nil
}

// image turns an image URL into inline data: a data URL directly, an
// http(s) URL by downloading it through the gateway's image fetcher.
func (a *Adapter) image(ctx context.Context, param, u string) (*blob, error) {
	if mt, data, ok := openaiwire.ParseDataURL(u); ok {
		return &blob{MIMEType: mt, Data: data}, nil
	}
	lower := strings.ToLower(u)
	if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "http://") {
		return nil, openaiwire.Unsupported(a.name, param, "gemini: an image must be a base64 data URL or an http(s) URL")
	}
	if a.images == nil {
		return nil, openaiwire.Unsupported(a.name, param,
			"gemini: images by URL are not supported by this gateway; send the image as a base64 data URL")
	}
	mt, data, err := a.images.FetchImage(ctx, u)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("gemini: fetch image: %w", context.Cause(ctx))
		}
		e := openaiwire.Unsupported(a.name, param, "gemini: could not fetch the image: %v", err)
		e.Code, e.Err = "invalid_image_url", err
		return nil, e
	}
	if mt == "" {
		mt = http.DetectContentType(data)
	}
	return &blob{MIMEType: mt, Data: base64.StdEncoding.EncodeToString(data)}, nil
}

// file turns a file part with inline data into inline data. Files by id
// live in OpenAI's storage and cannot be sent.
func (a *Adapter) file(param string, f *openaiwire.File) (*blob, error) {
	if f == nil {
		return nil, invalidValue(a.name, param, "gemini: file part without a file")
	}
	if f.FileData == "" {
		return nil, openaiwire.Unsupported(a.name, param+".file_id", "gemini: files by file_id are not supported; send file_data")
	}
	if mt, data, ok := openaiwire.ParseDataURL(f.FileData); ok {
		return &blob{MIMEType: mt, Data: data}, nil
	}
	if strings.HasSuffix(strings.ToLower(f.Filename), ".pdf") {
		return &blob{MIMEType: "application/pdf", Data: f.FileData}, nil
	}
	return nil, invalidValue(a.name, param+".file_data",
		"gemini: file_data must be a base64 data URL (or base64 of a .pdf file)")
}

// audioMIME is the MIME type of an input_audio format.
func audioMIME(format string) string {
	switch format {
	case "mp3":
		return "audio/mp3"
	case "":
		return "audio/wav"
	}
	return "audio/" + format
}

// textPart is a text part.
func textPart(s string) part { return part{Text: &s} }

// compact returns raw JSON without insignificant space.
func compact(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

// translateTools fills tools and toolConfig.
func (a *Adapter) translateTools(r *openaiwire.ChatRequest, body []byte, out *generateRequest) error {
	if len(r.Tools) == 0 {
		return nil
	}
	decls := make([]functionDeclaration, 0, len(r.Tools))
	for i, t := range r.Tools {
		if t.Type != "function" {
			return openaiwire.Unsupported(a.name, fmt.Sprintf("tools[%d].type", i), "gemini: tools of type %q are not supported", t.Type)
		}
		d := functionDeclaration{Name: t.Function.Name, Description: t.Function.Description}
		if present(t.Function.Parameters) {
			d.ParametersJSONSchema = compact(t.Function.Parameters)
		}
		decls = append(decls, d)
	}
	if r.ToolChoice == nil {
		out.Tools = []tool{{FunctionDeclarations: decls}}
		return nil
	}
	var cfg functionCallingConfig
	switch tc := r.ToolChoice; tc.Mode {
	case "none":
		cfg.Mode = "NONE"
	case "auto":
		cfg.Mode = "AUTO"
	case "required":
		cfg.Mode = "ANY"
	case "function":
		cfg.Mode, cfg.AllowedFunctionNames = "ANY", []string{tc.Function}
	case "allowed_tools":
		var err error
		if cfg, decls, err = a.allowedTools(body, decls); err != nil {
			return err
		}
	default:
		return openaiwire.Unsupported(a.name, "tool_choice", "gemini: tool_choice %q is not supported", tc.Mode)
	}
	out.Tools = []tool{{FunctionDeclarations: decls}}
	out.ToolConfig = &toolConfig{FunctionCallingConfig: cfg}
	return nil
}

// allowedTools translates tool_choice {"type":"allowed_tools"}: in mode
// required the model must call one of the allowed functions (ANY with
// allowedFunctionNames); in mode auto it may call only those, so only
// those are declared.
func (a *Adapter) allowedTools(body []byte, decls []functionDeclaration) (functionCallingConfig, []functionDeclaration, error) {
	at := gjson.GetBytes(body, "tool_choice.allowed_tools")
	allowed := map[string]bool{}
	var names []string
	for _, t := range at.Get("tools").Array() {
		if n := t.Get("function.name").String(); n != "" && !allowed[n] {
			allowed[n] = true
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return functionCallingConfig{}, nil, invalidValue(a.name, "tool_choice.allowed_tools.tools",
			"gemini: allowed_tools must name at least one function")
	}
	switch mode := at.Get("mode").String(); mode {
	case "required":
		return functionCallingConfig{Mode: "ANY", AllowedFunctionNames: names}, decls, nil
	case "auto", "":
		kept := decls[:0:0]
		for _, d := range decls {
			if allowed[d.Name] {
				kept = append(kept, d)
			}
		}
		return functionCallingConfig{Mode: "AUTO"}, kept, nil
	default:
		return functionCallingConfig{}, nil, openaiwire.Unsupported(a.name, "tool_choice.allowed_tools.mode",
			"gemini: allowed_tools mode %q is not supported", mode)
	}
}

// generationConfig translates the sampling and output options; it returns
// nil when none was set.
func (a *Adapter) generationConfig(r *openaiwire.ChatRequest, model string) (*generationConfig, error) {
	gc := &generationConfig{
		Temperature:      r.Temperature,
		TopP:             r.TopP,
		PresencePenalty:  r.PresencePenalty,
		FrequencyPenalty: r.FrequencyPenalty,
	}
	if n, ok := r.MaxOutputTokens(); ok {
		gc.MaxOutputTokens = &n
	}
	if len(r.Stop) > 0 {
		gc.StopSequences = r.Stop
	}
	if r.N != nil && *r.N != 1 {
		gc.CandidateCount = r.N
	}
	if r.Seed != nil {
		s := foldSeed(*r.Seed)
		gc.Seed = &s
	}
	if r.Logprobs != nil && *r.Logprobs {
		gc.ResponseLogprobs = true
		gc.Logprobs = r.TopLogprobs
	}
	if err := a.responseFormat(r.ResponseFormat, gc); err != nil {
		return nil, err
	}
	if r.ReasoningEffort != "" {
		tc, err := a.thinking(r.ReasoningEffort, model)
		if err != nil {
			return nil, err
		}
		gc.ThinkingConfig = tc
	}
	if isZero(gc) {
		return nil, nil
	}
	return gc, nil
}

// isZero reports whether no generation option is set.
func isZero(gc *generationConfig) bool {
	return gc.Temperature == nil && gc.TopP == nil && gc.CandidateCount == nil && gc.MaxOutputTokens == nil &&
		gc.StopSequences == nil && gc.PresencePenalty == nil && gc.FrequencyPenalty == nil && gc.Seed == nil &&
		gc.ResponseMIMEType == "" && !gc.ResponseLogprobs && gc.ThinkingConfig == nil
}

// foldSeed maps an OpenAI seed (64 bits) onto Gemini's 32-bit seed:
// values that fit are kept, larger ones are folded deterministically.
func foldSeed(s int64) int32 {
	if s >= -1<<31 && s < 1<<31 {
		return int32(s)
	}
	return int32(s ^ s>>32)
}

// responseFormat translates response_format.
func (a *Adapter) responseFormat(rf *openaiwire.ResponseFormat, gc *generationConfig) error {
	if rf == nil {
		return nil
	}
	switch rf.Type {
	case "", "text":
	case "json_object":
		gc.ResponseMIMEType = "application/json"
	case "json_schema":
		gc.ResponseMIMEType = "application/json"
		if rf.JSONSchema != nil && present(rf.JSONSchema.Schema) {
			gc.ResponseJSONSchema = compact(rf.JSONSchema.Schema)
		}
	default:
		return openaiwire.Unsupported(a.name, "response_format.type", "gemini: response_format %q is not supported", rf.Type)
	}
	return nil
}

// thinking translates reasoning_effort: a thinking level for Gemini 3, a
// thinking budget for earlier models.
func (a *Adapter) thinking(effort, model string) (*thinkingConfig, error) {
	var (
		level  string
		budget int
	)
	switch effort {
	case "none":
		level, budget = "LOW", 0
	case "minimal", "low":
		level, budget = "LOW", 1024
	case "medium":
		level, budget = "HIGH", 8192
	case "high", "xhigh":
		level, budget = "HIGH", 24576
	default:
		return nil, openaiwire.Unsupported(a.name, "reasoning_effort", "gemini: reasoning_effort %q is not supported", effort)
	}
	if isGemini3(model) {
		return &thinkingConfig{ThinkingLevel: level}, nil
	}
	return &thinkingConfig{ThinkingBudget: &budget}, nil
}

// marshal encodes v as JSON without HTML escaping, so that the client's
// text reaches Gemini byte for byte.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
