/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * archive-dl.h: libarchive, loaded on first use instead of linked.
 *
 * libarchive drags in libxml2 (and with it ICU and libstdc++), nettle, lzma, bz2, lz4 and
 * acl: about 26-29 ms of a cold vssbackup start-up (docs/benchmarks.md), paid by every
 * `vssbackup --version`, `list` or `prune` that never touches an archive. So libarchive is
 * opened with dlopen() by the first call that makes or reads one (backup-archive.c), and
 * every libarchive function the project calls is in the one table below, resolved at once.
 * Call sites use the same names with a sym_ prefix (sym_archive_write_new(...)): a call to a
 * function left out of the table does not link, since nothing links libarchive.
 */
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "vss/vss-common.h"

/* Every libarchive function called by the project (backup-archive.c). */
#define ARCHIVE_SYMBOLS(X)                                                                    \
        X(archive_entry_clear)                                                                \
        X(archive_entry_copy_hardlink)                                                        \
        X(archive_entry_copy_pathname)                                                        \
        X(archive_entry_copy_symlink)                                                         \
        X(archive_entry_filetype)                                                             \
        X(archive_entry_free)                                                                 \
        X(archive_entry_gid)                                                                  \
        X(archive_entry_hardlink)                                                             \
        X(archive_entry_mtime)                                                                \
        X(archive_entry_mtime_is_set)                                                         \
        X(archive_entry_mtime_nsec)                                                           \
        X(archive_entry_new)                                                                  \
        X(archive_entry_pathname)                                                             \
        X(archive_entry_perm)                                                                 \
        X(archive_entry_rdev)                                                                 \
        X(archive_entry_set_filetype)                                                         \
        X(archive_entry_set_gid)                                                              \
        X(archive_entry_set_mtime)                                                            \
        X(archive_entry_set_perm)                                                             \
        X(archive_entry_set_rdev)                                                             \
        X(archive_entry_set_size)                                                             \
        X(archive_entry_set_uid)                                                              \
        X(archive_entry_size)                                                                 \
        X(archive_entry_symlink)                                                              \
        X(archive_entry_uid)                                                                  \
        X(archive_entry_xattr_add_entry)                                                      \
        X(archive_entry_xattr_next)                                                           \
        X(archive_entry_xattr_reset)                                                          \
        X(archive_errno)                                                                      \
        X(archive_read_data_block)                                                            \
        X(archive_read_free)                                                                  \
        X(archive_read_new)                                                                   \
        X(archive_read_next_header)                                                           \
        X(archive_read_open)                                                                  \
        X(archive_read_support_format_tar)                                                    \
        X(archive_set_error)                                                                  \
        X(archive_write_close)                                                                \
        X(archive_write_data)                                                                 \
        X(archive_write_finish_entry)                                                         \
        X(archive_write_free)                                                                 \
        X(archive_write_header)                                                               \
        X(archive_write_new)                                                                  \
        X(archive_write_open2)                                                                \
        X(archive_write_set_bytes_in_last_block)                                              \
        X(archive_write_set_bytes_per_block)                                                  \
        X(archive_write_set_format_option)                                                    \
        X(archive_write_set_format_pax)

#define ARCHIVE_SYMBOL_POINTER(name) extern typeof(name) *sym_##name;
ARCHIVE_SYMBOLS(ARCHIVE_SYMBOL_POINTER)
#undef ARCHIVE_SYMBOL_POINTER

/*
 * archive_dl_load: load libarchive (LIBARCHIVE_SONAME) and resolve the whole table, once per
 * process, from any thread; later calls only report the first outcome. Returns S_OK once
 * every sym_* pointer is set, or VSS_E_UNEXPECTED with *ret_reason (malloc'd sentence naming
 * the library and what failed, caller frees; ret_reason may be NULL). The library is never
 * unloaded.
 */
vss_hr archive_dl_load(char **ret_reason);
