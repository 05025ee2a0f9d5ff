#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Installs the Debian 12 packages vss-linux needs to build, test and run its demo.
# Idempotent: does nothing (and needs no network) when everything is already there.
set -euo pipefail

packages=(
        gcc meson ninja-build pkg-config
        libsystemd-dev libbtrfsutil-dev uuid-dev libxml2-dev libsqlite3-dev
        libcmocka-dev sqlite3 libarchive-dev libxxhash-dev
        postgresql postgresql-contrib libpq-dev mariadb-server mariadb-client libmariadb-dev
        btrfs-progs xfsprogs e2fsprogs util-linux mount tar restic diffutils
        qemu-guest-agent
        qemu-system-x86 busybox-static cpio kmod lvm2 thin-provisioning-tools
        libcap2-bin patchelf passwd
        systemd libglib2.0-bin dbus-bin
        lowdown man-db
)

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
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
