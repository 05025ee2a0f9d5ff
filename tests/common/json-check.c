/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-check.c: a minimal JSON syntax check and field reader for the tests of the tools'
 * --json output (json-check.h). Enough to prove the output parses and read fields back; not a
 * JSON library.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-check.h"

static const char *json_value(const char *p);

static const char *json_ws(const char *p) {
        while (*p && isspace((unsigned char) *p))
                p++;
        return p;
}

static const char *json_string_end(const char *p) {
        if (*p != '"')
                return NULL;
        for (p++; *p && *p != '"'; p++) {
                if ((unsigned char) *p < 0x20)
                        return NULL;
                if (*p == '\\') {
                        p++;
                        if (!*p || !strchr("\"\\/bfnrtu", *p))
                                return NULL;
                }
        }
        return *p == '"' ? p + 1 : NULL;
}

static const char *json_container(const char *p, char open, char close, bool object) {
        p = json_ws(p + 1);
        if (*p == close)
                return p + 1;
        for (;;) {
                if (object) {
                        p = json_string_end(json_ws(p));
                        if (!p)
                                return NULL;
                        p = json_ws(p);
                        if (*p++ != ':')
                                return NULL;
                }
                p = json_value(p);
                if (!p)
                        return NULL;
                p = json_ws(p);
                if (*p == close)
                        return p + 1;
                if (*p++ != ',')
                        return NULL;
        }
}

static const char *json_value(const char *p) {
        p = json_ws(p);
        switch (*p) {
        case '{':
                return json_container(p, '{', '}', true);
        case '[':
                return json_container(p, '[', ']', false);
        case '"':
                return json_string_end(p);
        default:
                if (*p == '-' || isdigit((unsigned char) *p)) {
                        char *end;

                        (void) strtod(p, &end);
                        return end > p ? end : NULL;
                }
                if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
                        return p + 4;
                if (strncmp(p, "false", 5) == 0)
                        return p + 5;
                return NULL;
        }
}

bool json_valid(const char *s) {
        const char *end = json_value(s);

        return end && *json_ws(end) == 0;
}

/* Counts the top-level array's elements (objects) by counting "{" at depth 1. */
unsigned json_array_length(const char *s) {
        unsigned depth = 0, n = 0;
        bool in_string = false;

        for (const char *p = s; *p; p++) {
                if (in_string) {
                        if (*p == '\\')
                                p++;
                        else if (*p == '"')
                                in_string = false;
                        continue;
                }
                if (*p == '"')
                        in_string = true;
                else if (*p == '{' || *p == '[') {
                        if (*p == '{' && depth == 1)
                                n++;
                        depth++;
                } else if (*p == '}' || *p == ']')
                        depth--;
        }
        return n;
}

/* The string value of "key" in the index-th element (0-based), copied into buf. */
bool json_get(const char *s, unsigned index, const char *key, char *buf, size_t size) {
        char needle[128];
        const char *p = s;

        for (unsigned i = 0; i <= index; i++) {
                p = strchr(p + (i > 0), '{');
                if (!p)
                        return false;
        }
        snprintf(needle, sizeof(needle), "\"%s\":", key);
        p = strstr(p, needle);
        if (!p)
                return false;
        p += strlen(needle);
        if (*p == '"') {
                const char *end = strchr(p + 1, '"');

                if (!end || (size_t) (end - p - 1) >= size)
                        return false;
                memcpy(buf, p + 1, (size_t) (end - p - 1));
                buf[end - p - 1] = 0;
        } else {
                size_t n = strcspn(p, ",}");

                if (n >= size)
                        return false;
                memcpy(buf, p, n);
                buf[n] = 0;
        }
        return true;
}
