package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// The usage ledger must lose no event and count none twice when
// PostgreSQL goes away for a while: requests keep being served (keys from
// the in-process keyring, usage to the spool) and the backlog arrives,
// once, when the database is back; also across a restart of the gateway
// during the outage. A fault-injecting proxy stands between the gateway
// and the real PostgreSQL so that the test takes the database away
// without touching the server.

func outageCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// startOutageGateway starts a gateway on the mock provider with its
// database behind db's proxy and its spool under dataDir.
func startOutageGateway(t *testing.T, db *outageDB, dataDir string) *gw {
	t.Helper()
	return startGateway(t, mockYAML, map[string]string{
		"TOLLGATE_DATABASE_URL": db.gatewayURL,
		"TOLLGATE_DATA_DIR":     dataDir,
		"TOLLGATE_LOG_LEVEL":    "info",
	})
}

// outageAnswer is the usage a client was told about.
type outageAnswer struct{ prompt, completion int64 }

// outageLoad drives chat requests (half of them streamed, on a priced and
// an unpriced model) against a gateway from several workers, and keeps
// the request ids the gateway outageAnswer successfully.
type outageLoad struct {
	g      *gw
	client *http.Client
	prefix string

	ok   atomic.Int64
	runs atomic.Int64
	mu   sync.Mutex
	// done holds every request outageAnswer 200 with a complete body.
	done     map[string]outageAnswer
	failures []string
	// slowest is the longest request and when it started.
	slowest      time.Duration
	slowestStart time.Time
}

func newOutageLoad(t *testing.T, g *gw) *outageLoad {
	var b [4]byte
	_, _ = rand.Read(b[:])
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &outageLoad{
		g: g, client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		prefix: "outage-" + hex.EncodeToString(b[:]), done: map[string]outageAnswer{},
	}
}

// run starts workers, each sending each requests (0: until stop is
// closed), and returns a function that waits for them.
func (l *outageLoad) run(workers, each int, stop <-chan struct{}) (wait func()) {
	r := l.runs.Add(1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; each == 0 || i < each; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-r%d-w%d-%d", l.prefix, r, w, i)
				model := []string{"mock/echo", "priced"}[i%2]
				began := time.Now()
				u, err := l.one(id, model, (i/2)%2 == 1, fmt.Sprintf("worker %d request %d", w, i))
				l.mu.Lock()
				if d := time.Since(began); d > l.slowest {
					l.slowest, l.slowestStart = d, began
				}
				if err != nil {
					l.failures = append(l.failures, id+": "+err.Error())
				} else {
					l.done[id] = u
				}
				l.mu.Unlock()
				if err == nil {
					l.ok.Add(1)
				}
			}
		})
	}
	return wg.Wait
}

// one sends a chat request and reads the whole answer; err unless it is a
// 200 with a complete body and a usage figure.
func (l *outageLoad) one(id, model string, stream bool, text string) (outageAnswer, error) {
	body := `{"model":"` + model + `","messages":[{"role":"user","content":"` + text + `"}]`
	if stream {
		body += `,"stream":true,"stream_options":{"include_usage":true}`
	}
	body += `}`
	req, err := http.NewRequest(http.MethodPost, l.g.url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return outageAnswer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+l.g.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", id)
	resp, err := l.client.Do(req)
	if err != nil {
		return outageAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return outageAnswer{}, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return outageAnswer{}, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if got := resp.Header.Get("X-Request-Id"); got != id {
		return outageAnswer{}, fmt.Errorf("x-request-id %q", got)
	}
	usage := gjson.GetBytes(b, "usage")
	if stream {
		var last string
		usage = gjson.Result{}
		for _, line := range bytes.Split(b, []byte("\n")) {
			data, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("data: "))
			if !ok {
				continue
			}
			last = string(data)
			if gjson.GetBytes(data, "error").Exists() {
				return outageAnswer{}, fmt.Errorf("stream error: %s", data)
			}
			if u := gjson.GetBytes(data, "usage"); u.IsObject() {
				usage = u
			}
		}
		if last != "[DONE]" {
			return outageAnswer{}, fmt.Errorf("stream not finished: %q", last)
		}
	}
	if !usage.Get("prompt_tokens").Exists() {
		return outageAnswer{}, fmt.Errorf("no usage in the answer: %s", b)
	}
	return outageAnswer{usage.Get("prompt_tokens").Int(), usage.Get("completion_tokens").Int()}, nil
}

// snapshot returns a copy of the successful requests.
func (l *outageLoad) snapshot() map[string]outageAnswer {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]outageAnswer, len(l.done))
	for k, v := range l.done {
		out[k] = v
	}
	return out
}

// checkNoFailures fails the test if any request did not succeed.
func (l *outageLoad) checkNoFailures(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.failures); n > 0 {
		t.Errorf("%d of %d requests failed, e.g. %v", n, n+len(l.done), outageHead(l.failures))
	}
}

// insertFailuresLogged counts the ledger's failed inserts in the log.
func insertFailuresLogged(g *gw) int {
	var n int
	for _, l := range g.logs.lines() {
		if msg, _ := l["msg"].(string); strings.HasPrefix(msg, "ledger:") && strings.Contains(msg, "insert failed") {
			n++
		}
	}
	return n
}

func TestE2EPostgresOutageLosesNoEvent(t *testing.T) {
	db := newOutageDB(t)
	dataDir := t.TempDir()
	g := startOutageGateway(t, db, dataDir)
	load := newOutageLoad(t, g)
	stop := make(chan struct{})
	began := time.Now()
	wait := load.run(8, 0, stop)
	stopLoad := sync.OnceFunc(func() { close(stop); wait() })
	defer stopLoad()

	// Traffic in full swing first (the mock's tokenizer loads in the
	// background and may hold the first requests for a while under -race).
	for deadline := time.Now().Add(15 * time.Second); load.ok.Load() < 200; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			load.checkNoFailures(t)
			t.Fatalf("only %d requests succeeded in 15s before the outage", load.ok.Load())
		}
	}
	db.proxy.Stop() // the database goes away ...
	outageStart := time.Now()
	okAtStop := load.ok.Load()
	time.Sleep(500 * time.Millisecond) // (a commit already sent may still land)
	during := db.totals(t).rows
	time.Sleep(1500 * time.Millisecond)
	if after := db.totals(t).rows; after != during {
		t.Errorf("%d events reached PostgreSQL while it was unreachable for the gateway", after-during)
	}
	servedDuring := load.ok.Load() - okAtStop
	if err := db.proxy.Start(); err != nil { // ... and comes back
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	stopLoad()

	load.checkNoFailures(t)
	n := int64(len(load.snapshot()))
	if servedDuring == 0 {
		load.mu.Lock()
		t.Errorf("slowest request: %v, started %v after the outage began", load.slowest, load.slowestStart.Sub(outageStart))
		load.mu.Unlock()
		for _, l := range g.logs.lines() {
			if l["level"] != "INFO" {
				t.Log(l)
			}
		}
		t.Fatal("no request was served while the database was down")
	}
	if insertFailuresLogged(g) == 0 {
		t.Error("the ledger never failed an insert: the outage was not felt")
	}
	stopped := time.Now()
	db.waitForRows(t, n, 15*time.Second)
	t.Logf("%d requests succeeded, %d of them while the database was down; warm-up %v, all in PostgreSQL %v after the traffic stopped",
		n, servedDuring, outageStart.Sub(began).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
	db.checkLedger(t, load)

	// A graceful stop leaves nothing behind: no further events, and no
	// spool segment still waiting.
	if err := g.stop(); err != nil {
		t.Fatalf("gateway stop: %v", err)
	}
	if s := db.totals(t); s.rows != n {
		t.Errorf("after the gateway stopped the ledger holds %d events; want %d", s.rows, n)
	}
	if files := outageSpoolFiles(t, dataDir); len(files) > 0 {
		t.Errorf("spool segments left after a graceful stop with the database up: %v", files)
	}
}

func TestE2EPostgresOutageAcrossRestart(t *testing.T) {
	db := newOutageDB(t)
	dataDir := t.TempDir()
	g1 := startOutageGateway(t, db, dataDir)
	load := newOutageLoad(t, g1)

	// Some usage while the database is up ...
	load.run(4, 25, nil)()
	load.checkNoFailures(t)
	before := int64(len(load.snapshot()))
	db.waitForRows(t, before, 10*time.Second)

	// ... then more while it is down, and a graceful stop before it is
	// back: the events must stay in the spool.
	db.proxy.Stop()
	first := load.snapshot()
	load.run(4, 50, nil)()
	load.checkNoFailures(t)
	total := int64(len(load.snapshot()))
	stopped := time.Now()
	if err := g1.stop(); err != nil {
		t.Fatalf("gateway stop with the database down: %v", err)
	}
	t.Logf("%d requests before the outage, %d during it; gateway stopped in %v with the database down",
		before, total-before, time.Since(stopped).Round(time.Millisecond))
	if s := db.totals(t); s.rows != before {
		t.Fatalf("the ledger holds %d events while the database was unreachable; want %d", s.rows, before)
	}
	// The spool holds exactly the events of the outage, each once.
	files := outageSpoolFiles(t, dataDir)
	var spooled []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		spooled = append(spooled, b...)
	}
	if lines := int64(bytes.Count(spooled, []byte("\n"))); lines != total-before {
		t.Errorf("the spool holds %d lines in %d segments; want the %d events of the outage", lines, len(files), total-before)
	}
	for id := range load.snapshot() {
		want := 1
		if _, ok := first[id]; ok {
			want = 0
		}
		if n := bytes.Count(spooled, []byte(`"`+id+`"`)); n != want {
			t.Errorf("request %s is %d times in the spool; want %d", id, n, want)
		}
	}

	// The database comes back and a new gateway starts on the same spool:
	// it replays the backlog, once.
	if err := db.proxy.Start(); err != nil {
		t.Fatal(err)
	}
	g2 := startOutageGateway(t, db, dataDir)
	db.waitForRows(t, total, 15*time.Second)
	db.checkLedger(t, load)

	// It serves and meters as usual, and a graceful stop leaves nothing.
	load.g = g2
	load.run(4, 5, nil)()
	load.checkNoFailures(t)
	total = int64(len(load.snapshot()))
	db.waitForRows(t, total, 10*time.Second)
	if err := g2.stop(); err != nil {
		t.Fatalf("gateway stop: %v", err)
	}
	db.checkLedger(t, load)
	if files := outageSpoolFiles(t, dataDir); len(files) > 0 {
		t.Errorf("spool segments left after a graceful stop with the database up: %v", files)
	}
}
