#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a developer's one:
#   1. installs what the build and the tests need (Debian packages, crates),
#   2. checks formatting and lints (cargo fmt, clippy -D warnings),
#   3. runs every test of the workspace in one build.
# Tests that read ../shared/ skip with a note when it is absent.
#
# Test servers (Dovecot IMAP, SMTP, PostgreSQL) are started here, once per run,
# by scripts/test-servers/*.sh when the suites that need them exist; the
# foundation's tests need none. Everything listens on 127.0.0.1 only.
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

# --- Checks and tests ----------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -D warnings"
cargo clippy --locked --all-targets -- -D warnings
log "cargo test (whole workspace)"
cargo test --locked --workspace
