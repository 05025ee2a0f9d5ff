#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The whole test suite, from a clean checkout: installs dependencies, then
#   1. builds into ./build and runs `meson test` (suites unit, integration, root, writers, bacula, lab),
#      then, on a whole run, builds, installs, uses and purges the Debian packages;
#   2. compiles the release configuration into ./build-release (compile only: GCC raises
#      extra warnings at -O3, and they are errors);
#   3. builds with AddressSanitizer + UndefinedBehaviorSanitizer into ./build-sanitize and runs
#      the same suites there but lab (LeakSanitizer included: a leak fails its test);
#   4. fuzzes every tests/fuzz harness for FUZZ_SECONDS in all (default 60; 0 skips it).
# Arguments go to both `meson test` runs (e.g. a test name). SANITIZE=0 skips 2-4.
# Tests that need root skip (exit 77) when run unprivileged; under CI=true they must run, so
# a skip fails the run. The one exception is test-oom in the sanitizer build: it replaces
# malloc, which AddressSanitizer owns; step 1 runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
timings=()

phase_start() {
        phase_t0=$(date +%s)
        echo "test.sh: == $1 =="
}

phase_end() {
        timings+=("$1: $(( $(date +%s) - phase_t0 )) s")
        echo "test.sh: ${timings[-1]}"
}

setup() {
        local dir=$1
        shift
        if [ -d "$dir" ]; then
                meson setup --reconfigure "$dir" "$@" >/dev/null
        else
                meson setup "$dir" "$@" >/dev/null
        fi
}

# Runs the suite in build dir $1; fails on a failure, and under CI=true on a skip other
# than the ones allowed by name in $2 (a regex of test names, or "").
run_suite() {
        local dir=$1 allowed_skips=$2 rc skipped
        shift 2
        set +e
        meson test -C "$dir" --print-errorlogs "$@" 2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        set -e
        if [ "$rc" -ne 0 ]; then
                echo "test.sh: the suite failed in $dir" >&2
                exit "$rc"
        fi
        skipped=$(grep -E '^ *[0-9]+/[0-9]+ .* SKIP ' "$log" | grep -cvE " (${allowed_skips:-^}) " || true)
        if [ "${CI:-}" = "true" ] && [ "$skipped" -ne 0 ]; then
                echo "test.sh: $skipped test(s) skipped in $dir under CI=true; root tests must run in CI" >&2
                exit 1
        fi
}

phase_start "build and suite (build)"
setup build
ninja -C build
run_suite build "" "$@"
phase_end "build + suite"

# The Debian packages, built from a clean clone, installed, used and purged. A whole run only:
# it installs packages system-wide, so it runs under CI=true (elsewhere: VSS_TEST_PACKAGES=1).
if [ "$#" -eq 0 ]; then
        phase_start "Debian packages"
        pkg_rc=0
        tests/package/test-package.sh || pkg_rc=$?
        if [ "$pkg_rc" -ne 0 ] && { [ "$pkg_rc" -ne 77 ] || [ "${CI:-}" = "true" ]; }; then
                exit "$pkg_rc"
        fi
        phase_end "packages"
fi

if [ "${SANITIZE:-1}" != "0" ]; then
        phase_start "release build, compile only (build-release)"
        setup build-release --buildtype=release
        ninja -C build-release
        phase_end "release build"

        # GCC links its sanitizer runtimes into libvss.so too, so -Wl,--no-undefined holds.
        phase_start "ASan+UBSan build and suite (build-sanitize)"
        setup build-sanitize -Db_sanitize=address,undefined
        ninja -C build-sanitize
        # meson test sets ASAN_OPTIONS and UBSAN_OPTIONS (halt_on_error, abort_on_error) unless
        # they are set already; leak detection is ASan's default on x86-64 Linux. Suite lab is
        # left out: each of its tests boots a kernel under emulation (minutes in step 1 already).
        run_suite build-sanitize "test-oom" --no-suite lab "$@"
        phase_end "sanitizer build + suite"

        if [ "${FUZZ_SECONDS:-60}" -gt 0 ]; then
                phase_start "fuzzing, ${FUZZ_SECONDS:-60} s in all (build-fuzz)"
                tests/fuzz/run.sh "${FUZZ_SECONDS:-60}"
                phase_end "fuzzing"
        fi
fi

echo "test.sh: all passed"
printf 'test.sh: %s\n' "${timings[@]}"
