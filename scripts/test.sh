#!/usr/bin/env bash
# scripts/test.sh — THE test command of Tollgate:
#
#     scripts/test.sh                              # go test -race -count=1 ./...
#     scripts/test.sh -run Foo ./provider/...      # your args instead of ./...
#     scripts/test.sh -run Foo                     # no package given: ./... is appended
#
# It makes sure a PostgreSQL and a Redis are reachable, exports
# TOLLGATE_TEST_POSTGRES_URL and TOLLGATE_TEST_REDIS_URL, runs go test and exits
# with go test's status. Works from any directory.
#
# How the services are found, in order:
#   1. TOLLGATE_TEST_POSTGRES_URL / TOLLGATE_TEST_REDIS_URL, when set, are used as given.
#   2. Servers already answering on 127.0.0.1 (ports below):
#        postgres://postgres@127.0.0.1:5432/test?sslmode=disable and redis://127.0.0.1:6379/15
#   3. Throwaway servers started from local binaries on free ports in a temp dir,
#      stopped and deleted when this script exits, whatever happened. Missing
#      binaries are installed with apt-get (postgresql, redis-server) when we are
#      root or have sudo.
#   A service that cannot be had is a hard error (with CI=true and without), and the
#   message says what to install.
#
# Knobs (environment variables, all optional):
#   TOLLGATE_TEST_POSTGRES_URL   use this PostgreSQL, skip detection (step 1)
#   TOLLGATE_TEST_REDIS_URL      use this Redis, skip detection (step 1)
#   TOLLGATE_TEST_PG_PORT        port probed on 127.0.0.1 for a running PostgreSQL (default 5432)
#   TOLLGATE_TEST_REDIS_PORT     port probed on 127.0.0.1 for a running Redis (default 6379)
#   TOLLGATE_TEST_FORCE_THROWAWAY=1  skip step 2: always start throwaway servers
#                                (unless the URLs of step 1 are set)
#   TOLLGATE_TEST_NO_INSTALL=1   never run apt-get; fail if binaries are missing
#   TOLLGATE_TEST_PG_BINDIR      directory holding initdb, pg_ctl and postgres
#                                (default: found on PATH or under /usr/lib/postgresql/*/bin)
#   TOLLGATE_TEST_REDIS_SERVER   path of redis-server (default: found on PATH)
#   CI=true                      the Go tests t.Fatal instead of t.Skip when a URL is missing
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	PATH="$PATH:/usr/local/go/bin"
fi

PG_PORT_DEFAULT="${TOLLGATE_TEST_PG_PORT:-5432}"
REDIS_PORT_DEFAULT="${TOLLGATE_TEST_REDIS_PORT:-6379}"
REDIS_DB=15 # a high index, to stay out of the way of anything else on a shared Redis

log() { printf 'test.sh: %s\n' "$*" >&2; }

INSTALL_HINT="install them (Debian/Ubuntu: sudo apt-get install -y postgresql redis-server; macOS: brew install postgresql redis), or start them on 127.0.0.1:${PG_PORT_DEFAULT} (user postgres, trust auth, database test) and 127.0.0.1:${REDIS_PORT_DEFAULT}, or set TOLLGATE_TEST_POSTGRES_URL and TOLLGATE_TEST_REDIS_URL"

die() {
	log "ERROR: $*"
	exit 1
}

# unavailable SERVICE REASON: the hard failure for a service we could not provide.
unavailable() {
	local what=$1 reason=$2
	if [[ ${CI:-} == true ]]; then
		log "ERROR: CI=true and $what is required for the tests, but could not be made available: $reason"
	else
		log "ERROR: $what is required for the tests, but could not be made available: $reason"
	fi
	log "ERROR: to fix: $INSTALL_HINT"
	exit 1
}

# redact URL: hide a password in user:password@host.
redact() { sed -E 's#(://[^:/@]+:)[^@]*@#\1***@#' <<<"$1"; }

have() { command -v "$1" >/dev/null 2>&1; }

with_timeout() {
	local secs=$1
	shift
	if have timeout; then timeout "$secs" "$@"; else "$@"; fi
}

# port_open HOST PORT: something accepts TCP connections there.
port_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	with_timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# pg_answers PORT: a PostgreSQL server answers on 127.0.0.1:PORT.
pg_answers() {
	if have pg_isready; then
		pg_isready -q -h 127.0.0.1 -p "$1" -t 3 >/dev/null 2>&1
	else
		port_open 127.0.0.1 "$1"
	fi
}

# pg_usable URL: we can log in and run a query (skipped when psql is missing).
pg_usable() {
	local psql
	psql=$(command -v psql 2>/dev/null || true)
	[[ -z $psql && -n ${PG_BINDIR:-} && -x $PG_BINDIR/psql ]] && psql=$PG_BINDIR/psql
	[[ -z $psql ]] && return 0
	PGCONNECT_TIMEOUT=5 "$psql" -X -q -t -A -c 'select 1' "$1" >/dev/null 2>&1
}

# redis_answers PORT: a Redis answers PING with PONG on 127.0.0.1:PORT.
redis_answers() {
	if have redis-cli; then
		[[ $(with_timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
	else
		# shellcheck disable=SC2016 # expanded by the inner bash
		with_timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
			printf "PING\r\n" >&3
			IFS= read -r line <&3
			[[ $line == +PONG* ]]' _ "$1" 2>/dev/null
	fi
}

# free_port [EXCLUDE]: a port on 127.0.0.1 where nothing listens.
free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 40000))
		[[ $p == "${1:-}" ]] && continue
		if ! port_open 127.0.0.1 "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# ---------------------------------------------------------------- installing

APT_UPDATED=
# apt_install PKG...: install Debian packages; returns non-zero when we cannot or it failed.
apt_install() {
	if [[ ${TOLLGATE_TEST_NO_INSTALL:-} == 1 ]]; then
		log "not installing $* (TOLLGATE_TEST_NO_INSTALL=1)"
		return 1
	fi
	if ! have apt-get; then
		log "cannot install $*: no apt-get on this machine"
		return 1
	fi
	local sudo=()
	if [[ $(id -u) != 0 ]]; then
		if ! have sudo; then
			log "cannot install $*: not root and no sudo"
			return 1
		fi
		if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
	fi
	local aptlog
	aptlog=$(mktemp "${TMPDIR:-/tmp}/tollgate-apt.XXXXXX")
	log "installing $* with apt-get ..."
	if [[ -z $APT_UPDATED ]]; then
		if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$aptlog" 2>&1; then
			tail -n 20 "$aptlog" >&2
			rm -f "$aptlog"
			log "apt-get update failed"
			return 1
		fi
		APT_UPDATED=1
	fi
	if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$aptlog" 2>&1; then
		tail -n 20 "$aptlog" >&2
		rm -f "$aptlog"
		log "apt-get install $* failed"
		return 1
	fi
	rm -f "$aptlog"
	log "installed $*"
}

# ---------------------------------------------------------------- binaries

PG_BINDIR=
# find_pg_bindir: sets PG_BINDIR to a directory with initdb, pg_ctl and postgres.
find_pg_bindir() {
	local d cands=()
	if [[ -n ${TOLLGATE_TEST_PG_BINDIR:-} ]]; then
		cands=("$TOLLGATE_TEST_PG_BINDIR")
	else
		if have initdb; then cands+=("$(dirname "$(command -v initdb)")"); fi
		# Debian/Ubuntu keep the server binaries out of PATH; newest version first.
		while IFS= read -r d; do
			[[ -n $d ]] && cands+=("$d")
		done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV)
		cands+=(/usr/local/pgsql/bin /opt/homebrew/bin /usr/local/bin)
	fi
	for d in "${cands[@]}"; do
		if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then
			PG_BINDIR=$d
			return 0
		fi
	done
	return 1
}

REDIS_SERVER=
find_redis_server() {
	if [[ -n ${TOLLGATE_TEST_REDIS_SERVER:-} ]]; then
		[[ -x $TOLLGATE_TEST_REDIS_SERVER ]] && REDIS_SERVER=$TOLLGATE_TEST_REDIS_SERVER
	else
		REDIS_SERVER=$(command -v redis-server 2>/dev/null || true)
		# bash's command -v also prints a non-executable file when nothing better exists
		[[ -n $REDIS_SERVER && -x $REDIS_SERVER ]] || REDIS_SERVER=
	fi
	[[ -n $REDIS_SERVER ]]
}

# ---------------------------------------------------------------- throwaway servers

TMP_ROOT=
PG_DATA=
PG_RUN_AS=()
REDIS_PID=

# shellcheck disable=SC2317 # invoked by trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $PG_DATA && -f $PG_DATA/postmaster.pid ]]; then
		log "stopping throwaway PostgreSQL"
		if ! pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m immediate -w -t 20 stop >/dev/null 2>&1; then
			local pid
			pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
			if [[ $pid =~ ^[0-9]+$ ]]; then kill -9 "$pid" 2>/dev/null || true; fi
		fi
	fi
	if [[ -n $REDIS_PID ]]; then
		log "stopping throwaway Redis"
		kill "$REDIS_PID" 2>/dev/null || true
		local i
		for ((i = 0; i < 50; i++)); do
			kill -0 "$REDIS_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
	fi
	if [[ -n $TMP_ROOT && -d $TMP_ROOT ]]; then
		rm -rf "$TMP_ROOT"
	fi
	exit "$rc"
}
GO_PID='' GO_TARGET=''
# on_signal CODE: stop a running go test (as Ctrl-C would), then exit; cleanup runs on EXIT.
# shellcheck disable=SC2317 # invoked by trap
on_signal() {
	if [[ -n $GO_PID ]]; then
		kill -INT -- "$GO_TARGET" 2>/dev/null || true
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$GO_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "$GO_TARGET" 2>/dev/null || true
	fi
	exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

tmp_root() {
	if [[ -z $TMP_ROOT ]]; then
		TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-test.XXXXXX")
		chmod 755 "$TMP_ROOT"
	fi
}

# pg_as CMD...: run CMD as the PostgreSQL owner, from a directory that user can enter.
pg_as() { (cd "$TMP_ROOT" && "${PG_RUN_AS[@]}" "$@"); }

# start_postgres: start a throwaway PostgreSQL with a database "test"; sets PG_URL.
# Runs in the main shell (not a subshell) so that cleanup knows what to stop.
PG_URL=
start_postgres() {
	if ! find_pg_bindir; then
		if [[ -n ${TOLLGATE_TEST_PG_BINDIR:-} ]]; then
			unavailable PostgreSQL "no initdb/pg_ctl/postgres in TOLLGATE_TEST_PG_BINDIR=$TOLLGATE_TEST_PG_BINDIR"
		fi
		# (apt-get, if allowed, has already been tried by main, once for both services)
		find_pg_bindir || unavailable PostgreSQL "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found and they could not be installed"
	fi
	tmp_root
	# PostgreSQL refuses to run as root: use the postgres user (or a dedicated one).
	local owner=
	if [[ $(id -u) == 0 ]]; then
		have runuser || unavailable PostgreSQL "running as root and no runuser to start PostgreSQL as another user"
		if id postgres >/dev/null 2>&1; then
			owner=postgres
		else
			owner=tollgate-test
			if ! id "$owner" >/dev/null 2>&1; then
				useradd --system --no-create-home --shell /usr/sbin/nologin "$owner" >/dev/null 2>&1 ||
					unavailable PostgreSQL "running as root, no postgres user, and could not create user $owner"
			fi
		fi
		PG_RUN_AS=(runuser -u "$owner" --)
	fi
	local dir=$TMP_ROOT/pg
	mkdir -p "$dir/sock"
	[[ -n $owner ]] && chown -R "$owner" "$dir"
	if ! pg_as test -w "$dir"; then
		unavailable PostgreSQL "user $owner cannot write to $dir (set TMPDIR to a directory it can reach)"
	fi
	if ! pg_as "$PG_BINDIR/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync \
		-E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
		tail -n 20 "$dir/initdb.log" >&2
		unavailable PostgreSQL "initdb failed"
	fi
	PG_DATA=$dir/data
	local port attempt
	for attempt in 1 2 3; do
		port=$(free_port) || unavailable PostgreSQL "no free port found"
		# Durability off: this server lives for one test run.
		if pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$dir/postgres.log" -w -t 60 \
			-o "-h 127.0.0.1 -p $port -k '$dir/sock' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
			start >/dev/null 2>&1; then
			break
		fi
		port=
		log "throwaway PostgreSQL did not start (attempt $attempt)"
		tail -n 5 "$dir/postgres.log" >&2 || true
	done
	[[ -n $port ]] || unavailable PostgreSQL "throwaway server did not start (log above)"
	local psql=$PG_BINDIR/psql
	[[ -x $psql ]] || psql=$(command -v psql 2>/dev/null || true)
	[[ -n $psql ]] || unavailable PostgreSQL "no psql to create the database test"
	if ! "$psql" -X -q -c 'CREATE DATABASE test' "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable" >"$dir/createdb.log" 2>&1; then
		cat "$dir/createdb.log" >&2
		unavailable PostgreSQL "could not create database test in the throwaway server"
	fi
	PG_URL="postgres://postgres@127.0.0.1:$port/test?sslmode=disable"
	log "started throwaway PostgreSQL ($("$PG_BINDIR/postgres" --version 2>/dev/null | awk '{print $3}')) on port $port in $dir"
}

REDIS_URL=
start_redis() {
	if ! find_redis_server; then
		if [[ -n ${TOLLGATE_TEST_REDIS_SERVER:-} ]]; then
			unavailable Redis "TOLLGATE_TEST_REDIS_SERVER=$TOLLGATE_TEST_REDIS_SERVER is not an executable"
		fi
		find_redis_server || unavailable Redis "no redis-server found and it could not be installed"
	fi
	tmp_root
	local dir=$TMP_ROOT/redis port attempt i ok
	mkdir -p "$dir"
	local avoid=
	[[ $PG_URL =~ :([0-9]+)/ ]] && avoid=${BASH_REMATCH[1]}
	for attempt in 1 2 3; do
		port=$(free_port "$avoid") || unavailable Redis "no free port found"
		"$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
			--dir "$dir" --logfile "$dir/redis.log" </dev/null >/dev/null 2>&1 &
		REDIS_PID=$!
		ok=
		for ((i = 0; i < 100; i++)); do
			if redis_answers "$port"; then
				ok=1
				break
			fi
			kill -0 "$REDIS_PID" 2>/dev/null || break
			sleep 0.1
		done
		[[ -n $ok ]] && break
		log "throwaway Redis did not start (attempt $attempt)"
		tail -n 5 "$dir/redis.log" >&2 || true
		kill "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
		REDIS_PID=
	done
	[[ -n $ok ]] || unavailable Redis "throwaway server did not start (log above)"
	REDIS_URL="redis://127.0.0.1:$port/$REDIS_DB"
	log "started throwaway Redis ($("$REDIS_SERVER" --version 2>/dev/null | awk '{print $3}')) on port $port"
}

# ---------------------------------------------------------------- main

# Fail fast on a missing Go toolchain before starting anything.
have go || die "go is not on PATH (install Go 1.26 from https://go.dev/dl/)"

# Collect what is missing first, so that apt-get runs once for both.
pg_mode='' redis_mode=''
if [[ -n ${TOLLGATE_TEST_POSTGRES_URL:-} ]]; then
	pg_mode='env'
elif [[ ${TOLLGATE_TEST_FORCE_THROWAWAY:-} != 1 ]] && pg_answers "$PG_PORT_DEFAULT"; then
	if pg_usable "postgres://postgres@127.0.0.1:$PG_PORT_DEFAULT/test?sslmode=disable"; then
		pg_mode=local
	else
		log "a PostgreSQL answers on 127.0.0.1:$PG_PORT_DEFAULT but postgres@…/test is not usable (auth or no database test); starting a throwaway one instead"
		pg_mode=throwaway
	fi
else
	pg_mode=throwaway
fi
if [[ -n ${TOLLGATE_TEST_REDIS_URL:-} ]]; then
	redis_mode='env'
elif [[ ${TOLLGATE_TEST_FORCE_THROWAWAY:-} != 1 ]] && redis_answers "$REDIS_PORT_DEFAULT"; then
	redis_mode=local
else
	redis_mode=throwaway
fi

if [[ $pg_mode == throwaway || $redis_mode == throwaway ]]; then
	missing=()
	if [[ $pg_mode == throwaway && -z ${TOLLGATE_TEST_PG_BINDIR:-} ]] && ! find_pg_bindir; then missing+=(postgresql); fi
	if [[ $redis_mode == throwaway && -z ${TOLLGATE_TEST_REDIS_SERVER:-} ]] && ! find_redis_server; then missing+=(redis-server); fi
	if ((${#missing[@]})); then
		apt_install "${missing[@]}" || true
	fi
	# Check both before starting either, so that nothing is started in vain.
	if [[ $pg_mode == throwaway ]] && ! find_pg_bindir; then
		unavailable PostgreSQL "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found${TOLLGATE_TEST_PG_BINDIR:+ in TOLLGATE_TEST_PG_BINDIR=$TOLLGATE_TEST_PG_BINDIR} and they could not be installed"
	fi
	if [[ $redis_mode == throwaway ]] && ! find_redis_server; then
		unavailable Redis "no redis-server found${TOLLGATE_TEST_REDIS_SERVER:+ at TOLLGATE_TEST_REDIS_SERVER=$TOLLGATE_TEST_REDIS_SERVER} and it could not be installed"
	fi
fi

case $pg_mode in
env)
	PG_URL=$TOLLGATE_TEST_POSTGRES_URL
	log "using PostgreSQL at $(redact "$PG_URL") (from TOLLGATE_TEST_POSTGRES_URL)"
	;;
local)
	PG_URL="postgres://postgres@127.0.0.1:$PG_PORT_DEFAULT/test?sslmode=disable"
	log "using PostgreSQL at $PG_URL"
	;;
throwaway)
	start_postgres
	;;
esac

case $redis_mode in
env)
	REDIS_URL=$TOLLGATE_TEST_REDIS_URL
	log "using Redis at $(redact "$REDIS_URL") (from TOLLGATE_TEST_REDIS_URL)"
	;;
local)
	REDIS_URL="redis://127.0.0.1:$REDIS_PORT_DEFAULT/$REDIS_DB"
	log "using Redis at $REDIS_URL"
	;;
throwaway)
	start_redis
	;;
esac

export TOLLGATE_TEST_POSTGRES_URL=$PG_URL
export TOLLGATE_TEST_REDIS_URL=$REDIS_URL

# The race detector needs cgo, and so a C compiler: install gcc where it is missing.
export CGO_ENABLED=1
cc=$(go env CC)
if ! have "${cc%% *}"; then
	log "no C compiler ($cc) for go test -race; installing gcc"
	apt_install gcc || true
	have "${cc%% *}" || die "go test -race needs a C compiler: install gcc (apt-get install gcc)"
fi

# Arguments replace ./...; if none of them names a package, ./... is appended.
args=("$@")
has_pkg=
for a in "${args[@]}"; do
	case $a in
	./* | ../* | all | std | github.com/*) has_pkg=1 ;;
	esac
done
[[ -n $has_pkg ]] || args+=(./...)

log "go test -race -count=1 ${args[*]}"
# go test runs as a background job so that a signal to this script is handled at once
# (bash defers traps while a foreground command runs). With setsid it gets a process
# group of its own, so that on INT/TERM the trap above can signal go test and the test
# binaries it runs together (go test itself does not pass a signal on to them).
rc=0
setsid=()
have setsid && setsid=(setsid)
(
	trap - INT QUIT # bash ignores SIGINT in background jobs; give it back
	exec "${setsid[@]}" go test -race -count=1 "${args[@]}"
) &
GO_PID=$!
if ((${#setsid[@]})); then GO_TARGET=-$GO_PID; else GO_TARGET=$GO_PID; fi
wait "$GO_PID" || rc=$?
GO_PID=
exit "$rc"
