#!/usr/bin/env bash
# ci-sidecar.sh — run cordon as the egress proxy of a CI job, on any runner.
#
#   ci-sidecar.sh start    start cordon in the background, wait until it is healthy
#                          (or fail), export the proxy variables
#   ci-sidecar.sh report   write the markdown summary of allowed and denied destinations
#   ci-sidecar.sh stop     stop cordon (SIGTERM: it drains and flushes the audit log)
#
# `start` prints `export NAME=VALUE` lines on stdout (eval them on runners
# other than GitHub Actions) and appends NAME=VALUE lines to $GITHUB_ENV when
# set: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and their lower-case forms, NO_PROXY
# (loopback), CORDON_SOCKET, CORDON_STATE_DIR. `report` writes
# $STATE_DIR/summary.md and appends it to $GITHUB_STEP_SUMMARY when set (else
# prints it). The audit log is $STATE_DIR/events.jsonl: keep it as an artifact.
#
# environment:
#   CORDON_POLICY           policy file, directory or https:// URL
#                           (default: policies/examples/ci-runner.yaml; a relative path is looked up
#                           in the working directory, then in the cordon package)
#   CORDON_ENFORCE          true: block denied destinations; false (default): audit mode, record only
#   CORDON_PORT             proxy port on 127.0.0.1 (default 3128; 0 = any free port)
#   CORDON_STATE_DIR        default $RUNNER_TEMP/cordon (or $TMPDIR/cordon)
#   CORDON_SOCKET           status socket (default $CORDON_STATE_DIR/cordon.sock)
#   CORDON_START_TIMEOUT_S  how long start waits for a healthy daemon (default 30)
#   CORDON_STOP_TIMEOUT_S   how long stop waits before SIGKILL (default 15)
#   CORDON_BIN              the cordon CLI: a .js file run with node, or an executable
#                           (default: dist/cli/main.js of this package, else `cordon` on PATH)
#   CORDON_NODE             node binary (default: node on PATH)
#   GITHUB_ENV, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY   used when set
#
# Portable to the bash 3.2 of macOS runners.
set -euo pipefail

PROG=ci-sidecar.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
HELPER=$ROOT/scripts/ci-sidecar.mjs
DEFAULT_POLICY=policies/examples/ci-runner.yaml
NODE=${CORDON_NODE:-node}
STATE_DIR=${CORDON_STATE_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/cordon}
STATE_DIR=${STATE_DIR%/}
SOCKET=${CORDON_SOCKET:-$STATE_DIR/cordon.sock}
PORT=${CORDON_PORT:-3128}
START_TIMEOUT_S=${CORDON_START_TIMEOUT_S:-30}
STOP_TIMEOUT_S=${CORDON_STOP_TIMEOUT_S:-15}
POLL_S=0.25
# sun_path is 104 bytes on macOS, 108 on Linux, including the NUL
MAX_SOCKET_PATH=103
NO_PROXY_HOSTS=localhost,127.0.0.1,::1
PID_FILE=$STATE_DIR/cordon.pid
LOG_FILE=$STATE_DIR/cordon.log
INFO_FILE=$STATE_DIR/sidecar.env
SUMMARY_FILE=$STATE_DIR/summary.md
LOG_TAIL_LINES=40

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
fail() {
  if [ "${GITHUB_ACTIONS:-}" = true ]; then printf '::error title=cordon::%s\n' "$*" >&2; fi
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

if [ -z "${CORDON_BIN:-}" ]; then
  if [ -f "$ROOT/dist/cli/main.js" ]; then
    CORDON_BIN=$ROOT/dist/cli/main.js
  else
    CORDON_BIN=$(command -v cordon || true)
  fi
fi
cordon() {
  [ -n "$CORDON_BIN" ] || fail "cordon not found: build it (npm ci) or set CORDON_BIN"
  case "$CORDON_BIN" in
    *.js) "$NODE" "$CORDON_BIN" "$@" ;;
    *) "$CORDON_BIN" "$@" ;;
  esac
}

# alive PID — the process exists and is not a zombie
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  case "$(ps -p "$1" -o stat= 2>/dev/null || true)" in
    Z*) return 1 ;;
  esac
  return 0
}

# ours PID — the process is the cordon started for this state directory (not a recycled pid)
ours() {
  ps -ww -p "$1" -o args= 2>/dev/null | grep -qF -- "--state-dir $STATE_DIR"
}

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  if ! alive "$pid" || ! ours "$pid"; then return 1; fi
  printf '%s\n' "$pid"
}

show_log() {
  if [ -s "$LOG_FILE" ]; then
    log "last lines of $LOG_FILE:"
    tail -n "$LOG_TAIL_LINES" "$LOG_FILE" >&2
  fi
}

resolve_policy() {
  local p=${CORDON_POLICY:-$DEFAULT_POLICY}
  case "$p" in
    https://* | http://* | /*) printf '%s\n' "$p" ;;
    *)
      if [ -e "$p" ]; then
        printf '%s/%s\n' "$(pwd -P)" "$p"
      elif [ -e "$ROOT/$p" ]; then
        printf '%s/%s\n' "$ROOT" "$p"
      else
        fail "policy $p not found (in $(pwd -P) or $ROOT)"
      fi
      ;;
  esac
}

# health — prints the proxy address when the daemon is healthy; exit 1 not yet, 2 never
health() {
  local status
  status=$(cordon status --json --socket "$SOCKET" 2>"$STATE_DIR/health.err") || return 1
  printf '%s' "$status" | "$NODE" "$HELPER" health 2>"$STATE_DIR/health.err"
}

export_env() {
  local addr=$1 http socks name value
  http=http://$addr
  socks=socks5h://$addr # the name goes to cordon, which decides on it before resolving
  for pair in "HTTP_PROXY=$http" "HTTPS_PROXY=$http" "ALL_PROXY=$socks" \
    "http_proxy=$http" "https_proxy=$http" "all_proxy=$socks" \
    "NO_PROXY=$NO_PROXY_HOSTS" "no_proxy=$NO_PROXY_HOSTS" \
    "CORDON_SOCKET=$SOCKET" "CORDON_STATE_DIR=$STATE_DIR"; do
    name=${pair%%=*}
    value=${pair#*=}
    printf "export %s='%s'\n" "$name" "$value"
    if [ -n "${GITHUB_ENV:-}" ]; then printf '%s=%s\n' "$name" "$value" >>"$GITHUB_ENV"; fi
  done
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    {
      echo "proxy-url=$http"
      echo "socket=$SOCKET"
      echo "state-dir=$STATE_DIR"
    } >>"$GITHUB_OUTPUT"
  fi
}

start() {
  local mode policy pid addr deadline rc setsid=
  case "${CORDON_ENFORCE:-false}" in
    true | 1 | yes) mode=enforce ;;
    false | 0 | no | '') mode=audit ;;
    *) fail "CORDON_ENFORCE must be true or false, not '${CORDON_ENFORCE}'" ;;
  esac
  case "$PORT" in '' | *[!0-9]*) fail "CORDON_PORT must be a number, not '$PORT'" ;; esac
  [ "$PORT" -le 65535 ] || fail "CORDON_PORT $PORT is not a port"
  case "$START_TIMEOUT_S" in '' | *[!0-9]*) fail "CORDON_START_TIMEOUT_S must be whole seconds" ;; esac
  [ "${#SOCKET}" -le "$MAX_SOCKET_PATH" ] || fail "socket path $SOCKET is longer than $MAX_SOCKET_PATH bytes: set CORDON_SOCKET or CORDON_STATE_DIR to a shorter path"
  [ -n "$CORDON_BIN" ] || fail "cordon not found: build it (npm ci) or set CORDON_BIN"
  mkdir -p "$STATE_DIR"
  chmod 0700 "$STATE_DIR"

  if pid=$(running_pid); then
    addr=$(health) || fail "cordon (pid $pid) is already running for $STATE_DIR but not healthy: $(cat "$STATE_DIR/health.err" 2>/dev/null); run '$PROG stop' first"
    log "cordon already running (pid $pid) on $addr"
    export_env "$addr"
    return 0
  fi
  policy=$(resolve_policy)

  if command -v setsid >/dev/null 2>&1; then setsid=setsid; fi # out of the step's process group
  # shellcheck disable=SC2086 # $setsid is one word or empty
  case "$CORDON_BIN" in
    *.js) nohup $setsid "$NODE" "$CORDON_BIN" run --policy "$policy" --listen "127.0.0.1:$PORT" \
      --socket "$SOCKET" --mode "$mode" --state-dir "$STATE_DIR" >>"$LOG_FILE" 2>&1 </dev/null & ;;
    *) nohup $setsid "$CORDON_BIN" run --policy "$policy" --listen "127.0.0.1:$PORT" \
      --socket "$SOCKET" --mode "$mode" --state-dir "$STATE_DIR" >>"$LOG_FILE" 2>&1 </dev/null & ;;
  esac
  pid=$!
  echo "$pid" >"$PID_FILE"
  log "started cordon (pid $pid, $mode mode, policy $policy); waiting up to ${START_TIMEOUT_S}s for it to be healthy"

  deadline=$(($(date +%s) + START_TIMEOUT_S))
  while :; do
    if ! alive "$pid"; then
      rc=0
      wait "$pid" 2>/dev/null || rc=$?
      rm -f "$PID_FILE"
      show_log
      fail "cordon exited during start-up (status $rc)"
    fi
    rc=0
    addr=$(health) || rc=$?
    if [ "$rc" = 0 ]; then break; fi
    if [ "$rc" = 2 ] || [ "$(date +%s)" -ge "$deadline" ]; then
      kill -TERM "$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      show_log
      fail "cordon is not healthy: $(cat "$STATE_DIR/health.err" 2>/dev/null || echo 'no answer') (after ${START_TIMEOUT_S}s at most)"
    fi
    sleep "$POLL_S"
  done
  rm -f "$STATE_DIR/health.err"
  {
    echo "mode=$mode"
    echo "policy=$policy"
    echo "proxy=$addr"
    echo "started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$INFO_FILE"
  log "cordon is healthy: proxy http://$addr ($mode mode)"
  export_env "$addr"
}

stop() {
  local pid waited=0
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    log "cordon is not running"
    return 0
  fi
  kill -TERM "$pid"
  # polled in whole ticks of $POLL_S: 4 per second
  while alive "$pid" && [ "$waited" -lt $((STOP_TIMEOUT_S * 4)) ]; do
    sleep "$POLL_S"
    waited=$((waited + 1))
  done
  if alive "$pid"; then
    log "cordon (pid $pid) did not stop within ${STOP_TIMEOUT_S}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  log "cordon stopped"
}

report() {
  if running_pid >/dev/null; then
    log "note: cordon is still running; the report covers the events written so far (run stop first for all of them)"
  fi
  mkdir -p "$STATE_DIR"
  "$NODE" "$HELPER" report --state-dir "$STATE_DIR" >"$SUMMARY_FILE"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$SUMMARY_FILE" >>"$GITHUB_STEP_SUMMARY"
    log "summary appended to the job summary ($SUMMARY_FILE)"
  else
    cat "$SUMMARY_FILE"
  fi
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    {
      echo "summary=$SUMMARY_FILE"
      echo "state-dir=$STATE_DIR"
    } >>"$GITHUB_OUTPUT"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  report) report ;;
  *) fail "usage: $PROG start|report|stop" ;;
esac
