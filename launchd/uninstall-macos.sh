#!/bin/bash
# uninstall-macos.sh — remove the cordon LaunchDaemon installed by install-macos.sh.
#
# Keeps the audit log (/var/db/cordon/events*, /var/log/cordon) and the
# _cordon group that owns it, unless --purge is given. Idempotent.
#
# usage: uninstall-macos.sh [--purge]
#
# environment:
#   DESTDIR          staging root prefixed to every path
#   SKIP_LAUNCHCTL   1: never call launchctl; 0: always; unset: only when DESTDIR is empty
#   CORDON_PKG_ID    receipt to forget with pkgutil (default com.cordon.daemon.pkg)
set -euo pipefail

PROG=uninstall-macos.sh
LABEL=com.cordon.daemon
GROUP=_cordon
PKG_DIR=/opt/cordon
WRAPPER=/usr/local/bin/cordon
WRAPPER_MARK="# cordon CLI wrapper (install-macos.sh)"
CONF_DIR=/etc/cordon
STATE_DIR=/var/db/cordon
LOG_DIR=/var/log/cordon
RUN_DIR=/var/run/cordon
PLIST=/Library/LaunchDaemons/$LABEL.plist
PKG_ID=${CORDON_PKG_ID:-com.cordon.daemon.pkg}
BOOTOUT_WAIT_S=10

DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
D() { printf '%s%s' "$DESTDIR" "$1"; }

PURGE=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --purge) PURGE=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (usage: $PROG [--purge])" ;;
  esac
done
if [ "$(id -u)" != 0 ] && [ -z "$DESTDIR" ]; then die "must run as root"; fi
want_launchctl() {
  case "${SKIP_LAUNCHCTL:-}" in
    1) return 1 ;;
    0) return 0 ;;
  esac
  [ -z "$DESTDIR" ]
}

if want_launchctl && launchctl print "system/$LABEL" >/dev/null 2>&1; then
  # SIGTERM, then up to ExitTimeOut for the daemon to drain and flush the audit log
  launchctl bootout "system/$LABEL" || log "warning: launchctl bootout system/$LABEL failed"
  waited=0
  while launchctl print "system/$LABEL" >/dev/null 2>&1 && [ "$waited" -lt "$BOOTOUT_WAIT_S" ]; do
    sleep 1
    waited=$((waited + 1))
  done
fi
rm -f "$(D "$PLIST")"

if [ -f "$(D "$WRAPPER")" ] && grep -qF "$WRAPPER_MARK" "$(D "$WRAPPER")"; then rm -f "$(D "$WRAPPER")"; fi
rm -rf "$(D "$PKG_DIR")" "$(D "$PKG_DIR").new" "$(D "$PKG_DIR").old"
rm -rf "$(D "$CONF_DIR")" "$(D "$RUN_DIR")"

if [ "$PURGE" = 1 ]; then
  rm -rf "$(D "$STATE_DIR")" "$(D "$LOG_DIR")"
  if dscl . -read "/Groups/$GROUP" >/dev/null 2>&1; then dscl . -delete "/Groups/$GROUP"; fi
else
  if [ -d "$(D "$STATE_DIR")" ]; then
    find "$(D "$STATE_DIR")" -mindepth 1 -maxdepth 1 ! -name 'events*' -exec rm -rf {} +
  fi
fi
if [ -z "$DESTDIR" ] && command -v pkgutil >/dev/null 2>&1 && pkgutil --pkg-info "$PKG_ID" >/dev/null 2>&1; then
  pkgutil --forget "$PKG_ID" >/dev/null
fi

if [ "$PURGE" = 1 ]; then
  log "cordon removed, including its audit log and the $GROUP group"
else
  log "cordon removed; kept the audit log ($STATE_DIR/events*, $LOG_DIR) and the $GROUP group (--purge removes them)"
fi
