package ledger

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/tollgate-gw/tollgate/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errDown = errors.New("fake sink: down")

// fakeSink models store.Store.InsertUsage: insert-if-absent by RequestID.
// It can be switched down, made to lose the acknowledgement of a batch it
// committed, or slowed down.
type fakeSink struct {
	mu       sync.Mutex
	down     bool
	loseAcks int           // the next loseAcks successful calls report failure
	delay    time.Duration // per call
	hang     bool          // block until ctx is done
	got      map[string]store.UsageEvent
	received int // events in committed calls, duplicates included
	dups     int
	calls    int
}

func newFakeSink() *fakeSink { return &fakeSink{got: map[string]store.UsageEvent{}} }

func (s *fakeSink) InsertUsage(ctx context.Context, evs []store.UsageEvent) error {
	s.mu.Lock()
	delay, hang := s.delay, s.hang
	s.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.down {
		return errDown
	}
	for _, ev := range evs {
		if _, ok := s.got[ev.RequestID]; ok {
			s.dups++
			continue
		}
		s.got[ev.RequestID] = ev
	}
	s.received += len(evs)
	if s.loseAcks > 0 {
		s.loseAcks--
		return errors.New("fake sink: committed, acknowledgement lost")
	}
	return nil
}

func (s *fakeSink) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *fakeSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func (s *fakeSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.got))
	for id := range s.got {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func testEvent(i int) store.UsageEvent {
	return store.UsageEvent{
		RequestID:        fmt.Sprintf("req-%07d", i),
		ClientRequestID:  fmt.Sprintf("trace-%d", i%5),
		KeyID:            "key-1",
		CustomerID:       "cust-1",
		Model:            "gpt-4o-mini",
		Provider:         "openai",
		UpstreamModel:    "gpt-4o-mini-2024-07-18",
		Endpoint:         "chat.completions",
		PromptTokens:     int64(100 + i%50),
		CompletionTokens: int64(20 + i%7),
		CachedTokens:     int64(i % 3),
		CostPicos:        int64(150 * (100 + i%50)),
		Priced:           i%10 != 0,
		Stream:           i%2 == 0,
		Status:           200,
		LatencyMS:        int64(300 + i%100),
		CreatedAt:        time.Date(2025, 11, 21, 12, 0, 0, i, time.UTC),
	}
}

func idRange(from, to int) []string {
	ids := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		ids = append(ids, testEvent(i).RequestID)
	}
	return ids
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testOptions are fast defaults for tests.
func testOptions(dir string) Options {
	return Options{
		Dir: dir, BatchSize: 100, FlushInterval: 10 * time.Millisecond, QueueSize: 1000,
		SyncInterval: 5 * time.Millisecond, SegmentBytes: 64 << 10,
		MaxBackoff: 50 * time.Millisecond, ShutdownTimeout: 500 * time.Millisecond,
		Logger: discardLogger(),
	}
}

func newWriter(t *testing.T, sink Sink, o Options) *Writer {
	t.Helper()
	w, err := New(sink, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return w
}

// start runs w and returns a function that stops it and returns Run's
// error, failing the test if Run overruns limit.
func start(t *testing.T, w *Writer, limit time.Duration) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(limit):
				t.Fatalf("Run did not return within %v of cancel", limit)
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recordConcurrently records events [from, to) from g goroutines.
func recordConcurrently(w *Writer, from, to, g int) {
	var wg sync.WaitGroup
	for k := range g {
		wg.Go(func() {
			for i := from + k; i < to; i += g {
				w.Record(testEvent(i))
			}
		})
	}
	wg.Wait()
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// spooledIDs reads every event in dir's segments, sorted by request id.
func spooledIDs(t *testing.T, dir string) []string {
	t.Helper()
	var ids []string
	for _, path := range segmentFiles(t, dir) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(b) {
			ev, err := decodeEvent(bytes.TrimSuffix(line, []byte("\n")))
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(path), err)
			}
			ids = append(ids, ev.RequestID)
		}
	}
	sort.Strings(ids)
	return ids
}

// simulateCrash abandons w as kill -9 would: no flush, no sync; the
// kernel closes its files and drops its lock.
func simulateCrash(w *Writer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.active != nil {
		_ = w.active.f.Close()
	}
	for _, f := range w.toClose {
		_ = f.Close()
	}
	_ = w.release()
}

func TestNormalFlow(t *testing.T) {
	const n = 10000
	sink := newFakeSink()
	o := testOptions(t.TempDir())
	w := newWriter(t, sink, o)
	stop := start(t, w, 2*time.Second)

	recordConcurrently(w, 0, n, 50)
	waitFor(t, "all events in the sink", 10*time.Second, func() bool { return sink.count() == n })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if diff := cmp.Diff(idRange(0, n), sink.ids()); diff != "" {
		t.Errorf("sink ids (-want +got):\n%s", diff)
	}
	if sink.received != n || sink.dups != 0 {
		t.Errorf("sink received %d events with %d duplicates, want %d and 0", sink.received, sink.dups, n)
	}
	if diff := cmp.Diff(testEvent(4242), sink.got[testEvent(4242).RequestID]); diff != "" {
		t.Errorf("event changed on the way (-want +got):\n%s", diff)
	}
	if files := segmentFiles(t, o.Dir); len(files) != 0 {
		t.Errorf("segments left after everything was committed: %v", files)
	}
	st := w.Stats()
	if st.Written != n || st.Queued != 0 || st.Segments != 0 || st.SpooledEvents != 0 || st.Dropped != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestTrickleBatches checks that events arriving one at a time, several
// during each insert, go to the sink in batches of one FlushInterval
// rather than an insert per event or two: a transaction per few events
// costs the database several times the CPU per event.
func TestTrickleBatches(t *testing.T) {
	const n = 200
	sink := newFakeSink()
	sink.delay = 5 * time.Millisecond
	o := testOptions(t.TempDir())
	o.FlushInterval = 100 * time.Millisecond
	o.BatchSize = 1000
	w := newWriter(t, sink, o)
	stop := start(t, w, 2*time.Second)
	began := time.Now()
	for i := range n {
		w.Record(testEvent(i))
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(began)
	waitFor(t, "all events in the sink", 5*time.Second, func() bool { return sink.count() == n })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	sink.mu.Lock()
	calls := sink.calls
	sink.mu.Unlock()
	// One call per tick while recording, one for the rest; a margin for a
	// slow machine, far below one call per event.
	if most := int(elapsed/o.FlushInterval) + 3; calls > most {
		t.Errorf("%d events recorded over %v went in %d inserts, want at most %d (one per %v)",
			n, elapsed.Round(time.Millisecond), calls, most, o.FlushInterval)
	}
}

func TestSinkDownThenUp(t *testing.T) {
	const n = 6000
	sink := newFakeSink()
	o := testOptions(t.TempDir())
	o.QueueSize = 500 // the outage overflows the queue to disk
	w := newWriter(t, sink, o)
	stop := start(t, w, 2*time.Second)

	recordConcurrently(w, 0, 1000, 8)
	waitFor(t, "first events in the sink", 5*time.Second, func() bool { return sink.count() > 0 })

	// The database goes away; its last commit's acknowledgement is lost.
	sink.mu.Lock()
	sink.loseAcks = 1
	sink.mu.Unlock()
	recordConcurrently(w, 1000, 2000, 8)
	waitFor(t, "the lost acknowledgement", 5*time.Second, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return sink.loseAcks == 0
	})
	sink.setDown(true)
	recordConcurrently(w, 2000, n, 8)
	time.Sleep(300 * time.Millisecond)
	st := w.Stats()
	if st.ConsecutiveFailures == 0 || st.Queued > o.QueueSize || st.SpooledEvents == 0 {
		t.Errorf("during the outage: Stats = %+v", st)
	}

	sink.setDown(false)
	waitFor(t, "all events after recovery", 10*time.Second, func() bool { return sink.count() == n })
	waitFor(t, "spool emptied", 5*time.Second, func() bool { return w.Stats().Segments == 0 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff(idRange(0, n), sink.ids()); diff != "" {
		t.Errorf("sink ids (-want +got):\n%s", diff)
	}
	if sink.dups == 0 {
		t.Errorf("the batch whose acknowledgement was lost was not sent again")
	}
	if files := segmentFiles(t, o.Dir); len(files) != 0 {
		t.Errorf("segments left: %v", files)
	}
	if st := w.Stats(); st.Failures == 0 || st.ConsecutiveFailures != 0 || st.Dropped != 0 {
		t.Errorf("after recovery: Stats = %+v", st)
	}
}

func TestShutdownWithSinkDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*fakeSink)
	}{
		{"failing", func(s *fakeSink) { s.down = true }},
		{"hanging", func(s *fakeSink) { s.hang = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 3000
			sink := newFakeSink()
			tc.set(sink)
			o := testOptions(t.TempDir())
			w := newWriter(t, sink, o)
			stop := start(t, w, o.ShutdownTimeout+time.Second)
			recordConcurrently(w, 0, n, 8)

			began := time.Now()
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			t.Logf("Run returned %v after cancel", time.Since(began).Round(time.Millisecond))
			if diff := cmp.Diff(idRange(0, n), spooledIDs(t, o.Dir)); diff != "" {
				t.Fatalf("spool after shutdown (-want +got):\n%s", diff)
			}

			up := newFakeSink()
			w2 := newWriter(t, up, o)
			stop2 := start(t, w2, 2*time.Second)
			waitFor(t, "replay", 10*time.Second, func() bool { return up.count() == n })
			waitFor(t, "spool emptied", 5*time.Second, func() bool { return len(segmentFiles(t, o.Dir)) == 0 })
			if err := stop2(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(idRange(0, n), up.ids()); diff != "" {
				t.Errorf("replayed ids (-want +got):\n%s", diff)
			}
			if up.dups != 0 {
				t.Errorf("replay sent %d duplicates", up.dups)
			}
		})
	}
}

func TestCrashRecovery(t *testing.T) {
	const n = 2500
	dir := t.TempDir()
	o := testOptions(dir)
	o.QueueSize = 700 // some events in memory, the rest disk-only
	w := newWriter(t, newFakeSink(), o)
	recordConcurrently(w, 0, n, 4) // Run never started: nothing sent
	simulateCrash(w)

	// The crash tore the last write.
	files := segmentFiles(t, dir)
	if len(files) == 0 {
		t.Fatal("no segments written")
	}
	f, err := os.OpenFile(files[len(files)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"request_id":"req-torn","key_id":"k`); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	// Some of the events had reached the database before the crash.
	sink := newFakeSink()
	for _, id := range idRange(0, 100) {
		sink.got[id] = store.UsageEvent{RequestID: id}
	}
	var logs bytes.Buffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	w2 := newWriter(t, sink, o)
	if st := w2.Stats(); st.SpooledEvents != n+1 {
		t.Errorf("Stats before replay: SpooledEvents = %d, want %d", st.SpooledEvents, n+1)
	}
	stop := start(t, w2, 2*time.Second)
	waitFor(t, "replay", 10*time.Second, func() bool { return sink.count() == n })
	waitFor(t, "spool emptied", 5*time.Second, func() bool { return len(segmentFiles(t, dir)) == 0 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff(idRange(0, n), sink.ids()); diff != "" {
		t.Errorf("sink ids (-want +got):\n%s", diff)
	}
	if st := w2.Stats(); st.Corrupt != 1 {
		t.Errorf("Stats.Corrupt = %d, want 1 (the torn line)", st.Corrupt)
	}
	if !strings.Contains(logs.String(), "truncated final line") || strings.Contains(logs.String(), "req-torn") {
		t.Errorf("want a warning for the torn line without its contents; logs:\n%s", logs.String())
	}
}

func TestReplayHandMadeSpool(t *testing.T) {
	dir := t.TempDir()
	line := func(i int) string {
		ev := testEvent(i)
		b, err := encodeEvent(&ev)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(segmentName(7), line(0)+line(1)+line(2))
	write(segmentName(9), line(3)+"{garbage secret-prompt\n"+line(4)+"\n\x00\x00\x00"+line(5)+`{"request_id":"req-to`)
	write(segmentName(12), strings.TrimSuffix(line(6), "\n")) // complete, newline lost
	write(segmentName(13), "")
	write("notes.txt", "not a segment")

	sink := newFakeSink()
	var logs bytes.Buffer
	o := testOptions(dir)
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	w := newWriter(t, sink, o)
	stop := start(t, w, 2*time.Second)
	waitFor(t, "replay", 5*time.Second, func() bool { return w.Stats().Segments == 0 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	want := idRange(0, 7)
	want = append(want[:5], want[6]) // line 5 shares its line with the NUL garbage
	if diff := cmp.Diff(want, sink.ids()); diff != "" {
		t.Errorf("replayed ids (-want +got):\n%s", diff)
	}
	if st := w.Stats(); st.Corrupt != 3 {
		t.Errorf("Stats.Corrupt = %d, want 3", st.Corrupt)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	for i := range left {
		left[i] = filepath.Base(left[i])
	}
	sort.Strings(left)
	wantLeft := []string{segmentName(9) + quarantineSuffix, lockName, "notes.txt"}
	if diff := cmp.Diff(wantLeft, left); diff != "" {
		t.Errorf("files left (-want +got):\n%s", diff)
	}
	if strings.Contains(logs.String(), "secret-prompt") {
		t.Errorf("a warning logged a line's contents:\n%s", logs.String())
	}
}

func TestQueueFullNeverBlocksNorDrops(t *testing.T) {
	const n, g = 8000, 8
	sink := newFakeSink()
	sink.down = true
	o := testOptions(t.TempDir())
	o.QueueSize, o.BatchSize, o.SegmentBytes = 16, 8, 32<<10
	w := newWriter(t, sink, o)
	stop := start(t, w, 2*time.Second)

	var mu sync.Mutex
	var took []time.Duration
	var wg sync.WaitGroup
	for k := range g {
		wg.Go(func() {
			local := make([]time.Duration, 0, n/g)
			for i := k; i < n; i += g {
				t0 := time.Now()
				w.Record(testEvent(i))
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			took = append(took, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(took)
	worst := took[len(took)-1]
	t.Logf("Record with the queue full, %d goroutines: p50 %v, p99 %v, max %v",
		g, took[len(took)/2], took[len(took)*99/100], worst)
	// A Record waiting for the sink would wait for ever here; the bound
	// only absorbs scheduling noise (-race, a loaded CI machine).
	if worst > time.Second {
		t.Errorf("Record blocked for %v", worst)
	}
	st := w.Stats()
	if st.Queued > o.QueueSize || st.SpooledEvents != n || st.Dropped != 0 {
		t.Errorf("with the sink down: Stats = %+v, want Queued <= %d, SpooledEvents = %d", st, o.QueueSize, n)
	}

	// A slow sink drains it.
	sink.mu.Lock()
	sink.down, sink.delay = false, time.Millisecond
	sink.mu.Unlock()
	waitFor(t, "all events", 15*time.Second, func() bool { return sink.count() == n })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff(idRange(0, n), sink.ids()); diff != "" {
		t.Errorf("sink ids (-want +got):\n%s", diff)
	}
	if files := segmentFiles(t, o.Dir); len(files) != 0 {
		t.Errorf("segments left: %v", files)
	}
}

func TestRecordAfterRunReturned(t *testing.T) {
	sink := newFakeSink()
	o := testOptions(t.TempDir())
	w := newWriter(t, sink, o)
	stop := start(t, w, 2*time.Second)
	w.Record(testEvent(0))
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	w.Record(testEvent(1)) // a straggler
	if diff := cmp.Diff([]string{testEvent(1).RequestID}, spooledIDs(t, o.Dir)); diff != "" {
		t.Errorf("spool (-want +got):\n%s", diff)
	}
	w2 := newWriter(t, sink, o)
	stop2 := start(t, w2, 2*time.Second)
	waitFor(t, "replay", 5*time.Second, func() bool { return sink.count() == 2 })
	if err := stop2(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	simulateCrash(w) // close the straggler's file
}

func TestSpoolUnwritable(t *testing.T) {
	sink := newFakeSink()
	o := testOptions(filepath.Join(t.TempDir(), "spool"))
	o.SegmentBytes = 1 // seal after every event
	w := newWriter(t, sink, o)
	stop := start(t, w, 2*time.Second)
	if err := os.RemoveAll(o.Dir); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		w.Record(testEvent(i))
	}
	waitFor(t, "events from memory", 5*time.Second, func() bool { return sink.count() == 50 })
	_ = stop() // reports the spool errors
	st := w.Stats()
	if st.SpoolErrors == 0 || st.Dropped != 0 {
		t.Errorf("Stats = %+v, want SpoolErrors > 0 and Dropped = 0", st)
	}
}

func TestSecondWriterLockedOut(t *testing.T) {
	o := testOptions(t.TempDir())
	w := newWriter(t, newFakeSink(), o)
	if _, err := New(newFakeSink(), o); !errors.Is(err, ErrLocked) {
		t.Fatalf("second New on the same dir: %v, want ErrLocked", err)
	}
	stop := start(t, w, 2*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := w.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
	w2 := newWriter(t, newFakeSink(), o) // free again once Run has returned
	simulateCrash(w2)
}

func TestNewErrors(t *testing.T) {
	if _, err := New(nil, Options{Dir: t.TempDir()}); err == nil {
		t.Error("New with a nil sink succeeded")
	}
	if _, err := New(newFakeSink(), Options{}); err == nil {
		t.Error("New without a directory succeeded")
	}
}

// FuzzReplay feeds arbitrary segment contents to the replay reader: it
// must not panic or stall, and a valid line after a newline survives.
func FuzzReplay(f *testing.F) {
	ev := testEvent(1)
	valid, _ := encodeEvent(&ev)
	f.Add([]byte(""))
	f.Add(valid)
	f.Add([]byte("{\"request_id\":\"x\"}\n{bad\n\x00\x00"))
	f.Add(bytes.Repeat([]byte("a"), 70<<10))
	f.Fuzz(func(t *testing.T, junk []byte) {
		content := append(append(append([]byte{}, junk...), '\n'), valid...)
		rp := &replay{br: bufio.NewReaderSize(bytes.NewReader(content), 64<<10), name: "fuzz"}
		var got []store.UsageEvent
		for i := 0; !rp.eof; i++ {
			if i > len(content)+2 {
				t.Fatal("replay does not advance")
			}
			rp.fill(3, func(string, int64, string, error) {})
			got = append(got, rp.batch...)
		}
		if len(got) == 0 || got[len(got)-1].RequestID != ev.RequestID {
			t.Fatalf("the valid last line was not replayed; got %d events", len(got))
		}
	})
}

func TestQueueRing(t *testing.T) {
	q := queue{limit: 100}
	next, front := 0, 0
	for round := range 50 {
		for !q.full() && next-front < 30+round {
			q.push(item{seq: uint64(next)})
			next++
		}
		k := min(q.len(), 7+round%13)
		for i := range k {
			if got := q.at(i).seq; got != uint64(front+i) {
				t.Fatalf("round %d: at(%d) = %d, want %d", round, i, got, front+i)
			}
		}
		q.pop(k)
		front += k
		if len(q.buf) > q.limit {
			t.Fatalf("ring grew to %d, over its limit %d", len(q.buf), q.limit)
		}
	}
}
