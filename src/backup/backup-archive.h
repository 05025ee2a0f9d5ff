/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup-archive.h: backup archives (pax tar, zstd, through libarchive). The writer copies files out
 * of a snapshot into an archive that appears under its final name only once complete and
 * fsync'd; the reader lists, extracts and verifies, and extraction never writes outside the
 * target directory. Format details (our metadata keys) are in docs/archive-format.md.
 *
 * Internal API: functions return 0 (or a count) on success and a negative errno on failure.
 * The file is not called archive.h because src/shared is on every target's include path and
 * would then shadow libarchive's own <archive.h>.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "macro.h"

/* Our metadata rides on pax records LIBARCHIVE.xattr.<ARCHIVE_META_PREFIX>*: see the doc. */
#define ARCHIVE_META_PREFIX "vss-linux."
#define ARCHIVE_META_CHECKSUM ARCHIVE_META_PREFIX "xxh128"   /* 32 hex digits of the stored bytes */
#define ARCHIVE_META_RANGES ARCHIVE_META_PREFIX "ranges"     /* "offset:length,..." of a partial file */
#define ARCHIVE_META_FILE_SIZE ARCHIVE_META_PREFIX "file-size" /* logical size of a partial file */

#define ARCHIVE_RANGES_MAX 65536U          /* ranges per partial file */
#define ARCHIVE_XATTRS_MAX 256U            /* extended attributes per entry */
#define ARCHIVE_XATTRS_BYTES_MAX (256U * 1024U) /* names + values per entry */
#define ARCHIVE_DEFERRED_DIRS_MAX 262144U  /* directories whose metadata waits for archive_extract_finish */
#define ARCHIVE_CHECKSUM_SIZE 16U

typedef struct ArchiveRange {
        uint64_t offset;
        uint64_t length;
} ArchiveRange;

typedef struct ArchiveRanges {
        ArchiveRange *items;
        size_t n;
} ArchiveRanges;

/*
 * archive_ranges_parse: "offset:length[,offset:length...]", each number decimal or 0x-hex,
 * 64-bit, lengths > 0, offset + length without overflow, at most ARCHIVE_RANGES_MAX ranges.
 * Returns 0 and fills *ret (free with archive_ranges_done); -EINVAL for malformed text,
 * -E2BIG for too many ranges, -ENOMEM.
 */
int archive_ranges_parse(const char *s, ArchiveRanges *ret);
/* archive_ranges_format: the canonical text ("%"PRIu64":%"PRIu64",..."); caller frees; NULL on OOM. */
char *archive_ranges_format(const ArchiveRanges *r);
/* archive_ranges_done: free the items and reset to empty; safe on an empty or zeroed struct. */
void archive_ranges_done(ArchiveRanges *r);

/* Called after each chunk with running totals (stored bytes, entries added or extracted). */
typedef void (*ArchiveProgressFn)(uint64_t bytes, uint64_t files, void *userdata);

/* -------------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------------- */

typedef struct ArchiveWriter ArchiveWriter;

typedef struct ArchiveWriterOptions {
        int compression_level;       /* zstd level; 0 = library default (3) */
        unsigned threads;            /* zstd worker threads (at most 256); 0 = compress in the caller's thread */
        bool hardlinks;              /* store further names of a multiply linked file as hard links */
        bool xattrs;                 /* record extended attributes of files and directories */
        ArchiveProgressFn progress;
        void *userdata;
} ArchiveWriterOptions;

/*
 * archive_writer_open / archive_writer_open_full: start the archive `name` (one component, no
 * '/') in dirfd. Data goes to a hidden temporary file in the same directory, mode 0600; the
 * final name appears only in archive_writer_close, and an existing file of that name is never
 * replaced (-EEXIST, checked here and again atomically at close). opts may be NULL (defaults:
 * level 3, one thread, no hard links, xattrs recorded). Returns 0 and a writer the caller frees
 * with archive_writer_free; -EINVAL for a bad name, -ELIBACC when libarchive cannot be
 * loaded (loaded here on first use; the reason, naming it, goes to stderr), other negative errno.
 */
int archive_writer_open(int dirfd, const char *name, ArchiveWriter **ret);
int archive_writer_open_full(int dirfd, const char *name, const ArchiveWriterOptions *opts, ArchiveWriter **ret);

/*
 * archive_writer_add_file: copy relpath (beneath src_dirfd, no symlink followed anywhere: the
 * last component is stored as what it is) into the archive as archive_path. Regular files
 * are read once, with O_NOATIME (without it where the kernel says EPERM), in bounded chunks
 * and hashed while they are read; the header of a file larger than one chunk gets its
 * checksum after the content went out (docs/archive-format.md). ranges (NULL = whole file)
 * stores only those byte ranges of a regular file plus where they go.
 * Directories, symlinks, FIFOs and device nodes are stored as metadata; sockets are not.
 * Returns 0 when stored. Errors that leave the archive as it was (the caller may go on):
 * source errors from open/stat/read before anything was written (-ENOENT, -EACCES, ...),
 * -EINVAL (archive_path not clean, ranges with a regular file only, ranges past the end of the
 * file), -EOPNOTSUPP (socket), -EFBIG (a symlink target or xattr set over the limits).
 * After the header went out, a source that fails or shrinks (-ESTALE; not a snapshot?) still
 * leaves a sound archive: the entry is padded and its checksum will not match, so verify and
 * restore report it. An error of the archive
 * stream itself leaves the writer unusable: every later call returns -EIO.
 */
int archive_writer_add_file(ArchiveWriter *w, int src_dirfd, const char *relpath, const char *archive_path,
                            const ArchiveRanges *ranges);

/*
 * archive_writer_prefetch: ask the kernel to start reading the regular file relpath beneath
 * src_dirfd, which the caller is about to add, so that the reads of many small files overlap
 * instead of waiting one after the other; a file larger than one chunk (1 MiB) is left to the
 * writer, which reads those ahead itself. Best effort and read-only:
 * anything but a regular file is left alone (never opened), no symlink is followed, O_NOATIME
 * as in archive_writer_add_file. Returns 0, or a negative errno the caller may ignore.
 */
int archive_writer_prefetch(int src_dirfd, const char *relpath);

/*
 * archive_writer_add_blob: store len bytes at data as a regular file archive_path (mode 0600,
 * owned by the caller, mtime now), e.g. the backup components document. Errors as above.
 */
int archive_writer_add_blob(ArchiveWriter *w, const char *archive_path, const void *data, size_t len);

/*
 * archive_writer_close: finish the stream, fsync the file, give it its final name (never
 * replacing one: -EEXIST) and fsync the directory. Returns 0 when the archive is complete and
 * durable; on error nothing carries the final name. The writer still needs archive_writer_free
 * either way; a second close returns -EALREADY.
 */
int archive_writer_close(ArchiveWriter *w);

/*
 * archive_writer_get_checksum: after a successful archive_writer_close, the checksum of the
 * whole archive file (block-sum.h: XXH3-128 over its 1 MiB blocks; block_sum_file() computes
 * it from the file) in lowercase hex. Returns 0, -EBUSY before a successful close, -EINVAL
 * for NULL.
 */
int archive_writer_get_checksum(const ArchiveWriter *w, char ret[static ARCHIVE_CHECKSUM_SIZE * 2 + 1]);

/* Totals so far: stored content bytes and entries. Either pointer may be NULL. */
void archive_writer_get_totals(const ArchiveWriter *w, uint64_t *ret_bytes, uint64_t *ret_files);

/* archive_writer_free: free; a writer never closed takes its temporary file with it. NULL ok. */
ArchiveWriter *archive_writer_free(ArchiveWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(ArchiveWriter *, archive_writer_free);

/* -------------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------------- */

typedef struct ArchiveReader ArchiveReader;

typedef enum ArchiveEntryType {
        ARCHIVE_ENTRY_FILE,
        ARCHIVE_ENTRY_DIRECTORY,
        ARCHIVE_ENTRY_SYMLINK,
        ARCHIVE_ENTRY_HARDLINK,
        ARCHIVE_ENTRY_CHAR_DEVICE,
        ARCHIVE_ENTRY_BLOCK_DEVICE,
        ARCHIVE_ENTRY_FIFO,
        ARCHIVE_ENTRY_OTHER,   /* sockets and anything libarchive knows and we do not restore */
} ArchiveEntryType;

/* One entry as read. Strings and ranges belong to the reader and are valid until the next
 * archive_reader_next or archive_reader_free. */
typedef struct ArchiveEntry {
        const char *path;            /* as stored, not yet checked */
        ArchiveEntryType type;
        mode_t mode;                 /* permission bits incl. setuid/setgid/sticky */
        uid_t uid;
        gid_t gid;
        struct timespec mtime;
        dev_t rdev;                  /* devices */
        uint64_t size;               /* stored content bytes */
        uint64_t file_size;          /* logical size: size, or the partial file's whole size */
        const char *link_target;     /* symlink contents, or the hard link's archive path; else NULL */
        bool partial;                /* only `ranges` of the file are stored */
        const ArchiveRanges *ranges; /* partial files only, else NULL */
        bool has_checksum;
        uint8_t checksum[ARCHIVE_CHECKSUM_SIZE];
} ArchiveEntry;

/*
 * archive_reader_open: open archive `name` in dirfd (zstd or uncompressed tar). progress may be
 * NULL. Returns 0 and a reader (free with archive_reader_free), -ELIBACC when libarchive
 * cannot be loaded (as in archive_writer_open), other negative errno otherwise.
 */
int archive_reader_open(int dirfd, const char *name, ArchiveProgressFn progress, void *userdata,
                        ArchiveReader **ret);

/*
 * archive_reader_next: advance to the next entry, skipping the content of the current one if
 * it was not extracted. Returns 1 and fills *ret, 0 at the end of the archive, -EBADMSG for a
 * truncated or corrupt archive (the reader is then
 * unusable), other negative errno. *ret is untouched unless 1 is returned. An entry whose
 * vss-linux metadata does not parse is still returned (1): extracting it refuses it and
 * verifying reports it as a mismatch.
 */
int archive_reader_next(ArchiveReader *r, ArchiveEntry *ret);

/* archive_reader_free: close and free. NULL ok. */
ArchiveReader *archive_reader_free(ArchiveReader *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(ArchiveReader *, archive_reader_free);

typedef enum ArchiveFileOutcome {
        ARCHIVE_FILE_RESTORED,
        ARCHIVE_FILE_SKIPPED_EXISTS,   /* the target exists and overwrite was not asked */
        ARCHIVE_FILE_REFUSED_UNSAFE,   /* path, link or type not allowed: nothing written */
        ARCHIVE_FILE_FAILED,           /* error holds the errno; nothing left under the name */
} ArchiveFileOutcome;

typedef struct ArchiveFileStatus {
        ArchiveFileOutcome outcome;
        int error;                     /* positive errno for FAILED and REFUSED_UNSAFE, else 0 */
        const char *reason;            /* static text for refusals and remarks, or NULL */
} ArchiveFileStatus;

typedef struct ArchiveExtractOptions {
        bool overwrite;                /* replace existing entries (files atomically by rename) */
        bool allow_special;            /* create device nodes and FIFOs */
        bool keep_setid;               /* keep setuid/setgid bits */
        bool restore_owner;            /* chown to the stored uid/gid (root only, ignored otherwise) */
        bool restore_xattrs;           /* set stored extended attributes (failures ignored) */
        bool allow_control_chars;      /* names with bytes below 0x20 (newline, ...) */
} ArchiveExtractOptions;

/*
 * archive_extract_entry: restore the current entry (the last archive_reader_next returned 1)
 * beneath target_dirfd. Nothing is ever written outside target_dirfd: paths and hard link
 * targets must be clean relative paths, no symlink is followed on the way (a parent that is a
 * symlink refuses the entry), device nodes and FIFOs need allow_special. Regular files and
 * symlinks are written under a temporary name and renamed into place; contents are checked
 * against the stored checksum before the rename. Metadata order: content, owner, mode,
 * xattrs, then times. Directory mode and times are deferred to archive_extract_finish so the
 * files created inside do not disturb them. A directory that already exists is left as it is
 * unless overwrite (skipped-exists), so writers store a directory before its contents.
 * opts NULL = all false.
 * Returns 0 with the outcome in *ret_status (always filled when 0 is returned), or a negative
 * errno when the archive itself failed (truncated/corrupt: -EBADMSG; the entry is then
 * reported FAILED as well and the reader is unusable) or the call was out of sequence
 * (-ESTALE: no current entry, or already extracted).
 */
int archive_extract_entry(ArchiveReader *r, int target_dirfd, const ArchiveExtractOptions *opts,
                          ArchiveFileStatus *ret_status);

/*
 * archive_extract_finish: apply the deferred directory modes, owners and times beneath
 * target_dirfd (the same fd as passed to archive_extract_entry). Returns 0, or the first
 * negative errno met (the others are still applied).
 */
int archive_extract_finish(ArchiveReader *r, int target_dirfd);

/*
 * archive_extract_defer_to: hand the directories from has deferred over to into, so that
 * into's archive_extract_finish applies them too, after its own (a restore that takes a
 * directory from an older archive of a chain sets its times once every archive went in).
 * Applied at once instead when they do not fit. Returns 0 or the first negative errno met.
 */
int archive_extract_defer_to(ArchiveReader *from, ArchiveReader *into, int target_dirfd);

/* archive_file_outcome_to_string: "restored", "skipped-exists", "refused-unsafe", "failed". */
const char *archive_file_outcome_to_string(ArchiveFileOutcome o);

/* -------------------------------------------------------------------------------------------
 * Verifying
 * ------------------------------------------------------------------------------------------- */

typedef enum ArchiveVerifyResult {
        ARCHIVE_VERIFY_OK,
        ARCHIVE_VERIFY_NO_CHECKSUM,    /* content readable, nothing to compare with */
        ARCHIVE_VERIFY_MISMATCH,       /* content differs from its checksum */
        ARCHIVE_VERIFY_CORRUPT,        /* the archive could not be read past this entry */
} ArchiveVerifyResult;

typedef void (*ArchiveVerifyFn)(const char *path, ArchiveVerifyResult result, void *userdata);

typedef struct ArchiveVerifyStats {
        uint64_t entries;
        uint64_t bytes;
        uint64_t mismatched;
        uint64_t unchecked;
        bool corrupt;
} ArchiveVerifyStats;

/*
 * archive_verify: read the whole archive `name` in dirfd, checking every entry's stored
 * size (libarchive fails on short content) and checksum. cb (may be NULL) hears about every
 * entry that is not OK. Returns 0 when everything read back and matched; -EBADMSG when an
 * entry mismatched or the archive is truncated/corrupt; other negative errno when it cannot
 * be opened. *ret_stats (may be NULL) is filled on 0 and on -EBADMSG.
 */
int archive_verify(int dirfd, const char *name, ArchiveVerifyFn cb, void *userdata, ArchiveVerifyStats *ret_stats);
