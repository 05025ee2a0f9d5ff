/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * archive-dl.c: the table of libarchive functions (archive-dl.h), filled by dlopen() on the
 * first call that makes or reads an archive.
 *
 * The same scheme as libxml2 in xml-util.c: the SONAME the build found (LIBARCHIVE_SONAME,
 * read from the development symlink), RTLD_NOW so a missing symbol shows at load and not in
 * the middle of an archive, RTLD_LOCAL so nothing else resolves against it by accident, and
 * RTLD_NODELETE because archives and entries point into it for the process's life. A library
 * that cannot be loaded, or lacks a function, is a clear failure (its reason names the
 * library), never a crash.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive-dl.h"
#include "macro.h"

#define ARCHIVE_SYMBOL_DEFINE(name) typeof(name) *sym_##name;
ARCHIVE_SYMBOLS(ARCHIVE_SYMBOL_DEFINE)
#undef ARCHIVE_SYMBOL_DEFINE

static pthread_once_t archive_dl_once = PTHREAD_ONCE_INIT;
static bool archive_dl_loaded;
static char archive_dl_error[512]; /* why libarchive could not be loaded; "" when it was */

static void archive_dl_do_load(void) {
        static const struct {
                const char *name;
                void **slot;
        } table[] = {
#define ARCHIVE_SYMBOL_ENTRY(name) { #name, (void **) &sym_##name },
                ARCHIVE_SYMBOLS(ARCHIVE_SYMBOL_ENTRY)
#undef ARCHIVE_SYMBOL_ENTRY
        };
        void *dl;

        dl = dlopen(LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!dl) {
                (void) snprintf(archive_dl_error, sizeof archive_dl_error, "libarchive (%s) could not be loaded: %s",
                                LIBARCHIVE_SONAME, dlerror());
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                *table[i].slot = dlsym(dl, table[i].name);
                if (!*table[i].slot) {
                        (void) snprintf(archive_dl_error, sizeof archive_dl_error, "libarchive (%s) has no %s",
                                        LIBARCHIVE_SONAME, table[i].name);
                        return;
                }
        }
        archive_dl_loaded = true;
}

vss_hr archive_dl_load(char **ret_reason) {
        (void) pthread_once(&archive_dl_once, archive_dl_do_load);
        if (!archive_dl_loaded) {
                if (ret_reason)
                        *ret_reason = strdup(archive_dl_error[0] ? archive_dl_error : "libarchive could not be loaded");
                return VSS_E_UNEXPECTED;
        }
        return S_OK;
}
