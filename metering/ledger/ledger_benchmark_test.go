package ledger

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/tollgate-gw/tollgate/store"
)

// countingSink is a fast sink: it only counts.
type countingSink struct{ n atomic.Int64 }

func (s *countingSink) InsertUsage(_ context.Context, evs []store.UsageEvent) error {
	s.n.Add(int64(len(evs)))
	return nil
}

func benchmarkRecord(b *testing.B, parallel bool) {
	sink := &countingSink{}
	o := Options{Dir: b.TempDir(), Logger: discardLogger()}
	w, err := New(sink, o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	ev := testEvent(1) // one id throughout: the sink counts, the ledger does not care
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w.Record(ev)
			}
		})
	} else {
		for b.Loop() {
			w.Record(ev)
		}
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if got := sink.n.Load() + w.Stats().SpooledEvents; got < int64(b.N) {
		b.Fatalf("%d of %d events accounted for", got, b.N)
	}
}

// BenchmarkRecord measures one Record (encode, spool write, queue) with a
// fast sink draining in the background.
func BenchmarkRecord(b *testing.B) { benchmarkRecord(b, false) }

// BenchmarkRecordParallel measures Record from GOMAXPROCS goroutines.
func BenchmarkRecordParallel(b *testing.B) { benchmarkRecord(b, true) }
