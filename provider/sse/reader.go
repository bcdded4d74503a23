// Package sse reads and writes Server-Sent Events (text/event-stream) as
// specified by the WHATWG HTML Living Standard, section "Server-sent
// events", algorithm "Interpreting an event stream".
//
// It sits on the gateway's hot path: Reader parses upstream streams without
// allocating per event once its buffers have warmed up, and the Write
// functions frame chunks for clients in a single Write call.
//
// Deviations from the browser EventSource, all deliberate:
//   - An event without an "event:" field has Event "" rather than "message".
//   - "retry:" is ignored; the gateway does not reconnect.
//   - Bytes are not decoded as UTF-8; invalid sequences pass through as-is.
//   - Events and lines are bounded in size (see NewReaderSize).
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
)

// DefaultMaxEvent is the largest event data, in bytes, that NewReader
// accepts.
const DefaultMaxEvent = 8 << 20

const (
	// defaultBufSize is the initial size of a Reader's read buffer.
	defaultBufSize = 4 << 10
	// maxRetain is the largest buffer a Reader keeps between events; larger
	// ones, grown for one big event, are dropped so that a long-lived
	// stream does not pin memory for its biggest event.
	maxRetain = 256 << 10
	// lineSlack lets a line carry a full maxEvent of data after its
	// "data: " field name, so anything WriteData frames can be read back.
	lineSlack = len("data: ")
	// maxCachedTypes bounds the per-Reader cache of event type strings.
	maxCachedTypes = 8
	// maxCachedTypeLen is the longest event type the cache keeps.
	maxCachedTypeLen = 64
	// maxEmptyReads is how many (0, nil) reads in a row are tolerated.
	maxEmptyReads = 100
)

// ErrEventTooLarge is returned by Reader.Next when an event's data, or a
// single line, exceeds the Reader's limit. Test for it with errors.Is.
var ErrEventTooLarge = errors.New("sse: event too large")

// errBadRead is returned when the underlying reader reports an impossible
// byte count.
var errBadRead = errors.New("sse: reader returned invalid count")

// Event is one dispatched SSE event. Data is valid only until the next call
// to Next.
type Event struct {
	// Event is the "event:" field, "" when absent.
	Event string
	// ID is the last event ID: per the standard it is set by an "id:"
	// field and persists across later events until another "id:" field
	// changes it. An "id:" value containing NUL is ignored.
	ID string
	// Data is the "data:" lines joined with "\n". It is never nil.
	Data []byte
}

// Reader parses an event stream. It is not safe for concurrent use.
type Reader struct {
	rd        io.Reader
	buf       []byte // read buffer; buf[r:w] is unconsumed input
	r, w      int
	scan      int   // buf[r:scan] is known to hold no line terminator
	lf        int   // index of the next LF at or after scan; stale if < scan
	lfScanned int   // buf[scan:lfScanned] is known to hold no LF
	rerr      error // error from rd, reported once buf is drained
	err       error // sticky error returned by Next
	skipLF    bool  // the last line ended in CR: a following LF belongs to it
	started   bool  // the first line (and any BOM) has been seen
	maxEvent  int   // limit on len(Event.Data)
	maxLine   int   // limit on one line, terminator excluded

	data      []byte   // data buffer, reused across events
	eventType string   // event type buffer
	lastID    string   // last event ID buffer
	types     []string // recently seen event types, to avoid allocating
	nextType  int      // slot of types to overwrite when it is full
}

// NewReader returns a Reader on r that accepts events of up to
// DefaultMaxEvent (8 MiB) of data.
func NewReader(r io.Reader) *Reader {
	return NewReaderSize(r, DefaultMaxEvent)
}

// NewReaderSize returns a Reader on r that accepts events of up to maxEvent
// bytes of data; a maxEvent of zero or less means DefaultMaxEvent. A single
// line may be up to maxEvent+6 bytes long, enough for "data: " followed by
// maxEvent bytes. Larger events or lines make Next return ErrEventTooLarge.
// Memory use is bounded by a small multiple of maxEvent.
func NewReaderSize(r io.Reader, maxEvent int) *Reader {
	if maxEvent <= 0 {
		maxEvent = DefaultMaxEvent
	}
	// Keep maxLine+1 from overflowing.
	maxEvent = min(maxEvent, math.MaxInt-lineSlack-1)
	maxLine := maxEvent + lineSlack
	return &Reader{
		rd:       r,
		buf:      make([]byte, min(defaultBufSize, maxLine+1)),
		lf:       -1,
		maxEvent: maxEvent,
		maxLine:  maxLine,
	}
}

// Reset discards the Reader's state, including its error and last event
// ID, and makes it read a new stream from rd with the same limit, reusing
// its buffers.
func (r *Reader) Reset(rd io.Reader) {
	if len(r.buf) > maxRetain {
		r.buf = make([]byte, min(defaultBufSize, r.maxLine+1))
	}
	if cap(r.data) > maxRetain {
		r.data = nil
	}
	*r = Reader{
		rd:       rd,
		buf:      r.buf,
		lf:       -1,
		maxEvent: r.maxEvent,
		maxLine:  r.maxLine,
		data:     r.data[:0],
		types:    r.types,
		nextType: r.nextType,
	}
}

// Next reads up to and including the next dispatched event and returns it.
// Comments, blank lines, events without data and unknown fields are
// consumed silently. Event.Data is valid only until the next call to Next.
//
// At the end of the input Next returns io.EOF if no event was in progress,
// or io.ErrUnexpectedEOF if the input ended after at least one data field
// of an event but before the blank line that dispatches it. As the
// standard requires, that incomplete event is discarded, not returned: a
// truncated upstream body must not pass for a complete final chunk. An
// event or line over the limit yields an error wrapping ErrEventTooLarge;
// an error from the underlying reader is returned wrapped. Every error is
// final: later calls return it again.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	if cap(r.data) > maxRetain {
		r.data = nil
	}
	r.data = r.data[:0]
	for {
		line, err := r.readLine()
		if err != nil {
			return Event{}, r.fail(r.finish(line, err))
		}
		if len(line) == 0 {
			if len(r.data) == 0 {
				// Nothing to dispatch: forget any event type.
				r.eventType = ""
				continue
			}
			ev := Event{Event: r.eventType, ID: r.lastID, Data: r.data[:len(r.data)-1]}
			r.eventType = ""
			return ev, nil
		}
		if err := r.processLine(line); err != nil {
			return Event{}, r.fail(err)
		}
	}
}

// fail records err as the Reader's final error and returns it.
func (r *Reader) fail(err error) error {
	r.err = err
	r.data = r.data[:0]
	return err
}

// finish decides the error at the end of the input: line is the final,
// unterminated line, which is incomplete and so is never dispatched.
func (r *Reader) finish(line []byte, err error) error {
	if err != io.EOF {
		if errors.Is(err, ErrEventTooLarge) || err == errBadRead {
			return err
		}
		return fmt.Errorf("sse: read: %w", err)
	}
	if len(line) > 0 {
		// Parse it only to learn whether it carries data.
		if perr := r.processLine(line); perr != nil {
			return perr
		}
	}
	if len(r.data) > 0 {
		return io.ErrUnexpectedEOF
	}
	return io.EOF
}

// processLine applies one non-empty line to the event being built.
func (r *Reader) processLine(line []byte) error {
	if line[0] == ':' {
		return nil // comment
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		// The data buffer holds a "\n" after each value; the dispatched
		// data drops the last one, so this is the size it would have.
		if len(r.data)+len(value) > r.maxEvent {
			return fmt.Errorf("%w: data exceeds %d bytes", ErrEventTooLarge, r.maxEvent)
		}
		r.data = append(r.data, value...)
		r.data = append(r.data, '\n')
	case "event":
		r.setEventType(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != r.lastID {
			r.lastID = string(value)
		}
	}
	// "retry" and unknown fields are ignored.
	return nil
}

// setEventType sets the event type buffer, reusing a string seen recently
// so that streams with a few event names do not allocate per event.
func (r *Reader) setEventType(value []byte) {
	if string(value) == r.eventType {
		return
	}
	for _, t := range r.types {
		if string(value) == t {
			r.eventType = t
			return
		}
	}
	t := string(value)
	r.eventType = t
	if len(t) > maxCachedTypeLen {
		return
	}
	if len(r.types) < maxCachedTypes {
		r.types = append(r.types, t)
		return
	}
	r.types[r.nextType] = t
	r.nextType = (r.nextType + 1) % maxCachedTypes
}

// readLine returns the next line without its terminator. The line aliases
// the read buffer and is valid until the next call. At the end of the input
// it returns the unterminated remainder (possibly empty) and the error.
func (r *Reader) readLine() ([]byte, error) {
	for {
		if r.skipLF && r.r < r.w {
			if r.buf[r.r] == '\n' {
				r.r++
			}
			r.skipLF = false
			r.scan = max(r.scan, r.r)
		}
		if end := r.findEOL(); end >= 0 {
			line := r.buf[r.r:end]
			r.skipLF = r.buf[end] == '\r'
			r.r = end + 1
			r.scan = r.r
			if len(line) > r.maxLine {
				return nil, fmt.Errorf("%w: line exceeds %d bytes", ErrEventTooLarge, r.maxLine)
			}
			return r.stripBOM(line), nil
		}
		r.scan = r.w
		if r.w-r.r > r.maxLine {
			return nil, fmt.Errorf("%w: line exceeds %d bytes", ErrEventTooLarge, r.maxLine)
		}
		if r.rerr != nil {
			line := r.buf[r.r:r.w]
			r.r, r.scan = r.w, r.w
			return r.stripBOM(line), r.rerr
		}
		r.fill()
	}
}

// stripBOM removes a byte order mark from the first line of the stream.
func (r *Reader) stripBOM(line []byte) []byte {
	if r.started {
		return line
	}
	r.started = true
	return bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
}

// findEOL returns the index in buf of the first CR or LF in buf[scan:w],
// or -1. It remembers where the next LF is, so that a run of CR-terminated
// lines does not rescan the buffer for LF once per line.
func (r *Reader) findEOL() int {
	if r.lf < r.scan {
		start := max(r.scan, r.lfScanned)
		if i := bytes.IndexByte(r.buf[start:r.w], '\n'); i >= 0 {
			r.lf = start + i
		} else {
			r.lf = -1
			r.lfScanned = r.w
		}
	}
	end := r.w
	if r.lf >= r.scan {
		end = r.lf
	}
	if j := bytes.IndexByte(r.buf[r.scan:end], '\r'); j >= 0 {
		return r.scan + j
	}
	if r.lf >= r.scan {
		return r.lf
	}
	return -1
}

// fill reads more input into the buffer, first moving unconsumed bytes to
// its front and growing it if it is full. It sets r.rerr on failure.
func (r *Reader) fill() {
	if r.r > 0 {
		if r.r == r.w && len(r.buf) > maxRetain {
			r.buf = make([]byte, min(defaultBufSize, r.maxLine+1))
		} else {
			copy(r.buf, r.buf[r.r:r.w])
		}
		r.w -= r.r
		r.scan -= r.r
		r.lf -= r.r
		r.lfScanned -= r.r
		r.r = 0
	}
	if r.w == len(r.buf) {
		// readLine guarantees r.w <= r.maxLine here, so this grows.
		n := min(max(2*len(r.buf), defaultBufSize), r.maxLine+1)
		nb := make([]byte, n)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	for range maxEmptyReads {
		n, err := r.rd.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			r.rerr = errBadRead
			return
		}
		r.w += n
		if err != nil {
			r.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.rerr = io.ErrNoProgress
}
