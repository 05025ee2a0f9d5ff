/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dl-util.h: loading an optional shared library and its functions on first use, the one way
 * the project does it (libxml2 in xml-util.c, libarchive in src/backup/archive-dl.c): the SONAME
 * the build found, RTLD_NOW so a missing function shows at load and not in the middle of a
 * document or archive, RTLD_LOCAL so nothing else resolves against it by accident, and
 * RTLD_NODELETE because objects made by it point into it for the process's life.
 */
#pragma once

#include <stddef.h>

/* One function to resolve: its name and where its address goes. */
typedef struct DlSymbol {
        const char *name;
        void **slot;
} DlSymbol;

/*
 * dlopen_symbols: open soname and fill every slot of table[0..n). Returns 0, or -1 with
 * *ret_reason (malloc'd, may be NULL when out of memory) saying "<what> (<soname>) could not be
 * loaded: <dlerror>" or "<what> (<soname>) has no <function>". Not thread-safe: callers run it
 * once, under pthread_once.
 */
int dlopen_symbols(const char *what, const char *soname, const DlSymbol *table, size_t n, char **ret_reason);
