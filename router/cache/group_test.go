package cache

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGroupSingleFlight(t *testing.T) {
	var g Group
	var calls atomic.Int32
	release := make(chan struct{})
	want := &Entry{Body: []byte(`{}`)}
	const n = 50
	var wg sync.WaitGroup
	var sharedCount atomic.Int32
	results := make([]*Entry, n)
	for i := range n {
		wg.Go(func() {
			e, shared, err := g.Do("k", func() (*Entry, error) {
				calls.Add(1)
				<-release
				return want, nil
			})
			if err != nil {
				t.Error(err)
			}
			if shared {
				sharedCount.Add(1)
			}
			results[i] = e
		})
	}
	// Wait until every caller but the leader is waiting on the call.
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.mu.Lock()
		c := g.calls["k"]
		waiting := c != nil && c.dups == n-1
		g.mu.Unlock()
		if waiting || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Fatalf("fn called %d times, want 1", got)
	}
	if got := sharedCount.Load(); got != n {
		t.Errorf("%d callers saw shared, want %d", got, n)
	}
	for i, e := range results {
		if e != want {
			t.Fatalf("caller %d got %v", i, e)
		}
	}
	// Once done, the key runs again.
	if _, shared, _ := g.Do("k", func() (*Entry, error) { calls.Add(1); return want, nil }); shared || calls.Load() != 2 {
		t.Errorf("second Do: shared %v, calls %d", shared, calls.Load())
	}
}

func TestGroupErrorAndKeys(t *testing.T) {
	var g Group
	boom := errors.New("boom")
	if _, _, err := g.Do("a", func() (*Entry, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("error %v", err)
	}
	e, _, err := g.Do("b", func() (*Entry, error) { return &Entry{Model: "b"}, nil })
	if err != nil || e.Model != "b" {
		t.Errorf("key b: %v %v", e, err)
	}
}

func TestGroupPanic(t *testing.T) {
	var g Group
	started := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		defer func() { _ = recover() }()
		_, _, _ = g.Do("p", func() (*Entry, error) {
			close(started)
			<-release
			panic("bad")
		})
	}()
	<-started
	go func() {
		_, _, err := g.Do("p", func() (*Entry, error) { return &Entry{}, nil })
		done <- err
	}()
	for {
		g.mu.Lock()
		d := g.calls["p"].dups
		g.mu.Unlock()
		if d == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-done; err == nil {
		t.Error("waiter got no error after the leader panicked")
	}
}
