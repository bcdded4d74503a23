package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-gateway", "bin/tollgate", "-scenarios", "stream, memory", "-c", "8"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.scenarios[scStream] || !cfg.scenarios[scMemory] || cfg.scenarios[scNonstream] || cfg.concurrency != 8 {
		t.Errorf("cfg = %+v", cfg)
	}
	cfg, err = parseFlags(nil, io.Discard)
	if err == nil {
		t.Errorf("no -gateway accepted: %+v", cfg)
	}
	if _, err := parseFlags([]string{"-scenarios", "baseline"}, io.Discard); err != nil {
		t.Errorf("baseline alone needs no gateway: %v", err)
	}
	for _, args := range [][]string{
		{"-gateway", "g", "-scenarios", "nope"},
		{"-gateway", "g", "-c", "0"},
		{"-gateway", "g", "-duration", "0s"},
		{"-serve-reverseproxy"},
		{"-gateway", "g", "extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

func TestUsageHidesInternalFlags(t *testing.T) {
	var sb strings.Builder
	_, _ = parseFlags([]string{"-help"}, &sb)
	if !strings.Contains(sb.String(), "-gateway-url") || strings.Contains(sb.String(), "serve-reverseproxy") {
		t.Errorf("usage:\n%s", sb.String())
	}
}

// TestReverseProxyServe runs the baseline proxy mode in-process in front
// of the fake and stops it by closing its stdin.
func TestReverseProxyServe(t *testing.T) {
	f, err := startFake("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- serveReverseProxy(context.Background(), f.BaseURL, "127.0.0.1:0", stdinR, outW, io.Discard)
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + strings.TrimSpace(strings.TrimPrefix(line, listenPrefix))
	lr := runLoad(context.Background(), loadSpec{URL: base + chatPath, Body: chatBody("m", "hi", true), Stream: true,
		Concurrency: 2, Duration: 100 * time.Millisecond, MaxRequests: 10_000})
	if lr.Errors != 0 || lr.Requests == 0 {
		t.Errorf("through the proxy: %d requests, %d errors (%s)", lr.Requests, lr.Errors, lr.FirstError)
	}
	resp, err := http.Get(base + "/v1/models")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/models through the proxy: %v", err)
	}
	resp.Body.Close()
	stdinW.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("proxy did not stop on stdin EOF")
	}
}
