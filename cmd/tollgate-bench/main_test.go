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
	cfg, err := parseFlags([]string{"-gateway", "bin/tollgate", "-scenarios", "stream, memory", "-c", "8"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.scenarios[scStream] || !cfg.scenarios[scMemory] || cfg.scenarios[scNonstream] || cfg.concurrency != 8 {
		t.Errorf("cfg = %+v", cfg)
	}
	cfg, err = parseFlags(nil, noEnv, io.Discard)
	if err == nil {
		t.Errorf("no -gateway accepted: %+v", cfg)
	}
	if _, err := parseFlags([]string{"-scenarios", "baseline"}, noEnv, io.Discard); err != nil {
		t.Errorf("baseline alone needs no gateway: %v", err)
	}
	for _, args := range [][]string{
		{"-gateway", "g", "-scenarios", "nope"},
		{"-gateway", "g", "-c", "0"},
		{"-gateway", "g", "-duration", "0s"},
		{"-serve-reverseproxy"},
		{"-gateway", "g", "extra"},
	} {
		if _, err := parseFlags(args, noEnv, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}

// noEnv is an empty environment.
func noEnv(string) string { return "" }

func TestParseFlagsMetered(t *testing.T) {
	cfg, err := parseFlags([]string{"-gateway", "g"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.scenarios[scMetered] || cfg.meteredRequired || cfg.key != "" {
		t.Errorf("default run: metered %v, required %v, key %q", cfg.scenarios[scMetered], cfg.meteredRequired, cfg.key)
	}
	if cfg.postgresURL != defaultPostgresURL || cfg.redisURL != defaultRedisURL {
		t.Errorf("service defaults: %q %q", cfg.postgresURL, cfg.redisURL)
	}
	env := map[string]string{"TOLLGATE_TEST_POSTGRES_URL": "postgres://pg/x", "TOLLGATE_TEST_REDIS_URL": "redis://r:1/2"}
	cfg, err = parseFlags([]string{"-gateway", "g", "-scenarios", "nonstream, metered"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.meteredRequired || cfg.postgresURL != "postgres://pg/x" || cfg.redisURL != "redis://r:1/2" {
		t.Errorf("named metered: required %v, %q %q", cfg.meteredRequired, cfg.postgresURL, cfg.redisURL)
	}
	cfg, err = parseFlags([]string{"-gateway", "g", "-scenarios", "all", "-postgres-url", "postgres://a/b"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.meteredRequired || cfg.postgresURL != "postgres://a/b" {
		t.Errorf("all: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{
		{"-gateway-url", "http://127.0.0.1:1", "-scenarios", "nonstream"},                             // no -key
		{"-gateway-url", "http://127.0.0.1:1", "-key", "k", "-scenarios", "metered"},                  // metered needs -gateway
		{"-gateway", "g", "-gateway-url", "http://127.0.0.1:1", "-key", "k", "-scenarios", "metered"}, // and no -gateway-url
	} {
		if _, err := parseFlags(args, noEnv, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	if _, err := parseFlags([]string{"-gateway-url", "http://127.0.0.1:1", "-key", "k"}, noEnv, io.Discard); err != nil {
		t.Errorf("external gateway, metered not named: %v", err)
	}
}

func TestUsageHidesInternalFlags(t *testing.T) {
	var sb strings.Builder
	_, _ = parseFlags([]string{"-help"}, noEnv, &sb)
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
