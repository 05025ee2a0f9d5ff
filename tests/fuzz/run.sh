#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Fuzz every harness of tests/fuzz with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer
# for a share of SECONDS (default 60) in all: tests/fuzz/run.sh [SECONDS] [HARNESS...]
# Builds with clang into build-fuzz/ (its own build directory), starts each harness from its
# checked-in seeds plus what earlier runs here found (build-fuzz/corpus/<name>, never checked
# in), and fails on the first crash, leak, sanitizer report or oracle failure, leaving the
# input as build-fuzz/crash-<name>-*. To keep a finding as a regression test once it is fixed,
# copy that file into tests/fuzz/corpus/<name>/: the normal test suite replays every seed.
set -euo pipefail
cd "$(dirname "$0")/../.."

total=${1:-60}
shift || true
all=(wmd-xml bcd-xml writer-metadata-wire manifest archive-entry)
harnesses=("${all[@]}")
if [ "$#" -gt 0 ]; then
        harnesses=("$@")
fi
per=$(( total / ${#harnesses[@]} ))
[ "$per" -ge 1 ] || per=1

if [ -d build-fuzz ]; then
        meson setup --reconfigure build-fuzz >/dev/null
else
        CC=clang-14 meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
                -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C build-fuzz $(printf 'tests/fuzz/fuzz-%s ' "${harnesses[@]}")

# halt_on_error: UBSan's reports fail the run like ASan's; detect_leaks is on by default.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

rc=0
for h in "${harnesses[@]}"; do
        work=build-fuzz/corpus/$h
        mkdir -p "$work"
        echo "fuzz: $h for ${per}s"
        # -max_len: the seeds stay under 16 KiB; -timeout: one input taking 10 s is a finding.
        if ! build-fuzz/tests/fuzz/fuzz-"$h" "$work" "tests/fuzz/corpus/$h" \
                -max_total_time="$per" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
                -artifact_prefix="build-fuzz/crash-$h-" -print_final_stats=1 \
                >"build-fuzz/fuzz-$h.log" 2>&1; then
                echo "fuzz: $h FAILED; input and log: build-fuzz/crash-$h-*, build-fuzz/fuzz-$h.log" >&2
                tail -n 60 "build-fuzz/fuzz-$h.log" >&2
                rc=1
                continue
        fi
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+ +DONE' "build-fuzz/fuzz-$h.log" |
                sed "s/^/fuzz: $h: /"
done
exit "$rc"
