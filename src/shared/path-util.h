/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * path-util.h: questions about absolute paths asked as text, without touching the filesystem.
 * Callers normalise (or resolve) first; these compare whole components, so "/srv/db" is not
 * under "/srv/d".
 */
#pragma once

#include <stdbool.h>

/*
 * path_is_under: true when path is dir itself or lies below it, by whole components ("/"
 * holds every absolute path). Normalised paths (no "//", ".", ".." or trailing "/" but for
 * "/"); a relative path is compared with a relative dir the same way.
 */
bool path_is_under(const char *path, const char *dir);
