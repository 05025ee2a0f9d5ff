#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run by `meson install`: refresh the dynamic linker's cache so the programs find the libvss
# just installed (/usr/local/lib is searched, but only through the cache). Skipped for a
# staged install (DESTDIR, packaging) and when not root, where it could not write the cache.
set -eu
if [ -n "${DESTDIR:-}" ]; then
        exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
        echo "post-install: not root; run 'ldconfig' as root so the programs find libvss" >&2
        exit 0
fi
ldconfig
