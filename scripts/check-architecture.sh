#!/usr/bin/env bash
# Checks the invariants of ARCHITECTURE.md that the compiler alone does not:
#   1. the engines and the domain depend on no I/O crate (async runtime,
#      database, HTTP, plugin loading, file watching), per `cargo tree`;
#   2. only relance-store links SQLite, only relance-plugin-host libloading;
#   3. engine and domain sources read neither the clock, the environment,
#      the file system nor the network (the runtime passes them in);
#   4. `unsafe` appears only in the plugin host, the plugin ABI and the SDK,
#      and every other crate root says `#![forbid(unsafe_code)]`;
#   5. the store and the HTTP API do not read engine results out of
#      `serde_json::Value` by string key (`v["candidates"]`): they are typed.
# Run by scripts/test.sh; exits non-zero with every violation listed.
set -uo pipefail
cd "$(dirname "$0")/.."

fail=0
bad() { printf 'architecture: %s\n' "$*" >&2; fail=1; }

# --- 1. Pure crates --------------------------------------------------------
io_crates='tokio|mio|rusqlite|libsqlite3-sys|tokio-postgres|postgres|deadpool-postgres|axum|hyper|hyper-util|reqwest|lettre|async-imap|libloading|notify|tower'
for pkg in relance-domain relance-engine; do
  deps=$(cargo tree --offline -e normal -p "$pkg" --prefix none --format '{p}' 2>/dev/null | awk '{print $1}' | sort -u) \
    || { bad "cargo tree failed for $pkg"; continue; }
  [ -n "$deps" ] || { bad "cargo tree printed nothing for $pkg"; continue; }
  hits=$(printf '%s\n' "$deps" | grep -Ex "($io_crates)" || true)
  [ -z "$hits" ] || bad "$pkg depends on I/O crates: $(echo $hits)"
done
# relance-store: SQL, but no network server, HTTP, plugin loading or async API.
# tokio comes with the PostgreSQL client (issue #17): only src/postgres.rs may
# name it, as the private runtime of a synchronous connection.
deps=$(cargo tree --offline -e normal -p relance-store --prefix none --format '{p}' | awk '{print $1}' | sort -u)
hits=$(printf '%s\n' "$deps" | grep -Ex '(axum|hyper|reqwest|lettre|async-imap|libloading|notify)' || true)
[ -z "$hits" ] || bad "relance-store depends on: $(echo $hits)"
hits=$(grep -rnE '\btokio::|\basync fn' crates/store/src | grep -v '^crates/store/src/postgres' \
  | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
[ -z "$hits" ] || bad "only crates/store/src/postgres.rs may use tokio in the store: $(echo $hits)"

# --- 2. One crate per capability ----------------------------------------------
only_dependent() { # crate, allowed direct dependent
  local users
  users=$(cargo tree --offline -e normal -i "$1" --prefix none --format '{p}' --depth 1 2>/dev/null \
    | awk 'NR > 1 {print $1}' | sort -u)
  for u in $users; do
    [ "$u" = "$2" ] || bad "$u depends on $1 directly; only $2 may"
  done
}
only_dependent rusqlite relance-store
only_dependent libloading relance-plugin-host

# --- 3. No clock, environment, files or network in pure sources ------------------
# Test files may read fixtures; the code they test may not.
hits=$(grep -rnE 'std::fs|std::net|std::env|Utc::now|Local::now|SystemTime|Instant::now|File::open|read_to_string\(' \
  --include='*.rs' crates/domain/src crates/engine/src \
  | grep -vE '/tests?\.rs:|_tests\.rs:|/tests/' || true)
[ -z "$hits" ] || bad "I/O or clock read in a pure crate:"$'\n'"$hits"

# --- 4. unsafe ------------------------------------------------------------------
allowed='^(crates/plugin-host|plugins/abi|plugins/sdk)/'
hits=$(grep -rnw 'unsafe' --include='*.rs' crates connectors src tests plugins fuzz/src fuzz/fuzz_targets \
  | grep -vE "$allowed" \
  | grep -vE '^[^:]+:[0-9]+:\s*//' \
  | grep -vE '#!\[(forbid|deny)\(unsafe_code\)\]' \
  | grep -vE "'unsafe-inline'" || true)  # a Content-Security-Policy keyword in a string, not Rust
[ -z "$hits" ] || bad "unsafe outside the plugin host, ABI and SDK:"$'\n'"$hits"
roots=$(ls crates/*/src/lib.rs connectors/src/lib.rs src/main.rs plugins/examples/*/src/lib.rs \
  fuzz/src/lib.rs fuzz/fuzz_targets/*.rs 2>/dev/null | grep -vE "$allowed")
for r in $roots; do
  grep -q '^#!\[forbid(unsafe_code)\]' "$r" || bad "$r lacks #![forbid(unsafe_code)]"
done

# --- 5. Typed engine results in the store and the API ------------------------------
# Non-test code only: a file's inline test module (from `#[cfg(test)]` on) and
# test files are skipped; writing into a `json!` value (`v["k"] = …`) is not reading.
hits=$(for f in $(find crates/store/src crates/runtime/src/api crates/runtime/src/api.rs crates/runtime/src/cash.rs \
    -name '*.rs' ! -name 'tests.rs' ! -name '*_tests.rs' | sort); do
  awk -v f="$f" '/^#\[cfg\(test\)\]/ {exit} /^[[:space:]]*\/\// {next}
    /[A-Za-z0-9_)\]]\[[[:space:]]*"[a-z_]+"[[:space:]]*\]/ && !/\][[:space:]]*=[^=]/ {print f ":" FNR ": " $0}' "$f"
done)
[ -z "$hits" ] || bad "serde_json::Value read by string key (type the engine result instead):"$'\n'"$hits"

if [ "$fail" -ne 0 ]; then
  echo "architecture check failed (see ARCHITECTURE.md, Invariants)" >&2
  exit 1
fi
echo "architecture check: ok"
