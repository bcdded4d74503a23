package ledger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-gw/tollgate/store"
)

// Spool file names.
const (
	segmentSuffix    = ".jsonl"
	quarantineSuffix = ".corrupt"
	lockName         = "LOCK"
	// maxLineBytes bounds one spool line on replay; a longer line is
	// skipped as corrupt instead of being read into memory.
	maxLineBytes = 8 << 20
)

// segment is one spool file. Its fields are guarded by Writer.mu, except
// that a replay owns the file's contents.
type segment struct {
	id   uint64
	path string
	// f is open for appending while the segment is active; it is nil once
	// the segment is sealed (the syncer then syncs and closes it).
	f *os.File
	// size and events count the bytes and lines written (or, for a
	// segment found at start, read); committed counts the events the sink
	// has taken.
	size      int64
	events    int64
	committed int64
	// firstSeq is the sequence number of its first event; 0 for a segment
	// left by a previous process, which is older than everything queued.
	firstSeq uint64
	// sealed: no more writes. disk: the events are not in the queue and
	// must be read back from the file.
	sealed bool
	disk   bool
}

// spoolRecord is the spool's JSON line. It has exactly UsageEvent's fields
// so that a conversion copies them all: a field added to UsageEvent and
// not here fails to compile instead of vanishing from the spool.
type spoolRecord struct {
	RequestID        string    `json:"request_id"`
	ClientRequestID  string    `json:"client_request_id,omitempty"`
	KeyID            string    `json:"key_id,omitempty"`
	CustomerID       string    `json:"customer_id,omitempty"`
	Model            string    `json:"model,omitempty"`
	Provider         string    `json:"provider,omitempty"`
	UpstreamModel    string    `json:"upstream_model,omitempty"`
	Endpoint         string    `json:"endpoint,omitempty"`
	PromptTokens     int64     `json:"prompt_tokens,omitempty"`
	CompletionTokens int64     `json:"completion_tokens,omitempty"`
	CachedTokens     int64     `json:"cached_tokens,omitempty"`
	CostPicos        int64     `json:"cost_picos,omitempty"`
	Priced           bool      `json:"priced,omitempty"`
	Estimated        bool      `json:"estimated,omitempty"`
	CacheHit         bool      `json:"cache_hit,omitempty"`
	Stream           bool      `json:"stream,omitempty"`
	Status           int       `json:"status,omitempty"`
	LatencyMS        int64     `json:"latency_ms,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
}

// lineEncoder turns events into spool lines, reusing its buffers; Writer
// keeps a pool of them so that Record does not allocate per event.
type lineEncoder struct {
	rec spoolRecord
	buf bytes.Buffer
	enc *json.Encoder
}

func newLineEncoder() *lineEncoder {
	le := &lineEncoder{}
	le.enc = json.NewEncoder(&le.buf)
	le.enc.SetEscapeHTML(false)
	return le
}

// encode returns ev as one spool line, newline included; the line is
// valid until the next call.
func (le *lineEncoder) encode(ev *store.UsageEvent) ([]byte, error) {
	le.buf.Reset()
	le.rec = spoolRecord(*ev)
	if err := le.enc.Encode(&le.rec); err != nil {
		return nil, fmt.Errorf("ledger: encode event: %w", err)
	}
	return le.buf.Bytes(), nil
}

// encodeEvent returns ev as one spool line, newline included.
func encodeEvent(ev *store.UsageEvent) ([]byte, error) {
	return newLineEncoder().encode(ev)
}

// decodeEvent parses one spool line (without its newline).
func decodeEvent(line []byte) (store.UsageEvent, error) {
	var r spoolRecord
	if err := json.Unmarshal(line, &r); err != nil {
		return store.UsageEvent{}, fmt.Errorf("ledger: decode event: %w", err)
	}
	if r.RequestID == "" {
		return store.UsageEvent{}, errors.New("ledger: decode event: no request_id")
	}
	return store.UsageEvent(r), nil
}

func segmentName(id uint64) string {
	return fmt.Sprintf("%020d%s", id, segmentSuffix)
}

func parseSegmentName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 10, 64)
	return id, err == nil
}

// scanSpool returns the segments left in dir by a previous writer, oldest
// first, sealed and disk-backed, with their lines counted.
func scanSpool(dir string) ([]*segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ledger: read spool %s: %w", dir, err)
	}
	var segs []*segment
	for _, e := range entries {
		id, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		size, lines, err := countLines(path)
		if err != nil {
			return nil, err
		}
		segs = append(segs, &segment{
			id: id, path: path, size: size, events: lines, sealed: true, disk: true,
		})
	}
	slices.SortFunc(segs, func(a, b *segment) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return segs, nil
}

// countLines returns a file's size and its number of lines, a final line
// without a newline included.
func countLines(path string) (size, lines int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("ledger: open segment: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var last byte = '\n'
	for {
		n, err := f.Read(buf)
		if n > 0 {
			size += int64(n)
			lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
			last = buf[n-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("ledger: read segment %s: %w", filepath.Base(path), err)
		}
	}
	if last != '\n' {
		lines++
	}
	return size, lines, nil
}

// syncDir fsyncs a directory, so that files created in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("ledger: open spool dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ledger: sync spool dir: %w", err)
	}
	return nil
}

// replay reads one sealed segment back in batches. It belongs to the
// sender goroutine.
type replay struct {
	seg  *segment
	f    *os.File
	br   *bufio.Reader
	name string
	line int64 // lines read so far, for warnings
	long []byte

	// batch holds the events read and not yet committed; consumed counts
	// the lines they came from, corrupt ones included.
	batch    []store.UsageEvent
	consumed int64
	corrupt  int64
	loaded   bool
	eof      bool
	// keep: leave the file in place (a read error: the next start
	// retries). quarantine: rename it, it has a corrupt line mid-file.
	keep       bool
	quarantine bool
}

func openReplay(seg *segment) (*replay, error) {
	f, err := os.Open(seg.path)
	if err != nil {
		return nil, fmt.Errorf("ledger: open segment for replay: %w", err)
	}
	return &replay{
		seg: seg, f: f, br: bufio.NewReaderSize(f, 64<<10), name: filepath.Base(seg.path),
	}, nil
}

// warnFunc reports an unreadable line: the segment, the line number and
// why; never the line's contents.
type warnFunc func(segment string, line int64, reason string, err error)

// fill reads up to max events into rp.batch. It stops early at the end
// of the file, or on a read error (then rp.keep is set).
func (rp *replay) fill(max int, warn warnFunc) {
	rp.batch, rp.consumed, rp.corrupt = rp.batch[:0], 0, 0
	rp.loaded = true
	for len(rp.batch) < max && !rp.eof {
		line, complete, err := rp.readLine()
		if err != nil && err != io.EOF {
			warn(rp.name, rp.line+1, "read error; segment kept for the next start", err)
			rp.eof, rp.keep = true, true
			return
		}
		rp.eof = err == io.EOF
		if !complete && len(line) == 0 {
			return // the end of the file
		}
		rp.line++
		rp.consumed++
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ev, derr := decodeEvent(line)
		switch {
		case derr == nil:
			rp.batch = append(rp.batch, ev)
		case !complete:
			rp.corrupt++
			warn(rp.name, rp.line, "truncated final line skipped", derr)
		default:
			rp.corrupt++
			rp.quarantine = true
			warn(rp.name, rp.line, "corrupt line skipped", derr)
		}
	}
}

// readLine returns the next line without its newline and whether it had
// one. A line over maxLineBytes is consumed and returned as invalid JSON.
// At the end of the file it returns what is left and io.EOF.
func (rp *replay) readLine() (line []byte, complete bool, err error) {
	rp.long = rp.long[:0]
	tooLong := false
	for {
		frag, err := rp.br.ReadSlice('\n')
		if !tooLong {
			if len(rp.long)+len(frag) > maxLineBytes {
				tooLong = true
				rp.long = append(rp.long[:0], "line too long"...)
			} else {
				rp.long = append(rp.long, frag...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			return rp.long, false, err
		}
		if tooLong {
			return rp.long, true, nil
		}
		return rp.long[:len(rp.long)-1], true, nil
	}
}

func (rp *replay) close() error {
	if err := rp.f.Close(); err != nil {
		return fmt.Errorf("ledger: close segment: %w", err)
	}
	return nil
}
