package anthropic

import (
	"strconv"
	"strings"

	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// messages translates the conversation. System and developer messages go
// to the top-level system prompt, in order; tool messages become
// tool_result blocks of a user turn; consecutive turns of one role are
// merged, since Anthropic wants user and assistant turns to alternate.
func (t *translator) messages(msgs []openaiwire.Message) error {
	for i, m := range msgs {
		var (
			role   string
			blocks []block
			err    error
		)
		switch m.Role {
		case "system", "developer":
			if blocks, err = t.systemBlocks(i, m.Content); err != nil {
				return err
			}
			t.out.System = append(t.out.System, blocks...)
			continue
		case "user":
			role = "user"
			blocks, err = t.userBlocks(i, m.Content)
		case "assistant":
			role = "assistant"
			blocks, err = t.assistantBlocks(i, m)
		case "tool":
			role = "user"
			blocks = []block{{Type: blockToolResult, ToolUseID: m.ToolCallID, Content: m.Content.PlainText()}}
		default:
			return openaiwire.Unsupported(t.name, param(i, "role"), "Message role %q is not supported for Anthropic models.", m.Role)
		}
		if err != nil {
			return err
		}
		t.appendTurn(role, blocks)
	}
	return nil
}

// appendTurn adds blocks as a turn of role, merged into the previous turn
// when that has the same role. In a user turn, tool results come before
// anything else.
func (t *translator) appendTurn(role string, blocks []block) {
	if len(blocks) == 0 {
		return
	}
	msgs := t.out.Messages
	if n := len(msgs); n > 0 && msgs[n-1].Role == role {
		last := &msgs[n-1]
		last.Content = append(last.Content, blocks...)
		if role == "user" {
			toolResultsFirst(last.Content)
		}
		return
	}
	t.out.Messages = append(msgs, message{Role: role, Content: blocks})
}

// toolResultsFirst moves the tool_result blocks of a user turn to its
// front, keeping the order within both groups.
func toolResultsFirst(blocks []block) {
	var results, others []block
	for _, b := range blocks {
		if b.Type == blockToolResult {
			results = append(results, b)
		} else {
			others = append(others, b)
		}
	}
	if len(results) == 0 || len(others) == 0 {
		return
	}
	copy(blocks, results)
	copy(blocks[len(results):], others)
}

// systemBlocks returns a system or developer message's text blocks.
func (t *translator) systemBlocks(i int, c openaiwire.Content) ([]block, error) {
	if !c.IsParts {
		return textBlock(nil, c.Text), nil
	}
	var out []block
	for j, p := range c.Parts {
		if p.Type != "text" {
			return nil, openaiwire.Unsupported(t.name, partParam(i, j, "type"),
				"System messages for Anthropic models may hold only text, not %q.", p.Type)
		}
		out = textBlock(out, p.Text)
	}
	return out, nil
}

// userBlocks translates a user message's text, images and PDF files.
func (t *translator) userBlocks(i int, c openaiwire.Content) ([]block, error) {
	if !c.IsParts {
		return textBlock(nil, c.Text), nil
	}
	var out []block
	for j, p := range c.Parts {
		switch p.Type {
		case "text":
			out = textBlock(out, p.Text)
		case "image_url":
			b, err := t.image(i, j, p.ImageURL)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		case "file":
			b, err := t.file(i, j, p.File)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		default:
			return nil, openaiwire.Unsupported(t.name, partParam(i, j, "type"),
				"Content parts of type %q are not supported for Anthropic models.", p.Type)
		}
	}
	return out, nil
}

// image translates an image part: a data URL becomes inline base64 data,
// an http(s) URL a url source that Anthropic fetches itself.
func (t *translator) image(i, j int, img *openaiwire.ImageURL) (block, error) {
	p := partParam(i, j, "image_url.url")
	if img == nil || img.URL == "" {
		return block{}, invalidValue(t.name, p, "An image_url part needs a url.")
	}
	if mediaType, data, ok := openaiwire.ParseDataURL(img.URL); ok {
		mediaType = strings.ToLower(mediaType)
		if mediaType == "image/jpg" {
			mediaType = "image/jpeg"
		}
		switch mediaType {
		case "image/jpeg", "image/png", "image/gif", "image/webp":
		default:
			return block{}, openaiwire.Unsupported(t.name, p,
				"Anthropic accepts JPEG, PNG, GIF and WebP images, not %q.", mediaType)
		}
		return block{Type: blockImage, Source: &source{Type: "base64", MediaType: mediaType, Data: data}}, nil
	}
	if strings.HasPrefix(img.URL, "https://") || strings.HasPrefix(img.URL, "http://") {
		return block{Type: blockImage, Source: &source{Type: "url", URL: img.URL}}, nil
	}
	return block{}, invalidValue(t.name, p, "An image url must be an http(s) URL or a base64 data URL.")
}

// file translates a file part holding inline PDF data into a document
// block. Uploaded file ids and other file types have no equivalent.
func (t *translator) file(i, j int, f *openaiwire.File) (block, error) {
	switch {
	case f == nil || (f.FileData == "" && f.FileID == ""):
		return block{}, invalidValue(t.name, partParam(i, j, "file"), "A file part needs file_data.")
	case f.FileData == "":
		return block{}, openaiwire.Unsupported(t.name, partParam(i, j, "file.file_id"),
			"Uploaded files are not available to Anthropic models; send the file inline as file_data.")
	}
	mediaType, data, ok := openaiwire.ParseDataURL(f.FileData)
	if !ok && strings.HasSuffix(strings.ToLower(f.Filename), ".pdf") {
		mediaType, data, ok = "application/pdf", f.FileData, true
	}
	if !ok || !strings.EqualFold(mediaType, "application/pdf") {
		return block{}, openaiwire.Unsupported(t.name, partParam(i, j, "file.file_data"),
			"Anthropic models accept PDF files only, as a base64 data URL.")
	}
	return block{Type: blockDocument, Source: &source{Type: "base64", MediaType: "application/pdf", Data: data}}, nil
}

// assistantBlocks translates an assistant message: its text (a refusal
// counts as text: it is what the assistant said), then one
// tool_use block per tool call with the call's id kept and its arguments
// parsed into a JSON object.
func (t *translator) assistantBlocks(i int, m openaiwire.Message) ([]block, error) {
	var out []block
	if m.Content.IsParts {
		for _, p := range m.Content.Parts {
			switch p.Type {
			case "text":
				out = textBlock(out, p.Text)
			case "refusal":
				out = textBlock(out, p.Refusal)
			}
		}
	} else {
		out = textBlock(out, m.Content.Text)
	}
	out = textBlock(out, m.Refusal)
	for j, tc := range m.ToolCalls {
		input, err := openaiwire.ParseArguments(tc.Function.Arguments)
		if err != nil {
			p := param(i, "tool_calls["+strconv.Itoa(j)+"].function.arguments")
			return nil, invalidValue(t.name, p, "Invalid '%s': the arguments of a tool call must be a JSON object.", p)
		}
		out = append(out, block{Type: blockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return out, nil
}

// textBlock appends a text block unless text is empty: Anthropic rejects
// empty text blocks.
func textBlock(out []block, text string) []block {
	if text == "" {
		return out
	}
	return append(out, block{Type: blockText, Text: text})
}

// param names a field of message i: messages[i].field.
func param(i int, field string) string {
	return "messages[" + strconv.Itoa(i) + "]." + field
}

// partParam names a field of content part j of message i.
func partParam(i, j int, field string) string {
	return param(i, "content["+strconv.Itoa(j)+"]."+field)
}
