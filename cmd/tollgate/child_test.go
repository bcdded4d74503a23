package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv marks a test binary started as a gateway child process.
const childEnv = "TOLLGATE_E2E_CHILD"

// TestMain lets the test binary serve as a gateway process: tests that
// need separate processes (replicas sharing a database and Redis) start it
// again with childEnv set. The child prints "READY <addr>" once it
// listens and stops gracefully on SIGTERM.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "1" {
		os.Exit(m.Run())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ready := make(chan string, 1)
	go func() {
		if addr, ok := <-ready; ok {
			fmt.Printf("READY %s\n", addr)
		}
	}()
	if err := run(ctx, nil, os.Getenv, io.Discard, os.Stderr, ready); err != nil {
		fmt.Fprintln(os.Stderr, "child gateway:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// startChild runs a gateway in a separate process with the given config
// and environment, and makes a client key on the enterprise tier. It is
// stopped (SIGTERM, graceful) when the test ends.
func startChild(t *testing.T, yaml string, extraEnv map[string]string) *gw {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "TOLLGATE_ADDR=127.0.0.1:0", "TOLLGATE_CONFIG="+cfgPath,
		"TOLLGATE_DATA_DIR="+dir, "TOLLGATE_ADMIN_KEY="+testAdminKey, "TOLLGATE_LOG_LEVEL=warn")
	for k, v := range extraEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logFile, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				addr <- a
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("child gateway exited with %v (log %s)", err, logFile.Name())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("child gateway did not stop (log %s)", logFile.Name())
		}
		logFile.Close()
	})
	select {
	case a := <-addr:
		g := &gw{url: "http://" + a}
		g.key = g.newKey(t, "enterprise")
		return g
	case err := <-done:
		b, _ := os.ReadFile(logFile.Name())
		t.Fatalf("child gateway exited before listening: %v\n%s", err, b)
	case <-time.After(30 * time.Second):
		t.Fatal("child gateway did not start in time")
	}
	return nil
}
