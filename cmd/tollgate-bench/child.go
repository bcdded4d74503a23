package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// child is a process under test started by the benchmark: the gateway or
// the baseline reverse proxy. It is killed if the benchmark dies.
type child struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser // closing it tells the reverse proxy to exit
	logPath string
	exited  chan struct{}
	waitErr error
}

// startChild starts cmd with its output going to logPath.
func startChild(name string, cmd *exec.Cmd, logPath string) (*child, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	if cmd.Stdout == nil {
		cmd.Stdout = logFile
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c := &child{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// PID returns the child's process id.
func (c *child) PID() int { return c.cmd.Process.Pid }

// Exited reports whether the child has exited, with its wait error.
func (c *child) Exited() (bool, error) {
	select {
	case <-c.exited:
		return true, c.waitErr
	default:
		return false, nil
	}
}

// Stop asks the child to exit (SIGTERM, and EOF on its stdin), and kills
// it if it has not exited within grace.
func (c *child) Stop(grace time.Duration) {
	if done, _ := c.Exited(); done {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// gatewayConfig is the YAML configuration routing two models to the fake:
// bench-model, unpriced, and bench-priced, priced so that the metered
// scenario computes a cost for each request and enforces a budget. The
// response cache is off unless cacheOn: the load repeats one request, and
// the other scenarios measure proxying, not cache hits.
func gatewayConfig(fakeBaseURL string, cacheOn bool) string {
	cacheLine := "cache: {enabled: false}\n"
	if cacheOn {
		cacheLine = "cache: {enabled: true, ttl: 1h, scope: customer}\n"
	}
	return cacheLine + `providers:
  - name: fake
    type: openai-compatible
    base_url: ` + fakeBaseURL + `/v1
    api_key: bench-upstream-key
    timeout: 30s
models:
  - name: ` + modelPlain + `
    targets: [{provider: fake, model: fake-model}]
  - name: ` + modelPriced + `
    targets: [{provider: fake, model: fake-model}]
    pricing: {input_per_mtok: 2.5, output_per_mtok: 10}
`
}

// Public model names of the gateway configuration.
const (
	modelPlain  = "bench-model"
	modelPriced = "bench-priced"
)

// benchAdminKey is the admin key every gateway started here gets, so that
// none generates one.
const benchAdminKey = "tga-bench-admin"

// gatewayOpts says how to start one gateway process.
type gatewayOpts struct {
	Binary      string
	FakeBaseURL string
	// Dir holds NAME.yaml, NAME.log and the data directory NAME-data.
	Dir  string
	Name string
	// Env is added to the process environment (TOLLGATE_DATABASE_URL,
	// TOLLGATE_REDIS_URL); the database defaults to SQLite in the data
	// directory.
	Env []string
	// Cache turns the response cache on (the cachehit scenario).
	Cache bool
}

// startGateway starts the gateway binary with its configuration, data and
// log in o.Dir, and waits until it answers GET /readyz (its database, and
// Redis when configured, answer). It returns the child and the gateway's
// base URL.
func startGateway(ctx context.Context, o gatewayOpts) (*child, string, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, "", err
	}
	cfgPath := filepath.Join(o.Dir, o.Name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(gatewayConfig(o.FakeBaseURL, o.Cache)), 0o600); err != nil {
		return nil, "", err
	}
	dataDir := filepath.Join(o.Dir, o.Name+"-data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", err
	}
	cmd := exec.Command(o.Binary)
	cmd.Env = append(os.Environ(),
		"TOLLGATE_ADDR="+addr,
		"TOLLGATE_CONFIG="+cfgPath,
		"TOLLGATE_DATA_DIR="+dataDir,
		"TOLLGATE_LOG_LEVEL=info",
		"TOLLGATE_LOG_FORMAT=json",
		"TOLLGATE_ADMIN_KEY="+benchAdminKey,
		// Inherited settings must not point a SQLite run at a real
		// database or Redis.
		"TOLLGATE_DATABASE_URL=",
		"TOLLGATE_REDIS_URL=",
	)
	cmd.Env = append(cmd.Env, o.Env...)
	c, err := startChild(o.Name, cmd, filepath.Join(o.Dir, o.Name+".log"))
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := waitHealthy(ctx, base+"/readyz", c, 30*time.Second); err != nil {
		c.Stop(5 * time.Second)
		return nil, "", fmt.Errorf("%s did not become ready: %w (log: %s)", o.Name, err, c.logPath)
	}
	return c, base, nil
}

// waitHealthy polls url until it answers 200, the child exits, or timeout.
func waitHealthy(ctx context.Context, url string, c *child, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if done, err := c.Exited(); done {
			return fmt.Errorf("%s exited: %v", c.name, err)
		}
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 200 from %s within %v: %v", url, timeout, err)
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// startProxyChild re-executes this binary as the baseline reverse proxy to
// upstream (a base URL without /v1) and returns the child and its base URL.
func startProxyChild(upstream, logPath string) (*child, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(exe, "-serve-reverseproxy", "-upstream", upstream, "-listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	c, err := startChild("reverse proxy", cmd, logPath)
	if err != nil {
		return nil, "", err
	}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(strings.TrimPrefix(line, listenPrefix))
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		if a == "" {
			c.Stop(time.Second)
			return nil, "", fmt.Errorf("reverse proxy child did not start (log: %s)", logPath)
		}
		return c, "http://" + a, nil
	case <-time.After(10 * time.Second):
		c.Stop(time.Second)
		return nil, "", errors.New("reverse proxy child did not report its address within 10s")
	}
}
