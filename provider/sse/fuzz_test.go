package sse

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readTestdata returns the contents of testdata/name.
func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// errClass maps an error from Next to a comparable value.
func errClass(err error) string {
	switch {
	case err == io.EOF:
		return "EOF"
	case err == io.ErrUnexpectedEOF:
		return "UnexpectedEOF"
	case errors.Is(err, ErrEventTooLarge):
		return "TooLarge"
	default:
		return "other: " + err.Error()
	}
}

// reference parses in by following the standard's algorithm as literally
// as possible, with no size limits, for comparison with Reader.
func reference(in []byte) ([]Event, error) {
	in = bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
	var (
		evs               []Event
		data              []byte
		eventType, lastID string
	)
	for {
		i := bytes.IndexAny(in, "\r\n")
		if i < 0 {
			break // the rest is an incomplete line
		}
		line := in[:i]
		if in[i] == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			i++
		}
		in = in[i+1:]
		switch {
		case len(line) == 0:
			if len(data) == 0 {
				eventType = ""
				continue
			}
			evs = append(evs, Event{Event: eventType, ID: lastID, Data: data[:len(data)-1]})
			data, eventType = nil, ""
		case line[0] == ':':
		default:
			field, value, found := bytes.Cut(line, []byte(":"))
			if found {
				value = bytes.TrimPrefix(value, []byte(" "))
			}
			switch string(field) {
			case "data":
				data = append(append(data, value...), '\n')
			case "event":
				eventType = string(value)
			case "id":
				if bytes.IndexByte(value, 0) < 0 {
					lastID = string(value)
				}
			}
		}
	}
	if len(data) > 0 || bytes.HasPrefix(in, []byte("data")) && (len(in) == 4 || in[4] == ':') {
		return evs, io.ErrUnexpectedEOF
	}
	return evs, io.EOF
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("data: a\n\n"))
	f.Add([]byte("\xEF\xBB\xBFdata: a\r\n\r\n"))
	f.Add([]byte("event: message_start\ndata: {}\n\nid: 1\ndata: x\rdata\r\r\n"))
	f.Add([]byte(": keep-alive\n\ndata: a\r\r\ndata:b"))
	f.Add([]byte("data: 0123456789012345678901234567890123456789012345678901234567890123456789\n\n"))
	f.Add([]byte("data\ndata\ndata\n\nevent\nid: \x00\n\n"))
	f.Add(readTestdata(f, "anthropic_stream.txt"))
	const max = 64
	f.Fuzz(func(t *testing.T, in []byte) {
		read := func(r io.Reader) ([]Event, string) {
			evs, err := collect(NewReaderSize(r, max))
			for _, ev := range evs {
				if len(ev.Data) > max {
					t.Fatalf("event of %d bytes exceeds limit %d", len(ev.Data), max)
				}
			}
			return evs, errClass(err)
		}
		want, wantErr := read(bytes.NewReader(in))
		for _, rd := range readers[1:] {
			got, gotErr := read(rd.wrap(bytes.NewReader(in)))
			if diff := cmp.Diff(want, got); diff != "" || gotErr != wantErr {
				t.Fatalf("%s: err %s, want %s; events mismatch (-whole +split):\n%s", rd.name, gotErr, wantErr, diff)
			}
		}
		// Without a binding limit, Reader agrees with the reference.
		got, err := collect(NewReaderSize(bytes.NewReader(in), len(in)+1))
		ref, refErr := reference(in)
		if diff := cmp.Diff(ref, got, cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })); diff != "" || err != refErr {
			t.Fatalf("err %v, reference %v; events mismatch (-reference +got):\n%s", err, refErr, diff)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(`{"choices":[{"delta":{"content":"Hi"}}]}`), "keep-alive")
	f.Add([]byte(""), "")
	f.Add([]byte("a\nb\r\nc\rd\n"), "x\ny")
	f.Add([]byte("\r\n\r\r\n\n"), "\r")
	f.Add([]byte(" data: x\n\nevent: y"), ": z")
	f.Fuzz(func(t *testing.T, data []byte, comment string) {
		var buf bytes.Buffer
		if err := WriteComment(&buf, comment); err != nil {
			t.Fatal(err)
		}
		if err := WriteData(&buf, data); err != nil {
			t.Fatal(err)
		}
		if err := WriteComment(&buf, comment); err != nil {
			t.Fatal(err)
		}
		if err := WriteDone(&buf); err != nil {
			t.Fatal(err)
		}
		want := []Event{{Data: normalize(data)}, ev("", "", "[DONE]")}
		// A limit of len(data) must suffice for what WriteData framed (and
		// of len(comment) for WriteComment's lines).
		limit := max(len(data), len(comment), len("[DONE]"))
		for _, rd := range readers {
			got, err := collect(NewReaderSize(rd.wrap(bytes.NewReader(buf.Bytes())), limit))
			if err != io.EOF {
				t.Fatalf("%s: err = %v, want io.EOF", rd.name, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s: events mismatch (-want +got):\n%s", rd.name, diff)
			}
		}
	})
}
