#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The whole test suite, from a clean checkout: installs dependencies, builds into ./build,
# runs `meson test` (suites unit, integration, root). Tests that need root skip (exit 77)
# when run unprivileged; under CI=true they must run, so a skip fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

if [ -d build ]; then
        meson setup --reconfigure build >/dev/null
else
        meson setup build
fi
ninja -C build

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
meson test -C build --print-errorlogs "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

if [ "$rc" -ne 0 ]; then
        exit "$rc"
fi

skipped=$(sed -n 's/^Skipped: *\([0-9]\+\).*/\1/p' "$log" | tail -n 1)
if [ "${CI:-}" = "true" ] && [ "${skipped:-0}" -ne 0 ]; then
        echo "test.sh: $skipped test(s) skipped under CI=true; root tests must run in CI" >&2
        exit 1
fi

# The Debian packages, built from a clean clone, installed, used and purged. A whole run only:
# it installs packages system-wide, so it runs under CI=true (elsewhere: VSS_TEST_PACKAGES=1).
if [ "$#" -eq 0 ]; then
        pkg_rc=0
        tests/package/test-package.sh || pkg_rc=$?
        if [ "$pkg_rc" -ne 0 ] && { [ "$pkg_rc" -ne 77 ] || [ "${CI:-}" = "true" ]; }; then
                exit "$pkg_rc"
        fi
fi
