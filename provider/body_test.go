package provider

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadAll(t *testing.T) {
	tests := []struct {
		name          string
		body          string
		length, limit int64
		want          string
		err           error
	}{
		{"exact", "hello", 5, 10, "hello", nil},
		{"unknown length", "hello", -1, 10, "hello", nil},
		{"announced over limit", "hello", 11, 10, "", ErrTooLarge},
		{"unknown length over limit", strings.Repeat("a", 11), -1, 10, "", ErrTooLarge},
		{"longer than announced", "hello!", 5, 10, "", ErrTooLarge},
		{"shorter than announced", "hel", 5, 10, "", io.ErrUnexpectedEOF},
		{"empty", "", 0, 10, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadAll(iotest.HalfReader(strings.NewReader(tc.body)), tc.length, tc.limit)
			if !errors.Is(err, tc.err) || string(got) != tc.want {
				t.Errorf("got %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}
