/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dl-util.c: dlopen_symbols(), the loader behind the libraries the project loads on first use
 * (dl-util.h says why each flag).
 */
#include <dlfcn.h>
#include <stdio.h>

#include "dl-util.h"

int dlopen_symbols(const char *what, const char *soname, const DlSymbol *table, size_t n, char **ret_reason) {
        void *dl;

        dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!dl) {
                if (asprintf(ret_reason, "%s (%s) could not be loaded: %s", what, soname, dlerror()) < 0)
                        *ret_reason = NULL;
                return -1;
        }
        for (size_t i = 0; i < n; i++) {
                *table[i].slot = dlsym(dl, table[i].name);
                if (!*table[i].slot) {
                        if (asprintf(ret_reason, "%s (%s) has no %s", what, soname, table[i].name) < 0)
                                *ret_reason = NULL;
                        return -1;
                }
        }
        return 0;
}
