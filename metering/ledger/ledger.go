package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tollgate-gw/tollgate/store"
)

// Sink is where committed usage goes; store.Store satisfies it.
type Sink interface {
	// InsertUsage writes events in one batch and returns nil only once
	// they are durable. Events whose RequestID is already stored must be
	// skipped, so that a replayed batch counts once. It must honour ctx's
	// deadline and must not keep events after returning.
	InsertUsage(ctx context.Context, events []store.UsageEvent) error
}

var _ Sink = store.Store(nil)

// ErrLocked is returned by New when another Writer holds the spool
// directory.
var ErrLocked = errors.New("ledger: spool directory in use by another writer")

// Options configure a Writer. Only Dir is required; zero values take the
// defaults given.
type Options struct {
	// Dir is the spool directory, e.g. $TOLLGATE_DATA_DIR/spool; it is
	// created if missing. It must be on a local filesystem and used by
	// one Writer at a time.
	Dir string
	// BatchSize is the most events sent to the sink at once (500).
	BatchSize int
	// FlushInterval is the longest an event waits in memory before a
	// partial batch is sent (200ms).
	FlushInterval time.Duration
	// QueueSize is the most events held in memory; beyond it events go
	// to disk only (10000).
	QueueSize int
	// SyncInterval is the group-commit interval: the spool is fsynced at
	// most this often, which bounds what a machine crash can lose (50ms).
	SyncInterval time.Duration
	// SegmentBytes is the size at which a spool segment is sealed and a
	// new one started (4 MiB).
	SegmentBytes int64
	// MaxBackoff caps the wait between retries while the sink fails (10s).
	MaxBackoff time.Duration
	// InsertTimeout bounds one InsertUsage call while running (10s).
	InsertTimeout time.Duration
	// ShutdownTimeout bounds the final flush to the sink once Run's
	// context is done (5s); what is left stays spooled.
	ShutdownTimeout time.Duration
	// Logger receives warnings and errors, never event contents beyond
	// request ids; nil means slog.Default().
	Logger *slog.Logger
	// Now stamps events whose CreatedAt is zero, and Stats.LastWrite;
	// nil means time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	setDefault(&o.BatchSize, 500)
	setDefault(&o.FlushInterval, 200*time.Millisecond)
	setDefault(&o.QueueSize, 10000)
	setDefault(&o.SyncInterval, 50*time.Millisecond)
	setDefault(&o.SegmentBytes, 4<<20)
	setDefault(&o.MaxBackoff, 10*time.Second)
	setDefault(&o.InsertTimeout, 10*time.Second)
	setDefault(&o.ShutdownTimeout, 5*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Stats is a snapshot of a Writer's state, for readiness and metrics.
type Stats struct {
	// Queued counts events in memory not yet committed by the sink.
	Queued int
	// SpooledEvents and SpooledBytes measure the spool segments on disk
	// that still hold uncommitted events; most queued events are spooled
	// too. Segments counts the files.
	SpooledEvents int64
	SpooledBytes  int64
	Segments      int
	// Written counts events in batches the sink accepted, replays
	// included.
	Written int64
	// Failures counts failed InsertUsage calls; ConsecutiveFailures
	// counts those since the last success (non-zero: the sink is down).
	Failures            int64
	ConsecutiveFailures int64
	// LastWrite is when the sink last accepted a batch.
	LastWrite time.Time
	// SpoolErrors counts failed spool writes, fsyncs and deletions.
	SpoolErrors int64
	// Corrupt counts unreadable spool lines skipped on replay.
	Corrupt int64
	// Dropped counts events lost because neither the spool nor the queue
	// could take them (see the package documentation).
	Dropped int64
}

// Writer phases.
const (
	phaseNew = iota
	phaseRunning
	phaseDone
)

// Writer spools usage events and writes them to a Sink in batches. Create
// it with New, start Run once, and call Record from any goroutine.
type Writer struct {
	sink    Sink
	o       Options
	log     *slog.Logger
	release func() error
	// kick wakes the sender when a full batch is waiting.
	kick chan struct{}
	// encoders holds *lineEncoder.
	encoders sync.Pool

	mu       sync.Mutex
	phase    int
	seq      uint64 // of the last event recorded
	nextID   uint64 // of the next segment
	active   *segment
	segs     []*segment // on disk, oldest first, active included
	q        queue
	dirty    bool       // the active segment has unsynced writes
	dirDirty bool       // a segment was created since the last dir sync
	toClose  []*os.File // sealed segments to sync and close
	st       Stats

	// Sender state, owned by Run's goroutine.
	rp    *replay
	batch []store.UsageEvent
}

// New opens (creating it if needed) and locks the spool directory, and
// registers the segments a previous process left there for replay by Run.
func New(sink Sink, o Options) (*Writer, error) {
	if sink == nil {
		return nil, errors.New("ledger: nil sink")
	}
	if o.Dir == "" {
		return nil, errors.New("ledger: no spool directory")
	}
	o = o.withDefaults()
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: create spool directory: %w", err)
	}
	release, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	segs, err := scanSpool(o.Dir)
	if err != nil {
		_ = release()
		return nil, err
	}
	w := &Writer{
		sink: sink, o: o, log: o.Logger, release: release,
		kick: make(chan struct{}, 1), segs: segs, nextID: 1, q: queue{limit: o.QueueSize},
	}
	w.encoders.New = func() any { return newLineEncoder() }
	if n := len(segs); n > 0 {
		w.nextID = segs[n-1].id + 1
		var events int64
		for _, s := range segs {
			events += s.events
		}
		w.log.Info("ledger: replaying spool left by a previous run",
			slog.Int("segments", n), slog.Int64("events", events))
	}
	return w, nil
}

// Record takes one usage event. It spools it before returning and never
// waits for the sink; see the package documentation for what it
// guarantees. A zero CreatedAt is set to Options.Now(). It is safe for
// concurrent use, also before Run starts and after it returns (then each
// event is spooled and fsynced for the next start, but the directory is
// no longer locked: start the next Writer on it only after the last
// Record of this one).
func (w *Writer) Record(ev store.UsageEvent) {
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = w.o.Now()
	}
	ev.CreatedAt = ev.CreatedAt.UTC()
	le := w.encoders.Get().(*lineEncoder)
	defer w.encoders.Put(le)
	line, encErr := le.encode(&ev)

	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	room := w.phase != phaseDone && !w.q.full()
	var seg *segment
	if encErr != nil {
		w.spoolFailLocked("encode", encErr)
	} else {
		seg = w.appendLocked(line, room)
	}
	switch {
	case seg != nil && seg.disk:
	case room:
		w.q.push(item{seq: w.seq, seg: seg, ev: ev})
	default:
		w.st.Dropped++
		w.log.Error("ledger: usage event lost: spool unwritable and no room in memory",
			slog.String("request_id", ev.RequestID))
		return
	}
	if w.q.len() >= w.o.BatchSize || seg != nil && seg.disk {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// Stats returns a snapshot of the Writer's counters.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.st
	s.Queued = w.q.len()
	for _, seg := range w.segs {
		s.Segments++
		s.SpooledBytes += seg.size
		s.SpooledEvents += seg.events - seg.committed
	}
	return s
}

// appendLocked writes a spool line to the active segment, opening one if
// needed; room says whether the queue can take the event. It returns the
// segment written, or nil if the write failed.
func (w *Writer) appendLocked(line []byte, room bool) *segment {
	if a := w.active; a != nil && !a.disk && !room {
		// The queue is full: continue on disk only.
		w.sealLocked(a)
	}
	if w.active == nil {
		if err := w.createSegmentLocked(!room); err != nil {
			w.spoolFailLocked("create segment", err)
			return nil
		}
	}
	seg := w.active
	n, err := seg.f.Write(line)
	if err != nil {
		w.spoolFailLocked("write", err)
		if n > 0 {
			if terr := seg.f.Truncate(seg.size); terr != nil {
				w.spoolFailLocked("truncate", terr)
			}
		}
		w.sealLocked(seg)
		return nil
	}
	seg.size += int64(n)
	seg.events++
	w.dirty = true
	if w.phase == phaseDone {
		if err := seg.f.Sync(); err != nil {
			w.spoolFailLocked("sync", err)
		}
	}
	if seg.size >= w.o.SegmentBytes {
		w.sealLocked(seg)
	}
	return seg
}

func (w *Writer) createSegmentLocked(disk bool) error {
	id := w.nextID
	w.nextID++
	path := filepath.Join(w.o.Dir, segmentName(id))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: create segment: %w", err)
	}
	seg := &segment{id: id, path: path, f: f, firstSeq: w.seq, disk: disk}
	w.segs = append(w.segs, seg)
	w.active = seg
	if w.phase == phaseDone {
		if err := syncDir(w.o.Dir); err != nil {
			w.spoolFailLocked("sync", err)
		}
		return nil
	}
	w.dirDirty = true
	return nil
}

// sealLocked ends writes to seg. Its file is synced and closed by the
// syncer, or at once after Run has returned.
func (w *Writer) sealLocked(seg *segment) {
	seg.sealed = true
	if w.active == seg {
		w.active = nil
	}
	f := seg.f
	if f == nil {
		return
	}
	seg.f = nil
	if w.phase != phaseDone {
		w.toClose = append(w.toClose, f)
		return
	}
	if err := syncClose(f); err != nil {
		w.spoolFailLocked("sync", err)
	}
}

func syncClose(f *os.File) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ledger: sync segment: %w", err)
	}
	return nil
}

func (w *Writer) spoolFailLocked(op string, err error) {
	w.st.SpoolErrors++
	w.log.Error("ledger: spool "+op+" failed", slog.Any("error", err))
}

// removeSegmentLocked forgets seg; the caller deletes its file.
func (w *Writer) removeSegmentLocked(seg *segment) {
	if i := indexOf(w.segs, seg); i >= 0 {
		w.segs = append(w.segs[:i], w.segs[i+1:]...)
	}
}

func indexOf(segs []*segment, seg *segment) int {
	for i, s := range segs {
		if s == seg {
			return i
		}
	}
	return -1
}
