/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * archive-dl.c: the table of libarchive functions (archive-dl.h), filled on the first call that
 * makes or reads an archive through dlopen_symbols() (src/shared/dl-util.h, as libxml2 is), with
 * the SONAME the build found (LIBARCHIVE_SONAME, read from the development symlink). A library
 * that cannot be loaded, or lacks a function, is a clear failure (its reason names the
 * library), never a crash.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "archive-dl.h"
#include "dl-util.h"
#include "macro.h"

#define ARCHIVE_SYMBOL_DEFINE(name) typeof(name) *sym_##name;
ARCHIVE_SYMBOLS(ARCHIVE_SYMBOL_DEFINE)
#undef ARCHIVE_SYMBOL_DEFINE

static pthread_once_t archive_dl_once = PTHREAD_ONCE_INIT;
static bool archive_dl_loaded;
static char *archive_dl_error;  /* why libarchive could not be loaded; NULL when it was */

static void archive_dl_do_load(void) {
        static const DlSymbol table[] = {
#define ARCHIVE_SYMBOL_ENTRY(name) { #name, (void **) &sym_##name },
                ARCHIVE_SYMBOLS(ARCHIVE_SYMBOL_ENTRY)
#undef ARCHIVE_SYMBOL_ENTRY
        };

        archive_dl_loaded =
                dlopen_symbols("libarchive", LIBARCHIVE_SONAME, table, ELEMENTSOF(table), &archive_dl_error) == 0;
}

vss_hr archive_dl_load(char **ret_reason) {
        (void) pthread_once(&archive_dl_once, archive_dl_do_load);
        if (!archive_dl_loaded) {
                if (ret_reason)
                        *ret_reason = strdup(archive_dl_error ?: "libarchive could not be loaded");
                return VSS_E_UNEXPECTED;
        }
        return S_OK;
}
