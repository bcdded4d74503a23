package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestTailBuffer(t *testing.T) {
	var tb tailBuffer
	tb.add([]byte("hello "))
	tb.add([]byte("world"))
	if got := string(tb.bytes()); got != "hello world" {
		t.Errorf("tail = %q", got)
	}
	long := strings.Repeat("x", 100) + "data: [DONE]\n\n"
	for i := 0; i < len(long); i += 7 {
		tb.add([]byte(long[i:min(i+7, len(long))]))
	}
	if got := string(tb.bytes()); !strings.HasSuffix(long, got) || len(got) != len(tb.buf) {
		t.Errorf("tail = %q, want the last %d bytes", got, len(tb.buf))
	}
	tb.add([]byte(long))
	if got := string(tb.bytes()); got != long[len(long)-len(tb.buf):] {
		t.Errorf("tail after a big write = %q", got)
	}
}

func TestCheckAnswer(t *testing.T) {
	if err := checkAnswer([]byte(`..."total_tokens":3}}`+"\n"), false); err != nil {
		t.Error(err)
	}
	if err := checkAnswer([]byte(`{"error":`), false); err == nil {
		t.Error("truncated JSON accepted")
	}
	if err := checkAnswer([]byte("}\n\ndata: [DONE]\n\n"), true); err != nil {
		t.Error(err)
	}
	if err := checkAnswer([]byte(`data: {"error":{}}`+"\n\n"), true); err == nil {
		t.Error("stream without [DONE] accepted")
	}
}

func TestBuildPromptAndBody(t *testing.T) {
	if p := buildPrompt(1); strings.Contains(p, "\n") || p == "" {
		t.Errorf("one-line prompt = %q", p)
	}
	p := buildPrompt(4000)
	if words := len(strings.Fields(p)); words < 3500 || words > 4000 {
		t.Errorf("4000-token prompt has %d words", words)
	}
	f := newFakeHandler()
	body := chatBody("bench-model", p, true)
	for _, mark := range [][]byte{f.markStream, f.markUsage, []byte(`"model":"bench-model"`)} {
		if !strings.Contains(string(body), string(mark)) {
			t.Errorf("stream body lacks %s", mark)
		}
	}
	if strings.Contains(string(chatBody("m", "hi", false)), "stream_options") {
		t.Error("non-stream body asks for stream options")
	}
}

// TestSmokeDirect runs the direct path against the fake for a short while,
// without any gateway.
func TestSmokeDirect(t *testing.T) {
	f, err := startFake("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, stream := range []bool{false, true} {
		spec := loadSpec{
			URL: f.BaseURL + chatPath, Body: chatBody("fake-model", "hi", stream), Key: "k", Stream: stream,
			Concurrency: 4, Warmup: 50 * time.Millisecond, Duration: 150 * time.Millisecond, MaxRequests: 1_000_000,
			Snapshot: func() cpuSnapshot { return cpuSnapshot{Self: selfCPU()} },
		}
		lr := runLoad(context.Background(), spec)
		if lr.Errors != 0 || lr.Requests == 0 || lr.Capped {
			t.Fatalf("stream=%v: %d requests, %d errors (%s), capped %v", stream, lr.Requests, lr.Errors, lr.FirstError, lr.Capped)
		}
		if lr.Elapsed < 100*time.Millisecond || len(lr.Latency) != lr.Requests {
			t.Errorf("stream=%v: elapsed %v, %d latencies", stream, lr.Elapsed, len(lr.Latency))
		}
		if stream != (len(lr.TTFB) == lr.Requests) || (stream && lr.TTFB[0] > lr.Latency[len(lr.Latency)-1]) {
			t.Errorf("stream=%v: %d ttfb records for %d requests", stream, len(lr.TTFB), lr.Requests)
		}
		r := newPhaseResult("smoke", targetDirect, stream, lr)
		if r.RPS <= 0 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 {
			t.Errorf("stream=%v: odd summary %+v", stream, r)
		}
	}
}

func TestLoadCapAndErrors(t *testing.T) {
	f, err := startFake("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spec := loadSpec{URL: f.BaseURL + chatPath, Body: chatBody("fake-model", "hi", false),
		Concurrency: 2, Warmup: 0, Duration: 5 * time.Second, MaxRequests: 50}
	start := time.Now()
	lr := runLoad(context.Background(), spec)
	if !lr.Capped || lr.Requests > 50 || time.Since(start) > 2*time.Second {
		t.Errorf("capped %v after %d requests in %v", lr.Capped, lr.Requests, time.Since(start))
	}
	spec = loadSpec{URL: f.BaseURL + "/v1/nothing", Body: []byte(`{}`),
		Concurrency: 2, Warmup: 0, Duration: 100 * time.Millisecond, MaxRequests: 1000}
	lr = runLoad(context.Background(), spec)
	if lr.Errors == 0 || lr.Requests != 0 || !strings.Contains(lr.FirstError, "status 404") {
		t.Errorf("404s: %d requests, %d errors, first %q", lr.Requests, lr.Errors, lr.FirstError)
	}
}

func TestOpenStreams(t *testing.T) {
	f, err := startFake("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.SetDelays(0, time.Minute)
	h, err := openStreams(context.Background(), f.BaseURL+chatPath, chatBody("fake-model", "hi", true), "", 20, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if h.Ended() != 0 {
		t.Errorf("%d streams ended early", h.Ended())
	}
	done := make(chan struct{})
	go func() { h.Release(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Release did not return")
	}
	if _, err := openStreams(context.Background(), f.BaseURL+"/v1/nothing", []byte(`{}`), "", 3, 5*time.Second); err == nil {
		t.Error("streams to a 404 opened")
	}
}

// TestLoadDrain checks that requests in flight at the window's end finish
// within Drain and are counted, and that without Drain they are cancelled.
func TestLoadDrain(t *testing.T) {
	f, err := startFake("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.SetDelays(150*time.Millisecond, 0)
	spec := loadSpec{URL: f.BaseURL + chatPath, Body: chatBody("fake-model", "hi", false),
		Concurrency: 3, Duration: 200 * time.Millisecond, MaxRequests: 1000, Drain: 5 * time.Second}
	lr := runLoad(context.Background(), spec)
	// Each worker has a request in flight at the window's end (barring a
	// worker caught between two requests): it completes in the drain.
	drained := lr.Succeeded - int64(lr.Requests)
	if lr.Errors != 0 || lr.Abandoned != 0 || drained < 1 || drained > 3 {
		t.Errorf("drained: %d recorded, %d succeeded, %d abandoned, %d errors (%s)", lr.Requests, lr.Succeeded, lr.Abandoned, lr.Errors, lr.FirstError)
	}
	spec.Drain = 0
	lr = runLoad(context.Background(), spec)
	if lr.Errors != 0 || lr.Abandoned < 1 || lr.Abandoned > 3 || lr.Succeeded != int64(lr.Requests) {
		t.Errorf("not drained: %d recorded, %d succeeded, %d abandoned, %d errors", lr.Requests, lr.Succeeded, lr.Abandoned, lr.Errors)
	}
}
