/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pattern.c: the path patterns of `backup --exclude` / `--exclude-file` and `restore --include`,
 * one rule for both, so what a user excludes and what they pick back out read the same way.
 *
 * A pattern is a shell glob (fnmatch with FNM_PATHNAME: '*' and '?' stop at '/', "[...]"
 * classes) matched against whole components:
 *   - one that starts with '/' is anchored: it matches an absolute path or any of its
 *     ancestors ("/srv/a/cache" matches /srv/a/cache and everything below it);
 *   - any other may match at any depth: against every run of whole components of the path
 *     ("*.tmp", "cache" and "db/main.log" match /x/y.tmp, /srv/cache/z and /a/db/main.log).
 * A trailing '/' is ignored. A match on a directory covers everything below it, which is why
 * every ancestor is tried: an excluded directory is never entered, an included one is
 * restored whole.
 *
 * The exclude file holds one pattern per line; blank lines and lines starting with '#' are
 * skipped (a pattern that starts with '#' can be given as "[#]..."). Limits: VB_MAX_PATTERNS
 * patterns of at most PATH_MAX bytes each.
 */
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vssbackup.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose);

/* Does pattern (no trailing '/') match path[start, end) for some end on a component boundary? */
static bool match_from(const char *pattern, const char *path, size_t start) {
        _cleanup_free_ char *buf = strdup(path + start);

        if (!buf)
                return false;
        for (char *p = buf;; p++) {
                if (*p == '/' || *p == 0) {
                        char c = *p;

                        *p = 0;
                        if (p > buf && fnmatch(pattern, buf, FNM_PATHNAME) == 0)
                                return true;
                        if (c == 0)
                                return false;
                        *p = c;
                }
        }
}

bool path_pattern_match(const char *pattern, const char *path) {
        _cleanup_free_ char *pat = NULL;
        size_t n;

        if (isempty(pattern) || isempty(path))
                return false;
        pat = strdup(pattern);
        if (!pat)
                return false;
        n = strlen(pat);
        while (n > 1 && pat[n - 1] == '/')
                pat[--n] = 0;

        if (pat[0] == '/')
                return path[0] == '/' && match_from(pat, path, 0);

        for (size_t i = 0; path[i]; i++) {
                if (path[i] == '/')
                        continue;
                if (i > 0 && path[i - 1] != '/')
                        continue;
                if (match_from(pat, path, i))
                        return true;
        }
        return false;
}

bool path_patterns_match(char *const *patterns, size_t n_patterns, const char *path) {
        for (size_t i = 0; i < n_patterns; i++)
                if (path_pattern_match(patterns[i], path))
                        return true;
        return false;
}

int path_pattern_check(const char *pattern) {
        if (isempty(pattern) || strlen(pattern) >= PATH_MAX)
                return -EINVAL;
        for (const char *p = pattern; *p; p++)
                if ((unsigned char) *p < 0x20)
                        return -EINVAL;
        return 0;
}

int patterns_add(char ***patterns, size_t *n_patterns, const char *pattern) {
        char **grown, *copy;

        if (path_pattern_check(pattern) < 0)
                return -EINVAL;
        if (*n_patterns >= VB_MAX_PATTERNS)
                return -E2BIG;
        copy = strdup(pattern);
        if (!copy)
                return -ENOMEM;
        grown = realloc(*patterns, (*n_patterns + 1) * sizeof(char *));
        if (!grown) {
                free(copy);
                return -ENOMEM;
        }
        grown[(*n_patterns)++] = copy;
        *patterns = grown;
        return 0;
}

int patterns_read_file(const char *path, char ***patterns, size_t *n_patterns, unsigned *ret_line) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        unsigned lineno = 0;
        ssize_t len;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        while ((len = getline(&line, &size, f)) >= 0) {
                int r;

                lineno++;
                while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                        line[--len] = 0;
                if (len == 0 || line[0] == '#')
                        continue;
                r = patterns_add(patterns, n_patterns, line);
                if (r < 0) {
                        if (ret_line)
                                *ret_line = lineno;
                        return r;
                }
        }
        if (ferror(f))
                return -EIO;
        return 0;
}

void patterns_free(char **patterns, size_t n_patterns) {
        for (size_t i = 0; i < n_patterns; i++)
                free(patterns[i]);
        free(patterns);
}
