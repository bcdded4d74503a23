// Package ledger writes usage events to the usage ledger, asynchronously
// and in batches, without losing or double-counting any: not on a client
// disconnect, a restart, a crash, or a database that is down for a while.
// Finance relies on it.
//
// A Writer takes events from the request path (Record), spools them to
// disk first, and hands them to a Sink (in production the store, whose
// InsertUsage skips request ids it already holds) from a supervised loop
// (Run).
//
// # Durability contract
//
// Write-ahead: Record appends the event, as one JSON line, to the current
// segment file of the spool directory with a write(2) before it returns,
// and only then queues it for the sink. A loop inside Run fsyncs the
// spool at most every SyncInterval (group commit), so Record never waits
// for a disk flush. Hence:
//
//   - A crash of the process alone (panic, OOM kill, kill -9) loses no
//     event Record has returned for: its line is in the kernel's page
//     cache, and the next Writer on the directory replays it.
//   - A crash of the machine (power loss, kernel panic) loses at most the
//     events recorded since the start of the last group commit (the
//     fsync of the segment files, then of the directory) that completed:
//     while Run runs, less than SyncInterval plus one group commit's
//     duration (more only if a group commit takes longer than
//     SyncInterval). Before Run starts nothing is fsynced; after Run has
//     returned, Record fsyncs each event itself before returning.
//   - An event whose spool write fails (disk full, I/O error) is still
//     queued in memory for the sink. It is lost only if, at the same time,
//     the queue is full, or the process stops before the sink takes it and
//     the spool is still unwritable; either way it is counted in
//     Stats.Dropped and logged by request id. This is the one way an event
//     can be lost without a machine crash: both the disk and the database
//     failing together.
//
// Nothing is counted twice by the Writer: a segment file is deleted only
// once the sink has committed every event in it. Whatever is sent again (a
// segment replayed after a crash, a batch whose commit succeeded but whose
// acknowledgement was lost) relies on the sink skipping request ids it
// already holds, as store.Store.InsertUsage does.
//
// # Bounded memory
//
// The in-memory queue holds at most QueueSize events. When it is full
// (the sink is down or slow), Record seals the current segment and writes
// the following events to disk only, into disk-backed segments; the sender
// reads those back from disk, BatchSize events at a time, once it has
// drained the queue, and Record returns to queueing when the sender has
// caught up. Memory therefore stays within QueueSize events plus two
// batches' buffers however long the outage; the spool on disk grows instead
// (Stats.SpooledBytes). Record itself does one write(2) under a mutex, and
// occasionally creates a file: it waits for the disk's write path, never
// for the sink or an fsync (except after Run has returned).
//
// # Replay and restart
//
// On failure the sender keeps the batch, backs off exponentially (from
// 100ms to MaxBackoff, jittered) and retries; on recovery it sends the
// backlog in order, oldest first, in batches. New registers the segments
// a previous process left in the directory, and Run replays them before
// anything else. An unreadable line (the truncated last line of a crash,
// or garbage) is skipped with a warning naming the file and line, never
// its contents, and never blocks the replay; a segment with an unreadable
// line in the middle is kept, renamed to NNN.jsonl.corrupt, for
// inspection.
//
// # Spool layout
//
// Dir holds segment files named by a 20-digit number (NNN.jsonl, the
// oldest lowest) of at most about SegmentBytes each, and a LOCK file that
// New locks (flock, where available) so that a second Writer, in this or
// another process, cannot share the directory: New fails with ErrLocked.
// The lock is released when Run returns, or by the kernel when the
// process dies.
//
// # Shutdown
//
// When Run's context is done, Run sends what is queued in memory to the
// sink for at most ShutdownTimeout, then fsyncs and closes the spool and
// returns; what the sink did not take stays in the spool for the next
// start. Stop the HTTP server before cancelling Run so that no request is
// still recording.
package ledger
