// Command tollgate is an OpenAI-compatible LLM gateway.
//
// Usage:
//
//	tollgate [serve]     run the gateway (the default)
//	tollgate migrate     apply database migrations and exit
//	tollgate version     print the version
//	tollgate healthcheck exit 0 when the local gateway is ready (for containers)
//
// Configuration comes from TOLLGATE_* environment variables and an optional
// YAML file; see the README.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tollgate:", err)
		os.Exit(1)
	}
}
