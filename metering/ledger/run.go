package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/tollgate-gw/tollgate/store"
)

// minBackoff is the first wait after a failed insert.
const minBackoff = 100 * time.Millisecond

// Run sends spooled events to the sink until ctx is done: first what a
// previous process left, then new events in batches of BatchSize at least
// every FlushInterval, retrying with backoff while the sink fails. It
// fsyncs the spool every SyncInterval meanwhile. Once ctx is done it
// sends what is queued in memory for at most ShutdownTimeout, then fsyncs
// and closes the spool, releases the directory and returns: nil if every
// event is either committed or durably spooled. Run must be called once.
func (w *Writer) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.phase != phaseNew {
		w.mu.Unlock()
		return errors.New("ledger: Run called twice")
	}
	w.phase = phaseRunning
	w.mu.Unlock()

	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		w.syncLoop(stop)
	}()
	w.sendLoop(ctx)
	return w.shutdown(ctx, func() {
		close(stop)
		<-stopped
	})
}

func (w *Writer) sendLoop(ctx context.Context) {
	tick := time.NewTicker(w.o.FlushInterval)
	defer tick.Stop()
	fails := 0
	for {
		for ctx.Err() == nil {
			more, err := w.sendNext(ctx)
			if err == nil {
				fails = 0
				if !more {
					break
				}
				continue
			}
			if ctx.Err() != nil {
				return
			}
			fails++
			wait := w.backoff(fails)
			w.log.Warn("ledger: usage insert failed; events stay spooled",
				slog.Any("error", err), slog.Int("attempt", fails), slog.Duration("retry_in", wait))
			if !sleep(ctx, wait) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-tick.C:
		}
	}
}

// backoff returns the jittered wait after the n-th consecutive failure.
func (w *Writer) backoff(n int) time.Duration {
	d := w.o.MaxBackoff
	if n < 30 {
		d = min(minBackoff<<(n-1), w.o.MaxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// sendNext sends the next batch, oldest first: from the queue, or read
// back from a disk-backed segment. It reports whether another batch may be
// ready at once: after a replayed batch, or a full one from the queue. A
// partial batch from the queue ends the round, so that under a steady
// trickle the sink gets one batch per FlushInterval (or per BatchSize
// events) rather than one per insert round trip: a transaction per few
// events would cost the database several times the CPU per event.
func (w *Writer) sendNext(ctx context.Context) (more bool, err error) {
	if w.rp == nil {
		w.mu.Lock()
		seg := w.oldestDiskLocked()
		if seg == nil || w.q.len() > 0 && w.q.at(0).seq < seg.firstSeq {
			n := w.takeLocked()
			w.mu.Unlock()
			if n == 0 {
				return false, nil
			}
			return n == w.o.BatchSize, w.sendQueued(ctx, n)
		}
		if seg == w.active {
			w.sealLocked(seg) // new events go to a new segment
		}
		w.mu.Unlock()
		rp, err := openReplay(seg)
		if err != nil {
			w.mu.Lock()
			w.spoolFailLocked("replay", err)
			w.removeSegmentLocked(seg) // left on disk for the next start
			w.mu.Unlock()
			return true, nil
		}
		w.rp = rp
	}
	return true, w.sendReplay(ctx)
}

func (w *Writer) oldestDiskLocked() *segment {
	for _, s := range w.segs {
		if s.disk {
			return s
		}
	}
	return nil
}

// takeLocked copies up to BatchSize queued events into w.batch.
func (w *Writer) takeLocked() int {
	n := min(w.q.len(), w.o.BatchSize)
	w.batch = w.batch[:0]
	for i := range n {
		w.batch = append(w.batch, w.q.at(i).ev)
	}
	return n
}

// sendQueued inserts w.batch, the first n queued events, and on success
// removes them from the queue and deletes the segments now committed.
func (w *Writer) sendQueued(ctx context.Context, n int) error {
	if err := w.insert(ctx, w.batch); err != nil {
		return err
	}
	w.mu.Lock()
	for i := range n {
		if s := w.q.at(i).seg; s != nil {
			s.committed++
		}
	}
	w.q.pop(n)
	if a := w.active; a != nil && !a.disk && a.committed == a.events {
		w.sealLocked(a) // all committed: seal it so that it can go
	}
	var done []*segment
	for _, s := range w.segs {
		if s.sealed && !s.disk && s.committed >= s.events {
			done = append(done, s)
		}
	}
	for _, s := range done {
		w.removeSegmentLocked(s)
	}
	w.mu.Unlock()
	for _, s := range done {
		w.deleteFile(s.path, false)
	}
	return nil
}

// sendReplay inserts the next batch of the segment being replayed and,
// once the whole segment is committed, deletes it.
func (w *Writer) sendReplay(ctx context.Context) error {
	rp := w.rp
	if !rp.loaded {
		rp.fill(w.o.BatchSize, w.warnLine)
	}
	if len(rp.batch) > 0 {
		if err := w.insert(ctx, rp.batch); err != nil {
			return err
		}
	}
	w.mu.Lock()
	rp.seg.committed += rp.consumed
	w.st.Corrupt += rp.corrupt
	rp.loaded = false
	if rp.eof {
		w.removeSegmentLocked(rp.seg)
	}
	w.mu.Unlock()
	if rp.eof {
		w.finishReplay()
	}
	return nil
}

// finishReplay closes the replayed segment and deletes, renames or (after
// a read error) keeps its file.
func (w *Writer) finishReplay() {
	rp := w.rp
	w.rp = nil
	if err := rp.close(); err != nil {
		w.spoolError("close", err)
	}
	if !rp.keep {
		w.deleteFile(rp.seg.path, rp.quarantine)
	}
}

// abandonReplay stops a replay without touching its file: the next start
// replays it again.
func (w *Writer) abandonReplay() {
	if rp := w.rp; rp != nil {
		w.rp = nil
		if err := rp.close(); err != nil {
			w.spoolError("close", err)
		}
	}
}

func (w *Writer) warnLine(seg string, line int64, reason string, err error) {
	w.log.Warn("ledger: "+reason, slog.String("segment", seg), slog.Int64("line", line),
		slog.Any("error", err))
}

// deleteFile removes a committed segment, or renames it aside when it had
// corrupt lines.
func (w *Writer) deleteFile(path string, quarantine bool) {
	var err error
	if quarantine {
		err = os.Rename(path, path+quarantineSuffix)
		if err == nil {
			w.log.Warn("ledger: segment with corrupt lines kept for inspection",
				slog.String("file", path+quarantineSuffix))
		}
	} else {
		err = os.Remove(path)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		w.spoolError("delete", err)
	}
}

func (w *Writer) spoolError(op string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.spoolFailLocked(op, err)
}

// insert calls the sink with a timeout and keeps the counters.
func (w *Writer) insert(ctx context.Context, evs []store.UsageEvent) error {
	ictx, cancel := context.WithTimeout(ctx, w.o.InsertTimeout)
	defer cancel()
	err := w.sink.InsertUsage(ictx, evs)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			w.st.Failures++
			w.st.ConsecutiveFailures++
		}
		return fmt.Errorf("ledger: insert %d events: %w", len(evs), err)
	}
	w.st.Written += int64(len(evs))
	w.st.ConsecutiveFailures = 0
	w.st.LastWrite = w.o.Now()
	return nil
}

func (w *Writer) syncLoop(stop <-chan struct{}) {
	t := time.NewTicker(w.o.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			w.syncOnce()
		}
	}
}

// syncOnce is one group commit: it fsyncs the active segment if written
// to, syncs and closes sealed ones, and syncs the directory if a segment
// was created. The fsyncs run outside the lock, so Record never waits.
func (w *Writer) syncOnce() {
	w.mu.Lock()
	var active *os.File
	if w.dirty && w.active != nil && w.phase != phaseDone {
		// (after Run, Record syncs and closes segments itself)
		active = w.active.f
	}
	closing, dir := w.toClose, w.dirDirty
	w.dirty, w.toClose, w.dirDirty = false, nil, false
	w.mu.Unlock()

	// The active file is closed only by a later pass, after it is sealed.
	if active != nil {
		if err := active.Sync(); err != nil {
			w.spoolError("sync", err)
		}
	}
	for _, f := range closing {
		if err := syncClose(f); err != nil {
			w.spoolError("sync", err)
		}
	}
	if dir {
		if err := syncDir(w.o.Dir); err != nil {
			w.spoolError("sync", err)
		}
	}
}

// shutdown is Run's end: a bounded flush of the queue to the sink, then
// the last group commit. Queued events that never reached the spool are
// spooled now, synchronously.
func (w *Writer) shutdown(ctx context.Context, stopSyncer func()) error {
	w.abandonReplay()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.ShutdownTimeout)
	defer cancel()
	var flushErr error
	for {
		w.mu.Lock()
		n := w.takeLocked()
		w.mu.Unlock()
		if n == 0 {
			break
		}
		if flushErr = w.sendQueued(fctx, n); flushErr != nil {
			break
		}
	}
	stopSyncer()
	if flushErr != nil {
		w.log.Warn("ledger: sink unavailable at shutdown; events left in the spool",
			slog.Any("error", flushErr))
	}

	before := w.Stats()
	w.mu.Lock()
	w.phase = phaseDone
	if w.active != nil {
		w.sealLocked(w.active)
	}
	var unspooled []store.UsageEvent
	for i := range w.q.len() {
		if it := w.q.at(i); it.seg == nil {
			unspooled = append(unspooled, it.ev)
		}
	}
	w.q = queue{limit: w.q.limit}
	w.mu.Unlock()
	w.syncOnce()
	for _, ev := range unspooled {
		w.Record(ev) // spooled and fsynced now, or counted as dropped
	}

	var err error
	if after := w.Stats(); after.Dropped > before.Dropped || after.SpoolErrors > before.SpoolErrors {
		err = fmt.Errorf("ledger: shutdown: %d events lost, %d spool errors",
			after.Dropped-before.Dropped, after.SpoolErrors-before.SpoolErrors)
	}
	if rerr := w.release(); rerr != nil {
		err = errors.Join(err, fmt.Errorf("ledger: unlock spool: %w", rerr))
	}
	return err
}
