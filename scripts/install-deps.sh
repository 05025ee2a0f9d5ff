#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Installs the Debian 12 packages vss-linux needs to build, test and run its demo.
# Idempotent: does nothing (and needs no network) when everything is already there.
set -euo pipefail

packages=(
        gcc meson ninja-build pkg-config
        libsystemd-dev libbtrfsutil-dev uuid-dev libxml2-dev libsqlite3-dev
        libcmocka-dev sqlite3 libarchive-dev libxxhash-dev libzstd-dev xfslibs-dev libext2fs-dev
        postgresql postgresql-contrib libpq-dev mariadb-server mariadb-client libmariadb-dev
        btrfs-progs xfsprogs e2fsprogs util-linux mount tar zstd restic diffutils
        qemu-guest-agent
        clang-14 libclang-rt-14-dev
        qemu-system-x86 busybox-static cpio kmod lvm2 thin-provisioning-tools
        libcap2-bin patchelf passwd
        systemd libglib2.0-bin dbus-bin
        # bench_snapshot_set's table D runs snapper through its own dbus-daemon.
        snapper dbus-daemon
        lowdown man-db
        # ZFS (contrib): the provider's library and, for the lab, the tools; the kernel module
        # is built for the lab's kernel by tests/lab/lab-zfs-modules (zfs-dkms is not installed).
        zfsutils-linux libzfslinux-dev make fdisk
        git build-essential dpkg-dev debhelper lintian
        # Bacula (suite bacula): the tests run their own daemons with private configurations
        # and ports, so the packages' system services are never needed (see below).
        bacula-director bacula-director-sqlite3 bacula-sd bacula-fd bacula-console
)

# ZFS lives in Debian's contrib component: add it to the deb822 sources (bookworm's default
# /etc/apt/sources.list.d/debian.sources) or to a one-line sources.list, once.
enable_contrib() {
        local f=/etc/apt/sources.list.d/debian.sources changed=
        if [ -f "$f" ] && grep -q '^Components:' "$f" && grep '^Components:' "$f" | grep -qvw contrib; then
                sed -i -E '/^Components:/{/(^|[[:space:]])contrib([[:space:]]|$)/!s/$/ contrib/}' "$f"
                changed=1
        fi
        f=/etc/apt/sources.list
        if [ -f "$f" ] && grep -Eq '^deb .*debian.* main' "$f" && grep -E '^deb .*debian.* main' "$f" | grep -qvw contrib; then
                sed -i -E '/^deb .*debian.* main/{/[[:space:]]contrib([[:space:]]|$)/!s/$/ contrib/}' "$f"
                changed=1
        fi
        [ -z "$changed" ] || echo "install-deps: added the contrib component to apt's sources"
}

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
        exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages: ${missing[*]}" >&2
        echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
        exit 1
fi

echo "install-deps: installing ${missing[*]}"
enable_contrib
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Bacula's packages start their daemons on ports 9101-9103 where an init system runs; the
# tests need none of them (they start their own), so they are stopped and left disabled.
for unit in bacula-director bacula-sd bacula-fd; do
        if [ -d /run/systemd/system ]; then
                systemctl disable --now "$unit.service" >/dev/null 2>&1 || true
        elif [ -x "/etc/init.d/$unit" ]; then
                "/etc/init.d/$unit" stop >/dev/null 2>&1 || true
        fi
done
