package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/tidwall/sjson"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
	"github.com/tollgate-gw/tollgate/provider/sse"
)

// maxChoices bounds the candidate index a stream accepts (Gemini allows
// at most 8 candidates).
const maxChoices = 64

// opKind is the kind of chunk a pending op renders.
type opKind uint8

const (
	opRole opKind = iota
	opContent
	opReasoning
	opToolStart
	opToolArgs
	opFinish
	opUsage
)

// op is one chunk to emit, rendered only when Next returns it (the chunk
// builder reuses one buffer, so chunks cannot be queued as bytes).
type op struct {
	kind     opKind
	choice   int
	index    int    // tool call index
	text     string // content, reasoning, arguments or finish reason
	id, name string // tool call id and function name
	logprobs []byte // OpenAI logprobs of a content op, or nil
}

// choiceState tracks one choice of the stream.
type choiceState struct {
	opened, finished bool
	calls            int // tool calls so far: the next tool call index
}

// stream translates a Gemini SSE stream into OpenAI chunks, one upstream
// event at a time. It lives for one request and is not safe for concurrent
// use.
type stream struct {
	a        *Adapter
	body     io.ReadCloser
	r        *sse.Reader
	reqModel string
	reqBody  []byte
	logprobs bool

	chunks  openaiwire.Chunks
	started bool
	model   string
	ops     []op
	next    int
	choices []choiceState

	usage     provider.Usage
	haveUsage bool
	// text collects what was generated while the upstream reported no
	// usage, for a local count.
	text []byte

	done   bool  // the usage op is queued; io.EOF follows
	err    error // final error (io.EOF after the end)
	closed bool
}

var _ provider.Stream = (*stream)(nil)

func newStream(a *Adapter, req *provider.ChatRequest, body io.ReadCloser, logprobs bool) *stream {
	return &stream{
		a:        a,
		body:     body,
		r:        sse.NewReader(body),
		reqModel: req.Model,
		reqBody:  req.Body,
		logprobs: logprobs,
	}
}

// Next implements provider.Stream.
func (s *stream) Next() (provider.Chunk, error) {
	for {
		if s.next < len(s.ops) {
			o := &s.ops[s.next]
			s.next++
			return s.render(o), nil
		}
		s.ops, s.next = s.ops[:0], 0
		if s.err != nil {
			return provider.Chunk{}, s.err
		}
		if s.done {
			s.err = io.EOF
			return provider.Chunk{}, io.EOF
		}
		ev, err := s.r.Next()
		if err != nil {
			if err = s.readError(err); err != nil {
				s.err = err
				return provider.Chunk{}, err
			}
			continue
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		if err := s.event(data); err != nil {
			s.ops = s.ops[:0]
			s.err = err
			return provider.Chunk{}, err
		}
	}
}

// readError handles the end of the upstream body: after a complete answer
// it queues the usage chunk and returns nil; otherwise it classifies the
// failure.
func (s *stream) readError(err error) error {
	name := s.a.name
	switch {
	case err == io.EOF && s.complete():
		s.ops = append(s.ops, op{kind: opUsage})
		s.done = true
		return nil
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return &provider.Error{Provider: name, Kind: provider.KindServer, Status: http.StatusBadGateway,
			Message: fmt.Sprintf("provider %q ended the stream before the answer was complete", name)}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("gemini: read stream: %w", err)
	case errors.Is(err, sse.ErrEventTooLarge):
		return &provider.Error{Provider: name, Kind: provider.KindServer, Status: http.StatusBadGateway,
			Message: fmt.Sprintf("provider %q sent an oversized stream event", name), Err: err}
	default:
		return &provider.Error{Provider: name, Kind: provider.KindConnection,
			Message: fmt.Sprintf("lost the connection to provider %q", name), Err: err}
	}
}

// complete reports whether every choice seen has finished.
func (s *stream) complete() bool {
	seen := false
	for _, c := range s.choices {
		if c.opened {
			seen = true
			if !c.finished {
				return false
			}
		}
	}
	return seen
}

// event translates one upstream event into queued ops.
func (s *stream) event(data []byte) error {
	var resp generateResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return &provider.Error{Provider: s.a.name, Kind: provider.KindServer, Status: http.StatusBadGateway,
			Message: fmt.Sprintf("provider %q sent a stream event that is not JSON", s.a.name), Err: err}
	}
	if resp.Error != nil {
		return s.a.rpcErrorOf(statusForRPC(resp.Error), nil, resp.Error)
	}
	if !s.started {
		s.start(&resp)
	}
	if resp.UsageMetadata != nil {
		s.usage, s.haveUsage = usageOf(resp.UsageMetadata), true
	}
	for i := range resp.Candidates {
		if err := s.candidate(&resp.Candidates[i]); err != nil {
			return err
		}
	}
	if len(resp.Candidates) == 0 && resp.PromptFeedback != nil && resp.PromptFeedback.BlockReason != "" {
		st := s.open(0)
		if !st.finished {
			st.finished = true
			s.ops = append(s.ops, op{kind: opFinish, text: openaiwire.FinishContentFilter})
		}
	}
	return nil
}

// start fixes the id, created time and model of every chunk from the
// first event.
func (s *stream) start(resp *generateResponse) {
	s.started = true
	s.model = resp.ModelVersion
	s.chunks.ID = resp.ResponseID
	if s.chunks.ID == "" {
		s.chunks.ID = s.a.newID("chatcmpl-")
	}
	s.chunks.Created = s.a.now().Unix()
	s.chunks.Model = resp.ModelVersion
	if s.chunks.Model == "" {
		s.chunks.Model = s.reqModel
	}
}

// open returns choice i's state, queueing its role chunk the first time.
func (s *stream) open(i int) *choiceState {
	for len(s.choices) <= i {
		s.choices = append(s.choices, choiceState{})
	}
	st := &s.choices[i]
	if !st.opened {
		st.opened = true
		s.ops = append(s.ops, op{kind: opRole, choice: i})
	}
	return st
}

// candidate queues the chunks of one candidate's delta.
func (s *stream) candidate(c *candidate) error {
	if c.Index < 0 || c.Index >= maxChoices {
		return &provider.Error{Provider: s.a.name, Kind: provider.KindServer, Status: http.StatusBadGateway,
			Message: fmt.Sprintf("provider %q sent a candidate with index %d", s.a.name, c.Index)}
	}
	i := c.Index
	st := s.open(i)
	var lp []byte
	if s.logprobs {
		lp = openAILogprobs(c.LogprobsResult)
	}
	for _, p := range c.Content.Parts {
		switch {
		case p.FunctionCall != nil:
			args := arguments(p.FunctionCall.Args)
			id := s.a.toolCallID(p.ThoughtSignature)
			s.ops = append(s.ops,
				op{kind: opToolStart, choice: i, index: st.calls, id: id, name: p.FunctionCall.Name},
				op{kind: opToolArgs, choice: i, index: st.calls, text: args})
			st.calls++
			s.note(p.FunctionCall.Name, args)
		case p.Text == nil || *p.Text == "":
		case p.Thought:
			s.ops = append(s.ops, op{kind: opReasoning, choice: i, text: *p.Text})
			s.note(*p.Text, "")
		default:
			s.ops = append(s.ops, op{kind: opContent, choice: i, text: *p.Text, logprobs: lp})
			lp = nil
			s.note(*p.Text, "")
		}
	}
	if c.FinishReason == "" || st.finished {
		return nil
	}
	finish, err := s.a.finishReason(c.FinishReason, st.calls > 0)
	if err != nil {
		return err
	}
	st.finished = true
	s.ops = append(s.ops, op{kind: opFinish, choice: i, text: finish})
	return nil
}

// note keeps generated text for a local count while the upstream has
// reported no usage.
func (s *stream) note(a, b string) {
	if !s.haveUsage {
		s.text = append(append(s.text, a...), b...)
	}
}

// render builds the chunk of an op.
func (s *stream) render(o *op) provider.Chunk {
	c := &s.chunks
	switch o.kind {
	case opRole:
		return provider.Chunk{Data: c.Role(o.choice)}
	case opContent:
		b := c.Content(o.choice, o.text)
		if o.logprobs != nil {
			if withLP, err := sjson.SetRawBytes(b, "choices.0.logprobs", o.logprobs); err == nil {
				b = withLP
			}
		}
		return provider.Chunk{Data: b}
	case opReasoning:
		return provider.Chunk{Data: c.Reasoning(o.choice, o.text)}
	case opToolStart:
		return provider.Chunk{Data: c.ToolCallStart(o.choice, o.index, o.id, o.name)}
	case opToolArgs:
		return provider.Chunk{Data: c.ToolCallArgs(o.choice, o.index, o.text)}
	case opFinish:
		return provider.Chunk{Data: c.Finish(o.choice, o.text)}
	default:
		return provider.Chunk{Data: c.Usage(s.Usage()), UsageOnly: true}
	}
}

// Usage implements provider.Stream. After a complete stream it is the
// last usageMetadata Gemini sent (cumulative). After a break it is that
// figure marked Estimated, or a local count when Gemini reported none.
func (s *stream) Usage() provider.Usage {
	broken := s.err != nil && s.err != io.EOF || !s.done
	if s.haveUsage {
		u := s.usage
		u.Estimated = broken
		return u
	}
	p := s.a.countChat(s.reqModel, s.reqBody)
	c := s.a.countText(s.reqModel, string(s.text))
	return provider.Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c, Estimated: true}
}

// Model implements provider.Stream.
func (s *stream) Model() string { return s.model }

// Close implements provider.Stream.
func (s *stream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.body.Close()
}
