package sse

import (
	"bytes"
	"io"
	"testing"
)

// benchmarkStream reads the stream in file once per iteration with one
// reused Reader.
func benchmarkStream(b *testing.B, file string) {
	in := readTestdata(b, file)
	src := bytes.NewReader(in)
	r := NewReader(src)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(in)
		r.Reset(src)
		for {
			if _, err := r.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

// BenchmarkReader reads a 22-event OpenAI chat completion stream.
func BenchmarkReader(b *testing.B) {
	benchmarkStream(b, "openai_stream.txt")
}

// BenchmarkReaderAnthropic reads an 18-event Anthropic messages stream.
func BenchmarkReaderAnthropic(b *testing.B) {
	benchmarkStream(b, "anthropic_stream.txt")
}

// BenchmarkReaderNew includes creating the Reader, as a handler does per
// upstream response.
func BenchmarkReaderNew(b *testing.B) {
	in := readTestdata(b, "openai_stream.txt")
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(in))
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

func BenchmarkWriteData(b *testing.B) {
	chunk := []byte(`{"id":"chatcmpl-A1b2C3d4E5f6G7h8I9j0KlMnOpQr","object":"chat.completion.chunk","created":1718035200,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":" Hello"},"finish_reason":null}]}`)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteData(io.Discard, chunk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteDataMultiline(b *testing.B) {
	data := bytes.Repeat([]byte("a line of text\n"), 10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteData(io.Discard, data); err != nil {
			b.Fatal(err)
		}
	}
}
