package api

import (
	"math"
	"strconv"
	"unsafe"

	"github.com/tidwall/gjson"
)

// chatParams is what the gateway itself reads from a chat request; the
// rest of the body travels to the upstream untouched.
type chatParams struct {
	Model        string
	Stream       bool
	IncludeUsage bool
	// MaxTokens is max_completion_tokens, else max_tokens; 0 when absent.
	MaxTokens int64
}

// view returns b as a string without copying; b must not change while the
// string is in use, and strings kept beyond the call are cloned.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// parseChat checks a chat completion request the way OpenAI does, in one
// pass over the JSON, and returns the fields the gateway uses. Every
// failure names the offending parameter.
func parseChat(body []byte) (chatParams, *Error) {
	var p chatParams
	root, e := parseObject(body)
	if e != nil {
		return p, e
	}
	var (
		err                    *Error
		sawMessages            bool
		streamOptions          gjson.Result
		maxTokens, maxComplete int64
	)
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			if v.Type != gjson.String || v.Str == "" {
				err = invalid("model", "invalid_type", "'model' must be a non-empty string.")
			} else {
				p.Model = string([]byte(v.Str))
			}
		case "messages":
			sawMessages = true
			err = checkMessages(v)
		case "stream":
			err = wantBool("stream", v)
			p.Stream = v.Type == gjson.True
		case "stream_options":
			streamOptions = v
			err = checkStreamOptions(v)
		case "max_tokens":
			maxTokens, err = wantInt("max_tokens", v, 1, math.MaxInt32)
		case "max_completion_tokens":
			maxComplete, err = wantInt("max_completion_tokens", v, 1, math.MaxInt32)
		default:
			err = checkGeneration(k.Str, v)
		}
		return err == nil
	})
	switch {
	case err != nil:
		return p, err
	case p.Model == "":
		return p, invalid("model", "missing_required_parameter", "You must provide a model parameter.")
	case !sawMessages:
		return p, invalid("messages", "missing_required_parameter", "Missing required parameter: 'messages'.")
	}
	if streamOptions.IsObject() {
		if !p.Stream {
			return p, invalid("stream_options", "invalid_value", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		}
		p.IncludeUsage = streamOptions.Get("include_usage").Type == gjson.True
	}
	p.MaxTokens = maxComplete
	if p.MaxTokens == 0 {
		p.MaxTokens = maxTokens
	}
	return p, nil
}

// parseObject checks that body is one JSON object.
func parseObject(body []byte) (gjson.Result, *Error) {
	if len(body) == 0 {
		return gjson.Result{}, invalid("", "invalid_json", "The request body is empty; it must be a JSON object.")
	}
	if !gjson.ValidBytes(body) {
		return gjson.Result{}, invalid("", "invalid_json", "We could not parse the JSON body of your request. It must be a valid JSON object.")
	}
	root := gjson.Parse(view(body))
	if !root.IsObject() {
		return gjson.Result{}, invalid("", "invalid_json", "The request body must be a JSON object.")
	}
	return root, nil
}

// checkGeneration validates the sampling and output fields the gateway
// knows; unknown fields pass through untouched.
func checkGeneration(key string, v gjson.Result) *Error {
	switch key {
	case "temperature":
		return wantNumber(key, v, 0, 2)
	case "top_p":
		return wantNumber(key, v, 0, 1)
	case "presence_penalty", "frequency_penalty":
		return wantNumber(key, v, -2, 2)
	case "n":
		_, err := wantInt(key, v, 1, 128)
		return err
	case "seed":
		_, err := wantInt(key, v, math.MinInt64, math.MaxInt64)
		return err
	case "top_logprobs":
		_, err := wantInt(key, v, 0, 20)
		return err
	case "logprobs", "parallel_tool_calls":
		return wantBool(key, v)
	case "user":
		return wantString(key, v)
	case "stop":
		return checkStop(v)
	case "tools":
		return checkTools(v)
	case "tool_choice":
		return checkToolChoice(v)
	case "response_format":
		return checkResponseFormat(v)
	}
	return nil
}

func typeName(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		return "a string"
	case gjson.Number:
		return "a number"
	case gjson.True, gjson.False:
		return "a boolean"
	case gjson.Null:
		return "null"
	}
	if v.IsArray() {
		return "an array"
	}
	return "an object"
}

func wantBool(param string, v gjson.Result) *Error {
	if v.Type == gjson.True || v.Type == gjson.False || v.Type == gjson.Null {
		return nil
	}
	return invalid(param, "invalid_type", "Invalid type for '%s': expected a boolean, but got %s instead.", param, typeName(v))
}

func wantString(param string, v gjson.Result) *Error {
	if v.Type == gjson.String || v.Type == gjson.Null {
		return nil
	}
	return invalid(param, "invalid_type", "Invalid type for '%s': expected a string, but got %s instead.", param, typeName(v))
}

func wantNumber(param string, v gjson.Result, lo, hi float64) *Error {
	if v.Type == gjson.Null {
		return nil
	}
	if v.Type != gjson.Number {
		return invalid(param, "invalid_type", "Invalid type for '%s': expected a number, but got %s instead.", param, typeName(v))
	}
	if f := v.Float(); f < lo || f > hi || math.IsNaN(f) {
		return invalid(param, "invalid_value", "Invalid value for '%s': %s is outside the range %g to %g.", param, v.Raw, lo, hi)
	}
	return nil
}

// wantInt checks an integer in [lo, hi]; null counts as absent (0).
func wantInt(param string, v gjson.Result, lo, hi int64) (int64, *Error) {
	if v.Type == gjson.Null {
		return 0, nil
	}
	if v.Type != gjson.Number {
		return 0, invalid(param, "invalid_type", "Invalid type for '%s': expected an integer, but got %s instead.", param, typeName(v))
	}
	n, err := strconv.ParseInt(v.Raw, 10, 64)
	if err != nil {
		f := v.Float()
		if f != math.Trunc(f) || f < -9.2e18 || f > 9.2e18 {
			return 0, invalid(param, "invalid_type", "Invalid type for '%s': expected an integer, but got %s.", param, v.Raw)
		}
		n = int64(f)
	}
	if n < lo || n > hi {
		return 0, invalid(param, "invalid_value", "Invalid value for '%s': %d is outside the range %d to %d.", param, n, lo, hi)
	}
	return n, nil
}

func checkStreamOptions(v gjson.Result) *Error {
	if v.Type == gjson.Null {
		return nil
	}
	if !v.IsObject() {
		return invalid("stream_options", "invalid_type", "Invalid type for 'stream_options': expected an object, but got %s instead.", typeName(v))
	}
	return wantBool("stream_options.include_usage", v.Get("include_usage"))
}

func checkStop(v gjson.Result) *Error {
	switch {
	case v.Type == gjson.Null || v.Type == gjson.String:
		return nil
	case v.IsArray():
		var err *Error
		i := 0
		v.ForEach(func(_, s gjson.Result) bool {
			if s.Type != gjson.String {
				err = invalid("stop["+strconv.Itoa(i)+"]", "invalid_type", "Invalid type for 'stop[%d]': expected a string, but got %s instead.", i, typeName(s))
			}
			i++
			return err == nil
		})
		return err
	}
	return invalid("stop", "invalid_type", "Invalid type for 'stop': expected a string or an array of strings, but got %s instead.", typeName(v))
}
