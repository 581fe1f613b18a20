#!/usr/bin/env bash
# install-linux.sh — install, upgrade or remove cordon as a systemd service.
#
# Written for MDM and configuration management: non-interactive and
# idempotent. A second run with the same inputs changes no file and does not
# restart the daemon; a run that changes only the policy reloads it (SIGHUP);
# any other change restarts it. Flags describe the whole desired state.
#
# usage:
#   install-linux.sh [--policy FILE | --policy-url URL] [--trusted-key FILE]...
#                    [--config FILE] [--grant USER]... [--node PATH] [--source DIR]
#   install-linux.sh --uninstall [--purge]
#
#   --policy FILE       install FILE (and FILE.sig when present) as /etc/cordon/policy.yaml
#   --policy-url URL    poll the policy from URL (https://; FILE.sig = URL + .sig)
#   --trusted-key FILE  trust this Ed25519 public key for policy signatures (repeatable;
#                       the given keys replace the installed set)
#   --config FILE       install FILE as /etc/cordon/config.yaml instead of generating it
#   --grant USER        add USER to group cordon: access to the status socket (CLI, cordon exec)
#   --node PATH         node >= 20.19 to run the daemon with (default /usr/bin/node)
#   --source DIR        the built package to install (default: the directory above this script)
#   --uninstall         remove cordon; keeps /var/log/cordon and /var/lib/cordon/events*
#   --purge             with --uninstall: remove those too, and the cordon user and group
#
# environment:
#   DESTDIR           staging root prefixed to every path. Accounts are read from and created
#                     in $DESTDIR/etc/passwd when that file exists, else on this host.
#   SKIP_SYSTEMCTL    1: never call systemctl; 0: always call it; unset: call it only when
#                     DESTDIR is empty and systemd is running
#   HEALTH_TIMEOUT_S  seconds to wait for the status socket after (re)starting (default 30; 0: don't)
#
# Layout (see systemd/cordon.service):
#   /opt/cordon                    the package: dist, production node_modules, policies (root, read-only)
#   /usr/local/bin/cordon          symlink to /opt/cordon/dist/cli/main.js
#   /etc/cordon                    config.yaml, policy.yaml[.sig], keys/ (root:cordon 0750, files 0640)
#   /var/lib/cordon                state, policy cache, events.jsonl audit log (cordon:cordon 0750)
#   /var/log/cordon                logs (cordon:cordon 0750)
#   /run/cordon/cordon.sock        status socket (made by systemd and the daemon at start)
#   /etc/systemd/system/cordon.service
set -euo pipefail
umask 022

readonly PROG=install-linux.sh
readonly SERVICE_USER=cordon
readonly SERVICE_GROUP=cordon
readonly PKG_DIR=/opt/cordon
readonly BIN_LINK=/usr/local/bin/cordon
readonly MAIN_JS=$PKG_DIR/dist/cli/main.js
readonly CONF_DIR=/etc/cordon
readonly KEYS_DIR=$CONF_DIR/keys
readonly STATE_DIR=/var/lib/cordon
readonly LOG_DIR=/var/log/cordon
readonly RUN_DIR=/run/cordon
readonly SOCKET=$RUN_DIR/cordon.sock
readonly UNIT_NAME=cordon.service
readonly UNIT_DIR=/etc/systemd/system
readonly DEFAULT_NODE=/usr/bin/node
readonly NODE_MIN_MAJOR=20
readonly NODE_MIN_MINOR=19
readonly DIGEST_FILE=.cordon-package-digest
readonly DEFAULT_HEALTH_TIMEOUT_S=30

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
D() { printf '%s%s' "$DESTDIR" "$1"; }

# ---------------------------------------------------------------- arguments
POLICY_FILE=
POLICY_URL=
CONFIG_FILE=
NODE_BIN=$DEFAULT_NODE
SOURCE=
UNINSTALL=0
PURGE=0
TRUSTED_KEYS=()
GRANT_USERS=()

need_arg() { [ "$#" -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    --policy) need_arg "$@"; POLICY_FILE=$2; shift 2 ;;
    --policy-url) need_arg "$@"; POLICY_URL=$2; shift 2 ;;
    --trusted-key) need_arg "$@"; TRUSTED_KEYS+=("$2"); shift 2 ;;
    --config) need_arg "$@"; CONFIG_FILE=$2; shift 2 ;;
    --grant) need_arg "$@"; GRANT_USERS+=("$2"); shift 2 ;;
    --node) need_arg "$@"; NODE_BIN=$2; shift 2 ;;
    --source) need_arg "$@"; SOURCE=$2; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

if [ "$UNINSTALL" = 1 ]; then
  if [ -n "$POLICY_FILE$POLICY_URL$CONFIG_FILE$SOURCE" ] || [ "${#TRUSTED_KEYS[@]}" -gt 0 ] || [ "${#GRANT_USERS[@]}" -gt 0 ]; then
    die "--uninstall takes only --purge"
  fi
else
  [ "$PURGE" = 0 ] || die "--purge is only valid with --uninstall"
  [ -z "$POLICY_FILE" ] || [ -z "$POLICY_URL" ] || die "give --policy or --policy-url, not both"
  [ -z "$CONFIG_FILE" ] || [ -z "$POLICY_URL" ] || die "--policy-url is written into a generated config; with --config, set policy.source in your file"
fi

# ---------------------------------------------------------------- privileges and accounts
CHOWN=1
if [ "$(id -u)" != 0 ]; then
  [ -n "$DESTDIR" ] || die "must run as root (or stage into DESTDIR)"
  CHOWN=0
  log "warning: not root: staged files keep your ownership and no account is created"
fi

ACCT_PREFIX=
if [ -n "$DESTDIR" ] && [ -f "$DESTDIR/etc/passwd" ]; then ACCT_PREFIX=$DESTDIR; fi
ACCT_ARGS=()
if [ -n "$ACCT_PREFIX" ]; then ACCT_ARGS=(--prefix "$ACCT_PREFIX"); fi

# acct_field passwd|group NAME FIELD → the field, or nothing when NAME is absent
acct_field() {
  if [ -n "$ACCT_PREFIX" ]; then
    [ -f "$ACCT_PREFIX/etc/$1" ] || return 0
    awk -F: -v n="$2" -v f="$3" '$1 == n { print $f; exit }' "$ACCT_PREFIX/etc/$1"
  else
    local line fields
    line=$(getent "$1" "$2" || true)
    [ -n "$line" ] || return 0
    IFS=: read -r -a fields <<<"$line"
    printf '%s\n' "${fields[$(($3 - 1))]}"
  fi
}

ensure_accounts() {
  [ "$CHOWN" = 1 ] || return 0
  if [ -z "$(acct_field group "$SERVICE_GROUP" 3)" ]; then
    groupadd "${ACCT_ARGS[@]}" --system "$SERVICE_GROUP"
    log "created group $SERVICE_GROUP"
  fi
  if [ -z "$(acct_field passwd "$SERVICE_USER" 3)" ]; then
    local shell=/bin/false candidate
    for candidate in /usr/sbin/nologin /sbin/nologin; do
      if [ -x "$candidate" ]; then shell=$candidate; break; fi
    done
    useradd "${ACCT_ARGS[@]}" --system --gid "$SERVICE_GROUP" --home-dir "$STATE_DIR" --no-create-home \
      --shell "$shell" --comment "cordon policy daemon" "$SERVICE_USER"
    log "created user $SERVICE_USER"
  fi
  C_UID=$(acct_field passwd "$SERVICE_USER" 3)
  C_GID=$(acct_field group "$SERVICE_GROUP" 3)
  [ -n "$C_UID" ] && [ -n "$C_GID" ] || die "could not resolve user/group $SERVICE_USER"
}

# set_attrs PATH MODE UID:GID
set_attrs() {
  chmod "$2" "$1"
  if [ "$CHOWN" = 1 ]; then chown -h "$3" "$1"; fi
}

# ensure_dir PATH MODE UID:GID
ensure_dir() {
  mkdir -p "$1"
  set_attrs "$1" "$2" "$3"
}

# install_file SRC DST MODE UID:GID — returns 0 when DST changed, 1 when it already matched
install_file() {
  local src=$1 dst=$2 mode=$3 owner=$4
  if [ -f "$dst" ] && [ ! -L "$dst" ] && cmp -s "$src" "$dst"; then
    set_attrs "$dst" "$mode" "$owner"
    return 1
  fi
  local tmp="$dst.tmp.$$"
  cp "$src" "$tmp"
  set_attrs "$tmp" "$mode" "$owner"
  mv -f "$tmp" "$dst"
  return 0
}

# remove_file PATH — returns 0 when something was removed
remove_file() {
  if [ -e "$1" ] || [ -L "$1" ]; then rm -f "$1"; return 0; fi
  return 1
}

want_systemctl() {
  case "${SKIP_SYSTEMCTL:-}" in
    1) return 1 ;;
    0) return 0 ;;
  esac
  [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]
}

# ---------------------------------------------------------------- uninstall
uninstall() {
  if want_systemctl; then
    systemctl disable --now "$UNIT_NAME" || log "warning: systemctl disable --now $UNIT_NAME failed"
  fi
  rm -f "$(D "$UNIT_DIR/$UNIT_NAME")"
  rm -rf "$(D "$UNIT_DIR/$UNIT_NAME.d")"
  if want_systemctl; then
    systemctl daemon-reload
    systemctl reset-failed "$UNIT_NAME" 2>/dev/null || true
  fi
  local link
  link=$(D "$BIN_LINK")
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$MAIN_JS" ]; then rm -f "$link"; fi
  rm -rf "$(D "$PKG_DIR")" "$(D "$PKG_DIR").new" "$(D "$PKG_DIR").old"
  rm -rf "$(D "$CONF_DIR")" "$(D "$RUN_DIR")"

  if [ "$PURGE" = 1 ]; then
    rm -rf "$(D "$STATE_DIR")" "$(D "$LOG_DIR")"
    if [ "$CHOWN" = 1 ] && { [ -z "$DESTDIR" ] || [ -n "$ACCT_PREFIX" ]; }; then
      if [ -n "$(acct_field passwd "$SERVICE_USER" 3)" ]; then
        userdel "${ACCT_ARGS[@]}" "$SERVICE_USER" || log "warning: userdel $SERVICE_USER failed"
      fi
      if [ -n "$(acct_field group "$SERVICE_GROUP" 3)" ]; then
        groupdel "${ACCT_ARGS[@]}" "$SERVICE_GROUP" || log "warning: groupdel $SERVICE_GROUP failed"
      fi
    elif [ -n "$DESTDIR" ]; then
      log "note: the $SERVICE_USER account lives on this host, not in DESTDIR; left in place"
    fi
    log "cordon removed, including its audit log and the $SERVICE_USER account"
  else
    local state
    state=$(D "$STATE_DIR")
    if [ -d "$state" ]; then
      find "$state" -mindepth 1 -maxdepth 1 ! -name 'events*' -exec rm -rf {} +
    fi
    # The account stays so that the kept files keep a valid owner (and its
    # uid cannot be handed to another new system user).
    log "cordon removed; kept the audit log ($STATE_DIR/events*, $LOG_DIR) and the $SERVICE_USER account (--purge removes them)"
  fi
}

if [ "$UNINSTALL" = 1 ]; then
  uninstall
  exit 0
fi

# ---------------------------------------------------------------- install: checks
[ -n "$SOURCE" ] || SOURCE=$(cd "$SCRIPT_DIR/.." && pwd -P)
[ -d "$SOURCE" ] || die "--source $SOURCE is not a directory"
SOURCE=$(cd "$SOURCE" && pwd -P)
[ -f "$SOURCE/package.json" ] || die "$SOURCE is not a cordon package (no package.json)"
[ -f "$SOURCE/dist/cli/main.js" ] || die "$SOURCE/dist/cli/main.js is missing: build first (npm ci && npm run build)"
[ -f "$SOURCE/systemd/$UNIT_NAME" ] || die "$SOURCE/systemd/$UNIT_NAME is missing"

case "$NODE_BIN" in
  /*) ;;
  *) die "--node must be an absolute path" ;;
esac
[[ "$NODE_BIN" =~ ^[A-Za-z0-9/._+-]+$ ]] || die "--node path has characters a unit file cannot carry: $NODE_BIN"
[ -x "$NODE_BIN" ] || die "$NODE_BIN not found: install Node.js >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR (e.g. apt-get install nodejs) or pass --node PATH"
# One node run checks the version and that the binary cannot be swapped: the
# daemon runs whatever this path holds, so anyone who can replace it (or its
# directory) can bypass the policy.
NODE_CHECK='
const fs = require("node:fs"), path = require("node:path");
const [min, cur] = [process.argv[1].split(".").map(Number), process.versions.node.split(".").map(Number)];
if (cur[0] < min[0] || (cur[0] === min[0] && cur[1] < min[1])) {
  console.log(`Node.js ${process.versions.node}; cordon needs >= ${process.argv[1]}`); process.exit(1);
}
const given = fs.realpathSync(process.argv[2]), running = fs.realpathSync(process.execPath);
for (const p of new Set([given, path.dirname(given), running, path.dirname(running)])) {
  const st = fs.statSync(p);
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
    console.log(`${p} must be owned by root and not writable by group or others (the daemon executes it)`); process.exit(1);
  }
}'
if ! node_problem=$("$NODE_BIN" -e "$NODE_CHECK" "$NODE_MIN_MAJOR.$NODE_MIN_MINOR" "$NODE_BIN" 2>&1); then
  die "$NODE_BIN: ${node_problem:-does not run}"
fi

if [ -n "$POLICY_URL" ]; then
  [[ "$POLICY_URL" =~ ^(https://[^[:space:]\"\'\\]+|http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/[^[:space:]\"\'\\]*)?)$ ]] ||
    die "--policy-url must be an https:// URL (or http:// on loopback) without spaces or quotes: $POLICY_URL"
fi
if [ -n "$POLICY_FILE" ]; then
  [ -f "$POLICY_FILE" ] || die "--policy $POLICY_FILE: no such file"
  # Validate with the CLI being installed: never install a policy the daemon would refuse.
  if ! out=$("$NODE_BIN" "$SOURCE/dist/cli/main.js" policy validate "$POLICY_FILE" 2>&1); then
    printf '%s\n' "$out" >&2
    die "--policy $POLICY_FILE is not a valid policy"
  fi
fi
[ -z "$CONFIG_FILE" ] || [ -f "$CONFIG_FILE" ] || die "--config $CONFIG_FILE: no such file"
for key in "${TRUSTED_KEYS[@]}"; do
  [ -f "$key" ] || die "--trusted-key $key: no such file"
  [[ "$(basename "$key")" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "--trusted-key $key: use a file name of letters, digits, '.', '_' and '-'"
done
if [ "${#TRUSTED_KEYS[@]}" -gt 0 ] && [ -n "$POLICY_FILE" ] && [ ! -f "$POLICY_FILE.sig" ]; then
  die "--trusted-key requires a signed policy, but $POLICY_FILE.sig does not exist (cordon policy sign $POLICY_FILE --key KEY)"
fi
for user in "${GRANT_USERS[@]}"; do
  [ -n "$(acct_field passwd "$user" 3)" ] || die "--grant $user: no such user"
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CHANGED_RESTART=0 # package, unit, config or keys changed: restart
CHANGED_POLICY=0  # only the policy changed: reload

# ---------------------------------------------------------------- accounts and directories
C_UID=
C_GID=
ensure_accounts
ROOT_OWNER=0:0
CONF_OWNER=0:${C_GID:-0}
SVC_OWNER=${C_UID:-0}:${C_GID:-0}

ensure_dir "$(D "$CONF_DIR")" 0750 "$CONF_OWNER"
ensure_dir "$(D "$KEYS_DIR")" 0750 "$CONF_OWNER"
ensure_dir "$(D "$STATE_DIR")" 0750 "$SVC_OWNER"
ensure_dir "$(D "$LOG_DIR")" 0750 "$SVC_OWNER"
mkdir -p "$(D "$UNIT_DIR")" "$(D "$(dirname "$BIN_LINK")")" "$(D "$(dirname "$PKG_DIR")")"

# ---------------------------------------------------------------- the package
PKG=$(D "$PKG_DIR")
if [ -d "$PKG" ] && [ "$(cd "$PKG" && pwd -P)" = "$SOURCE" ]; then
  log "package already in place at $PKG_DIR"
else
  rm -rf "$PKG.new" "$PKG.old"
  new_digest=$("$NODE_BIN" "$SCRIPT_DIR/stage-package.mjs" "$SOURCE" "$PKG.new")
  old_digest=$(cat "$PKG/$DIGEST_FILE" 2>/dev/null || true)
  if [ -n "$old_digest" ] && [ "$new_digest" = "$old_digest" ]; then
    rm -rf "$PKG.new"
    log "package unchanged ($new_digest)"
  else
    if [ -e "$PKG" ]; then mv "$PKG" "$PKG.old"; fi
    mv "$PKG.new" "$PKG"
    rm -rf "$PKG.old"
    CHANGED_RESTART=1
    log "installed package $new_digest into $PKG_DIR"
  fi
fi
if [ "$CHOWN" = 1 ]; then chown -R "$ROOT_OWNER" "$PKG"; fi
chmod 0755 "$PKG"

LINK=$(D "$BIN_LINK")
if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
  log "warning: $BIN_LINK exists and is not a symlink; left alone (run $MAIN_JS directly)"
elif [ "$(readlink "$LINK" 2>/dev/null || true)" != "$MAIN_JS" ]; then
  ln -sfn "$MAIN_JS" "$LINK"
fi

# ---------------------------------------------------------------- keys, config, policy
KEY_PATHS=()
if [ "${#TRUSTED_KEYS[@]}" -gt 0 ]; then
  for key in "${TRUSTED_KEYS[@]}"; do
    dst=$(D "$KEYS_DIR")/$(basename "$key")
    if install_file "$key" "$dst" 0640 "$CONF_OWNER"; then CHANGED_RESTART=1; fi
    KEY_PATHS+=("$KEYS_DIR/$(basename "$key")")
  done
  # The given keys are the trusted set: a key left out is no longer trusted.
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
  if install_file "$CONFIG_FILE" "$CONFIG_DST" 0640 "$CONF_OWNER"; then CHANGED_RESTART=1; fi
  if [ -n "$POLICY_FILE" ] && ! grep -q "$CONF_DIR/policy.yaml" "$CONFIG_FILE"; then
    log "warning: --config does not mention $CONF_DIR/policy.yaml, where --policy was installed"
  fi
  for kp in "${KEY_PATHS[@]}"; do
    grep -q "$kp" "$CONFIG_FILE" || log "warning: --config does not list $kp in policy.trusted_keys"
  done
elif [ -n "$POLICY_FILE$POLICY_URL" ] || [ "${#TRUSTED_KEYS[@]}" -gt 0 ] || [ ! -f "$CONFIG_DST" ]; then
  source_value=${POLICY_URL:-$CONF_DIR/policy.yaml}
  {
    echo "# cordon daemon configuration (keys: DESIGN §6). Written by $PROG;"
    echo "# edit it, or install your own with --config. The unit pins socket and state_dir."
    echo "listen: 127.0.0.1:3128"
    echo "socket: $SOCKET"
    echo "state_dir: $STATE_DIR"
    echo "policy:"
    echo "  source: \"$source_value\""
    if [ "${#KEY_PATHS[@]}" -gt 0 ]; then
      echo "  trusted_keys:"
      for kp in "${KEY_PATHS[@]}"; do echo "    - $kp"; done
    fi
  } >"$WORK/config.yaml"
  if install_file "$WORK/config.yaml" "$CONFIG_DST" 0640 "$CONF_OWNER"; then CHANGED_RESTART=1; fi
fi

POLICY_DST=$(D "$CONF_DIR/policy.yaml")
if [ -n "$POLICY_FILE" ]; then
  if install_file "$POLICY_FILE" "$POLICY_DST" 0640 "$CONF_OWNER"; then CHANGED_POLICY=1; fi
  if [ -f "$POLICY_FILE.sig" ]; then
    if install_file "$POLICY_FILE.sig" "$POLICY_DST.sig" 0640 "$CONF_OWNER"; then CHANGED_POLICY=1; fi
  elif remove_file "$POLICY_DST.sig"; then
    CHANGED_POLICY=1 # a signature of the previous policy would not match this one
  fi
elif [ -z "$POLICY_URL" ] && [ ! -f "$POLICY_DST" ] && [ -f "$PKG/policies/default.yaml" ]; then
  # First install without a policy: start from the shipped default, for the admin to edit.
  install_file "$PKG/policies/default.yaml" "$POLICY_DST" 0640 "$CONF_OWNER" || true
  CHANGED_POLICY=1
fi

# ---------------------------------------------------------------- unit
if install_file "$SOURCE/systemd/$UNIT_NAME" "$(D "$UNIT_DIR/$UNIT_NAME")" 0644 "$ROOT_OWNER"; then CHANGED_RESTART=1; fi
DROPIN_DIR=$(D "$UNIT_DIR/$UNIT_NAME.d")
DROPIN=$DROPIN_DIR/10-node.conf
if [ "$NODE_BIN" != "$DEFAULT_NODE" ]; then
  {
    echo "# Written by $PROG --node: run the daemon with $NODE_BIN."
    echo "[Service]"
    echo "ExecStart="
    grep '^ExecStart=' "$SOURCE/systemd/$UNIT_NAME" | sed "s|^ExecStart=$DEFAULT_NODE |ExecStart=$NODE_BIN |"
  } >"$WORK/10-node.conf"
  ensure_dir "$DROPIN_DIR" 0755 "$ROOT_OWNER"
  if install_file "$WORK/10-node.conf" "$DROPIN" 0644 "$ROOT_OWNER"; then CHANGED_RESTART=1; fi
elif remove_file "$DROPIN"; then
  rmdir "$DROPIN_DIR" 2>/dev/null || true
  CHANGED_RESTART=1
fi

# ---------------------------------------------------------------- socket access
for user in "${GRANT_USERS[@]}"; do
  if [ "$CHOWN" = 1 ]; then
    usermod "${ACCT_ARGS[@]}" -a -G "$SERVICE_GROUP" "$user"
    log "added $user to group $SERVICE_GROUP (takes effect at their next login)"
  fi
done

# ---------------------------------------------------------------- start
wait_healthy() {
  local timeout=${HEALTH_TIMEOUT_S:-$DEFAULT_HEALTH_TIMEOUT_S} waited=0
  [ "$timeout" -gt 0 ] || return 0
  while ! "$NODE_BIN" "$MAIN_JS" status --socket "$SOCKET" >/dev/null 2>&1; do
    if [ "$waited" -ge "$timeout" ]; then
      systemctl status --no-pager "$UNIT_NAME" >&2 || true
      journalctl -u "$UNIT_NAME" -n 40 --no-pager >&2 || true
      die "cordon did not answer on $SOCKET within ${timeout}s"
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

if want_systemctl; then
  systemctl daemon-reload
  systemctl enable --quiet "$UNIT_NAME"
  if [ "$CHANGED_RESTART" = 1 ]; then
    systemctl restart "$UNIT_NAME"
  else
    systemctl start "$UNIT_NAME"
    if [ "$CHANGED_POLICY" = 1 ]; then systemctl reload "$UNIT_NAME"; fi
  fi
  wait_healthy
  log "cordon is running: cordon status --socket $SOCKET"
else
  log "systemctl skipped; start it with: systemctl daemon-reload && systemctl enable --now $UNIT_NAME"
fi
if [ "$CHANGED_RESTART$CHANGED_POLICY" = 00 ]; then
  log "nothing changed"
fi
