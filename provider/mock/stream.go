package mock

import (
	"context"
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"github.com/tollgate-gw/tollgate/provider"
)

// errClosed is what Next returns after Close.
var errClosed = errors.New("mock: stream closed")

// stream is a streamed mock answer. Its chunks are built on demand in one
// reused buffer, in OpenAI's order: a role chunk per choice, the content
// pieces (interleaved across choices), a finish chunk per choice and the
// usage chunk. It is not safe for concurrent use.
type stream struct {
	ctx            context.Context
	tokens         provider.TokenCounter
	model          string
	id, created    string
	ans            answer
	offs           []int // text piece boundaries: piece k is text[offs[k]:offs[k+1]]
	pieces         int   // content chunks per choice
	prompt         int
	latency, delay time.Duration

	step   int // chunks emitted so far
	timer  *time.Timer
	buf    []byte
	err    error
	closed bool
}

var _ provider.Stream = (*stream)(nil)

// newStream prepares the stream of req's answer.
func (a *Adapter) newStream(ctx context.Context, req *provider.ChatRequest) *stream {
	s := &stream{
		ctx:     ctx,
		tokens:  a.tokens,
		model:   req.Model,
		id:      a.newID(),
		created: formatCreated(a.Now().Unix()),
		ans:     a.answer(req),
		prompt:  a.tokens.CountChat(req.Model, req.Body),
		latency: a.cfg.Mock.Latency,
		delay:   a.cfg.Mock.ChunkDelay,
	}
	if s.ans.call != nil {
		s.pieces = 2 // id and name, then the arguments
	} else {
		s.offs = splitOffsets(s.ans.text, a.cfg.Mock.Chunks)
		s.pieces = len(s.offs) - 1
	}
	return s
}

// splitOffsets cuts text into at most k pieces of about equal rune counts
// (fewer when text has fewer runes) and returns the k+1 byte offsets.
func splitOffsets(text string, k int) []int {
	runes := utf8.RuneCountInString(text)
	k = min(k, runes)
	offs := make([]int, 1, k+1)
	r, next := 0, 1
	for i := range text {
		if next <= k-1 && r == next*runes/k {
			offs = append(offs, i)
			next++
		}
		r++
	}
	if k > 0 {
		offs = append(offs, len(text))
	}
	return offs
}

// total is the number of chunks of the whole stream.
func (s *stream) total() int { return s.ans.n*(s.pieces+2) + 1 }

// Next returns the next chunk, after the configured latency (first chunk)
// or chunk delay (the others). Once ctx is done it returns an error
// wrapping ctx.Err().
func (s *stream) Next() (provider.Chunk, error) {
	switch {
	case s.err != nil:
		return provider.Chunk{}, s.err
	case s.closed:
		return provider.Chunk{}, errClosed
	case s.step >= s.total():
		return provider.Chunk{}, io.EOF
	}
	d := s.delay
	if s.step == 0 {
		d = s.latency
	}
	if err := s.wait(d); err != nil {
		s.err = err
		return provider.Chunk{}, err
	}
	c := s.chunk(s.step)
	s.step++
	return c, nil
}

// wait waits d with the stream's reusable timer, or less if ctx ends.
func (s *stream) wait(d time.Duration) error {
	if s.ctx.Err() != nil {
		return ctxError(s.ctx)
	}
	if d <= 0 {
		return nil
	}
	if s.timer == nil {
		s.timer = time.NewTimer(d)
	} else {
		s.timer.Reset(d)
	}
	select {
	case <-s.ctx.Done():
		s.timer.Stop()
		return ctxError(s.ctx)
	case <-s.timer.C:
		return nil
	}
}

// chunk builds chunk number step.
func (s *stream) chunk(step int) provider.Chunk {
	n := s.ans.n
	b := appendChunkHead(s.buf[:0], s.id, s.created, s.model)
	switch c := step - n; {
	case step < n: // role
		b = appendDeltaOpen(b, step)
		b = appendStr(b, "role", "assistant")
		if s.ans.call != nil {
			b = appendRaw(b, "content", "null")
		} else {
			b = appendStr(b, "content", "")
		}
		b = appendDeltaClose(appendRaw(b, "refusal", "null"), "")
	case c < s.pieces*n: // content piece c/n of choice c%n
		b = appendDeltaClose(s.appendPiece(appendDeltaOpen(b, c%n), c/n), "")
	case c < (s.pieces+1)*n: // finish
		b = appendDeltaClose(appendDeltaOpen(b, c-s.pieces*n), s.ans.finish)
	default: // usage
		b = append(b, ']')
		b = appendUsage(b, s.Usage())
		b = append(b, '}')
		s.buf = b
		return provider.Chunk{Data: b, UsageOnly: true}
	}
	s.buf = b
	return provider.Chunk{Data: b}
}

// appendPiece appends the delta fields of content piece k.
func (s *stream) appendPiece(b []byte, k int) []byte {
	call := s.ans.call
	switch {
	case call == nil:
		return appendStr(b, "content", s.ans.text[s.offs[k]:s.offs[k+1]])
	case k == 0:
		b = append(appendKey(b, "tool_calls"), '[', '{')
		b = appendInt(b, "index", 0)
		b = appendStr(b, "id", call.id)
		b = appendStr(b, "type", "function")
		b = append(appendKey(b, "function"), '{')
		b = appendStr(b, "name", call.name)
		b = appendStr(b, "arguments", "")
		return append(b, '}', '}', ']')
	default:
		b = append(appendKey(b, "tool_calls"), '[', '{')
		b = appendInt(b, "index", 0)
		b = append(appendKey(b, "function"), '{')
		b = appendStr(b, "arguments", call.args)
		return append(b, '}', '}', ']')
	}
}

// Usage reports the prompt tokens and the completion tokens of the
// content emitted so far. Once every finish chunk was emitted it is the
// whole answer's usage, the figure of the usage chunk; before that (a
// stream cut short) it is marked Estimated, as the provider.Stream
// contract asks.
func (s *stream) Usage() provider.Usage {
	n := s.ans.n
	if s.step >= s.total()-1 {
		return usage(s.prompt, n*s.ans.tokens)
	}
	emitted := min(max(s.step-n, 0), s.pieces*n) // content chunks emitted
	whole, extra := emitted/n, emitted%n         // choices < extra got one more piece
	completion := (n - extra) * s.emittedTokens(whole)
	if extra > 0 {
		completion += extra * s.emittedTokens(whole+1)
	}
	u := usage(s.prompt, completion)
	u.Estimated = true
	return u
}

// emittedTokens returns the completion tokens of one choice after k of
// its content pieces.
func (s *stream) emittedTokens(k int) int {
	switch {
	case k == 0:
		return 0
	case k >= s.pieces:
		return s.ans.tokens
	case s.ans.call != nil: // only the name so far
		return s.tokens.CountText(s.model, s.ans.call.name)
	default:
		return s.tokens.CountText(s.model, s.ans.text[:s.offs[k]])
	}
}

// Model returns the request's upstream model.
func (s *stream) Model() string { return s.model }

// Close ends the stream; later Next calls fail. It is idempotent.
func (s *stream) Close() error {
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	return nil
}
