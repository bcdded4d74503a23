package api

import (
	"regexp"
	"strconv"

	"github.com/tidwall/gjson"
)

// functionName is OpenAI's rule for tool and schema names.
var functionName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// checkMessages validates the messages array: roles, content shapes, tool
// calls and tool results.
func checkMessages(v gjson.Result) *Error {
	if !v.IsArray() {
		return invalid("messages", "invalid_type", "Invalid type for 'messages': expected an array, but got %s instead.", typeName(v))
	}
	var err *Error
	i := 0
	v.ForEach(func(_, m gjson.Result) bool {
		err = checkMessage("messages["+strconv.Itoa(i)+"]", m)
		i++
		return err == nil
	})
	if err == nil && i == 0 {
		return invalid("messages", "invalid_value", "Invalid 'messages': empty array. Expected an array with minimum length 1.")
	}
	return err
}

func checkMessage(at string, m gjson.Result) *Error {
	if !m.IsObject() {
		return invalid(at, "invalid_type", "Invalid type for '%s': expected an object, but got %s instead.", at, typeName(m))
	}
	var role, content, toolCalls, toolCallID, name gjson.Result
	m.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "role":
			role = v
		case "content":
			content = v
		case "tool_calls":
			toolCalls = v
		case "tool_call_id":
			toolCallID = v
		case "name":
			name = v
		}
		return true
	})
	if role.Type != gjson.String {
		return invalid(at+".role", "missing_required_parameter", "Missing required parameter: '%s.role'.", at)
	}
	if name.Exists() && name.Type != gjson.String {
		return invalid(at+".name", "invalid_type", "Invalid type for '%s.name': expected a string.", at)
	}
	switch role.Str {
	case "system", "developer":
		return checkContent(at, content, true, false)
	case "user":
		return checkContent(at, content, true, true)
	case "assistant":
		if err := checkContent(at, content, false, false); err != nil {
			return err
		}
		return checkToolCalls(at+".tool_calls", toolCalls)
	case "tool":
		if toolCallID.Type != gjson.String || toolCallID.Str == "" {
			return invalid(at+".tool_call_id", "missing_required_parameter", "Missing required parameter: '%s.tool_call_id'.", at)
		}
		return checkContent(at, content, true, false)
	case "function":
		if name.Type != gjson.String {
			return invalid(at+".name", "missing_required_parameter", "Missing required parameter: '%s.name'.", at)
		}
		return checkContent(at, content, false, false)
	}
	return invalid(at+".role", "invalid_value",
		"Invalid value for '%s.role': '%s'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'.", at, role.Str)
}

// checkContent validates a message's content: a string, an array of parts,
// or (when not required) null or absent. Only user messages may carry
// parts other than text.
func checkContent(at string, c gjson.Result, required, media bool) *Error {
	at += ".content"
	switch {
	case !c.Exists() || c.Type == gjson.Null:
		if required {
			return invalid(at, "missing_required_parameter", "Missing required parameter: '%s'.", at)
		}
		return nil
	case c.Type == gjson.String:
		return nil
	case !c.IsArray():
		return invalid(at, "invalid_type", "Invalid type for '%s': expected a string or an array of content parts, but got %s instead.", at, typeName(c))
	}
	var err *Error
	i := 0
	c.ForEach(func(_, part gjson.Result) bool {
		err = checkPart(at+"["+strconv.Itoa(i)+"]", part, media)
		i++
		return err == nil
	})
	return err
}

func checkPart(at string, part gjson.Result, media bool) *Error {
	if !part.IsObject() {
		return invalid(at, "invalid_type", "Invalid type for '%s': expected an object, but got %s instead.", at, typeName(part))
	}
	t := part.Get("type")
	switch {
	case t.Str == "text":
		if part.Get("text").Type != gjson.String {
			return invalid(at+".text", "missing_required_parameter", "Missing required parameter: '%s.text'.", at)
		}
		return nil
	case t.Str == "refusal":
		return nil
	case media && t.Str == "image_url":
		u := part.Get("image_url.url")
		if u.Type != gjson.String || u.Str == "" {
			return invalid(at+".image_url.url", "missing_required_parameter", "Missing required parameter: '%s.image_url.url'.", at)
		}
		return nil
	case media && t.Str == "input_audio":
		if !part.Get("input_audio").IsObject() {
			return invalid(at+".input_audio", "missing_required_parameter", "Missing required parameter: '%s.input_audio'.", at)
		}
		return nil
	case media && t.Str == "file":
		if !part.Get("file").IsObject() {
			return invalid(at+".file", "missing_required_parameter", "Missing required parameter: '%s.file'.", at)
		}
		return nil
	case t.Type != gjson.String:
		return invalid(at+".type", "missing_required_parameter", "Missing required parameter: '%s.type'.", at)
	}
	return invalid(at+".type", "invalid_value", "Invalid value for '%s.type': '%s' is not a supported content part here.", at, t.Str)
}

func checkToolCalls(at string, v gjson.Result) *Error {
	if !v.Exists() || v.Type == gjson.Null {
		return nil
	}
	if !v.IsArray() {
		return invalid(at, "invalid_type", "Invalid type for '%s': expected an array, but got %s instead.", at, typeName(v))
	}
	var err *Error
	i := 0
	v.ForEach(func(_, tc gjson.Result) bool {
		p := at + "[" + strconv.Itoa(i) + "]"
		i++
		switch {
		case !tc.IsObject():
			err = invalid(p, "invalid_type", "Invalid type for '%s': expected an object.", p)
		case tc.Get("id").Type != gjson.String:
			err = invalid(p+".id", "missing_required_parameter", "Missing required parameter: '%s.id'.", p)
		case tc.Get("type").Str == "function" && tc.Get("function.name").Type != gjson.String:
			err = invalid(p+".function.name", "missing_required_parameter", "Missing required parameter: '%s.function.name'.", p)
		case tc.Get("type").Str == "function" && tc.Get("function.arguments").Type != gjson.String:
			err = invalid(p+".function.arguments", "invalid_type", "Invalid type for '%s.function.arguments': expected a JSON-encoded string.", p)
		}
		return err == nil
	})
	return err
}

func checkTools(v gjson.Result) *Error {
	if v.Type == gjson.Null {
		return nil
	}
	if !v.IsArray() {
		return invalid("tools", "invalid_type", "Invalid type for 'tools': expected an array, but got %s instead.", typeName(v))
	}
	var err *Error
	i := 0
	v.ForEach(func(_, t gjson.Result) bool {
		p := "tools[" + strconv.Itoa(i) + "]"
		i++
		typ := t.Get("type")
		switch {
		case !t.IsObject():
			err = invalid(p, "invalid_type", "Invalid type for '%s': expected an object.", p)
		case typ.Type != gjson.String:
			err = invalid(p+".type", "missing_required_parameter", "Missing required parameter: '%s.type'.", p)
		case typ.Str != "function":
			// custom and future tool types go to OpenAI untouched.
		case !functionName.MatchString(t.Get("function.name").Str):
			err = invalid(p+".function.name", "invalid_value",
				"Invalid '%s.function.name': a function name must be 1 to 64 letters, digits, underscores or dashes.", p)
		case t.Get("function.parameters").Exists() && !t.Get("function.parameters").IsObject():
			err = invalid(p+".function.parameters", "invalid_type", "Invalid type for '%s.function.parameters': expected an object (a JSON Schema).", p)
		}
		return err == nil
	})
	return err
}

func checkToolChoice(v gjson.Result) *Error {
	switch {
	case v.Type == gjson.Null:
		return nil
	case v.Type == gjson.String:
		switch v.Str {
		case "none", "auto", "required":
			return nil
		}
		return invalid("tool_choice", "invalid_value", "Invalid value for 'tool_choice': '%s'. Supported values are: 'none', 'auto' and 'required', or an object naming a function.", v.Str)
	case v.IsObject():
		if v.Get("type").Type != gjson.String {
			return invalid("tool_choice.type", "missing_required_parameter", "Missing required parameter: 'tool_choice.type'.")
		}
		if v.Get("type").Str == "function" && v.Get("function.name").Type != gjson.String {
			return invalid("tool_choice.function.name", "missing_required_parameter", "Missing required parameter: 'tool_choice.function.name'.")
		}
		return nil
	}
	return invalid("tool_choice", "invalid_type", "Invalid type for 'tool_choice': expected a string or an object, but got %s instead.", typeName(v))
}

func checkResponseFormat(v gjson.Result) *Error {
	if v.Type == gjson.Null {
		return nil
	}
	if !v.IsObject() {
		return invalid("response_format", "invalid_type", "Invalid type for 'response_format': expected an object, but got %s instead.", typeName(v))
	}
	switch t := v.Get("type"); t.Str {
	case "text", "json_object":
		return nil
	case "json_schema":
		js := v.Get("json_schema")
		if !js.IsObject() {
			return invalid("response_format.json_schema", "missing_required_parameter", "Missing required parameter: 'response_format.json_schema'.")
		}
		if !functionName.MatchString(js.Get("name").Str) {
			return invalid("response_format.json_schema.name", "invalid_value",
				"Invalid 'response_format.json_schema.name': it must be 1 to 64 letters, digits, underscores or dashes.")
		}
		if s := js.Get("schema"); s.Exists() && !s.IsObject() {
			return invalid("response_format.json_schema.schema", "invalid_type", "Invalid type for 'response_format.json_schema.schema': expected an object.")
		}
		return nil
	default:
		if t.Type != gjson.String {
			return invalid("response_format.type", "missing_required_parameter", "Missing required parameter: 'response_format.type'.")
		}
		return invalid("response_format.type", "invalid_value", "Invalid value for 'response_format.type': '%s'. Supported values are: 'text', 'json_object' and 'json_schema'.", t.Str)
	}
}
