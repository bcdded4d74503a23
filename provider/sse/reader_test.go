package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readers are the ways each test input is fed to a Reader: whole, and split
// so that CR/LF pairs, BOMs and lines straddle reads.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"onebyte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"dataerr", iotest.DataErrReader},
}

// collect reads every event from r, copying Data, until Next fails.
func collect(r *Reader) ([]Event, error) {
	var evs []Event
	for {
		ev, err := r.Next()
		if err != nil {
			return evs, err
		}
		ev.Data = append([]byte{}, ev.Data...)
		evs = append(evs, ev)
	}
}

// ev builds an expected event.
func ev(event, id, data string) Event {
	return Event{Event: event, ID: id, Data: []byte(data)}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Event
		wantErr error
	}{
		{name: "empty input", in: "", wantErr: io.EOF},
		{name: "only blank lines", in: "\n\r\n\r\n", wantErr: io.EOF},
		{name: "LF", in: "data: a\n\ndata: b\n\n", want: []Event{ev("", "", "a"), ev("", "", "b")}, wantErr: io.EOF},
		{name: "CRLF", in: "data: a\r\n\r\ndata: b\r\n\r\n", want: []Event{ev("", "", "a"), ev("", "", "b")}, wantErr: io.EOF},
		{name: "CR", in: "data: a\r\rdata: b\r\r", want: []Event{ev("", "", "a"), ev("", "", "b")}, wantErr: io.EOF},
		{name: "mixed", in: "data: a\r\ndata: b\rdata: c\n\r\n", want: []Event{ev("", "", "a\nb\nc")}, wantErr: io.EOF},
		{name: "CR then CRLF", in: "data: a\r\r\n", want: []Event{ev("", "", "a")}, wantErr: io.EOF},
		{name: "LF CR is two line ends", in: "data: a\n\rdata: b\n\n", want: []Event{ev("", "", "a"), ev("", "", "b")}, wantErr: io.EOF},
		{name: "blank lines before first event", in: "\n\n\r\n\r: hi\n\ndata: a\n\n", want: []Event{ev("", "", "a")}, wantErr: io.EOF},
		{name: "BOM", in: "\xEF\xBB\xBFdata: a\n\n", want: []Event{ev("", "", "a")}, wantErr: io.EOF},
		{name: "BOM then blank line", in: "\xEF\xBB\xBF\ndata: a\n\n", want: []Event{ev("", "", "a")}, wantErr: io.EOF},
		{name: "only one BOM skipped", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n", wantErr: io.EOF},
		{name: "BOM later is not skipped", in: "data: a\n\n\xEF\xBB\xBFdata: b\n\n", want: []Event{ev("", "", "a")}, wantErr: io.EOF},
		{name: "partial BOM", in: "\xEF\xBBdata: a\n\n", wantErr: io.EOF},
		{
			name: "comments",
			in:   ": keep-alive\n\ndata: a\n\n: OPENROUTER PROCESSING\n\n:\n\ndata: b\n: inside\ndata: c\n\n",
			want: []Event{ev("", "", "a"), ev("", "", "b\nc")}, wantErr: io.EOF,
		},
		{
			name: "anthropic events",
			in:   "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\ndata: plain\n\n",
			want: []Event{
				ev("message_start", "", `{"type":"message_start"}`),
				ev("ping", "", `{"type": "ping"}`),
				ev("", "", "plain"),
			},
			wantErr: io.EOF,
		},
		{name: "last event field wins", in: "event: a\nevent: b\ndata: x\n\n", want: []Event{ev("b", "", "x")}, wantErr: io.EOF},
		{name: "event without colon is empty", in: "event: a\nevent\ndata: x\n\n", want: []Event{ev("", "", "x")}, wantErr: io.EOF},
		{name: "multi-line data", in: "data: a\ndata: b\ndata:\ndata: c\n\n", want: []Event{ev("", "", "a\nb\n\nc")}, wantErr: io.EOF},
		{name: "data ending in empty line", in: "data: a\ndata\n\n", want: []Event{ev("", "", "a\n")}, wantErr: io.EOF},
		{name: "field without colon", in: "data\n\n", want: []Event{ev("", "", "")}, wantErr: io.EOF},
		{name: "two empty data lines", in: "data\ndata\n\n", want: []Event{ev("", "", "\n")}, wantErr: io.EOF},
		{name: "data with no space", in: "data:a\n\n", want: []Event{ev("", "", "a")}, wantErr: io.EOF},
		{name: "only one space stripped", in: "data:  a \n\n", want: []Event{ev("", "", " a ")}, wantErr: io.EOF},
		{name: "tab not stripped", in: "data:\ta\n\n", want: []Event{ev("", "", "\ta")}, wantErr: io.EOF},
		{name: "colon in value", in: "data: a: b:c\n\n", want: []Event{ev("", "", "a: b:c")}, wantErr: io.EOF},
		{name: "space before colon is another field", in: "data : x\n\n", wantErr: io.EOF},
		{name: "field names are case-sensitive", in: "Data: x\n\n", wantErr: io.EOF},
		{name: "event without data is not dispatched", in: "event: foo\n\ndata: x\n\n", want: []Event{ev("", "", "x")}, wantErr: io.EOF},
		{name: "event type reset after dispatch", in: "event: a\ndata: 1\n\ndata: 2\n\n", want: []Event{ev("a", "", "1"), ev("", "", "2")}, wantErr: io.EOF},
		{name: "unknown fields and retry ignored", in: "retry: 1000\nfoo: bar\nretry\ndata: a\n\n", want: []Event{ev("", "", "a")}, wantErr: io.EOF},
		{
			name: "id persists until changed",
			in:   "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
			want: []Event{ev("", "1", "a"), ev("", "1", "b"), ev("", "", "c")}, wantErr: io.EOF,
		},
		{name: "id alone sets last event id", in: "id: 7\n\ndata: x\n\n", want: []Event{ev("", "7", "x")}, wantErr: io.EOF},
		{name: "id with NUL ignored", in: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", want: []Event{ev("", "1", "a"), ev("", "1", "b")}, wantErr: io.EOF},
		{name: "binary data passes through", in: "data: \x00\xff\xfe\n\n", want: []Event{ev("", "", "\x00\xff\xfe")}, wantErr: io.EOF},
		{name: "EOF after data line", in: "data: a\n", wantErr: io.ErrUnexpectedEOF},
		{name: "EOF in data line", in: "data: a", wantErr: io.ErrUnexpectedEOF},
		{name: "EOF after CR", in: "data: a\r", wantErr: io.ErrUnexpectedEOF},
		{name: "EOF after complete event", in: "data: a\n\ndata: b", want: []Event{ev("", "", "a")}, wantErr: io.ErrUnexpectedEOF},
		{name: "EOF without data is clean", in: "data: a\n\nevent: x\nid: 3\n: bye", want: []Event{ev("", "", "a")}, wantErr: io.EOF},
		{name: "EOF in field name", in: "dat", wantErr: io.EOF},
		{name: "EOF with data field without colon", in: "data", wantErr: io.ErrUnexpectedEOF},
		{name: "EOF after trailing CRLF", in: "data: a\r\n\r\n", want: []Event{ev("", "", "a")}, wantErr: io.EOF},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				got, err := collect(NewReader(rd.wrap(strings.NewReader(tt.in))))
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events mismatch (-want +got):\n%s", diff)
				}
				if err != tt.wantErr {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
			})
		}
	}
}

func TestReaderMaxSize(t *testing.T) {
	const max = 16
	long := strings.Repeat("x", max)
	tests := []struct {
		name    string
		in      string
		want    []Event
		wantErr error
	}{
		{name: "data at limit", in: "data: " + long + "\n\n", want: []Event{ev("", "", long)}, wantErr: io.EOF},
		{name: "data over limit", in: "data: " + long + "y\n\n", wantErr: ErrEventTooLarge},
		{name: "data over limit without space", in: "data:" + long + "y\n\n", wantErr: ErrEventTooLarge},
		{name: "lines at limit", in: "data: 1234567\ndata: 12345678\n\n", want: []Event{ev("", "", "1234567\n12345678")}, wantErr: io.EOF},
		{name: "lines over limit", in: "data: 12345678\ndata: 12345678\n\n", wantErr: ErrEventTooLarge},
		{name: "empty data lines over limit", in: strings.Repeat("data\n", max+2) + "\n", wantErr: ErrEventTooLarge},
		{name: "events before the large one survive", in: "data: a\n\ndata: " + long + long + "\n\ndata: b\n\n", want: []Event{ev("", "", "a")}, wantErr: ErrEventTooLarge},
		{name: "comment at line limit", in: ": " + long + "xxxx\ndata: a\n\n", want: []Event{ev("", "", "a")}, wantErr: io.EOF},
		{name: "comment over line limit", in: ": " + long + "xxxxx\ndata: a\n\n", wantErr: ErrEventTooLarge},
		{name: "unterminated line over limit", in: "data: a\n\n" + long + long, want: []Event{ev("", "", "a")}, wantErr: ErrEventTooLarge},
		{name: "event name over line limit", in: "event: " + long + long + "\ndata: a\n\n", wantErr: ErrEventTooLarge},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				r := NewReaderSize(rd.wrap(strings.NewReader(tt.in)), max)
				got, err := collect(r)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events mismatch (-want +got):\n%s", diff)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if _, again := r.Next(); again != err {
					t.Errorf("second Next err = %v, want sticky %v", again, err)
				}
				if len(r.buf) > max+lineSlack+1 && len(r.buf) > defaultBufSize {
					t.Errorf("read buffer grew to %d", len(r.buf))
				}
			})
		}
	}
}

// repeatReader yields its pattern forever.
type repeatReader struct {
	pattern []byte
	off     int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.pattern[r.off:])
		n += c
		r.off = (r.off + c) % len(r.pattern)
	}
	return n, nil
}

func TestReaderHostile(t *testing.T) {
	const max = 1 << 20
	tests := []struct {
		name    string
		pattern string
	}{
		{"endless line", "a"},
		{"endless data lines", "data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"},
		{"endless empty data lines", "data\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReaderSize(&repeatReader{pattern: []byte(tt.pattern)}, max)
			_, err := r.Next()
			if !errors.Is(err, ErrEventTooLarge) {
				t.Fatalf("err = %v, want ErrEventTooLarge", err)
			}
			if len(r.buf) > max+lineSlack+1 || cap(r.data) > 2*max+64 {
				t.Errorf("buffers grew to %d and %d", len(r.buf), cap(r.data))
			}
		})
	}
}

// errReader returns its data and then err.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// badReader claims to have read more than it was given.
type badReader struct{}

func (badReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

// emptyReader never makes progress.
type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		r       io.Reader
		want    []Event
		wantErr error
	}{
		{"read error after event", &errReader{data: []byte("data: a\n\ndata: b\n"), err: boom}, []Event{ev("", "", "a")}, boom},
		{"invalid count", badReader{}, nil, errBadRead},
		{"no progress", emptyReader{}, nil, io.ErrNoProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.r)
			got, err := collect(r)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events mismatch (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("second Next err = %v, want sticky %v", again, err)
			}
		})
	}
}

// TestReaderDoesNotWaitAfterCR checks that an event ended by CR is
// dispatched at once, without waiting to see whether LF follows.
func TestReaderDoesNotWaitAfterCR(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	r := NewReader(pr)
	type result struct {
		ev  Event
		err error
	}
	next := func() result {
		ch := make(chan result, 1)
		go func() {
			ev, err := r.Next()
			ev.Data = append([]byte{}, ev.Data...)
			ch <- result{ev, err}
		}()
		select {
		case res := <-ch:
			return res
		case <-time.After(5 * time.Second):
			t.Fatal("Next blocked")
			return result{}
		}
	}
	go func() {
		_, _ = pw.Write([]byte("data: a\r\r"))
	}()
	if res := next(); res.err != nil || string(res.ev.Data) != "a" {
		t.Fatalf("first Next = %q, %v", res.ev.Data, res.err)
	}
	go func() {
		_, _ = pw.Write([]byte("\ndata: b\n\n"))
		pw.Close()
	}()
	if res := next(); res.err != nil || string(res.ev.Data) != "b" {
		t.Fatalf("second Next = %q, %v", res.ev.Data, res.err)
	}
	if res := next(); res.err != io.EOF {
		t.Fatalf("third Next err = %v, want io.EOF", res.err)
	}
}

func TestReaderStreams(t *testing.T) {
	tests := []struct {
		file      string
		events    int
		firstType string
	}{
		{"openai_stream.txt", 22, ""},
		{"anthropic_stream.txt", 18, "message_start"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in := readTestdata(t, tt.file)
			want, err := collect(NewReader(bytes.NewReader(in)))
			if err != io.EOF {
				t.Fatalf("err = %v, want io.EOF", err)
			}
			if len(want) != tt.events || want[0].Event != tt.firstType {
				t.Fatalf("got %d events, first type %q", len(want), want[0].Event)
			}
			// CRLF and CR line ends and split reads give the same events.
			for _, eol := range []string{"\r\n", "\r"} {
				crlf := bytes.ReplaceAll(in, []byte("\n"), []byte(eol))
				for _, rd := range readers {
					got, err := collect(NewReader(rd.wrap(bytes.NewReader(crlf))))
					if err != io.EOF {
						t.Fatalf("%q/%s: err = %v", eol, rd.name, err)
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%q/%s: events mismatch (-want +got):\n%s", eol, rd.name, diff)
					}
				}
			}
		})
	}
}

func TestReaderReset(t *testing.T) {
	r := NewReaderSize(strings.NewReader("id: 1\ndata: a\n\ndata: b"), 64)
	if _, err := collect(r); err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v", err)
	}
	r.Reset(strings.NewReader("\xEF\xBB\xBFdata: c\n\n"))
	got, err := collect(r)
	if err != io.EOF {
		t.Fatalf("after Reset err = %v", err)
	}
	if diff := cmp.Diff([]Event{ev("", "", "c")}, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestReaderShrinks(t *testing.T) {
	big := strings.Repeat("x", 2*maxRetain)
	r := NewReader(strings.NewReader("data: " + big + "\n\ndata: a\n\n"))
	if ev, err := r.Next(); err != nil || len(ev.Data) != len(big) {
		t.Fatalf("Next = %d bytes, %v", len(ev.Data), err)
	}
	if ev, err := r.Next(); err != nil || string(ev.Data) != "a" {
		t.Fatalf("Next = %q, %v", ev.Data, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next err = %v, want io.EOF", err)
	}
	if cap(r.data) > maxRetain || len(r.buf) > maxRetain {
		t.Errorf("buffers kept at %d and %d bytes", cap(r.data), len(r.buf))
	}
}

func TestReaderAllocs(t *testing.T) {
	for _, file := range []string{"openai_stream.txt", "anthropic_stream.txt"} {
		t.Run(file, func(t *testing.T) {
			in := readTestdata(t, file)
			src := bytes.NewReader(in)
			r := NewReader(src)
			allocs := testing.AllocsPerRun(20, func() {
				src.Reset(in)
				r.Reset(src)
				for {
					if _, err := r.Next(); err != nil {
						break
					}
				}
			})
			if allocs != 0 {
				t.Errorf("reading a stream allocates %v times, want 0", allocs)
			}
		})
	}
}

// TestReaderLinear checks that many short CR-terminated lines in a large
// buffer are not each rescanned for LF, which would take quadratic time.
func TestReaderLinear(t *testing.T) {
	const n = 2 << 20
	in := ": " + strings.Repeat("x", n) + "\n" + strings.Repeat("\r", n) + "data: a\n\n"
	start := time.Now()
	got, err := collect(NewReader(strings.NewReader(in)))
	if err != io.EOF || len(got) != 1 {
		t.Fatalf("got %d events, err %v", len(got), err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("reading %d CR lines took %v", n, d)
	}
}
