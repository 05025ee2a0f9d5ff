#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# meson install script: gives the installed backup tools (arguments: their paths below the
# prefix) the backup privilege, CAP_DAC_READ_SEARCH, as a file capability (docs/security.md,
# "Backup privilege"). meson has already made them root:backup 0750 (install_mode), so only
# members of group backup can run them. Without root or setcap (a packaging build as a user)
# it says what to run instead: a package applies the capability in its postinst.
set -eu

for rel in "$@"; do
        file="${MESON_INSTALL_DESTDIR_PREFIX}/${rel}"
        if [ "$(id -u)" -ne 0 ] || ! command -v setcap >/dev/null 2>&1; then
                echo "install-backup-privilege: not applied; as root run: setcap cap_dac_read_search+ep ${MESON_INSTALL_PREFIX}/${rel}" >&2
                continue
        fi
        setcap cap_dac_read_search+ep "$file"
done
