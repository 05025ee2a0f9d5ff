/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * conf-text.c: splitting "name = value" configuration text (conf-text.h). One file format for
 * every program of the project, read one way: vssd.conf(5) and the writers' --config files
 * name settings after long options, so this only finds lines, names and values; each caller
 * maps names to its options.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-text.h"

/* Trims blanks (and a CR) from both ends of s, in place. */
static char *strip(char *s) {
        char *end;

        s += strspn(s, " \t");
        for (end = s + strlen(s); end > s && strchr(" \t\r", end[-1]); end--)
                ;
        *end = '\0';
        return s;
}

int conf_file_read(const char *path, size_t max, char **ret_text) {
        char *text;
        size_t n;
        FILE *f;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        text = calloc(1, max + 2);
        if (!text) {
                fclose(f);
                return -ENOMEM;
        }
        n = fread(text, 1, max + 1, f);
        if (ferror(f)) {
                fclose(f);
                free(text);
                return -EIO;
        }
        fclose(f);
        if (n > max) {
                free(text);
                return -E2BIG;
        }
        *ret_text = text;
        return 0;
}

int conf_text_parse(char *text, conf_setting_fn fn, void *userdata, unsigned *reterr_line) {
        unsigned lineno = 0;
        char *next;

        for (char *line = text; line; line = next) {
                char *name, *eq;
                int r;

                lineno++;
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                name = line + strspn(line, " \t\r");
                if (*name == '\0' || *name == '#' || *name == ';')
                        continue;
                eq = strchr(name, '=');
                if (eq)
                        *eq = '\0';
                name = strip(name);
                if (!eq || *name == '\0') {
                        if (reterr_line)
                                *reterr_line = lineno;
                        return -EINVAL;
                }
                r = fn(lineno, name, strip(eq + 1), userdata);
                if (r < 0) {
                        if (reterr_line)
                                *reterr_line = lineno;
                        return r;
                }
        }
        return 0;
}
