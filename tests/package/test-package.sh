#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-package.sh: the Debian packages, end to end, on this machine. Builds libvss0, libvss-dev,
# vssd, vss-tools and vss-writers from a clean clone of the checkout's HEAD
# (dpkg-buildpackage -b, DEB_BUILD_OPTIONS=nocheck), checks them with lintian (no error or
# warning), installs them with apt-get, starts vssd from the installed files as vssd.service
# would (CI has no systemd as PID 1: the unit's ExecStart with the unit's socket path, after the
# packaged tmpfiles entry), runs the installed SQLite writer as its unit template would, backs
# up a SQLite database on a loop-mounted btrfs with the installed vssbackup and restores it into
# a new directory (integrity_check ok, every row there), checks the backup privilege the
# postinst applies and that `man vssadmin` finds the package's page, then purges the packages and checks that
# nothing is left: no file of theirs (dpkg -L, taken before the purge), no /etc/vss, no state,
# no statoverride, no enablement link, no new user or group, no mount, loop device or process.
#
# It installs packages system-wide, so it runs only under CI=true or with VSS_TEST_PACKAGES=1,
# as root, on a machine where none of the packages is installed; otherwise it exits 77 and
# says how to run it. Whatever fails, the trap stops what it started, unmounts, detaches and
# purges what it installed.
#
# Usage: tests/package/test-package.sh        (scripts/test.sh runs it after the meson suites)
set -euo pipefail

readonly PACKAGES=(libvss0 libvss-dev vssd vss-tools vss-writers)
readonly ROWS=2000
readonly INSTANCE=pkgtest

say() { printf 'test-package: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

if [ "${CI:-}" != "true" ] && [ "${VSS_TEST_PACKAGES:-}" != "1" ]; then
        say "skipped: it installs and purges the vss-linux packages system-wide;" \
            "run it as root with VSS_TEST_PACKAGES=1 tests/package/test-package.sh"
        exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
        say "needs root (apt-get, loop devices, mount); run it as root with VSS_TEST_PACKAGES=1"
        [ "${CI:-}" = "true" ] && exit 1
        exit 77
fi
for tool in git dpkg-buildpackage apt-get lintian mkfs.btrfs btrfs losetup sqlite3 getcap man; do
        command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done
for p in "${PACKAGES[@]}"; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed\|config-files"; then
                fail "package $p is already on this machine; the test would purge it (dpkg --purge $p first)"
        fi
done
[ -e /etc/vss ] && fail "/etc/vss exists; the test checks that the purge leaves none (move it away first)"

# The installed programs are run by absolute path, with nothing from the caller's environment
# choosing another daemon, socket or guardian.
unset VSS_SOCKET VSS_GUARDIAN
start_time=$(date +%s)
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=$(mktemp -d /tmp/vss-package-test.XXXXXX)
installed=0
vssd_pid=
writer_pid=
loop=
mnt=

# Unmounts $mnt and whatever is mounted below it (exposures vssd may have left), deepest first.
unmount_volume() {
        awk -v m="$mnt" '$5 == m || index($5, m "/") == 1 { print $5 }' /proc/self/mountinfo |
                sort -r | while read -r target; do umount "$target"; done
}

cleanup() {
        local rc=$?
        set +e
        [ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null && wait "$writer_pid" 2>/dev/null
        [ -n "$vssd_pid" ] && kill "$vssd_pid" 2>/dev/null && wait "$vssd_pid" 2>/dev/null
        [ -n "$mnt" ] && unmount_volume
        [ -n "$loop" ] && losetup -d "$loop"
        rm -f "/etc/vss/sqlite/$INSTANCE.conf"
        rmdir /etc/vss/sqlite 2>/dev/null
        if [ "$installed" = 1 ]; then
                apt-get purge -y -qq "${PACKAGES[@]}" >/dev/null 2>&1 || dpkg --purge "${PACKAGES[@]}"
        fi
        rmdir /etc/vss 2>/dev/null      # there was none before the test
        if [ "$rc" -ne 0 ]; then
                rm -rf "${work:?}/src" "${work:?}/btrfs.img" "${work:?}/mnt" "${work:?}/restore"
                say "failed (exit $rc); logs are in $work"
        else
                rm -rf "$work"
        fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Build from a clean clone: only what is committed, and every Build-Depends must be declared.
say "building the packages from a clean clone of $(git -C "$repo" rev-parse --short HEAD)"
git clone --quiet --no-local "$repo" "$work/src"
if ! (cd "$work/src" && DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=2" \
        dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
        tail -n 40 "$work/build.log" >&2
        fail "dpkg-buildpackage failed"
fi
debs=()
for p in "${PACKAGES[@]}"; do
        f=$(ls "$work"/"${p}"_*.deb 2>/dev/null | head -n 1)
        [ -n "$f" ] || fail "dpkg-buildpackage made no $p package"
        debs+=("$f")
done
# Libraries loaded with dlopen() are not in ${shlibs:Depends}: debian/control names them.
for dep in libvss0:libxml2 vss-tools:libarchive13; do
        f=$(ls "$work"/"${dep%%:*}"_*.deb | head -n 1)
        dpkg-deb -f "$f" Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -x "${dep#*:}" >/dev/null ||
                fail "${dep%%:*} does not depend on ${dep#*:}, which it loads with dlopen()"
done
build_end=$(date +%s)

# 2. lintian: no error or warning (explained overrides are in debian/*.lintian-overrides).
if ! lintian --fail-on error,warning "$work"/*.changes >"$work/lintian.log" 2>&1; then
        cat "$work/lintian.log" >&2
        fail "lintian reports errors or warnings"
fi
lintian_end=$(date +%s)

# 3. Install. Record first which of the packages' paths exist already (directories such as
# /usr/bin), so the purge check below knows what must be gone afterwards.
passwd_before=$(cat /etc/passwd /etc/group | sha256sum)
: >"$work/pre-existing"
for f in "${debs[@]}"; do
        dpkg-deb --fsys-tarfile "$f" | tar -t | sed 's#^\./#/#; s#/$##' | grep -v '^/\?$'
done | sort -u | while read -r path; do
        if [ -e "$path" ] || [ -L "$path" ]; then
                echo "$path"
        fi
done >"$work/pre-existing"
say "installing ${PACKAGES[*]}"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debs[@]}" \
        >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "apt-get install failed"; }
for p in "${PACKAGES[@]}"; do
        dpkg -L "$p"
done | grep -vx '/\.' | sort -u >"$work/files"

# The installed programs must use the installed libvss, not one a `meson install` left in
# /usr/local (ld.so.cache lists /usr/local/lib first).
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
package_lib=$(readlink -f "$(grep '/libvss\.so\.0$' "$work/files")")
for exe in /usr/bin/vssadmin /usr/bin/vssbackup /usr/bin/vss-writer-sqlite; do
        lib=$(ldd "$exe" | awk '$1 == "libvss.so.0" {print $3}')
        if [ -z "$lib" ] || [ "$(readlink -f "$lib")" != "$package_lib" ]; then
                fail "$exe loads libvss from '$lib', not the package's $package_lib" \
                     "(a previous meson install? remove it and run ldconfig)"
        fi
done

# libvss-dev: a program builds against the installed headers and pkg-config file (pinned to
# the package's directories, past any libvss.pc in /usr/local) and runs with the installed library.
cat >"$work/hello.c" <<'EOF_C'
#include <stdio.h>
#include <string.h>
#include <vss/vss.h>

int main(void) {
        const char *name = vss_hr_name(VSS_E_BAD_STATE);

        puts(name);
        return strcmp(name, "VSS_E_BAD_STATE") != 0;
}
EOF_C
pc_dirs="/usr/lib/$multiarch/pkgconfig:/usr/share/pkgconfig"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
cc -o "$work/hello" "$work/hello.c" $(PKG_CONFIG_PATH='' PKG_CONFIG_LIBDIR="$pc_dirs" pkg-config --cflags --libs libvss) ||
        fail "a program does not build against libvss-dev"
"$work/hello" >/dev/null || fail "a program built against libvss-dev does not run"

# 4. The backup privilege from vss-tools.postinst.
for exe in /usr/bin/vshadow /usr/bin/vssbackup; do
        [ "$(stat -c '%U:%G %a' "$exe")" = "root:backup 750" ] ||
                fail "$exe is $(stat -c '%U:%G %a' "$exe"), not root:backup 750"
        getcap "$exe" | grep -q 'cap_dac_read_search[=+]ep' || fail "$exe lacks cap_dac_read_search+ep"
done

# 5. vssd as the units would run it: the packaged tmpfiles entry, then the service's
# ExecStart on the socket's ListenStream path (which the tools also use by default).
unit_dir=$(dirname "$(grep '/vssd\.socket$' "$work/files")")
socket=$(sed -n 's/^ListenStream=//p' "$unit_dir/vssd.socket")
exec_start=$(sed -n 's/^ExecStart=//p' "$unit_dir/vssd.service")
if [ -z "$socket" ] || [ -z "$exec_start" ]; then
        fail "no ListenStream= in vssd.socket or no ExecStart= in vssd.service"
fi
if command -v systemd-tmpfiles >/dev/null; then
        systemd-tmpfiles --create /usr/lib/tmpfiles.d/vss.conf
else
        mkdir -p /run/vss/exposed /var/lib/vss
fi
[ -S "$socket" ] && fail "$socket exists already: is another vssd running?"
say "starting $exec_start on $socket"
# shellcheck disable=SC2086 # ExecStart is a command line
$exec_start --socket="$socket" >"$work/vssd.log" 2>&1 &
vssd_pid=$!

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
        local deadline=$(($(date +%s) + $1)) what=$2
        shift 2
        until "$@" >/dev/null 2>&1; do
                [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what"
                sleep 0.2
        done
}
wait_for 20 "vssd to answer" /usr/bin/vssadmin list providers

# 6. A SQLite database on a loop-mounted btrfs subvolume, and the installed writer run as
# vss-writer-sqlite@.service's ExecStart, its config where the template looks for it.
truncate -s 512M "$work/btrfs.img"
mkfs.btrfs -q "$work/btrfs.img" >"$work/mkfs.log" 2>&1
loop=$(losetup --find --show "$work/btrfs.img")
mnt="$work/mnt"
mkdir "$mnt"
mount "$loop" "$mnt"
btrfs -q subvolume create "$mnt/vol"
mkdir "$mnt/vol/app"
db="$mnt/vol/app/app.db"
sqlite3 "$db" 'PRAGMA journal_mode=WAL;' \
        'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);' \
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ROWS)
         INSERT INTO t (v) SELECT hex(randomblob(32)) FROM n;" >/dev/null

mkdir -p /etc/vss/sqlite
echo "$db" >"/etc/vss/sqlite/$INSTANCE.conf"
writer_exec=$(sed -n 's/^ExecStart=//p' "$unit_dir/vss-writer-sqlite@.service")
writer_exec=${writer_exec//%i/$INSTANCE}
say "starting $writer_exec"
# shellcheck disable=SC2086
$writer_exec >"$work/writer.log" 2>&1 &
writer_pid=$!
writer_listed() { /usr/bin/vssadmin list writers | grep -q "SQLite Writer"; }
wait_for 20 "the SQLite writer to register" writer_listed

# 7. Backup and restore with the installed vssbackup, the writer taking part.
/usr/bin/vssbackup backup --type full "$mnt/vol" --to "$work/backups" >"$work/backup.log" 2>&1 ||
        { cat "$work/backup.log" "$work/writer.log" >&2; fail "vssbackup backup failed"; }
backup=$(ls -d "$work"/backups/*-full-* | head -n 1)
grep -q '^component\.[0-9]*\.writer_name=SQLite Writer$' "$backup/manifest" ||
        fail "the backup holds no component of the SQLite writer"
/usr/bin/vssbackup restore "$backup" --to "$work/restore" >"$work/restore.log" 2>&1 ||
        { cat "$work/restore.log" >&2; fail "vssbackup restore failed"; }
restored="$work/restore/app/app.db"
[ -f "$restored" ] || fail "no $restored after the restore"
check=$(sqlite3 "$restored" 'PRAGMA integrity_check;')
[ "$check" = "ok" ] || fail "integrity_check of the restored database: $check"
count=$(sqlite3 "$restored" 'SELECT count(*) FROM t;')
[ "$count" = "$ROWS" ] || fail "the restored database holds $count rows, not $ROWS"
cmp <(sqlite3 "$db" 'SELECT * FROM t ORDER BY id;') <(sqlite3 "$restored" 'SELECT * FROM t ORDER BY id;') ||
        fail "the restored rows differ from the original's"
say "backup and restore: integrity_check ok, $count rows"

# 8. Manual pages: man finds the package's own (not one a meson install left in /usr/local).
page=$(grep '/man8/vssadmin\.8' "$work/files") || fail "vss-tools carries no vssadmin(8) page"
found=$(man -w vssadmin 2>&1) || true
[ "$found" = "$page" ] || fail "man -w vssadmin finds '$found', not the package's $page"
man -P cat vssadmin 2>/dev/null | grep -q 'vssadmin' || fail "man vssadmin shows no page"

# 9. Stop everything, then purge, and look for leftovers.
kill "$writer_pid"
wait "$writer_pid" || true
writer_pid=
kill "$vssd_pid"
wait "$vssd_pid" || true
vssd_pid=
unmount_volume
mnt=
losetup -d "$loop"
loop=
rm -f "/etc/vss/sqlite/$INSTANCE.conf"
rmdir /etc/vss/sqlite
rmdir /etc/vss 2>/dev/null || true     # made by this test unless the packages ship a file there

say "purging ${PACKAGES[*]}"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${PACKAGES[@]}" >"$work/purge.log" 2>&1 ||
        { cat "$work/purge.log" >&2; fail "apt-get purge failed"; }
installed=0

left=$(grep -vxF -f "$work/pre-existing" "$work/files" | while read -r path; do
        if [ -e "$path" ] || [ -L "$path" ]; then echo "$path"; fi
done)
[ -z "$left" ] || fail "left after the purge: $left"
for path in /etc/vss /var/lib/vss /run/vss /etc/systemd/system/sockets.target.wants/vssd.socket \
            /var/lib/systemd/deb-systemd-helper-enabled/vssd.socket.dsh-also; do
        [ ! -e "$path" ] || fail "$path is left after the purge"
done
for exe in /usr/bin/vshadow /usr/bin/vssbackup; do
        [ -z "$(dpkg-statoverride --list "$exe")" ] || fail "the statoverride of $exe is left after the purge"
done
[ "$(cat /etc/passwd /etc/group | sha256sum)" = "$passwd_before" ] || fail "users or groups changed"
grep -q "$work" /proc/self/mountinfo && fail "a mount below $work is left"
losetup -j "$work/btrfs.img" | grep -q . && fail "a loop device of $work/btrfs.img is left"
for exe in /usr/sbin/vssd /usr/libexec/vss-guardian /usr/bin/vss-writer-sqlite; do
        pgrep -f "^$exe( |\$)" >/dev/null && fail "$exe still runs"
done

end_time=$(date +%s)
say "ok: build $((build_end - start_time))s, lintian $((lintian_end - build_end))s," \
    "install to purge $((end_time - lintian_end))s, total $((end_time - start_time))s"
