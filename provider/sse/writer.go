package sse

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
)

const (
	// frameBufSize is the initial capacity of a pooled frame buffer.
	frameBufSize = 1 << 10
	// maxPooledFrame is the largest frame buffer returned to the pool.
	maxPooledFrame = 64 << 10
)

// framePool holds scratch buffers in which frames are assembled, so that
// each Write function makes one Write call and allocates nothing. It is
// the package's only package-level variable besides its sentinel errors
// and carries no state that affects behaviour.
var framePool = sync.Pool{New: func() any {
	b := make([]byte, 0, frameBufSize)
	return &b
}}

// WriteData writes data to w as one event: "data: <data>\n\n". Data
// containing line breaks is split into several "data:" lines, so a Reader
// gets the same bytes back, except that CR and CRLF line breaks come back
// as LF (an event stream cannot carry a CR in data). The frame is written
// with a single Write call and no allocation in the steady state.
func WriteData(w io.Writer, data []byte) error {
	bp := framePool.Get().(*[]byte)
	b := appendData((*bp)[:0], data)
	err := writeFrame(w, b)
	putFrame(bp, b)
	return err
}

// WriteDone writes the OpenAI end-of-stream event "data: [DONE]\n\n".
func WriteDone(w io.Writer) error {
	return WriteData(w, []byte("[DONE]"))
}

// WriteComment writes a comment, ": <text>\n\n", which readers ignore; it
// serves as a keep-alive. Text containing line breaks is written as several
// comment lines, so it cannot inject fields into the stream.
func WriteComment(w io.Writer, text string) error {
	bp := framePool.Get().(*[]byte)
	b := appendComment((*bp)[:0], text)
	err := writeFrame(w, b)
	putFrame(bp, b)
	return err
}

// appendData appends the frame for data to b.
func appendData(b, data []byte) []byte {
	// lf is the index in data of the next LF, or -1. Tracking it keeps
	// data full of lone CRs from being rescanned for LF once per line.
	lf := bytes.IndexByte(data, '\n')
	for {
		end := len(data)
		if lf >= 0 {
			end = lf
		}
		i := bytes.IndexByte(data[:end], '\r')
		if i < 0 {
			i = lf
		}
		if i < 0 {
			break
		}
		b = append(b, "data: "...)
		b = append(b, data[:i]...)
		b = append(b, '\n')
		next := i + 1
		if data[i] == '\r' && next < len(data) && data[next] == '\n' {
			next++
		}
		data = data[next:]
		if lf >= 0 {
			if lf -= next; lf < 0 {
				lf = bytes.IndexByte(data, '\n')
			}
		}
	}
	b = append(b, "data: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// appendComment appends the frame for a comment to b.
func appendComment(b []byte, text string) []byte {
	for {
		i := strings.IndexAny(text, "\r\n")
		if i < 0 {
			break
		}
		b = append(b, ": "...)
		b = append(b, text[:i]...)
		b = append(b, '\n')
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
	b = append(b, ": "...)
	b = append(b, text...)
	return append(b, "\n\n"...)
}

// writeFrame writes one whole frame to w.
func writeFrame(w io.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("sse: write: %w", err)
	}
	return nil
}

// putFrame returns a frame buffer to the pool unless it grew too large.
func putFrame(bp *[]byte, b []byte) {
	if cap(b) > maxPooledFrame {
		return
	}
	*bp = b[:0]
	framePool.Put(bp)
}
