package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// listenPrefix starts the line on which the reverse proxy child reports
// its address to the parent.
const listenPrefix = "listening "

// maxProxyLifetime bounds the reverse proxy child even if its parent
// neither closes its stdin nor dies.
const maxProxyLifetime = 2 * time.Hour

// bufferBody reads each request body into memory before calling next, as
// a gateway does to validate it. A bare ReverseProxy streaming the inbound
// body races with the HTTP/1 server, which closes that body once response
// headers are written; the transport's final read of it then fails and cuts
// the answer short (golang/go#40747).
func bufferBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// serveReverseProxy is the baseline: a bare httputil.ReverseProxy with a
// tuned Transport, in its own process so that its CPU time can be read the
// same way as the gateway's. It prints "listening <addr>" on stdout, logs
// proxy errors to stderr, and serves until stdin reaches EOF, ctx ends, or
// maxProxyLifetime passes.
func serveReverseProxy(ctx context.Context, upstream, listen string, stdin io.Reader, stdout, stderr io.Writer) error {
	target, err := url.Parse(upstream)
	if err != nil {
		return fmt.Errorf("-upstream: %w", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		},
		ErrorLog: log.New(stderr, "revproxy: ", log.LstdFlags|log.Lmicroseconds),
	}
	srv := &http.Server{Handler: bufferBody(proxy), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, maxProxyLifetime)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, stdin) // returns at EOF: the parent is done
		cancel()
	}()
	go func() {
		<-ctx.Done()
		shutdown, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		_ = srv.Shutdown(shutdown)
		_ = srv.Close()
	}()
	if _, err := fmt.Fprintln(stdout, listenPrefix+ln.Addr().String()); err != nil {
		return err
	}
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
