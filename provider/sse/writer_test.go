package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// countingWriter records each Write call.
type countingWriter struct {
	buf   bytes.Buffer
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.calls++
	return w.buf.Write(p)
}

// failWriter fails every Write.
type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteData(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"plain", `{"a":1}`, "data: {\"a\":1}\n\n"},
		{"empty", "", "data: \n\n"},
		{"leading space kept", " x", "data:  x\n\n"},
		{"LF", "a\nb", "data: a\ndata: b\n\n"},
		{"CRLF", "a\r\nb", "data: a\ndata: b\n\n"},
		{"CR", "a\rb", "data: a\ndata: b\n\n"},
		{"CR CR", "a\r\rb", "data: a\ndata: \ndata: b\n\n"},
		{"trailing LF", "a\n", "data: a\ndata: \n\n"},
		{"only LF", "\n", "data: \ndata: \n\n"},
		{"field injection", "x\n\nevent: evil\ndata: y", "data: x\ndata: \ndata: event: evil\ndata: data: y\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w countingWriter
			if err := WriteData(&w, []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, w.buf.String()); diff != "" {
				t.Errorf("frame mismatch (-want +got):\n%s", diff)
			}
			if w.calls != 1 {
				t.Errorf("%d Write calls, want 1", w.calls)
			}
		})
	}
}

func TestWriteDoneAndComment(t *testing.T) {
	tests := []struct {
		name  string
		write func(io.Writer) error
		want  string
	}{
		{"done", WriteDone, "data: [DONE]\n\n"},
		{"keep-alive", func(w io.Writer) error { return WriteComment(w, "keep-alive") }, ": keep-alive\n\n"},
		{"empty comment", func(w io.Writer) error { return WriteComment(w, "") }, ": \n\n"},
		{"multi-line comment", func(w io.Writer) error { return WriteComment(w, "a\r\nb\rc\nd") }, ": a\n: b\n: c\n: d\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w countingWriter
			if err := tt.write(&w); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, w.buf.String()); diff != "" {
				t.Errorf("frame mismatch (-want +got):\n%s", diff)
			}
			if w.calls != 1 {
				t.Errorf("%d Write calls, want 1", w.calls)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	boom := errors.New("boom")
	w := failWriter{boom}
	for name, err := range map[string]error{
		"data":    WriteData(w, []byte("x")),
		"done":    WriteDone(w),
		"comment": WriteComment(w, "x"),
	} {
		if !errors.Is(err, boom) {
			t.Errorf("%s: err = %v, want wrapping %v", name, err, boom)
		}
	}
}

// normalize turns CRLF and CR into LF, as a round trip does.
func normalize(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return append([]byte{}, bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))...)
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		data []string
	}{
		{"json chunks", []string{`{"choices":[{"delta":{"content":"Hi"}}]}`, `{"choices":[]}`}},
		{"empty", []string{""}},
		{"newlines", []string{"a\nb", "\n", "\n\n", "a\n", "\na", "a\r\nb\rc"}},
		{"spaces", []string{" ", "  a", "a "}},
		{"colons and fields", []string{":", ": x", "data: y", "event: z\n\nid: 1"}},
		{"binary", []string{"\x00\xff", "\xEF\xBB\xBFbom"}},
		{"big", []string{strings.Repeat("0123456789", 10000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			var want []Event
			for _, d := range tt.data {
				if err := WriteComment(&buf, "keep-alive"); err != nil {
					t.Fatal(err)
				}
				if err := WriteData(&buf, []byte(d)); err != nil {
					t.Fatal(err)
				}
				want = append(want, Event{Data: normalize([]byte(d))})
			}
			if err := WriteDone(&buf); err != nil {
				t.Fatal(err)
			}
			want = append(want, ev("", "", "[DONE]"))
			for _, rd := range readers {
				got, err := collect(NewReader(rd.wrap(bytes.NewReader(buf.Bytes()))))
				if err != io.EOF {
					t.Errorf("%s: err = %v, want io.EOF", rd.name, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: events mismatch (-want +got):\n%s", rd.name, diff)
				}
			}
		})
	}
}

func TestWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	chunk := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"}}]}`)
	multi := []byte("line one\nline two\r\nline three")
	allocs := testing.AllocsPerRun(100, func() {
		_ = WriteData(io.Discard, chunk)
		_ = WriteData(io.Discard, multi)
		_ = WriteDone(io.Discard)
		_ = WriteComment(io.Discard, "keep-alive")
	})
	if allocs != 0 {
		t.Errorf("writing allocates %v times, want 0", allocs)
	}
}

// TestWriteDataLinear checks that data of many lone CRs is not rescanned for
// LF once per line, which would take quadratic time.
func TestWriteDataLinear(t *testing.T) {
	const n = 2 << 20
	data := append(bytes.Repeat([]byte("\r"), n), '\n')
	start := time.Now()
	var buf bytes.Buffer
	if err := WriteData(&buf, data); err != nil {
		t.Fatal(err)
	}
	if want := n*len("data: \n") + len("data: \n\n"); buf.Len() != want {
		t.Errorf("frame is %d bytes, want %d", buf.Len(), want)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("writing %d CRs took %v", n, d)
	}
}
