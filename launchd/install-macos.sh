#!/bin/bash
# install-macos.sh — install or upgrade cordon as a macOS LaunchDaemon.
#
# What an MDM package's postinstall runs (as root, non-interactively). Idempotent:
# a second run with the same inputs changes no file and leaves the daemon
# running; a run that changes only the policy sends it SIGHUP; any other change
# reloads the LaunchDaemon. Flags describe the whole desired state.
# Remove with launchd/uninstall-macos.sh.
#
# usage:
#   install-macos.sh [--policy FILE | --policy-url URL] [--trusted-key FILE]...
#                    [--config FILE] [--grant USER]... [--node PATH] [--source DIR]
#
#   --policy FILE       install FILE (and FILE.sig when present) as /etc/cordon/policy.yaml
#   --policy-url URL    poll the policy from URL (https://; signature at URL + .sig)
#   --trusted-key FILE  trust this Ed25519 public key for policy signatures (repeatable;
#                       the given keys replace the installed set)
#   --config FILE       install FILE as /etc/cordon/config.yaml instead of generating it
#   --grant USER        add USER to group _cordon: access to the status socket (CLI, API)
#   --node PATH         Node.js >= 20.19 to copy to /opt/cordon/bin/node (default: node on PATH)
#   --source DIR        the built package (default: the directory above this script; when it
#                       is /opt/cordon itself, as laid down by a .pkg payload, nothing is copied)
#
# environment:
#   DESTDIR           staging root prefixed to every path (the _cordon group is still
#                     created on this host, with dscl)
#   SKIP_LAUNCHCTL    1: never call launchctl; 0: always; unset: only when DESTDIR is empty
#   HEALTH_TIMEOUT_S  seconds to wait for the status socket after (re)loading (default 30; 0: don't)
#
# Layout (see com.cordon.daemon.plist):
#   /opt/cordon                  the package and bin/node (root:wheel, read-only)
#   /usr/local/bin/cordon        the CLI (a wrapper running /opt/cordon/bin/node)
#   /etc/cordon                  config.yaml, policy.yaml[.sig], keys/ (root:_cordon 0750, files 0640)
#   /var/db/cordon               state, policy cache, events.jsonl audit log (root:_cordon 0750)
#   /var/log/cordon              the daemon's stdout/stderr (root:_cordon 0750)
#   /var/run/cordon/cordon.sock  status socket (directory root:_cordon 0750)
#   /Library/LaunchDaemons/com.cordon.daemon.plist
#
# Written for the bash 3.2 that macOS ships, and for BSD tools.
set -euo pipefail
umask 022

PROG=install-macos.sh
LABEL=com.cordon.daemon
GROUP=_cordon
GROUP_REALNAME="cordon status socket access"
GID_MIN=300
GID_MAX=499
PKG_DIR=/opt/cordon
NODE_DST=$PKG_DIR/bin/node
MAIN_JS=$PKG_DIR/dist/cli/main.js
WRAPPER=/usr/local/bin/cordon
WRAPPER_MARK="# cordon CLI wrapper (install-macos.sh)"
CONF_DIR=/etc/cordon
KEYS_DIR=$CONF_DIR/keys
STATE_DIR=/var/db/cordon
LOG_DIR=/var/log/cordon
RUN_DIR=/var/run/cordon
SOCKET=$RUN_DIR/cordon.sock
PLIST_DIR=/Library/LaunchDaemons
PLIST_NAME=$LABEL.plist
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19
DIGEST_FILE=.cordon-package-digest
DEFAULT_HEALTH_TIMEOUT_S=30
BOOT_RETRIES=10

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "${BASH_SOURCE[0]}"; }
D() { printf '%s%s' "$DESTDIR" "$1"; }

# ---------------------------------------------------------------- arguments
POLICY_FILE=
POLICY_URL=
CONFIG_FILE=
NODE_BIN=
SOURCE=
TRUSTED_KEYS=()
GRANT_USERS=()

need_arg() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value"; fi; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    --policy) need_arg "$@"; POLICY_FILE=$2; shift 2 ;;
    --policy-url) need_arg "$@"; POLICY_URL=$2; shift 2 ;;
    --trusted-key) need_arg "$@"; TRUSTED_KEYS+=("$2"); shift 2 ;;
    --config) need_arg "$@"; CONFIG_FILE=$2; shift 2 ;;
    --grant) need_arg "$@"; GRANT_USERS+=("$2"); shift 2 ;;
    --node) need_arg "$@"; NODE_BIN=$2; shift 2 ;;
    --source) need_arg "$@"; SOURCE=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
# bash 3.2 treats an empty array as unset under `set -u`: expand with ${a[@]+"${a[@]}"}
N_KEYS=${#TRUSTED_KEYS[@]}
[ -z "$POLICY_FILE" ] || [ -z "$POLICY_URL" ] || die "give --policy or --policy-url, not both"
[ -z "$CONFIG_FILE" ] || [ -z "$POLICY_URL" ] || die "--policy-url is written into a generated config; with --config, set policy.source in your file"

if [ "$(id -u)" != 0 ] && [ -z "$DESTDIR" ]; then die "must run as root (sudo, or from a .pkg postinstall)"; fi
want_launchctl() {
  case "${SKIP_LAUNCHCTL:-}" in
    1) return 1 ;;
    0) return 0 ;;
  esac
  [ -z "$DESTDIR" ]
}

# ---------------------------------------------------------------- checks
[ -n "$SOURCE" ] || SOURCE=$SCRIPT_DIR/..
[ -d "$SOURCE" ] || die "--source $SOURCE is not a directory"
SOURCE=$(cd "$SOURCE" && pwd -P)
[ -f "$SOURCE/package.json" ] || die "$SOURCE is not a cordon package (no package.json)"
[ -f "$SOURCE/dist/cli/main.js" ] || die "$SOURCE/dist/cli/main.js is missing: build first (npm ci && npm run build)"
[ -f "$SOURCE/launchd/$PLIST_NAME" ] || die "$SOURCE/launchd/$PLIST_NAME is missing"

if [ -z "$NODE_BIN" ]; then
  if [ -x "$(D "$NODE_DST")" ]; then NODE_BIN=$(D "$NODE_DST"); else NODE_BIN=$(command -v node || true); fi
fi
[ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || die "Node.js not found: install Node.js >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR or pass --node PATH"
"$NODE_BIN" -e "const [a, b] = process.versions.node.split('.').map(Number); process.exit(a > $NODE_MIN_MAJOR || (a === $NODE_MIN_MAJOR && b >= $NODE_MIN_MINOR) ? 0 : 1)" ||
  die "$NODE_BIN is Node.js $("$NODE_BIN" -v); cordon needs >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR"

if [ -n "$POLICY_URL" ]; then
  printf '%s' "$POLICY_URL" | grep -Eq '^(https://[^[:space:]"'"'"'\\]+|http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/[^[:space:]"'"'"'\\]*)?)$' ||
    die "--policy-url must be an https:// URL (or http:// on loopback) without spaces or quotes: $POLICY_URL"
fi
if [ -n "$POLICY_FILE" ]; then
  [ -f "$POLICY_FILE" ] || die "--policy $POLICY_FILE: no such file"
  if ! out=$("$NODE_BIN" "$SOURCE/dist/cli/main.js" policy validate "$POLICY_FILE" 2>&1); then
    printf '%s\n' "$out" >&2
    die "--policy $POLICY_FILE is not a valid policy"
  fi
fi
[ -z "$CONFIG_FILE" ] || [ -f "$CONFIG_FILE" ] || die "--config $CONFIG_FILE: no such file"
for key in ${TRUSTED_KEYS[@]+"${TRUSTED_KEYS[@]}"}; do
  [ -f "$key" ] || die "--trusted-key $key: no such file"
  printf '%s' "$(basename "$key")" | grep -Eq '^[A-Za-z0-9][A-Za-z0-9._-]*$' ||
    die "--trusted-key $key: use a file name of letters, digits, '.', '_' and '-'"
done
if [ "$N_KEYS" -gt 0 ] && [ -n "$POLICY_FILE" ] && [ ! -f "$POLICY_FILE.sig" ]; then
  die "--trusted-key requires a signed policy, but $POLICY_FILE.sig does not exist (cordon policy sign $POLICY_FILE --key KEY)"
fi
for user in ${GRANT_USERS[@]+"${GRANT_USERS[@]}"}; do
  id "$user" >/dev/null 2>&1 || die "--grant $user: no such user"
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CHANGED_RESTART=0
CHANGED_POLICY=0

set_attrs() { # PATH MODE UID:GID
  chmod "$2" "$1"
  chown -h "$3" "$1"
}
ensure_dir() { # PATH MODE UID:GID
  mkdir -p "$1"
  set_attrs "$1" "$2" "$3"
}
install_file() { # SRC DST MODE UID:GID — 0 when DST changed, 1 when it already matched
  if [ -f "$2" ] && [ ! -L "$2" ] && cmp -s "$1" "$2"; then
    set_attrs "$2" "$3" "$4"
    return 1
  fi
  cp "$1" "$2.tmp.$$"
  set_attrs "$2.tmp.$$" "$3" "$4"
  mv -f "$2.tmp.$$" "$2"
  return 0
}

# ---------------------------------------------------------------- group
group_gid() { dscl . -read "/Groups/$GROUP" PrimaryGroupID 2>/dev/null | awk '/^PrimaryGroupID:/ { print $2 }'; }
GID=$(group_gid || true)
if [ -z "$GID" ]; then
  used=$(dscl . -list /Groups PrimaryGroupID | awk '{ print $2 }')
  gid=$GID_MIN
  while [ "$gid" -le "$GID_MAX" ] && printf '%s\n' "$used" | grep -qx "$gid"; do gid=$((gid + 1)); done
  [ "$gid" -le "$GID_MAX" ] || die "no free group id between $GID_MIN and $GID_MAX for $GROUP"
  dscl . -create "/Groups/$GROUP"
  dscl . -create "/Groups/$GROUP" PrimaryGroupID "$gid"
  dscl . -create "/Groups/$GROUP" RealName "$GROUP_REALNAME"
  dscl . -create "/Groups/$GROUP" Password '*'
  GID=$(group_gid || true)
  [ "$GID" = "$gid" ] || die "could not create group $GROUP"
  log "created group $GROUP ($GID)"
fi
ROOT_OWNER=0:0
GROUP_OWNER=0:$GID

ensure_dir "$(D "$CONF_DIR")" 0750 "$GROUP_OWNER"
ensure_dir "$(D "$KEYS_DIR")" 0750 "$GROUP_OWNER"
ensure_dir "$(D "$STATE_DIR")" 0750 "$GROUP_OWNER"
ensure_dir "$(D "$LOG_DIR")" 0750 "$GROUP_OWNER"
ensure_dir "$(D "$RUN_DIR")" 0750 "$GROUP_OWNER"
mkdir -p "$(D "$PLIST_DIR")" "$(D "$(dirname "$WRAPPER")")" "$(D "$(dirname "$PKG_DIR")")"

# ---------------------------------------------------------------- package and node
PKG=$(D "$PKG_DIR")
if [ -d "$PKG" ] && [ "$(cd "$PKG" && pwd -P)" = "$SOURCE" ]; then
  log "package already in place at $PKG_DIR"
else
  rm -rf "$PKG.new" "$PKG.old"
  new_digest=$("$NODE_BIN" "$SCRIPT_DIR/../scripts/stage-package.mjs" "$SOURCE" "$PKG.new")
  old_digest=$(cat "$PKG/$DIGEST_FILE" 2>/dev/null || true)
  if [ -n "$old_digest" ] && [ "$new_digest" = "$old_digest" ]; then
    rm -rf "$PKG.new"
    log "package unchanged ($new_digest)"
  else
    if [ -d "$PKG/bin" ]; then mv "$PKG/bin" "$PKG.new/bin"; fi # keep the node copy
    if [ -e "$PKG" ]; then mv "$PKG" "$PKG.old"; fi
    mv "$PKG.new" "$PKG"
    rm -rf "$PKG.old"
    CHANGED_RESTART=1
    log "installed package $new_digest into $PKG_DIR"
  fi
fi
mkdir -p "$PKG/bin"
if [ "$NODE_BIN" != "$(D "$NODE_DST")" ]; then
  if install_file "$NODE_BIN" "$(D "$NODE_DST")" 0755 "$ROOT_OWNER"; then CHANGED_RESTART=1; fi
fi
chown -R "$ROOT_OWNER" "$PKG"
chmod 0755 "$PKG" "$PKG/bin"

cat >"$WORK/cordon" <<EOF
#!/bin/sh
$WRAPPER_MARK: runs the CLI with the node copy the daemon uses,
# and talks to the system daemon unless told otherwise.
if [ -z "\${CORDON_SOCKET:-}" ] && [ -S $SOCKET ]; then
  CORDON_SOCKET=$SOCKET
  export CORDON_SOCKET
fi
exec $NODE_DST $MAIN_JS "\$@"
EOF
if [ -e "$(D "$WRAPPER")" ] && ! grep -qF "$WRAPPER_MARK" "$(D "$WRAPPER")"; then
  log "warning: $WRAPPER exists and is not cordon's wrapper; left alone (run $NODE_DST $MAIN_JS)"
else
  install_file "$WORK/cordon" "$(D "$WRAPPER")" 0755 "$ROOT_OWNER" || true
fi

# ---------------------------------------------------------------- keys, config, policy
KEY_PATHS=()
for key in ${TRUSTED_KEYS[@]+"${TRUSTED_KEYS[@]}"}; do
  if install_file "$key" "$(D "$KEYS_DIR")/$(basename "$key")" 0640 "$GROUP_OWNER"; then CHANGED_RESTART=1; fi
  KEY_PATHS+=("$KEYS_DIR/$(basename "$key")")
done
if [ "$N_KEYS" -gt 0 ]; then
  for existing in "$(D "$KEYS_DIR")"/*; do
    [ -e "$existing" ] || continue
    keep=0
    for kp in "${KEY_PATHS[@]}"; do
      if [ "$(D "$kp")" = "$existing" ]; then keep=1; fi
    done
    if [ "$keep" = 0 ]; then rm -f "$existing"; CHANGED_RESTART=1; fi
  done
fi

CONFIG_DST=$(D "$CONF_DIR/config.yaml")
if [ -n "$CONFIG_FILE" ]; then
  if install_file "$CONFIG_FILE" "$CONFIG_DST" 0640 "$GROUP_OWNER"; then CHANGED_RESTART=1; fi
elif [ -n "$POLICY_FILE$POLICY_URL" ] || [ "$N_KEYS" -gt 0 ] || [ ! -f "$CONFIG_DST" ]; then
  {
    echo "# cordon daemon configuration (keys: DESIGN §6). Written by $PROG;"
    echo "# edit it, or install your own with --config. The LaunchDaemon pins socket and state_dir."
    echo "listen: 127.0.0.1:3128"
    echo "socket: $SOCKET"
    echo "state_dir: $STATE_DIR"
    echo "policy:"
    echo "  source: \"${POLICY_URL:-$CONF_DIR/policy.yaml}\""
    if [ "$N_KEYS" -gt 0 ]; then
      echo "  trusted_keys:"
      for kp in "${KEY_PATHS[@]}"; do echo "    - $kp"; done
    fi
  } >"$WORK/config.yaml"
  if install_file "$WORK/config.yaml" "$CONFIG_DST" 0640 "$GROUP_OWNER"; then CHANGED_RESTART=1; fi
fi

POLICY_DST=$(D "$CONF_DIR/policy.yaml")
if [ -n "$POLICY_FILE" ]; then
  if install_file "$POLICY_FILE" "$POLICY_DST" 0640 "$GROUP_OWNER"; then CHANGED_POLICY=1; fi
  if [ -f "$POLICY_FILE.sig" ]; then
    if install_file "$POLICY_FILE.sig" "$POLICY_DST.sig" 0640 "$GROUP_OWNER"; then CHANGED_POLICY=1; fi
  elif [ -e "$POLICY_DST.sig" ]; then
    rm -f "$POLICY_DST.sig" # it signed the previous policy
    CHANGED_POLICY=1
  fi
elif [ -z "$POLICY_URL" ] && [ ! -f "$POLICY_DST" ] && [ -f "$PKG/policies/default.yaml" ]; then
  install_file "$PKG/policies/default.yaml" "$POLICY_DST" 0640 "$GROUP_OWNER" || true
  CHANGED_POLICY=1
fi

# ---------------------------------------------------------------- LaunchDaemon
PLIST=$(D "$PLIST_DIR/$PLIST_NAME")
if command -v plutil >/dev/null 2>&1; then
  plutil -lint "$SOURCE/launchd/$PLIST_NAME" >/dev/null || die "$SOURCE/launchd/$PLIST_NAME is not a valid plist"
fi
# launchd refuses a plist that is not root's or is writable by others
if install_file "$SOURCE/launchd/$PLIST_NAME" "$PLIST" 0644 "$ROOT_OWNER"; then CHANGED_RESTART=1; fi

for user in ${GRANT_USERS[@]+"${GRANT_USERS[@]}"}; do
  dseditgroup -o edit -a "$user" -t user "$GROUP"
  log "added $user to group $GROUP"
done

wait_healthy() {
  local timeout=${HEALTH_TIMEOUT_S:-$DEFAULT_HEALTH_TIMEOUT_S} waited=0
  [ "$timeout" -gt 0 ] || return 0
  while ! "$NODE_DST" "$MAIN_JS" status --socket "$SOCKET" >/dev/null 2>&1; do
    if [ "$waited" -ge "$timeout" ]; then
      tail -n 40 "$LOG_DIR/cordon.err.log" >&2 2>/dev/null || true
      die "cordon did not answer on $SOCKET within ${timeout}s (logs: $LOG_DIR)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

loaded() { launchctl print "system/$LABEL" >/dev/null 2>&1; }

if want_launchctl; then
  if loaded && [ "$CHANGED_RESTART" = 1 ]; then
    launchctl bootout "system/$LABEL" || true
    tries=0
    while loaded && [ "$tries" -lt "$BOOT_RETRIES" ]; do sleep 1; tries=$((tries + 1)); done
  fi
  if loaded; then
    if [ "$CHANGED_POLICY" = 1 ]; then launchctl kill HUP "system/$LABEL"; fi
    launchctl kickstart "system/$LABEL" # starts it if it is not running; no-op otherwise
  else
    launchctl enable "system/$LABEL"
    tries=0
    # right after a bootout, bootstrap can fail with "5: Input/output error" for a moment
    until launchctl bootstrap system "$PLIST_DIR/$PLIST_NAME"; do
      tries=$((tries + 1))
      [ "$tries" -lt "$BOOT_RETRIES" ] || die "launchctl bootstrap system $PLIST_DIR/$PLIST_NAME failed"
      sleep 1
    done
  fi
  wait_healthy
  log "cordon is running: cordon status"
else
  log "launchctl skipped; start it with: launchctl bootstrap system $PLIST_DIR/$PLIST_NAME"
fi
if [ "$CHANGED_RESTART$CHANGED_POLICY" = 00 ]; then log "nothing changed"; fi
