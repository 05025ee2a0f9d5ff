/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-json.c: the little JSON the tools print (tool.h): strings and string fields. Numbers,
 * arrays and objects are printf's; a listing never needs more, and a JSON library for this
 * would be a dependency for eight lines.
 */
#include <stdio.h>

#include "tool.h"

void json_string(const char *s) {
        const unsigned char *p = (const unsigned char *) strempty(s);

        /* Valid JSON for any bytes: a file name need not be UTF-8, and a sequence that is not
         * well-formed UTF-8 becomes U+FFFD rather than an invalid document. */
        putchar('"');
        while (*p) {
                size_t n = 0;

                if (*p == '"' || *p == '\\') {
                        printf("\\%c", *p++);
                        continue;
                }
                if (*p < 0x20 || *p == 0x7f) {
                        printf("\\u%04x", *p++);
                        continue;
                }
                if (*p < 0x80) {
                        putchar(*p++);
                        continue;
                }
                if ((*p & 0xe0) == 0xc0 && *p >= 0xc2)
                        n = 2;
                else if ((*p & 0xf0) == 0xe0)
                        n = 3;
                else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4)
                        n = 4;
                for (size_t i = 1; i < n; i++)
                        if ((p[i] & 0xc0) != 0x80)
                                n = 0;
                if (n == 0) {
                        fputs("\\ufffd", stdout);
                        p++;
                        continue;
                }
                fwrite(p, 1, n, stdout);
                p += n;
        }
        putchar('"');
}

void json_field_string(const char *name, const char *value, bool last) {
        printf("\"%s\":", name);
        json_string(value);
        if (!last)
                putchar(',');
}
