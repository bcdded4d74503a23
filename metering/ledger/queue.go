package ledger

import "github.com/tollgate-gw/tollgate/store"

// item is a queued event and the segment holding its spool line (nil if
// the spool write failed).
type item struct {
	seq uint64
	seg *segment
	ev  store.UsageEvent
}

// queue is a FIFO ring of items that grows up to a limit and no further,
// so that its memory is bounded by the limit. Guarded by Writer.mu.
type queue struct {
	buf     []item
	head, n int
	limit   int
}

func (q *queue) len() int { return q.n }

// full reports whether push would exceed the limit.
func (q *queue) full() bool { return q.n >= q.limit }

// push appends it; the caller checks full first.
func (q *queue) push(it item) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = it
	q.n++
}

func (q *queue) grow() {
	buf := make([]item, min(max(2*len(q.buf), 64), q.limit))
	for i := range q.n {
		buf[i] = *q.at(i)
	}
	q.buf, q.head = buf, 0
}

// at returns the i-th item from the front.
func (q *queue) at(i int) *item { return &q.buf[(q.head+i)%len(q.buf)] }

// pop drops the first k items.
func (q *queue) pop(k int) {
	for i := range k {
		*q.at(i) = item{}
	}
	q.n -= k
	if q.n == 0 {
		q.head = 0
	} else {
		q.head = (q.head + k) % len(q.buf)
	}
}
