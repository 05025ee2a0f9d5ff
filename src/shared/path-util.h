/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * path-util.h: questions about absolute paths asked as text, without touching the filesystem.
 * Callers normalise (or resolve) first; these compare whole components, so "/srv/db" is not
 * under "/srv/d".
 */
#pragma once

#include <stdbool.h>

/*
 * path_is_under: true when path is dir itself or lies below it ("/" holds every path). Both
 * absolute and normalised (no "//", ".", ".." or trailing "/" but for "/"). The same test as
 * libvss's vss_writer_is_path_affected() makes of a volume.
 */
bool path_is_under(const char *path, const char *dir);
