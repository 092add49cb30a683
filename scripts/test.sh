#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a developer's one:
#   1. installs what the build and the tests need (Debian packages, crates),
#   2. checks formatting and lints (cargo fmt, clippy -D warnings),
#   3. runs every test of the workspace in one build.
# Tests that read ../shared/ skip with a note when it is absent.
#
# Test servers are started here, once per run, by scripts/test-servers/*.sh
# (which install their Debian packages when missing) and stopped on exit.
# Everything listens on 127.0.0.1 only. Today: Dovecot IMAP for the mailbox
# connector (TEST_IMAP_PORT, TEST_IMAP_CA). SMTP and PostgreSQL scripts are
# there for the suites that will need them.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

# --- System packages -------------------------------------------------------
# A C compiler builds the bundled SQLite. Install only what is missing.
need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# --- Crates ------------------------------------------------------------------
log "fetching crates (Cargo.lock)"
cargo fetch --locked

# --- Test servers ------------------------------------------------------------
# The first base port whose three ports (IMAP, IMAPS, LMTP) are free (a bounded list).
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
IMAP_PORT=${RELANCE_TEST_IMAP_PORT:-}
if [ -z "$IMAP_PORT" ]; then
  for p in 14143 24143 34143 44143 54143; do
    if ! port_busy "$p" && ! port_busy $((p + 1)) && ! port_busy $((p + 2)); then IMAP_PORT=$p; break; fi
  done
  [ -n "$IMAP_PORT" ] || { echo "no free port for the test IMAP server" >&2; exit 1; }
fi
SERVERS=$(mktemp -d /tmp/relance-it.XXXXXX)
chmod 755 "$SERVERS"   # dovecot's `mail` user must traverse it
stop_servers() {
  bash scripts/test-servers/imap-server.sh stop "$SERVERS/imap" "$IMAP_PORT" >/dev/null 2>&1 || true
  rm -rf "$SERVERS"
}
trap stop_servers EXIT
log "starting Dovecot IMAP on 127.0.0.1:$IMAP_PORT"
IMAP_ANY_USER_PASSWORD=password bash scripts/test-servers/imap-server.sh start "$SERVERS/imap" "$IMAP_PORT"
export TEST_IMAP_PORT="$IMAP_PORT" TEST_IMAP_CA="$SERVERS/imap/tls/ca.pem"

# --- Checks and tests ----------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -D warnings"
cargo clippy --locked --all-targets -- -D warnings
log "cargo test (whole workspace)"
cargo test --locked --workspace
