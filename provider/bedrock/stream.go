package bedrock

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// maxFrameBytes bounds one event-stream frame; AWS frames are at most
// 16 MiB (headers and payload).
const maxFrameBytes = 16<<20 + 128<<10

// minFrameBytes is a frame without headers or payload: prelude, prelude
// CRC and message CRC.
const minFrameBytes = 16

// stream translates a ConverseStream event stream into OpenAI chunks. It
// lives for one request and is not safe for concurrent use.
type stream struct {
	a        *Adapter
	reqModel string
	reqBody  []byte
	jsonTool string
	body     io.ReadCloser
	r        *bufio.Reader
	dec      *eventstream.Decoder
	payload  []byte
	chunks   openaiwire.Chunks

	// tools maps a content block index to its OpenAI tool-call index, or
	// to -1 for the forced response_format tool, whose input is content.
	tools     map[int]int
	toolCount int
	// pending is an event read while the role chunk had yet to be sent.
	pending *event
	// text collects what was generated, for a local count when the
	// stream breaks off before the usage arrived.
	text []byte
	// err is the failure that ended the stream, returned by every later
	// call of Next.
	err error

	usage                         provider.Usage
	haveUsage, roleSent, finished bool
	usageSent, done, closed       bool
}

// event is one decoded frame.
type event struct {
	typ string
	ev  streamEvent
}

var _ provider.Stream = (*stream)(nil)

func newStream(a *Adapter, req *provider.ChatRequest, jsonTool string, body io.ReadCloser) *stream {
	return &stream{
		a:        a,
		reqModel: req.Model,
		reqBody:  req.Body,
		jsonTool: jsonTool,
		body:     body,
		r:        bufio.NewReader(body),
		dec:      eventstream.NewDecoder(),
		chunks:   openaiwire.Chunks{ID: a.newID("chatcmpl-"), Created: a.now().Unix(), Model: req.Model},
		tools:    map[int]int{},
	}
}

// Next implements provider.Stream.
func (s *stream) Next() (provider.Chunk, error) {
	for {
		if s.err != nil {
			return provider.Chunk{}, s.err
		}
		if s.done {
			return provider.Chunk{}, io.EOF
		}
		var ev *event
		if s.pending != nil {
			ev, s.pending = s.pending, nil
		} else {
			var err error
			if ev, err = s.read(); err != nil {
				s.done = true
				if err == io.EOF {
					return s.end()
				}
				s.err = err
				return provider.Chunk{}, err
			}
		}
		if !s.roleSent && ev.typ != "metadata" {
			s.roleSent = true
			if ev.typ != "messageStart" {
				s.pending = ev
			}
			return provider.Chunk{Data: s.chunks.Role(0)}, nil
		}
		if data, usageOnly := s.translate(ev); data != nil {
			return provider.Chunk{Data: data, UsageOnly: usageOnly}, nil
		}
	}
}

// end handles the end of the event stream: the usage chunk after a
// complete answer (estimated when no metadata event came), an error
// otherwise.
func (s *stream) end() (provider.Chunk, error) {
	if !s.finished {
		s.err = &provider.Error{Provider: s.a.name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q ended the stream before the answer was complete", s.a.name)}
		return provider.Chunk{}, s.err
	}
	if s.usageSent {
		return provider.Chunk{}, io.EOF
	}
	s.usageSent = true
	return provider.Chunk{Data: s.chunks.Usage(s.Usage()), UsageOnly: true}, nil
}

// read decodes the next frame. Exception and error frames become a
// *provider.Error; the end of the body is io.EOF.
func (s *stream) read() (*event, error) {
	head, err := s.r.Peek(4)
	if err != nil {
		if err == io.EOF && len(head) == 0 {
			return nil, io.EOF
		}
		return nil, s.readError(err)
	}
	if n := binary.BigEndian.Uint32(head); n < minFrameBytes || n > maxFrameBytes {
		return nil, &provider.Error{Provider: s.a.name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q sent a malformed event stream (frame of %d bytes)", s.a.name, n)}
	}
	msg, err := s.dec.Decode(s.r, s.payload)
	if err != nil {
		return nil, s.readError(err)
	}
	s.payload = msg.Payload[:0]
	switch headerString(msg.Headers, ":message-type") {
	case "exception":
		return nil, s.a.streamException(headerString(msg.Headers, ":exception-type"), msg.Payload)
	case "error":
		return nil, s.a.classify(http.StatusInternalServerError, errorType(headerString(msg.Headers, ":error-code")),
			headerString(msg.Headers, ":error-message"))
	}
	ev := &event{typ: headerString(msg.Headers, ":event-type")}
	if len(msg.Payload) > 0 {
		if err := json.Unmarshal(msg.Payload, &ev.ev); err != nil {
			return nil, &provider.Error{Provider: s.a.name, Kind: provider.KindServer,
				Message: fmt.Sprintf("provider %q sent a stream event that is not JSON", s.a.name),
				Err:     fmt.Errorf("bedrock: decode %s event: %w", ev.typ, err)}
		}
	}
	return ev, nil
}

// headerString returns a string header of a frame, "" when absent.
func headerString(h eventstream.Headers, name string) string {
	if v := h.Get(name); v != nil {
		if sv, ok := v.(eventstream.StringValue); ok {
			return string(sv)
		}
		return v.String()
	}
	return ""
}

// readError classifies a failure to read the next frame. A cancelled
// request surfaces as the context's error.
func (s *stream) readError(err error) error {
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("bedrock: read stream: %w", err)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		// Not wrapped: a caller testing errors.Is(err, io.EOF) would take
		// it for a clean end.
		return &provider.Error{Provider: s.a.name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q ended the stream in the middle of an event", s.a.name)}
	case errors.As(err, new(eventstream.ChecksumError)) || errors.As(err, new(eventstream.LengthError)):
		return &provider.Error{Provider: s.a.name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q sent a malformed event stream", s.a.name), Err: err}
	default:
		return &provider.Error{Provider: s.a.name, Kind: provider.KindConnection,
			Message: fmt.Sprintf("lost the connection to provider %q", s.a.name), Err: err}
	}
}

// translate turns one event into a chunk; nil data means the event says
// nothing the client sees.
func (s *stream) translate(e *event) (data []byte, usageOnly bool) {
	ev := &e.ev
	switch e.typ {
	case "contentBlockStart":
		tu := ev.Start.ToolUse
		if tu == nil {
			return nil, false
		}
		if s.jsonTool != "" && tu.Name == s.jsonTool {
			s.tools[ev.ContentBlockIndex] = -1
			return nil, false
		}
		i := s.toolCount
		s.toolCount++
		s.tools[ev.ContentBlockIndex] = i
		s.text = append(s.text, tu.Name...)
		return s.chunks.ToolCallStart(0, i, tu.ToolUseID, tu.Name), false
	case "contentBlockDelta":
		return s.delta(ev), false
	case "messageStop":
		s.finished = true
		return s.chunks.Finish(0, finishReason(ev.StopReason, s.toolCount > 0)), false
	case "metadata":
		if ev.Usage != nil {
			s.usage, s.haveUsage = convertUsage(ev.Usage), true
		}
		if !s.finished {
			return nil, false
		}
		s.usageSent, s.done = true, true
		return s.chunks.Usage(s.Usage()), true
	}
	// messageStart (a repeat), contentBlockStop and unknown events.
	return nil, false
}

// delta translates a contentBlockDelta event.
func (s *stream) delta(ev *streamEvent) []byte {
	d := &ev.Delta
	switch {
	case d.Text != nil && *d.Text != "":
		s.text = append(s.text, *d.Text...)
		return s.chunks.Content(0, *d.Text)
	case d.ToolUse != nil && d.ToolUse.Input != "":
		i, ok := s.tools[ev.ContentBlockIndex]
		if !ok {
			// A tool block that never started has no id or name to give.
			return nil
		}
		s.text = append(s.text, d.ToolUse.Input...)
		if i < 0 {
			return s.chunks.Content(0, d.ToolUse.Input)
		}
		return s.chunks.ToolCallArgs(0, i, d.ToolUse.Input)
	case d.ReasoningContent != nil && d.ReasoningContent.Text != "":
		s.text = append(s.text, d.ReasoningContent.Text...)
		return s.chunks.Reasoning(0, d.ReasoningContent.Text)
	}
	return nil
}

// Usage implements provider.Stream.
func (s *stream) Usage() provider.Usage {
	if s.haveUsage {
		return s.usage
	}
	return s.a.estimate(s.reqModel, s.reqBody, s.text)
}

// Model implements provider.Stream: Bedrock reports no model, so it is
// the requested model id.
func (s *stream) Model() string { return s.reqModel }

// Close implements provider.Stream.
func (s *stream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.body.Close()
}
