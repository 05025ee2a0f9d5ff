#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-install BUILDDIR PREFIX: `meson install` into a fresh DESTDIR puts every file under
# PREFIX (units, tmpfiles, completions, docs and man pages included: nothing in /lib, /etc or
# /usr when PREFIX is elsewhere), and installs what a user needs: the programs, libvss and its
# pkg-config file, the units, the socket path of the build in vssd.socket, the manual pages.
set -eu
build=$1 prefix=$2
dest=$(mktemp -d /tmp/vss-install-test-XXXXXX)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >"$dest.log" 2>&1 || {
        cat "$dest.log" >&2; rm -f "$dest.log"; echo "test-install: meson install failed" >&2; exit 1; }
rm -f "$dest.log"

status=0
outside=$(cd "$dest" && find . \( -type f -o -type l \) | sed 's|^\.||' | grep -v "^$prefix/" || true)
if [ -n "$outside" ]; then
        echo "test-install: installed outside $prefix:" >&2
        echo "$outside" >&2
        status=1
fi

for f in sbin/vssd bin/vssadmin bin/vshadow bin/vssbackup bin/vss-writer-sqlite \
         libexec/vss-guardian include/vss/vss.h \
         lib/systemd/system/vssd.service lib/systemd/system/vssd.socket lib/tmpfiles.d/vss.conf \
         share/dbus-1/interfaces/org.vsslinux.VSS1.xml share/doc/vss-linux/architecture.md \
         share/doc/vss-linux/examples/requester.c share/bash-completion/completions/vssadmin \
         etc/vss/vssd.conf; do
        [ -e "$dest$prefix/$f" ] || { echo "test-install: $prefix/$f missing" >&2; status=1; }
done
ls "$dest$prefix"/lib*/*/libvss.so.0 "$dest$prefix"/lib*/libvss.so.0 >/dev/null 2>&1 ||
        ls "$dest$prefix"/lib/*/libvss.so.0 >/dev/null 2>&1 || { echo "test-install: libvss.so.0 missing" >&2; status=1; }
pc=$(find "$dest$prefix" -name libvss.pc | head -n 1)
[ -n "$pc" ] && grep -q 'libxml-2.0' "$pc" || { echo "test-install: libvss.pc lacks libxml-2.0" >&2; status=1; }
for page in man8/vssd.8 man8/vssadmin.8 man5/vssd.conf.5 man3/libvss.3; do
        [ -e "$dest$prefix/share/man/$page" ] || { echo "test-install: man page $page missing" >&2; status=1; }
done
# The units name the installed programs and the build's socket path.
grep -q "^ExecStart=$prefix/sbin/vssd" "$dest$prefix/lib/systemd/system/vssd.service" ||
        { echo "test-install: vssd.service does not start $prefix/sbin/vssd" >&2; status=1; }
grep -q "^ListenStream=/" "$dest$prefix/lib/systemd/system/vssd.socket" && ! grep -q "@socket_path@" \
        "$dest$prefix/lib/systemd/system/vssd.socket" ||
        { echo "test-install: vssd.socket has no socket path" >&2; status=1; }

[ "$status" -eq 0 ] && echo "test-install: $(cd "$dest" && find . -type f | wc -l) files, all under $prefix"
exit "$status"
