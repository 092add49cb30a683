#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a developer's one:
#   1. installs what the build and the tests need (Debian packages, crates),
#   2. checks formatting and lints (cargo fmt, clippy -D warnings) and the
#      architecture invariants the compiler does not (check-architecture.sh),
#   3. fuzzes every parser of untrusted input for a short bounded time,
#   4. runs every test of the workspace in one build, then the end-to-end
#      tests again with their data on PostgreSQL.
# Tests that read ../shared/ skip with a note when it is absent.
#
# Test servers are started here, once per run, by scripts/test-servers/*.sh
# (which install their Debian packages when missing) and stopped on exit.
# Everything listens on 127.0.0.1 only:
#   - Dovecot IMAP for the mailbox connector (TEST_IMAP_PORT, TEST_IMAP_CA);
#   - aiosmtpd SMTP for email delivery (TEST_SMTP_PORT, TEST_SMTP_CA, and
#     TEST_SMTP_DIR where it stores every accepted message), which also
#     delivers each message to Dovecot over LMTP (any recipient gets a
#     mailbox, password `password`). Recipients whose local part starts with
#     `reject-` get 550, `tempfail-` get 451;
#   - a local OAuth2 server (scripts/test-servers/oauth-server.sh,
#     TEST_OAUTH_URL): Dovecot and the SMTP server also offer XOAUTH2 and
#     OAUTHBEARER and check those bearer tokens at its introspection endpoint;
#   - PostgreSQL for the SQL invoice source (TEST_PG_URL, role and database
#     `relance`, which may create a database per test);
#   - ChromeDriver with Debian's headless Chromium for the web workspace's
#     browser tests (TEST_WEBDRIVER_URL).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

# One build, from scratch on CI: incremental compilation would only add
# gigabytes of cache to the target directory.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

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
# free_base N P...: the first base port P whose N consecutive ports are free.
free_base() {
  local n=$1 p i ok; shift
  for p in "$@"; do
    ok=1
    for ((i = 0; i < n; i++)); do port_busy $((p + i)) && ok=0; done
    [ $ok = 1 ] && { echo "$p"; return 0; }
  done
  return 1
}
IMAP_PORT=${RELANCE_TEST_IMAP_PORT:-$(free_base 3 14143 24143 34143 44143 54143)} \
  || { echo "no free port for the test IMAP server" >&2; exit 1; }
SMTP_PORT=${RELANCE_TEST_SMTP_PORT:-$(free_base 2 12525 22525 32525 42525 52525)} \
  || { echo "no free port for the test SMTP server" >&2; exit 1; }
PG_PORT=${RELANCE_TEST_PG_PORT:-$(free_base 1 15432 25432 35432 45432 55432)} \
  || { echo "no free port for the test PostgreSQL server" >&2; exit 1; }
OAUTH_PORT=${RELANCE_TEST_OAUTH_PORT:-$(free_base 1 18080 28080 38080 48080 58080)} \
  || { echo "no free port for the test OAuth2 server" >&2; exit 1; }
WD_PORT=${RELANCE_TEST_WEBDRIVER_PORT:-$(free_base 1 19515 29515 39515 49515 59515)} \
  || { echo "no free port for ChromeDriver" >&2; exit 1; }
SERVERS=$(mktemp -d /tmp/relance-it.XXXXXX)
chmod 755 "$SERVERS"   # dovecot's `mail` user must traverse it
stop_servers() {
  bash scripts/test-servers/webdriver.sh stop "$SERVERS/webdriver" "$WD_PORT" >/dev/null 2>&1 || true
  bash scripts/test-servers/postgres-server.sh stop "$SERVERS/pg" "$PG_PORT" >/dev/null 2>&1 || true
  bash scripts/test-servers/smtp-server.sh stop "$SERVERS/smtp" "$SMTP_PORT" >/dev/null 2>&1 || true
  bash scripts/test-servers/imap-server.sh stop "$SERVERS/imap" "$IMAP_PORT" >/dev/null 2>&1 || true
  bash scripts/test-servers/oauth-server.sh stop "$SERVERS/oauth" "$OAUTH_PORT" >/dev/null 2>&1 || true
  rm -rf "$SERVERS"
}
trap stop_servers EXIT
log "starting Dovecot IMAP on 127.0.0.1:$IMAP_PORT, SMTP on 127.0.0.1:$SMTP_PORT, PostgreSQL on 127.0.0.1:$PG_PORT"
bash scripts/test-servers/postgres-server.sh start "$SERVERS/pg" "$PG_PORT" &
PG_PID=$!
# The OAuth2 server first: Dovecot and the SMTP server check bearer tokens there.
bash scripts/test-servers/oauth-server.sh start "$SERVERS/oauth" "$OAUTH_PORT"
OAUTH_URL="http://127.0.0.1:$OAUTH_PORT"
# IMAP next: the SMTP server hands every accepted message to Dovecot over
# LMTP (before it answers 250), so the sent-archive mailboxes can be read back.
IMAP_ANY_USER_PASSWORD=password IMAP_OAUTH2_INTROSPECT_URL="$OAUTH_URL/introspect" \
  bash scripts/test-servers/imap-server.sh start "$SERVERS/imap" "$IMAP_PORT"
SMTP_OAUTH2_INTROSPECT_URL="$OAUTH_URL/introspect" SMTP_LMTP="$SERVERS/imap/run/lmtp" SMTP_REJECT_RCPT='^reject-' SMTP_TEMPFAIL_RCPT='^tempfail-' \
  bash scripts/test-servers/smtp-server.sh start "$SERVERS/smtp" "$SMTP_PORT"
wait "$PG_PID" || { echo "the test PostgreSQL server did not start" >&2; exit 1; }
export TEST_IMAP_PORT="$IMAP_PORT" TEST_IMAP_CA="$SERVERS/imap/tls/ca.pem"
export TEST_OAUTH_URL="$OAUTH_URL"
export TEST_PG_URL="postgres://relance:relance@127.0.0.1:$PG_PORT/relance"
# ChromeDriver and Debian's headless Chromium for the web workspace's browser tests.
bash scripts/test-servers/webdriver.sh start "$SERVERS/webdriver" "$WD_PORT"
export TEST_WEBDRIVER_URL="http://127.0.0.1:$WD_PORT"
# Tests needing these servers fail, rather than skip, if one is not configured.
export RELANCE_TEST_SERVERS=required
export TEST_SMTP_PORT="$SMTP_PORT" TEST_SMTP_CA="$SERVERS/smtp/tls/ca.pem" TEST_SMTP_DIR="$SERVERS/smtp/messages"

# The letters' PDFs are read back by the tests: their text with pdftotext
# (poppler-utils), their structure with qpdf --check (small packages).
# libfaketime moves the daemons' clock day by day in tests/cluster.rs.
pdf_tools=()
command -v qpdf >/dev/null 2>&1 || pdf_tools+=(qpdf)
command -v pdftotext >/dev/null 2>&1 || pdf_tools+=(poppler-utils)
ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 || pdf_tools+=(libfaketime)
if [ ${#pdf_tools[@]} -gt 0 ]; then
  log "installing ${pdf_tools[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive flock -w 900 /tmp/recipes-apt.lock sh -c \
    "apt-get install -y -qq --no-install-recommends ${pdf_tools[*]} || { apt-get update -qq && apt-get install -y -qq --no-install-recommends ${pdf_tools[*]}; }"
fi

# --- Checks and tests ----------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -D warnings"
cargo clippy --locked --all-targets -- -D warnings
log "architecture invariants (scripts/check-architecture.sh)"
bash scripts/check-architecture.sh
log "cargo build (whole workspace: the binary and the plugin libraries the tests load)"
cargo build --locked --workspace
# A short bounded fuzzing run of every parser of untrusted input (run it
# longer by hand: `bash scripts/fuzz.sh 600`). Before the tests, so that
# cargo test's summary closes the output.
log "fuzzing every parser briefly (scripts/fuzz.sh)"
bash scripts/fuzz.sh "${RELANCE_FUZZ_SECONDS:-80}"
log "cargo test (whole workspace)"
cargo test --locked --workspace
# The store's own tests already run on both databases (db::both_backends).
# The end-to-end tests run a second time with each deployment's data on the
# test PostgreSQL server (a database each, dropped after; tests of SQLite
# itself say so and stop), with the binaries built above.
log "cargo test: the end-to-end tests again, on PostgreSQL (RELANCE_TEST_BACKEND=postgres)"
# Selected by name with --workspace, so that cargo resolves the same features
# as above and reuses those binaries instead of building a second set.
e2e=()
for f in tests/*.rs; do e2e+=(--test "$(basename "$f" .rs)"); done
RELANCE_TEST_BACKEND=postgres cargo test --locked --workspace "${e2e[@]}"
log "disk used by the build: $(du -sh target 2>/dev/null | cut -f1)"
