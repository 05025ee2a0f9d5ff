/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * path-util.c: path questions asked as text (path-util.h). The requesters ask "is this file on
 * one of the snapshotted volumes", the providers "which mount is this path reached through";
 * a prefix test that forgets the component boundary says yes to "/srv/db" for "/srv/d", so
 * the test is written once here.
 */
#include <string.h>

#include "macro.h"
#include "path-util.h"

bool path_is_under(const char *path, const char *dir) {
        size_t n = strlen(dir);

        if (streq(dir, "/"))
                return path[0] == '/';
        return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}
