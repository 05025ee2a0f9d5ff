#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The demo: a real application-consistent backup on an embedded default volume.
#
# Builds vss-linux, creates a btrfs image under a state directory and loop-mounts it, starts
# vssd and the sample ledger application (a writer), then:
#   1. takes bare btrfs snapshots at arbitrary instants (what a cron job with `btrfs subvolume
#      snapshot` gives you) and counts how many caught the ledger with its books unbalanced;
#   2. takes a VSS backup through libvss (vss-demo): writers quiesce at Freeze, the btrfs
#      provider commits, and the ledger inside the snapshot balances while the application
#      keeps working; releasing the backup deletes the auto-release snapshot.
# Everything it mounted or started is stopped and unmounted on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
        echo "demo: needs root: it loop-mounts a btrfs image and runs vssd, which snapshots it." >&2
        echo "demo: run it as: sudo $0" >&2
        exit 1
fi

scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

state=${VSS_DEMO_DIR:-/var/tmp/vss-demo}
img=$state/volume.img
mnt=$state/mnt
vol=$mnt/data
sock=$state/vssd.sock
mkdir -p "$state/vssd-state" "$mnt"

pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
        mountpoint -q "$mnt" && umount "$mnt"
        true
}
trap cleanup EXIT

echo "== Embedded volume: btrfs image $img mounted at $mnt"
if [ ! -f "$img" ]; then
        truncate -s 1G "$img"
        mkfs.btrfs -q "$img" >/dev/null
fi
mountpoint -q "$mnt" || mount -o loop "$img" "$mnt"
[ -d "$vol" ] || btrfs -q subvolume create "$vol"

echo "== Starting vssd on $sock"
build/src/vssd/vssd --socket "$sock" --state-dir "$state/vssd-state" --log-level warning &
pids+=($!)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

echo "== Starting the sample ledger application (a VSS writer) on $vol"
build/src/tools/vss-sample-writer --dir "$vol" --socket "$sock" > "$state/writer.log" &
pids+=($!)
for _ in $(seq 100); do grep -q subscribed "$state/writer.log" 2>/dev/null && break; sleep 0.05; done
sleep 0.5

echo "== Without VSS: 20 bare btrfs snapshots taken while the application works"
broken=0
for i in $(seq 20); do
        btrfs -q subvolume snapshot -r "$vol" "$mnt/bare-$i"
        build/src/tools/vss-demo --check-ledger "$mnt/bare-$i/ledger" || broken=$((broken + 1))
        btrfs -q subvolume delete "$mnt/bare-$i"
        sleep 0.01
done
echo "   $broken of 20 crash-consistent snapshots hold a ledger whose books do not balance"

echo "== With VSS: one backup through libvss"
set +e
build/src/tools/vss-demo --volume "$vol" --socket "$sock"
rc=$?
set -e

echo "== What the application saw"
sed 's/^/   /' "$state/writer.log"

echo
if [ "$rc" -eq 0 ]; then
        echo "Report: bare snapshots broke the invariant $broken/20 times; the VSS snapshot held it, the"
        echo "        application stayed up, and the snapshot was released when the backup ended."
else
        echo "Report: the VSS backup FAILED (see above)."
fi
exit "$rc"
