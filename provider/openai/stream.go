package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/sse"
)

// stream reads an OpenAI chunk stream. It lives for one request and is not
// safe for concurrent use.
type stream struct {
	a        *Adapter
	reqModel string
	reqBody  []byte
	body     io.ReadCloser
	r        *sse.Reader

	model     string
	usage     provider.Usage
	haveUsage bool
	// text collects what was generated, for a local count when the
	// upstream reports no usage or the stream breaks off.
	text     []byte
	finished bool
	done     bool
	closed   bool
}

var _ provider.Stream = (*stream)(nil)

func newStream(a *Adapter, req *provider.ChatRequest, resp *http.Response) *stream {
	r, _ := a.readers.Get().(*sse.Reader)
	if r == nil {
		r = sse.NewReader(resp.Body)
	} else {
		r.Reset(resp.Body)
	}
	return &stream{
		a:        a,
		reqModel: req.Model,
		reqBody:  req.Body,
		body:     resp.Body,
		r:        r,
	}
}

var doneMarker = []byte("[DONE]")

// Next implements provider.Stream.
func (s *stream) Next() (provider.Chunk, error) {
	for {
		if s.done {
			return provider.Chunk{}, io.EOF
		}
		ev, err := s.r.Next()
		if err != nil {
			return provider.Chunk{}, s.readError(err)
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		if bytes.Equal(data, doneMarker) {
			s.done = true
			return provider.Chunk{}, io.EOF
		}
		c, err := s.inspect(data)
		if err != nil {
			s.done = true
			return provider.Chunk{}, err
		}
		return c, nil
	}
}

// readError classifies a failure to read the next event.
func (s *stream) readError(err error) error {
	s.done = true
	switch {
	case err == io.EOF && s.finished:
		// Some servers end the body without [DONE] after the finish chunk.
		return io.EOF
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return &provider.Error{Provider: s.a.name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q ended the stream before the answer was complete", s.a.name)}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("openai: read stream: %w", err)
	case errors.Is(err, sse.ErrEventTooLarge):
		return &provider.Error{Provider: s.a.name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q sent an oversized stream event", s.a.name), Err: err}
	default:
		return &provider.Error{Provider: s.a.name, Kind: provider.KindConnection,
			Message: fmt.Sprintf("lost the connection to provider %q", s.a.name), Err: err}
	}
}

// inspect reads what the gateway needs out of one chunk in a single pass:
// the model, the usage, whether it is the usage-only chunk, the generated
// text, and a finish reason. An error object becomes a provider.Error.
func (s *stream) inspect(data []byte) (provider.Chunk, error) {
	if !gjson.ValidBytes(data) {
		return provider.Chunk{}, &provider.Error{Provider: s.a.name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q sent a stream event that is not JSON", s.a.name)}
	}
	var (
		errObj     gjson.Result
		hasChoices bool
		content    bool
		usage      gjson.Result
	)
	gjson.Parse(view(data)).ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "model":
			if s.model == "" && value.Str != "" {
				s.model = string([]byte(value.Str)) // copy: data is reused
			}
		case "usage":
			usage = value
		case "choices":
			hasChoices = true
			value.ForEach(func(_, choice gjson.Result) bool {
				if s.collect(choice) {
					content = true
				}
				return true
			})
		case "error":
			errObj = value
		}
		return true
	})
	if errObj.IsObject() || (errObj.Type == gjson.String && !hasChoices) {
		// An error object ends the stream, even beside choices (OpenRouter
		// sends one with finish_reason "error").
		return provider.Chunk{}, s.a.bodyError(midStreamStatus(errObj), nil, errObj)
	}
	c := provider.Chunk{Data: data}
	if u, ok := parseUsage(usage); ok {
		s.usage, s.haveUsage = u, true
		// OpenAI sends usage with empty choices; OpenRouter with one empty
		// delta. Either way the chunk says nothing but usage.
		c.UsageOnly = !content
	}
	return c, nil
}

// collect appends a choice delta's generated text and notes its finish.
// It reports whether the choice carries anything beyond a role: text, a
// tool call or a finish reason.
func (s *stream) collect(choice gjson.Result) bool {
	content := false
	choice.ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "delta":
			value.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "content", "reasoning_content", "reasoning", "refusal":
					s.text = append(s.text, v.Str...)
					content = content || v.Str != ""
				case "tool_calls":
					content = true
					v.ForEach(func(_, tc gjson.Result) bool {
						fn := tc.Get("function")
						s.text = append(s.text, fn.Get("name").Str...)
						s.text = append(s.text, fn.Get("arguments").Str...)
						return true
					})
				}
				return true
			})
		case "finish_reason":
			if value.Str != "" {
				s.finished = true
				content = true
			}
		}
		return true
	})
	return content
}

// midStreamStatus picks the status a mid-stream error stands for: its
// numeric code when that is an HTTP status (OpenRouter), else 500.
func midStreamStatus(e gjson.Result) int {
	if c := e.Get("code"); c.Type == gjson.Number && c.Int() >= 400 && c.Int() < 600 {
		return int(c.Int())
	}
	return http.StatusInternalServerError
}

// Usage implements provider.Stream.
func (s *stream) Usage() provider.Usage {
	if s.haveUsage {
		return s.usage
	}
	return s.a.estimate(s.reqModel, s.reqBody, string(s.text))
}

// Model implements provider.Stream.
func (s *stream) Model() string { return s.model }

// Close implements provider.Stream.
func (s *stream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.body.Close()
	s.r.Reset(nil)
	s.a.readers.Put(s.r)
	s.r = nil
	return err
}

// view returns b as a string without copying. The string must not be kept
// beyond the lifetime of b's contents; values that outlive the call are
// copied explicitly.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
