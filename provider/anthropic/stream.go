package anthropic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
	"github.com/tollgate-gw/tollgate/provider/sse"
)

// stream translates one Messages event stream into chat.completion.chunk
// objects, one upstream event at a time. It lives for one request and is
// not safe for concurrent use.
type stream struct {
	a        *Adapter
	reqModel string
	reqBody  []byte
	body     io.ReadCloser
	r        *sse.Reader
	created  int64

	chunks  openaiwire.Chunks
	started bool // message_start seen
	model   string
	usage   usage
	// tools maps the content-block index of each tool_use block to its
	// OpenAI tool-call index (0, 1, … per answer).
	tools    map[int64]int
	nextTool int
	// pendingArgs holds the arguments of a tool_use block that arrived
	// with its input already filled, sent after the block's start chunk.
	pendingArgs    string
	pendingTool    int
	hasPendingArgs bool
	finished       bool // the finish chunk was sent
	complete       bool // the answer ended normally: usage is exact
	usageSent      bool
	// text collects what was generated, for a local count when the
	// stream breaks off.
	text   []byte
	err    error // sticky: returned by every Next after the first
	closed bool
}

var _ provider.Stream = (*stream)(nil)

// Next implements provider.Stream.
func (s *stream) Next() (provider.Chunk, error) {
	if s.err != nil {
		return provider.Chunk{}, s.err
	}
	if s.hasPendingArgs {
		s.hasPendingArgs = false
		return provider.Chunk{Data: s.chunks.ToolCallArgs(0, s.pendingTool, s.pendingArgs)}, nil
	}
	for {
		if s.complete {
			if !s.usageSent {
				s.usageSent = true
				return provider.Chunk{Data: s.chunks.Usage(s.Usage()), UsageOnly: true}, nil
			}
			s.err = io.EOF
			return provider.Chunk{}, io.EOF
		}
		ev, err := s.r.Next()
		if err != nil {
			if err == io.EOF && s.finished {
				// The body ended after message_delta without
				// message_stop: the answer is whole all the same.
				s.complete = true
				continue
			}
			s.err = s.readError(err)
			return provider.Chunk{}, s.err
		}
		data, err := s.translate(ev)
		if err != nil {
			s.err = err
			return provider.Chunk{}, err
		}
		if data != nil {
			return provider.Chunk{Data: data}, nil
		}
	}
}

// readError classifies a failure to read the next event.
func (s *stream) readError(err error) error {
	name := s.a.name
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return &provider.Error{Provider: name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q ended the stream before the answer was complete", name)}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("anthropic: read stream: %w", err)
	case errors.Is(err, sse.ErrEventTooLarge):
		return &provider.Error{Provider: name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q sent an oversized stream event", name), Err: err}
	default:
		return &provider.Error{Provider: name, Kind: provider.KindConnection,
			Message: fmt.Sprintf("lost the connection to provider %q", name), Err: err}
	}
}

// protocolError reports a stream that does not follow Anthropic's event
// grammar.
func (s *stream) protocolError(format string, args ...any) *provider.Error {
	return &provider.Error{Provider: s.a.name, Kind: provider.KindServer,
		Message: fmt.Sprintf("provider %q sent a malformed stream: ", s.a.name) + fmt.Sprintf(format, args...)}
}

// translate turns one event into at most one chunk; nil data means the
// event produces nothing for the client (ping, block boundaries,
// signatures).
func (s *stream) translate(ev sse.Event) ([]byte, error) {
	if !gjson.ValidBytes(ev.Data) {
		return nil, s.protocolError("an event is not JSON")
	}
	root := gjson.Parse(view(ev.Data))
	typ := root.Get("type").Str
	if typ == "" {
		typ = ev.Event
	}
	switch typ {
	case "ping":
		return nil, nil
	case "error":
		return nil, s.a.streamError(readAPIError(root.Get("error")))
	case "message_start":
		return s.start(root.Get("message")), nil
	}
	if !s.started {
		return nil, s.protocolError("%q before message_start", typ)
	}
	switch typ {
	case "content_block_start":
		return s.blockStart(root.Get("index").Int(), root.Get("content_block")), nil
	case "content_block_delta":
		return s.delta(root.Get("index").Int(), root.Get("delta")), nil
	case "message_delta":
		s.applyUsage(root.Get("usage"))
		if s.finished {
			return nil, nil
		}
		s.finished = true
		return s.chunks.Finish(0, finishReason(root.Get("delta.stop_reason").Str)), nil
	case "message_stop":
		s.complete = true
		if !s.finished {
			s.finished = true
			return s.chunks.Finish(0, openaiwire.FinishStop), nil
		}
	}
	// content_block_stop and event types added after this adapter.
	return nil, nil
}

// start reads message_start: the answer's id, model and input usage; it
// yields the role chunk.
func (s *stream) start(msg gjson.Result) []byte {
	if s.started {
		return nil
	}
	s.started = true
	s.model = strings.Clone(msg.Get("model").Str)
	s.chunks = openaiwire.Chunks{ID: strings.Clone(msg.Get("id").Str), Created: s.created, Model: s.model}
	s.applyUsage(msg.Get("usage"))
	return s.chunks.Role(0)
}

// blockStart opens a content block: a tool_use block yields the tool
// call's first chunk (id and name); text and thinking blocks wait for
// their deltas unless they start with text.
func (s *stream) blockStart(index int64, cb gjson.Result) []byte {
	switch cb.Get("type").Str {
	case blockText:
		return s.content(cb.Get("text").Str)
	case blockThinking:
		return s.reasoning(cb.Get("thinking").Str)
	case blockToolUse:
		if s.tools == nil {
			s.tools = make(map[int64]int)
		}
		t := s.nextTool
		s.nextTool++
		s.tools[index] = t
		id, name := cb.Get("id").Str, cb.Get("name").Str
		s.text = append(s.text, name...)
		if in := cb.Get("input"); in.IsObject() && !isEmptyObject(in) {
			s.pendingArgs = compactArguments([]byte(in.Raw))
			s.pendingTool, s.hasPendingArgs = t, true
			s.text = append(s.text, s.pendingArgs...)
		}
		return s.chunks.ToolCallStart(0, t, id, name)
	}
	// redacted_thinking and server-tool blocks are not translated.
	return nil
}

// delta translates a content_block_delta. Empty fragments, signatures and
// citations yield nothing; input_json_delta fragments are forwarded as
// they came, only for tool_use blocks.
func (s *stream) delta(index int64, d gjson.Result) []byte {
	switch d.Get("type").Str {
	case "text_delta":
		return s.content(d.Get("text").Str)
	case "thinking_delta":
		return s.reasoning(d.Get("thinking").Str)
	case "input_json_delta":
		t, ok := s.tools[index]
		frag := d.Get("partial_json").Str
		if !ok || frag == "" {
			return nil
		}
		s.text = append(s.text, frag...)
		return s.chunks.ToolCallArgs(0, t, frag)
	}
	return nil
}

// content is a text chunk, nil for empty text.
func (s *stream) content(text string) []byte {
	if text == "" {
		return nil
	}
	s.text = append(s.text, text...)
	return s.chunks.Content(0, text)
}

// reasoning is a reasoning_content chunk, nil for empty text.
func (s *stream) reasoning(text string) []byte {
	if text == "" {
		return nil
	}
	s.text = append(s.text, text...)
	return s.chunks.Reasoning(0, text)
}

// applyUsage takes the usage fields an event carries. Values are
// cumulative: present fields replace what was known, absent ones leave it.
func (s *stream) applyUsage(u gjson.Result) {
	if !u.IsObject() {
		return
	}
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "input_tokens":
			s.usage.InputTokens = int(v.Int())
		case "output_tokens":
			s.usage.OutputTokens = int(v.Int())
		case "cache_creation_input_tokens":
			s.usage.CacheCreationInputTokens = int(v.Int())
		case "cache_read_input_tokens":
			s.usage.CacheReadInputTokens = int(v.Int())
		case "output_tokens_details":
			if v.IsObject() {
				s.usage.OutputTokensDetails = &outputTokensDetails{
					ThinkingTokens:  int(v.Get("thinking_tokens").Int()),
					ReasoningTokens: int(v.Get("reasoning_tokens").Int()),
				}
			}
		}
		return true
	})
}

// Usage implements provider.Stream. After a complete answer it is
// Anthropic's figure. Before that, or after the stream broke off, the
// prompt is what message_start reported (counted locally if it never
// came) and the completion the larger of Anthropic's provisional count and
// a local count of what was generated, marked Estimated.
func (s *stream) Usage() provider.Usage {
	u := convertUsage(s.usage)
	if s.complete {
		return u
	}
	u.Estimated = true
	if !s.started {
		u.PromptTokens = s.a.tokens.CountChat(s.reqModel, s.reqBody)
	}
	if len(s.text) > 0 {
		model := s.model
		if model == "" {
			model = s.reqModel
		}
		u.CompletionTokens = max(u.CompletionTokens, s.a.tokens.CountText(model, string(s.text)))
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
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
	if s.err == nil {
		s.err = errors.New("anthropic: stream closed")
	}
	return err
}

// readAPIError reads the error object of a stream error event.
func readAPIError(e gjson.Result) *apiError {
	out := &apiError{Type: strings.Clone(e.Get("type").Str), Message: strings.Clone(e.Get("message").Str)}
	if c := e.Get("details.error_code"); c.Exists() {
		out.Details = &errorDetails{ErrorCode: strings.Clone(c.Str)}
	}
	return out
}

// isEmptyObject reports whether o is {} (with any spacing).
func isEmptyObject(o gjson.Result) bool {
	empty := true
	o.ForEach(func(_, _ gjson.Result) bool {
		empty = false
		return false
	})
	return empty
}

// view returns b as a string without copying. The string must not be kept
// beyond the lifetime of b's contents; values that outlive the call are
// copied explicitly.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
