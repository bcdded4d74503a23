package bedrock

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// translation is a Converse request body and what reading its answer
// needs to know.
type translation struct {
	body []byte
	// jsonTool names the forced tool that carries a response_format
	// answer; empty when the client asked for no JSON format.
	jsonTool string
}

// emptyObjectSchema is the input schema of a tool declared without
// parameters.
var emptyObjectSchema = json.RawMessage(`{"type":"object","properties":{}}`)

// jsonObjectTool is the forced tool's name for response_format
// json_object (json_schema uses the schema's name).
const jsonObjectTool = "json_response"

// buildRequest translates a decoded OpenAI request into a Converse body.
func (a *Adapter) buildRequest(ctx context.Context, r *openaiwire.ChatRequest) (*translation, error) {
	if err := a.refuse(r); err != nil {
		return nil, err
	}
	b := &builder{a: a, ctx: ctx, docNames: map[string]bool{}}
	for i := range r.Messages {
		if err := b.message(i, &r.Messages[i]); err != nil {
			return nil, err
		}
	}
	out := converseRequest{System: b.system, Messages: b.msgs, InferenceConfig: inference(r)}
	if out.Messages == nil {
		out.Messages = []message{}
	}
	jsonTool, err := a.toolConfig(r, b.toolBlocks, &out)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		// Only raw JSON from the client can fail, and it was validated.
		return nil, a.invalid("", "the request could not be encoded for bedrock: %v", err)
	}
	return &translation{body: bytes.TrimRight(buf.Bytes(), "\n"), jsonTool: jsonTool}, nil
}

// refuse rejects the fields that would change the answer but that
// Converse cannot honour.
func (a *Adapter) refuse(r *openaiwire.ChatRequest) error {
	unsupported := func(param, format string, args ...any) error {
		return openaiwire.Unsupported(a.name, param, format, args...)
	}
	switch {
	case r.N != nil && *r.N > 1:
		return unsupported("n", "bedrock returns one choice per request; n must be 1")
	case r.Logprobs != nil && *r.Logprobs:
		return unsupported("logprobs", "bedrock does not return log probabilities")
	case r.TopLogprobs != nil && *r.TopLogprobs > 0:
		return unsupported("top_logprobs", "bedrock does not return log probabilities")
	case present(r.Audio):
		return unsupported("audio", "bedrock does not produce audio output")
	case present(r.WebSearchOptions):
		return unsupported("web_search_options", "bedrock has no built-in web search")
	case present(r.Functions):
		return unsupported("functions", "the deprecated functions parameter is not supported; use tools")
	case present(r.FunctionCall):
		return unsupported("function_call", "the deprecated function_call parameter is not supported; use tool_choice")
	case r.ToolChoice != nil && r.ToolChoice.Mode == "allowed_tools":
		return unsupported("tool_choice", "bedrock does not support allowed_tools; send only the allowed tools instead")
	}
	if present(r.Modalities) {
		var mods []string
		if err := json.Unmarshal(r.Modalities, &mods); err != nil {
			return a.invalid("modalities", "modalities must be an array of strings")
		}
		for _, m := range mods {
			if m != "text" {
				return unsupported("modalities", "bedrock produces text only, not %q", m)
			}
		}
	}
	if jsonFormat(r.ResponseFormat) && len(r.Tools) > 0 && (r.ToolChoice == nil || r.ToolChoice.Mode != "none") {
		return unsupported("response_format",
			"bedrock answers response_format %s through a forced tool, which cannot be combined with tools the model may call",
			r.ResponseFormat.Type)
	}
	return nil
}

// present reports whether a raw field was sent with a value.
func present(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}

// jsonFormat reports whether the client asked for JSON output.
func jsonFormat(rf *openaiwire.ResponseFormat) bool {
	return rf != nil && (rf.Type == "json_object" || rf.Type == "json_schema")
}

// invalid is a 400 for a request value that is malformed.
func (a *Adapter) invalid(param, format string, args ...any) *provider.Error {
	return &provider.Error{
		Provider: a.name,
		Kind:     provider.KindInvalidRequest,
		Status:   http.StatusBadRequest,
		Type:     "invalid_request_error",
		Code:     "invalid_value",
		Param:    param,
		Message:  fmt.Sprintf(format, args...),
	}
}

// inference builds inferenceConfig, nil when the client set none of it.
func inference(r *openaiwire.ChatRequest) *inferenceConfig {
	ic := &inferenceConfig{Temperature: r.Temperature, TopP: r.TopP}
	if n, ok := r.MaxOutputTokens(); ok {
		ic.MaxTokens = &n
	}
	if len(r.Stop) > 0 {
		ic.StopSequences = r.Stop
	}
	if ic.MaxTokens == nil && ic.Temperature == nil && ic.TopP == nil && ic.StopSequences == nil {
		return nil
	}
	return ic
}

// toolConfig sets out.ToolConfig from tools, tool_choice and
// response_format, and returns the forced JSON tool's name, if any.
// toolBlocks says whether the conversation holds tool calls or results,
// which Bedrock accepts only with a toolConfig.
func (a *Adapter) toolConfig(r *openaiwire.ChatRequest, toolBlocks bool, out *converseRequest) (string, error) {
	tools := make([]tool, 0, len(r.Tools)+1)
	for i, t := range r.Tools {
		if t.Type != "" && t.Type != "function" {
			return "", openaiwire.Unsupported(a.name, "tools["+strconv.Itoa(i)+"].type",
				"bedrock supports function tools only, not %q", t.Type)
		}
		schema := t.Function.Parameters
		if !present(schema) {
			schema = emptyObjectSchema
		}
		tools = append(tools, tool{ToolSpec: toolSpec{Name: t.Function.Name, Description: t.Function.Description,
			InputSchema: inputSchema{JSON: schema}}})
	}
	if jsonFormat(r.ResponseFormat) {
		spec := formatTool(r.ResponseFormat, tools)
		tools = append(tools, tool{ToolSpec: spec})
		out.ToolConfig = &toolConfig{Tools: tools, ToolChoice: &toolChoice{Tool: &namedTool{Name: spec.Name}}}
		return spec.Name, nil
	}
	if len(tools) == 0 {
		// tool_choice without tools means nothing.
		return "", nil
	}
	tc := &toolConfig{Tools: tools}
	mode := ""
	if r.ToolChoice != nil {
		mode = r.ToolChoice.Mode
	}
	switch mode {
	case "":
	case "auto":
		tc.ToolChoice = &toolChoice{Auto: &struct{}{}}
	case "required":
		tc.ToolChoice = &toolChoice{Any: &struct{}{}}
	case "function":
		tc.ToolChoice = &toolChoice{Tool: &namedTool{Name: r.ToolChoice.Function}}
	case "none":
		if !toolBlocks {
			return "", nil
		}
	default:
		return "", openaiwire.Unsupported(a.name, "tool_choice", "bedrock does not support tool_choice %q", mode)
	}
	out.ToolConfig = tc
	return "", nil
}

// formatTool is the forced tool that carries a response_format answer.
// Its name avoids the client's own tool names (offered only with
// tool_choice none).
func formatTool(rf *openaiwire.ResponseFormat, tools []tool) toolSpec {
	spec := toolSpec{
		Name:        jsonObjectTool,
		Description: "Give the answer as a JSON object.",
		InputSchema: inputSchema{JSON: json.RawMessage(`{"type":"object"}`)},
	}
	if s := rf.JSONSchema; rf.Type == "json_schema" && s != nil {
		if s.Name != "" {
			spec.Name = s.Name
		}
		if s.Description != "" {
			spec.Description = s.Description
		}
		if present(s.Schema) {
			spec.InputSchema.JSON = s.Schema
		}
	}
	for taken := true; taken; {
		taken = false
		for _, t := range tools {
			if t.ToolSpec.Name == spec.Name {
				spec.Name += "_"
				taken = true
			}
		}
	}
	return spec
}

// builder collects the system prompts and the messages of a request.
type builder struct {
	a        *Adapter
	ctx      context.Context
	system   []systemBlock
	msgs     []message
	docNames map[string]bool
	// toolBlocks is set once a toolUse or toolResult block was added.
	toolBlocks bool
}

// add appends blocks as role, merging them into the previous message when
// it has the same role (Bedrock wants the roles to alternate).
func (b *builder) add(role string, blocks ...contentBlock) {
	if len(blocks) == 0 {
		return
	}
	if n := len(b.msgs); n > 0 && b.msgs[n-1].Role == role {
		prev := b.msgs[n-1].Content
		if blocks[0].ToolResult != nil {
			// Tool results lead their turn (Anthropic models insist).
			k := 0
			for k < len(prev) && prev[k].ToolResult != nil {
				k++
			}
			blocks = append(blocks, prev[k:]...)
			prev = prev[:k]
		}
		b.msgs[n-1].Content = append(prev, blocks...)
		return
	}
	b.msgs = append(b.msgs, message{Role: role, Content: blocks})
}

// message translates the client's message i.
func (b *builder) message(i int, m *openaiwire.Message) error {
	param := "messages[" + strconv.Itoa(i) + "]"
	switch m.Role {
	case "system", "developer":
		if t := m.Content.PlainText(); t != "" {
			b.system = append(b.system, systemBlock{Text: t})
		}
		return nil
	case "user":
		blocks, err := b.content(param, m.Content)
		if err != nil {
			return err
		}
		b.add("user", blocks...)
		return nil
	case "assistant":
		return b.assistant(param, m)
	case "tool":
		if m.ToolCallID == "" {
			return b.a.invalid(param+".tool_call_id", "a tool message needs the tool_call_id it answers")
		}
		b.toolBlocks = true
		b.add("user", contentBlock{ToolResult: &toolResultBlock{
			ToolUseID: m.ToolCallID,
			Content:   []toolResultContent{toolResult(m.Content.PlainText())},
			Status:    "success",
		}})
		return nil
	}
	return openaiwire.Unsupported(b.a.name, param+".role", "bedrock does not support messages with role %q", m.Role)
}

// toolResult is a tool's answer: a JSON object as json, anything else as
// text.
func toolResult(s string) toolResultContent {
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
		return toolResultContent{JSON: json.RawMessage(t)}
	}
	return toolResultContent{Text: &s}
}

// assistant translates an assistant message: its text, then its tool
// calls as toolUse blocks with the ids kept.
func (b *builder) assistant(param string, m *openaiwire.Message) error {
	var blocks []contentBlock
	if !m.Content.IsParts {
		blocks = appendText(blocks, m.Content.Text)
	} else {
		for _, p := range m.Content.Parts {
			switch p.Type {
			case "text":
				blocks = appendText(blocks, p.Text)
			case "refusal":
				blocks = appendText(blocks, p.Refusal)
			}
		}
	}
	if len(blocks) == 0 {
		blocks = appendText(blocks, m.Refusal)
	}
	for k, tc := range m.ToolCalls {
		tparam := param + ".tool_calls[" + strconv.Itoa(k) + "]"
		if tc.ID == "" {
			return b.a.invalid(tparam+".id", "a tool call needs an id")
		}
		args, err := openaiwire.ParseArguments(tc.Function.Arguments)
		if err != nil {
			return b.a.invalid(tparam+".function.arguments", "%v", err)
		}
		blocks = append(blocks, contentBlock{ToolUse: &toolUseBlock{ToolUseID: tc.ID, Name: tc.Function.Name, Input: args}})
		b.toolBlocks = true
	}
	b.add("assistant", blocks...)
	return nil
}

// appendText appends a text block unless s is empty (Bedrock refuses
// blank text blocks).
func appendText(blocks []contentBlock, s string) []contentBlock {
	if s == "" {
		return blocks
	}
	return append(blocks, contentBlock{Text: &s})
}

// content translates a user message's content into blocks.
func (b *builder) content(param string, c openaiwire.Content) ([]contentBlock, error) {
	if !c.IsParts {
		return appendText(nil, c.Text), nil
	}
	blocks := make([]contentBlock, 0, len(c.Parts))
	for j, p := range c.Parts {
		pparam := param + ".content[" + strconv.Itoa(j) + "]"
		switch p.Type {
		case "text":
			blocks = appendText(blocks, p.Text)
		case "image_url":
			blk, err := b.image(pparam+".image_url", p.ImageURL)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, blk)
		case "file":
			blk, err := b.document(pparam+".file", p.File)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, blk)
		case "input_audio":
			return nil, openaiwire.Unsupported(b.a.name, pparam, "bedrock does not accept audio input")
		default:
			return nil, openaiwire.Unsupported(b.a.name, pparam+".type", "bedrock does not support content parts of type %q", p.Type)
		}
	}
	return blocks, nil
}

// imageFormats maps image media types to Bedrock's image formats.
var imageFormats = map[string]string{
	"image/png":  "png",
	"image/jpeg": "jpeg",
	"image/jpg":  "jpeg",
	"image/gif":  "gif",
	"image/webp": "webp",
}

// image translates an image part: a data URL inline, an http(s) URL
// downloaded through the image fetcher.
func (b *builder) image(param string, u *openaiwire.ImageURL) (contentBlock, error) {
	if u == nil || u.URL == "" {
		return contentBlock{}, b.a.invalid(param+".url", "an image part needs image_url.url")
	}
	var mediaType, data string
	switch lower := strings.ToLower(u.URL); {
	case strings.HasPrefix(lower, "data:"):
		mt, d, ok := openaiwire.ParseDataURL(u.URL)
		if !ok {
			return contentBlock{}, b.a.invalid(param+".url", "the image data URL must be base64 encoded")
		}
		if _, err := base64.StdEncoding.DecodeString(d); err != nil {
			return contentBlock{}, b.a.invalid(param+".url", "the image data URL is not valid base64")
		}
		mediaType, data = mt, d
	case strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://"):
		mt, raw, err := b.fetch(param, u.URL)
		if err != nil {
			return contentBlock{}, err
		}
		mediaType, data = mt, base64.StdEncoding.EncodeToString(raw)
	default:
		return contentBlock{}, b.a.invalid(param+".url", "the image URL must be an http(s) URL or a base64 data URL")
	}
	format, ok := imageFormats[baseMediaType(mediaType)]
	if !ok {
		return contentBlock{}, openaiwire.Unsupported(b.a.name, param,
			"bedrock does not accept images of type %q; use png, jpeg, gif or webp", mediaType)
	}
	return contentBlock{Image: &imageBlock{Format: format, Source: bytesSource{Bytes: data}}}, nil
}

// fetch downloads an image the client gave by URL.
func (b *builder) fetch(param, u string) (string, []byte, error) {
	if b.a.images == nil {
		return "", nil, openaiwire.Unsupported(b.a.name, param+".url",
			"this gateway cannot fetch image URLs for bedrock; send the image as a base64 data URL")
	}
	mt, raw, err := b.a.images.FetchImage(b.ctx, u)
	switch {
	case err == nil:
		if t := baseMediaType(mt); t == "" || t == "application/octet-stream" {
			mt = http.DetectContentType(raw)
		}
		return mt, raw, nil
	case b.ctx.Err() != nil:
		return "", nil, fmt.Errorf("bedrock: fetch image: %w", context.Cause(b.ctx))
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		return "", nil, err
	}
	return "", nil, b.a.invalid(param+".url", "could not fetch the image: %v", err)
}

// baseMediaType strips parameters and case from a media type.
func baseMediaType(mt string) string {
	if t, _, err := mime.ParseMediaType(mt); err == nil {
		return t
	}
	return strings.ToLower(strings.TrimSpace(mt))
}

// documentFormats maps document media types to Bedrock's formats.
var documentFormats = map[string]string{
	"application/pdf":    "pdf",
	"text/csv":           "csv",
	"application/msword": "doc",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
	"application/vnd.ms-excel": "xls",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
	"text/html":     "html",
	"text/plain":    "txt",
	"text/markdown": "md",
}

// document translates a file part with inline data into a document block.
func (b *builder) document(param string, f *openaiwire.File) (contentBlock, error) {
	if f == nil || (f.FileData == "" && f.FileID == "") {
		return contentBlock{}, b.a.invalid(param, "a file part needs file.file_data")
	}
	if f.FileData == "" {
		return contentBlock{}, openaiwire.Unsupported(b.a.name, param+".file_id",
			"bedrock cannot read uploaded files by id; send the file inline as file_data")
	}
	mediaType, data, ok := openaiwire.ParseDataURL(f.FileData)
	if !ok {
		data = f.FileData // raw base64; the format comes from the file name
	}
	if _, err := base64.StdEncoding.DecodeString(data); err != nil {
		return contentBlock{}, b.a.invalid(param+".file_data", "the file data is not valid base64")
	}
	format, ok := documentFormats[baseMediaType(mediaType)]
	if !ok {
		ext := strings.ToLower(strings.TrimPrefix(path.Ext(f.Filename), "."))
		for _, v := range documentFormats {
			if v == ext {
				format, ok = v, true
			}
		}
	}
	if !ok {
		return contentBlock{}, openaiwire.Unsupported(b.a.name, param+".file_data",
			"bedrock does not accept documents of this type; use pdf, csv, doc, docx, xls, xlsx, html, txt or md")
	}
	return contentBlock{Document: &documentBlock{Format: format, Name: b.docName(f.Filename), Source: bytesSource{Bytes: data}}}, nil
}

// docName makes a document name Bedrock accepts (letters, digits, single
// spaces, hyphens, parentheses, square brackets) and that is unique in the
// request.
func (b *builder) docName(filename string) string {
	stem := strings.TrimSuffix(filename, path.Ext(filename))
	var sb strings.Builder
	space := false
	for _, r := range stem {
		switch {
		case r == ' ' || r == '\t' || r == '_' || r == '.':
			space = true
			continue
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '-', r == '(', r == ')', r == '[', r == ']':
		default:
			r = '-'
		}
		if space && sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		space = false
		sb.WriteRune(r)
	}
	name := sb.String()
	if name == "" {
		name = "document"
	}
	unique := name
	for n := 2; b.docNames[unique]; n++ {
		unique = name + " (" + strconv.Itoa(n) + ")"
	}
	b.docNames[unique] = true
	return unique
}
