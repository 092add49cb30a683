#!/usr/bin/env bash
# Fuzzes every parser of untrusted input: scripts/fuzz.sh SECONDS [TARGET...]
#
# SECONDS is the total fuzzing time, split evenly across the targets (all of
# them by default: see fuzz/Cargo.toml). Exits non-zero when any target
# crashes (a panic, a failed check in fuzz/src/lib.rs, a unit slower than
# FUZZ_TIMEOUT seconds, or more than FUZZ_RSS_MB of memory); the crashing
# input is kept under fuzz/artifacts/<target>/ and its path printed, with the
# command that replays it.
#
# Why cargo-fuzz with `--sanitizer none`: it is libFuzzer (coverage-guided,
# with compare tracing, so it gets through format detection and keywords
# quickly) driven by the standard tool, and without a sanitizer it needs no
# nightly compiler: it builds and runs on the stable toolchain the project
# uses. Nothing is lost for us: the code under test is safe Rust
# (`connectors` forbids `unsafe`), so AddressSanitizer would find nothing the
# panics and overflow checks (built in, see below) do not. bolero or a plain
# `arbitrary` loop would also run on stable but without libFuzzer's
# comparison feedback, or through the same libFuzzer with more glue.
#
# Seeds: the hand-written samples in fuzz/seeds/, the project's fixtures
# (demo statement and exports, inputs that once crashed a parser) and, when
# present, ../shared/fixtures/external (read in place, never copied into the
# repository: some are copyleft). What the fuzzers learn is kept in
# fuzz/corpus/ (ignored by git) and reused by the next run.
#
# Install and build (done here when missing): `cargo install cargo-fuzz
# --locked --version 0.13.2`, a C++ compiler (libFuzzer is built from source by libfuzzer-sys).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

total=${1:-}
if ! [[ "$total" =~ ^[0-9]+$ ]] || [ "$total" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh SECONDS [TARGET...]" >&2
  exit 2
fi
shift

log() { printf '==> %s\n' "$*" >&2; }

ALL=(statements_auto statements_camt statements_mt940 statements_cfonb statements_ofx statements_csv csv_invoices replies)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${ALL[@]}"); fi

SHARED=${RELANCE_SHARED:-$ROOT/../shared}/fixtures
EXT=$SHARED/external
# Seed directories of a target (those that exist).
seeds() {
  local dirs=("$ROOT/fuzz/seeds/$1")
  case $1 in
    statements_auto)
      dirs+=("$ROOT/fuzz/seeds/camt" "$ROOT/fuzz/seeds/mt940" "$ROOT/fuzz/seeds/cfonb" "$ROOT/fuzz/seeds/ofx"
        "$ROOT/fuzz/seeds/csv_statements" "$ROOT/config/demo/bank" "$ROOT/connectors/tests/fixtures/statements") ;;
    statements_camt) dirs+=("$ROOT/fuzz/seeds/camt" "$ROOT/config/demo/bank" "$EXT/camt") ;;
    statements_mt940) dirs+=("$ROOT/fuzz/seeds/mt940" "$ROOT/connectors/tests/fixtures/statements" "$EXT/mt940") ;;
    statements_cfonb) dirs+=("$ROOT/fuzz/seeds/cfonb" "$EXT/cfonb120") ;;
    statements_ofx) dirs+=("$ROOT/fuzz/seeds/ofx" "$EXT/ofx") ;;
    statements_csv) dirs+=("$ROOT/fuzz/seeds/csv_statements" "$EXT/csv") ;;
    csv_invoices) dirs+=("$ROOT/config/demo/exports" "$ROOT/config/demo/cash") ;;
    replies) dirs+=("$EXT/email" "$SHARED/replies-dev") ;;
  esac
  local d
  for d in "${dirs[@]}"; do [ -d "$d" ] && echo "$d"; done
  return 0
}

# --- Tools ---------------------------------------------------------------------
if ! command -v c++ >/dev/null 2>&1; then
  log "installing a C++ compiler (libFuzzer is built from source)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2
fi

# Release build, no sanitizer (stable toolchain), 16 codegen units (a build
# several times faster for slightly slower fuzzing). Debug assertions and
# overflow checks are on for our crates only (fuzz/Cargo.toml profiles): `-a`
# would also turn on the dependencies' internal debug assertions, which
# release builds do not run. The fuzz crate is its own workspace with its own
# target directory.
BUILD=(--sanitizer none -O --codegen-units 16)
TARGET_DIR=${FUZZ_TARGET_DIR:-$ROOT/fuzz/target}
cd "$ROOT/fuzz"
log "building ${#targets[@]} fuzz targets"
start=$(date +%s)
for t in "${targets[@]}"; do
  cargo fuzz build "${BUILD[@]}" --target-dir "$TARGET_DIR" "$t"
done
log "built in $(($(date +%s) - start)) s"

# --- Run -----------------------------------------------------------------------
per=$((total / ${#targets[@]}))
[ "$per" -lt 1 ] && per=1
log "fuzzing ${#targets[@]} targets for $per s each"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  mapfile -t dirs < <(seeds "$t")
  known=$(find "artifacts/$t" -type f | sort)
  runlog="artifacts/$t.log"
  log "$t: $per s, seeds from ${dirs[*]}"
  set +e
  cargo fuzz run "${BUILD[@]}" --target-dir "$TARGET_DIR" "$t" "corpus/$t" "${dirs[@]}" -- \
    -max_total_time="$per" -max_len="${FUZZ_MAX_LEN:-65536}" -timeout="${FUZZ_TIMEOUT:-10}" \
    -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -print_final_stats=1 >"$runlog" 2>&1
  rc=$?
  set -e
  grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$runlog" >&2 || true
  new=$(comm -13 <(echo "$known") <(find "artifacts/$t" -type f | sort))
  if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
    failed+=("$t")
    echo "FUZZ CRASH in $t (exit $rc); log: $ROOT/fuzz/$runlog" >&2
    grep -E -A2 'panicked at|ERROR: libFuzzer|^SUMMARY' "$runlog" | head -12 >&2 || true
    for f in $new; do
      echo "  input kept: $ROOT/fuzz/$f" >&2
      echo "  replay: (cd fuzz && cargo fuzz run ${BUILD[*]} $t $f)" >&2
    done
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, $per s each, no crash" >&2
