package cache

import (
	"fmt"
	"sync"
)

// Group collapses concurrent calls with the same key into one: the first
// caller runs fn, the others wait and share its result. Its zero value is
// ready to use; it must not be copied after first use.
//
// The leader's fn decides the outcome for everyone waiting, so fn should
// not fail because the leader's own client went away: run the upstream
// call under context.WithoutCancel (or a context the group owns) when
// other callers may be waiting.
type Group struct {
	mu    sync.Mutex
	calls map[string]*call
}

// call is one in-flight fn.
type call struct {
	done  chan struct{}
	entry *Entry
	err   error
	dups  int
}

// Do runs fn once for all concurrent callers with the same key and
// returns its result to each; shared reports whether the result went to
// more than one caller. Once fn returns, the next Do with that key runs
// fn again. If fn panics, the waiting callers get an error and the panic
// continues in the leader. (The error is returned last, unlike
// x/sync/singleflight, to keep the usual Go result order.)
func (g *Group) Do(key string, fn func() (*Entry, error)) (e *Entry, shared bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[string]*call)
	}
	if c, ok := g.calls[key]; ok {
		c.dups++
		g.mu.Unlock()
		<-c.done
		return c.entry, true, c.err
	}
	c := &call{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()

	defer func() {
		if r := recover(); r != nil {
			c.err = fmt.Errorf("cache: single flight %s: panic: %v", key, r)
			g.finish(key, c)
			panic(r)
		}
	}()
	c.entry, c.err = fn()
	g.finish(key, c)
	g.mu.Lock()
	shared = c.dups > 0
	g.mu.Unlock()
	return c.entry, shared, c.err
}

// finish forgets the call and releases its waiters.
func (g *Group) finish(key string, c *call) {
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
	close(c.done)
}
