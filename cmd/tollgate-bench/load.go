package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadSpec describes one closed-loop load phase: Concurrency workers each
// send a request, read the whole answer and send the next, for Warmup (not
// recorded) and then Duration, or until MaxRequests have been sent.
type loadSpec struct {
	URL         string
	Body        []byte
	Key         string
	Stream      bool
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
	MaxRequests int64
	// Drain is how long requests in flight when the window closes may take
	// to finish (no new ones are sent); those still running then are
	// cancelled. Zero cancels them at once.
	Drain time.Duration
	// Snapshot, if set, is called at the start and at the end of the
	// measured window (for CPU accounting).
	Snapshot func() cpuSnapshot
}

// cpuSnapshot is the CPU time used so far by this process, by the process
// under test (TargetOK false when that one is unknown), by the whole
// machine (SystemOK false when unknown) and by each server process the
// target relies on, by pid (nil when not measured).
type cpuSnapshot struct {
	Self     time.Duration
	Target   time.Duration
	TargetOK bool
	System   time.Duration
	SystemOK bool
	Services map[int]time.Duration
	// RedisPIDs marks the services that are redis-server processes.
	RedisPIDs map[int]bool
}

// loadResult is what one load phase measured.
type loadResult struct {
	// Requests is the number of successful requests completed in the window.
	Requests int
	// Errors counts failed requests, in the window or the warm-up.
	Errors     int64
	FirstError string
	// Elapsed is the length of the measured window.
	Elapsed time.Duration
	// Latency holds the total time of each request, sorted; TTFB the time
	// to the first body byte (streams only), sorted.
	Latency []time.Duration
	TTFB    []time.Duration
	// CPUStart and CPUEnd are the snapshots around the window.
	CPUStart, CPUEnd cpuSnapshot
	// Capped reports that MaxRequests ended the phase before Duration.
	Capped bool
	// Succeeded counts every successful request of the phase, warm-up and
	// drain included: what the target served (and metered). Abandoned
	// counts the requests cancelled in flight, which it may or may not
	// have served.
	Succeeded, Abandoned int64
}

// newTransport returns a client transport keeping up to conns connections
// to each host, without compression or HTTP/2.
func newTransport(conns int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// runLoad runs one load phase. Requests still in flight when the window
// closes are not recorded; they may finish within spec.Drain and are then
// cancelled.
func runLoad(ctx context.Context, spec loadSpec) loadResult {
	tr := newTransport(spec.Concurrency)
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var recording, stopping atomic.Bool
	var issued atomic.Int64
	header := requestHeader(spec.Key)
	workers := make([]*worker, spec.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{spec: &spec, rt: tr, header: header, buf: make([]byte, 32<<10),
			recording: &recording, stopping: &stopping, issued: &issued}
		workers[i] = w
		wg.Go(func() { w.run(ctx) })
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	var res loadResult
	if waitOrDone(ctx, allDone, spec.Warmup) {
		res.CPUStart = snapshot(spec.Snapshot)
		recording.Store(true)
		start := time.Now()
		waitOrDone(ctx, allDone, spec.Duration)
		recording.Store(false)
		res.Elapsed = time.Since(start)
		res.CPUEnd = snapshot(spec.Snapshot)
	}
	stopping.Store(true)
	if spec.Drain > 0 {
		waitOrDone(ctx, allDone, spec.Drain)
	}
	cancel()
	<-allDone
	res.Capped = issued.Load() > spec.MaxRequests
	mergeWorkers(&res, workers)
	return res
}

// waitOrDone waits d and reports true, or reports false as soon as done is
// closed or ctx ends.
func waitOrDone(ctx context.Context, done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	case <-ctx.Done():
		return false
	}
}

func snapshot(f func() cpuSnapshot) cpuSnapshot {
	if f == nil {
		return cpuSnapshot{}
	}
	return f()
}

// mergeWorkers gathers the per-worker records into res, sorted.
func mergeWorkers(res *loadResult, workers []*worker) {
	n := 0
	for _, w := range workers {
		n += len(w.lat)
	}
	res.Latency = make([]time.Duration, 0, n)
	for _, w := range workers {
		res.Latency = append(res.Latency, w.lat...)
		res.TTFB = append(res.TTFB, w.ttfb...)
		res.Errors += w.errors
		res.Succeeded += w.succeeded
		res.Abandoned += w.abandoned
		if res.FirstError == "" {
			res.FirstError = w.firstErr
		}
	}
	slices.Sort(res.Latency)
	slices.Sort(res.TTFB)
	res.Requests = len(res.Latency)
}

// mergeLoad adds window lr to acc, the sum of earlier windows against the
// same target (first: acc is empty). The sum's CPUStart is zero and its
// CPUEnd holds the summed CPU deltas, each known only if known in every
// window; latencies are appended unsorted.
func mergeLoad(acc *loadResult, lr loadResult, first bool) {
	if first {
		*acc = loadResult{FirstError: lr.FirstError, Capped: lr.Capped}
		acc.CPUStart = cpuSnapshot{TargetOK: true, SystemOK: true, Services: map[int]time.Duration{}}
		acc.CPUEnd = cpuSnapshot{TargetOK: true, SystemOK: true, Services: map[int]time.Duration{}, RedisPIDs: map[int]bool{}}
	}
	acc.Requests += lr.Requests
	acc.Errors += lr.Errors
	acc.FirstError = cmp.Or(acc.FirstError, lr.FirstError)
	acc.Elapsed += lr.Elapsed
	acc.Latency = append(acc.Latency, lr.Latency...)
	acc.TTFB = append(acc.TTFB, lr.TTFB...)
	acc.Capped = acc.Capped || lr.Capped
	acc.Succeeded += lr.Succeeded
	acc.Abandoned += lr.Abandoned
	a, s, e := &acc.CPUEnd, lr.CPUStart, lr.CPUEnd
	a.Self += e.Self - s.Self
	a.TargetOK = a.TargetOK && s.TargetOK && e.TargetOK
	a.Target += e.Target - s.Target
	a.SystemOK = a.SystemOK && s.SystemOK && e.SystemOK
	a.System += e.System - s.System
	if a.Services == nil || s.Services == nil || e.Services == nil {
		acc.CPUStart.Services, a.Services = nil, nil
		return
	}
	for pid, cpu := range e.Services {
		a.Services[pid] += max(cpu-s.Services[pid], 0)
	}
	for pid := range e.RedisPIDs {
		a.RedisPIDs[pid] = true
	}
}

// requestHeader is the header shared, read-only, by every request.
func requestHeader(key string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	return h
}

// worker is one closed-loop client. Its records are its own: nothing is
// shared on the hot path but two atomics.
type worker struct {
	spec      *loadSpec
	rt        http.RoundTripper
	header    http.Header
	buf       []byte
	recording *atomic.Bool
	stopping  *atomic.Bool
	issued    *atomic.Int64

	lat, ttfb            []time.Duration
	errors               int64
	succeeded, abandoned int64
	firstErr             string
}

// run sends requests until the phase stops, ctx ends or the request cap is
// reached.
func (w *worker) run(ctx context.Context) {
	w.lat = make([]time.Duration, 0, 1024)
	for ctx.Err() == nil && !w.stopping.Load() {
		if w.issued.Add(1) > w.spec.MaxRequests {
			return
		}
		start := time.Now()
		first, err := w.do(ctx)
		end := time.Now()
		if err != nil && ctx.Err() != nil {
			w.abandoned++ // cancelled at the end of the phase
			return
		}
		if err != nil {
			w.errors++
			if w.firstErr == "" {
				w.firstErr = err.Error()
			}
			continue
		}
		w.succeeded++
		if !w.recording.Load() {
			continue
		}
		w.lat = append(w.lat, end.Sub(start))
		if w.spec.Stream {
			w.ttfb = append(w.ttfb, first.Sub(start))
		}
	}
}

// do sends one request and reads the whole answer, returning when its first
// body byte arrived. A status other than 200, or an answer that does not
// end as a chat completion (a JSON object, or a stream ending in [DONE])
// is an error.
func (w *worker) do(ctx context.Context) (time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.spec.URL, bytes.NewReader(w.spec.Body))
	if err != nil {
		return time.Time{}, err
	}
	req.Header = w.header
	resp, err := w.rt.RoundTrip(req)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return time.Time{}, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(snippet))
	}
	var first time.Time
	var tail tailBuffer
	for {
		n, err := resp.Body.Read(w.buf)
		if n > 0 {
			if first.IsZero() {
				first = time.Now()
			}
			tail.add(w.buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return first, err
		}
	}
	return first, checkAnswer(tail.bytes(), w.spec.Stream)
}

// checkAnswer checks the end of an answer body.
func checkAnswer(tail []byte, stream bool) error {
	end := bytes.TrimSpace(tail)
	if stream {
		if !bytes.HasSuffix(end, []byte("[DONE]")) {
			return fmt.Errorf("stream did not end with [DONE]: ...%q", end)
		}
		return nil
	}
	if !bytes.HasSuffix(end, []byte("}")) {
		return fmt.Errorf("answer is not a JSON object: ...%q", end)
	}
	return nil
}

// tailBuffer keeps the last bytes written to it.
type tailBuffer struct {
	buf [48]byte
	n   int
}

func (t *tailBuffer) add(p []byte) {
	if len(p) >= len(t.buf) {
		t.n = copy(t.buf[:], p[len(p)-len(t.buf):])
		return
	}
	if keep := len(t.buf) - len(p); t.n > keep {
		copy(t.buf[:], t.buf[t.n-keep:t.n])
		t.n = keep
	}
	t.n += copy(t.buf[t.n:], p)
}

func (t *tailBuffer) bytes() []byte { return t.buf[:t.n] }

// streamHold is a set of open streaming requests.
type streamHold struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	tr     *http.Transport
	ended  atomic.Int64 // streams that ended before Release
}

// Release cancels every stream and waits for their goroutines.
func (h *streamHold) Release() {
	h.cancel()
	h.wg.Wait()
	h.tr.CloseIdleConnections()
}

// Ended returns how many streams have ended on their own so far.
func (h *streamHold) Ended() int64 { return h.ended.Load() }

// openStreams starts n streaming requests and waits until every one has
// received its first body byte. On failure the streams are released before
// returning.
func openStreams(ctx context.Context, url string, body []byte, key string, n int, timeout time.Duration) (*streamHold, error) {
	h := &streamHold{tr: newTransport(n)}
	ctx, h.cancel = context.WithCancel(ctx)
	header := requestHeader(key)
	ready := make(chan error, n)
	for range n {
		h.wg.Go(func() { h.hold(ctx, url, body, header, ready) })
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var failed int
	var firstErr error
	for range n {
		select {
		case err := <-ready:
			if err != nil {
				failed++
				firstErr = cmpOr(firstErr, err)
			}
		case <-deadline.C:
			h.Release()
			return nil, fmt.Errorf("open streams: not all %d streams sent a first byte within %v", n, timeout)
		case <-ctx.Done():
			h.Release()
			return nil, ctx.Err()
		}
	}
	if failed > 0 {
		h.Release()
		return nil, fmt.Errorf("open streams: %d of %d failed (first: %v)", failed, n, firstErr)
	}
	return h, nil
}

// hold opens one stream, reports on ready once its first byte came (or it
// failed), then reads until the stream or ctx ends.
func (h *streamHold) hold(ctx context.Context, url string, body []byte, header http.Header, ready chan<- error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		ready <- err
		return
	}
	req.Header = header
	resp, err := h.tr.RoundTrip(req)
	if err != nil {
		ready <- err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		ready <- fmt.Errorf("status %d", resp.StatusCode)
		return
	}
	buf := make([]byte, 512)
	n, err := resp.Body.Read(buf)
	for n == 0 && err == nil {
		n, err = resp.Body.Read(buf)
	}
	if n == 0 {
		ready <- fmt.Errorf("stream ended before its first byte: %v", err)
		return
	}
	ready <- nil
	for err == nil {
		_, err = resp.Body.Read(buf)
	}
	if ctx.Err() == nil {
		h.ended.Add(1)
	}
}

// cmpOr returns a if it is not nil, else b.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
