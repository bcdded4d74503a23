package provider

import (
	"errors"
	"io"
)

// ErrTooLarge is returned by ReadAll for a body over its limit.
var ErrTooLarge = errors.New("body too large")

// exactUpTo is the largest announced length ReadAll allocates up front; a
// peer that announces more must send it before it costs that much memory.
const exactUpTo = 1 << 20

// ReadAll reads r to the end, at most limit bytes. When the length is known
// (an HTTP Content-Length) and modest, it reads into a slice of exactly that
// size, in one allocation; otherwise it grows a buffer as data arrives. A
// body longer than limit, or longer than its announced length, is
// ErrTooLarge.
func ReadAll(r io.Reader, length, limit int64) ([]byte, error) {
	if length > limit {
		return nil, ErrTooLarge
	}
	if length < 0 || length > exactUpTo {
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > limit {
			return nil, ErrTooLarge
		}
		return b, nil
	}
	b := make([]byte, length)
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	var one [1]byte
	if n, _ := r.Read(one[:]); n > 0 {
		return nil, ErrTooLarge
	}
	return b, nil
}
