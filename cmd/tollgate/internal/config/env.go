package config

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Env is the process environment the gateway reads at start (the TOLLGATE_*
// variables of the public contract), with defaults applied.
type Env struct {
	// Addr is the listen address (TOLLGATE_ADDR); default ":8080".
	Addr string
	// ConfigPath is the config file (TOLLGATE_CONFIG); empty when unset.
	ConfigPath string
	// DatabaseURL selects the store (TOLLGATE_DATABASE_URL): postgres://,
	// postgresql:// or sqlite://; default SQLite at DataDir/tollgate.db.
	DatabaseURL string
	// DataDir is where embedded state lives (TOLLGATE_DATA_DIR); default
	// "./data".
	DataDir string
	// RedisURL is redis:// or rediss:// (TOLLGATE_REDIS_URL); empty when
	// unset, meaning in-process limits and cache.
	RedisURL string
	// AdminKey is the admin bearer key (TOLLGATE_ADMIN_KEY); empty when
	// unset. It must never be logged.
	AdminKey string
	// LogLevel is debug, info (default), warn or error (TOLLGATE_LOG_LEVEL).
	LogLevel string
	// LogFormat is json (default) or text (TOLLGATE_LOG_FORMAT).
	LogFormat string
}

// LoadEnv reads the TOLLGATE_* variables through getenv and applies the
// defaults. An empty variable counts as unset. Level and format are
// accepted in any case and returned in lower case. Every invalid variable
// is reported in one *ValidationError whose problems have the variable's
// name as Path; URLs are not quoted, as they may carry passwords.
func LoadEnv(getenv func(string) string) (Env, error) {
	get := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	e := Env{
		Addr:       get("TOLLGATE_ADDR", ":8080"),
		ConfigPath: getenv("TOLLGATE_CONFIG"),
		DataDir:    get("TOLLGATE_DATA_DIR", "./data"),
		RedisURL:   getenv("TOLLGATE_REDIS_URL"),
		AdminKey:   getenv("TOLLGATE_ADMIN_KEY"),
		LogLevel:   strings.ToLower(get("TOLLGATE_LOG_LEVEL", "info")),
		LogFormat:  strings.ToLower(get("TOLLGATE_LOG_FORMAT", "json")),
	}
	e.DatabaseURL = get("TOLLGATE_DATABASE_URL", defaultDatabaseURL(e.DataDir))

	var problems []Problem
	bad := func(name, msg string) { problems = append(problems, Problem{Path: name, Msg: msg}) }
	if _, _, err := net.SplitHostPort(e.Addr); err != nil {
		bad("TOLLGATE_ADDR", "want host:port or :port, got "+strconv.Quote(e.Addr))
	}
	switch e.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("TOLLGATE_LOG_LEVEL", "want one of debug, info, warn, error, got "+strconv.Quote(e.LogLevel))
	}
	switch e.LogFormat {
	case "json", "text":
	default:
		bad("TOLLGATE_LOG_FORMAT", "want json or text, got "+strconv.Quote(e.LogFormat))
	}
	if !hasURLPrefix(e.DatabaseURL, "postgres://", "postgresql://", "sqlite://") {
		bad("TOLLGATE_DATABASE_URL", "want a URL starting with postgres://, postgresql:// or sqlite:// followed by more")
	}
	if e.RedisURL != "" && !hasURLPrefix(e.RedisURL, "redis://", "rediss://") {
		bad("TOLLGATE_REDIS_URL", "want a URL starting with redis:// or rediss:// followed by more")
	}
	if err := newValidationError(problems); err != nil {
		return Env{}, err
	}
	return e, nil
}

// defaultDatabaseURL is SQLite at dataDir/tollgate.db: "sqlite:///abs/..."
// for an absolute dataDir, "sqlite://rel/..." for a relative one.
func defaultDatabaseURL(dataDir string) string {
	dir := strings.TrimRight(filepath.ToSlash(dataDir), "/")
	return "sqlite://" + dir + "/tollgate.db"
}

// hasURLPrefix reports whether s starts with one of the prefixes and has
// something after it.
func hasURLPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(s, p); ok && rest != "" {
			return true
		}
	}
	return false
}
