package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Env
	}{
		{"defaults", nil, Env{
			Addr: ":8080", DataDir: "./data", DatabaseURL: "sqlite://./data/tollgate.db", LogLevel: "info", LogFormat: "json"}},
		{"absolute data dir", map[string]string{"TOLLGATE_DATA_DIR": "/var/lib/tollgate/"}, Env{
			Addr: ":8080", DataDir: "/var/lib/tollgate/", DatabaseURL: "sqlite:///var/lib/tollgate/tollgate.db", LogLevel: "info", LogFormat: "json"}},
		{"relative data dir", map[string]string{"TOLLGATE_DATA_DIR": "state"}, Env{
			Addr: ":8080", DataDir: "state", DatabaseURL: "sqlite://state/tollgate.db", LogLevel: "info", LogFormat: "json"}},
		{"everything set", map[string]string{
			"TOLLGATE_ADDR":         "127.0.0.1:9000",
			"TOLLGATE_CONFIG":       "/etc/tollgate.yaml",
			"TOLLGATE_DATABASE_URL": "postgres://u:p@db/tollgate",
			"TOLLGATE_DATA_DIR":     "/data",
			"TOLLGATE_REDIS_URL":    "rediss://cache:6380/0",
			"TOLLGATE_ADMIN_KEY":    "admin-secret",
			"TOLLGATE_LOG_LEVEL":    "DEBUG",
			"TOLLGATE_LOG_FORMAT":   "Text",
		}, Env{
			Addr: "127.0.0.1:9000", ConfigPath: "/etc/tollgate.yaml", DatabaseURL: "postgres://u:p@db/tollgate",
			DataDir: "/data", RedisURL: "rediss://cache:6380/0", AdminKey: "admin-secret", LogLevel: "debug", LogFormat: "text"}},
		{"postgresql and redis", map[string]string{
			"TOLLGATE_DATABASE_URL": "postgresql://db/x", "TOLLGATE_REDIS_URL": "redis://localhost:6379",
		}, Env{
			Addr: ":8080", DataDir: "./data", DatabaseURL: "postgresql://db/x", RedisURL: "redis://localhost:6379",
			LogLevel: "info", LogFormat: "json"}},
		{"explicit sqlite", map[string]string{"TOLLGATE_DATABASE_URL": "sqlite:///tmp/t.db", "TOLLGATE_LOG_LEVEL": "warn"}, Env{
			Addr: ":8080", DataDir: "./data", DatabaseURL: "sqlite:///tmp/t.db", LogLevel: "warn", LogFormat: "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadEnv(envOf(tt.env))
			if err != nil {
				t.Fatalf("LoadEnv: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LoadEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"log level", map[string]string{"TOLLGATE_LOG_LEVEL": "verbose"}, []string{
			`TOLLGATE_LOG_LEVEL: want one of debug, info, warn, error, got "verbose"`}},
		{"log format", map[string]string{"TOLLGATE_LOG_FORMAT": "logfmt"}, []string{
			`TOLLGATE_LOG_FORMAT: want json or text, got "logfmt"`}},
		{"database", map[string]string{"TOLLGATE_DATABASE_URL": "mysql://root:hunter2@db/x"}, []string{
			"TOLLGATE_DATABASE_URL: want a URL starting with postgres://, postgresql:// or sqlite:// followed by more"}},
		{"database without path", map[string]string{"TOLLGATE_DATABASE_URL": "sqlite://"}, []string{
			"TOLLGATE_DATABASE_URL: want a URL starting with postgres://, postgresql:// or sqlite:// followed by more"}},
		{"redis", map[string]string{"TOLLGATE_REDIS_URL": "http://:hunter2@cache"}, []string{
			"TOLLGATE_REDIS_URL: want a URL starting with redis:// or rediss:// followed by more"}},
		{"addr", map[string]string{"TOLLGATE_ADDR": "8080"}, []string{
			`TOLLGATE_ADDR: want host:port or :port, got "8080"`}},
		{"all at once", map[string]string{
			"TOLLGATE_ADDR": "8080", "TOLLGATE_LOG_LEVEL": "trace", "TOLLGATE_LOG_FORMAT": "xml",
			"TOLLGATE_DATABASE_URL": "file.db", "TOLLGATE_REDIS_URL": "valkey://x",
		}, []string{
			`TOLLGATE_ADDR: want host:port or :port, got "8080"`,
			`TOLLGATE_LOG_LEVEL: want one of debug, info, warn, error, got "trace"`,
			`TOLLGATE_LOG_FORMAT: want json or text, got "xml"`,
			"TOLLGATE_DATABASE_URL: want a URL starting with postgres://, postgresql:// or sqlite:// followed by more",
			"TOLLGATE_REDIS_URL: want a URL starting with redis:// or rediss:// followed by more",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadEnv(envOf(tt.env))
			if diff := cmp.Diff(tt.want, problemLines(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a password: %v", err)
			}
			if got != (Env{}) {
				t.Errorf("LoadEnv returned %+v with an error, want the zero Env", got)
			}
		})
	}
}
