/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-json.c: the little JSON the tools print (tool.h): strings and string fields. Numbers,
 * arrays and objects are printf's; a listing never needs more, and a JSON library for this
 * would be a dependency for eight lines.
 */
#include <stdio.h>

#include "tool.h"

void json_string(const char *s) {
        putchar('"');
        for (const unsigned char *p = (const unsigned char *) strempty(s); *p; p++) {
                switch (*p) {
                case '"':
                        fputs("\\\"", stdout);
                        break;
                case '\\':
                        fputs("\\\\", stdout);
                        break;
                case '\n':
                        fputs("\\n", stdout);
                        break;
                case '\t':
                        fputs("\\t", stdout);
                        break;
                default:
                        if (*p < 0x20)
                                printf("\\u%04x", *p);
                        else
                                putchar(*p);
                }
        }
        putchar('"');
}

void json_field_string(const char *name, const char *value, bool last) {
        printf("\"%s\":", name);
        json_string(value);
        if (!last)
                putchar(',');
}
