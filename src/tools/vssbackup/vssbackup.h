/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vssbackup.h: what the parts of vssbackup share: the manifest of one backup and the catalog
 * of a backup directory (catalog.c), the listing of the paths a volume held (listing.c), a set
 * of paths (pathset.c), the progress display (progress.c), and the three commands
 * (backup.c, restore.c, verify in catalog.c). docs/vssbackup.md describes the on-disk layout.
 *
 * Internal style: functions return 0 (or a count) on success and a negative errno on failure;
 * the commands return a process exit status.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "macro.h"
#include "tool-interrupt.h"
#include "tool-interrupt.h"
#include "tool.h"
#include "vss/vss.h"

/* Exit statuses of the commands: the tools' one scheme (tool.h, docs/exit-codes.md). */
#define VB_EXIT_OK TOOL_EXIT_OK
#define VB_EXIT_USAGE TOOL_EXIT_USAGE           /* bad command line, nothing done */
#define VB_EXIT_FAILED TOOL_EXIT_VSS            /* a step failed (VSS or not); the output says which */
#define VB_EXIT_UNREACHABLE TOOL_EXIT_UNREACHABLE /* vssd could not be reached; nothing done */
#define VB_EXIT_PARTIAL TOOL_EXIT_PARTIAL       /* backup stored but incomplete: some files or components failed */
#define VB_EXIT_SKIPPED TOOL_EXIT_PARTIAL       /* restore: everything else restored, some files existed and were kept */
#define VB_EXIT_SIGNAL_BASE 128                /* interrupted: 128 + the signal (130 SIGINT, 143 SIGTERM), nothing stored */

/* Names inside a backup directory. */
#define VB_MANIFEST_NAME "manifest"
/* Written: format 2 listings, archive checksums over 1 MiB blocks (block-sum.h). Still read:
 * "vssbackup-2" (the same, archive checksums over the whole file in one) and "vssbackup-1"
 * (format 1 listings too). */
#define VB_MANIFEST_FORMAT "vssbackup-3"
#define VB_MANIFEST_FORMAT_2 "vssbackup-2"
#define VB_MANIFEST_FORMAT_1 "vssbackup-1"
#define VB_BCD_NAME "backup-components.xml"
#define VB_LOCK_NAME ".lock"
#define VB_TMP_PREFIX ".tmp-"

/* Limits on what a manifest (which may come from anywhere) can make us allocate. */
#define VB_MAX_VOLUMES 64U
#define VB_MAX_DOCUMENTS 1100U          /* one per writer instance, plus the BCD */
#define VB_MAX_MANIFEST_BYTES (16U * 1024U * 1024U)
#define VB_MAX_CHAIN 100000U            /* backups in one restore chain */
#define VB_MAX_BACKUPS 1000000U         /* backups in one catalog */
#define VB_MAX_SCOPES 64U               /* named paths on one volume */
#define VB_MAX_PATTERNS 4096U           /* --exclude / --exclude-file / --include patterns */
#define VB_DEFAULT_WAIT_S TOOL_DEFAULT_WAIT_S /* --wait: how long a backup waits its turn by default */

typedef struct ManifestVolume {
        char *path;             /* the volume as snapshotted: absolute, canonical */
        uint64_t generation;    /* btrfs: the snapshot's creation transaction; 0 unknown */
        char *archive;          /* file name in the backup directory */
        char *archive_xxh128;   /* of the whole archive file (any flipped byte), NULL when not recorded */
        char *listing;          /* file name of the listing of every path the volume held */
        char *listing_xxh128;   /* 32 hex digits */
        uint64_t files;         /* entries stored */
        uint64_t bytes;         /* content bytes stored */
        uint64_t failed;        /* selected files that could not be stored */
        char **scopes;          /* the named paths below path that were backed up ("" the whole volume) */
        size_t n_scopes;
        bool listing_delta;     /* format 2: the listing holds only the directories read again (listing.c) */
        char *listing_filter;   /* format 2: XXH3-128 of what decides what is listed (scopes, excludes) */
} ManifestVolume;

typedef struct ManifestComponent {
        vss_id instance_id;
        vss_id writer_id;
        char *writer_name;
        vss_component_type type;
        char *logical_path;     /* "" for the root */
        char *name;
        bool succeeded;         /* what SetBackupSucceeded said */
        char *backup_stamp;     /* the writer's stamp for this backup, NULL when none */
} ManifestComponent;

typedef struct ManifestDocument {
        char *kind;             /* "bcd" or "wmd" */
        char *name;             /* file name in the backup directory */
        char *xxh128;
} ManifestDocument;

typedef struct Manifest {
        unsigned format;        /* 1, 2 or 3 as read ("vssbackup-N"); 0 for a new one, written as 3 */
        char *dir_name;         /* the backup's directory name (set when loaded from a catalog) */
        vss_id id;
        vss_backup_type type;
        int64_t created_ns;     /* CLOCK_REALTIME when the backup started */
        vss_timestamp snapshot_time; /* taken just before DoSnapshotSet: the next one's "previous time" */
        char *parent;           /* directory name of the backup this one builds on; NULL for none */
        char *base;             /* directory name of the full backup at the root of the chain */
        bool chain_has_incremental;
        bool chain_has_differential;
        bool with_writers;
        bool complete;          /* every selected file was stored */
        char *bcd_source;       /* "vssd" (SaveAsXML) or "vssbackup" (our own record of the selection) */
        char *other_archive;    /* files of writers outside the snapshotted volumes; NULL when none */
        char *other_archive_xxh128;
        uint64_t other_files;
        ManifestVolume *volumes;
        size_t n_volumes;
        ManifestComponent *components;
        size_t n_components;
        ManifestDocument *documents;
        size_t n_documents;
} Manifest;

/* manifest_free: frees m and everything in it; NULL is a no-op; returns NULL. */
Manifest *manifest_free(Manifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manifest *, manifest_free);

/*
 * manifest_write: store m as dirfd/VB_MANIFEST_NAME (written to a temporary name, fsync'd and
 * renamed, so a manifest is either complete or absent). Returns 0 or a negative errno.
 */
int manifest_write(int dirfd, const Manifest *m);

/*
 * manifest_read: load dirfd/VB_MANIFEST_NAME. Strict: an unknown format, a malformed or
 * repeated key, an index past the limits or a volume without its files is -EBADMSG with a
 * sentence in *reterr_message (malloc'd, may be NULL). Returns 0 and *ret (manifest_free).
 */
int manifest_read(int dirfd, Manifest **ret, char **reterr_message);

/* manifest_find_volume: the volume of m with this path, or NULL. */
const ManifestVolume *manifest_find_volume(const Manifest *m, const char *path);

/* backup_type_from_string / backup_type_name: "full", "incremental", "differential", "copy", "log". */
int backup_type_from_string(const char *s, vss_backup_type *ret);
const char *backup_type_name(vss_backup_type t);

/* A backup directory's complete backups, oldest first. */
typedef struct Catalog {
        Manifest **backups;
        size_t n_backups;
} Catalog;

/* catalog_done: frees every manifest of c and resets it to empty; safe on a zeroed Catalog. */
void catalog_done(Catalog *c);

/*
 * catalog_load: read every backup directory below dirfd that has a manifest (directories
 * without one are unfinished and ignored; ones whose manifest does not load are reported on
 * stderr and ignored). Sorted by creation time. Returns 0 or a negative errno.
 */
int catalog_load(int dirfd, Catalog *ret);

/* catalog_find: the backup with this directory name, or NULL. */
Manifest *catalog_find(const Catalog *c, const char *dir_name);

/*
 * catalog_chain: the backups a restore of m needs, newest (m) first: m alone for full, copy
 * and log; m and the full for a differential; m, every incremental before it and the full for
 * an incremental. Returns the count and *ret (an array of borrowed pointers; caller frees the
 * array), -ENOENT when a link is missing (with *reterr_message naming it), -ELOOP past
 * VB_MAX_CHAIN or on a cycle.
 */
int catalog_chain(const Catalog *c, const Manifest *m, const Manifest ***ret, char **reterr_message);

/* valid_backup_dir_name: a plain name (no '/', not "." or "..", not hidden). */
bool valid_backup_dir_name(const char *name);

/*
 * file_xxh128: the XXH3-128 of a file beneath dirfd, as 32 hex digits into hex (33 bytes).
 * Read with O_NOFOLLOW. Returns 0 or a negative errno.
 */
int file_xxh128(int dirfd, const char *name, char hex[static 33]);

/*
 * archive_checksum: the checksum of the archive `name` beneath dirfd in the terms of manifest
 * m's format, as 32 hex digits: over 1 MiB blocks (block-sum.h) from "vssbackup-3" on, over
 * the whole file before (file_xxh128). Returns 0 or a negative errno.
 */
int archive_checksum(const Manifest *m, int dirfd, const char *name, char hex[static 33]);

/* ------------------------------------------------------------------------------------------ */
/* Path sets                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Types of listing records and path set values. */
#define LISTING_DIR 'd'
#define LISTING_FILE 'f'
#define LISTING_SYMLINK 'l'

typedef struct PathSet PathSet;

/* pathset_new: an empty set, NULL on OOM. pathset_free: frees it and its paths; NULL ok; returns NULL. */
PathSet *pathset_new(void);
PathSet *pathset_free(PathSet *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(PathSet *, pathset_free);
/*
 * pathset_put: add path (copied) with a type byte. Returns 1 when added, 0 when it was there
 * already (its type is left alone), -ENOMEM.
 */
int pathset_put(PathSet *s, const char *path, char type);
/* pathset_get: the entry's type, or 0 when absent; *ret_mark (may be NULL) points at its mark byte. */
char pathset_get(const PathSet *s, const char *path, uint8_t **ret_mark);
/* pathset_size: the number of paths (0 for NULL). */
size_t pathset_size(const PathSet *s);
/* pathset_foreach: call fn for every entry (any order); stops at fn's negative return. */
int pathset_foreach(const PathSet *s, int (*fn)(const char *path, char type, uint8_t mark, void *userdata),
                    void *userdata);

/* ------------------------------------------------------------------------------------------ */
/* Listings: every path a volume held at backup time, one record per path                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct ListingWriter ListingWriter;

/* listing_writer_open: create dirfd/name (must not exist) for a format 2 listing. Returns 0 or a negative errno. */
int listing_writer_open(int dirfd, const char *name, ListingWriter **ret);
/* listing_writer_add: one path (type LISTING_*, path non-empty, each once). 0 or -ENOMEM. */
int listing_writer_add(ListingWriter *w, char type, const char *path);
/*
 * listing_writer_group: dir ("" the volume's top) was read whole: every path added directly
 * below it is its group, and a reader takes that group as the directory's complete contents.
 * Paths whose directory is no group are stored apart (listing_extras). 0 or -ENOMEM.
 */
int listing_writer_group(ListingWriter *w, const char *dir);
/* listing_writer_close: sort, write, fsync, and give the checksum (33 bytes) of the file. */
int listing_writer_close(ListingWriter *w, char hex[static 33]);
/* listing_writer_free: closes (without writing) and frees; NULL ok; returns NULL. */
ListingWriter *listing_writer_free(ListingWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(ListingWriter *, listing_writer_free);

/*
 * listing_load: read a format 1 listing (backups of manifest format "vssbackup-1") into a new
 * path set, checking it against expected_xxh128 (may be NULL: no check). Returns 0 and *ret;
 * -EBADMSG when the checksum or a record is wrong.
 */
int listing_load(int dirfd, const char *name, const char *expected_xxh128, PathSet **ret);

/* A format 2 listing, mapped read-only. */
typedef struct Listing Listing;

/* One directory's entries in a Listing (borrowed from its map). */
typedef struct ListingGroup {
        const char *dir;        /* the directory, "" for the top */
        const char *entries;    /* records "<type><name>\0", sorted by name */
        size_t len;
        size_t n;
} ListingGroup;

/*
 * listing_open: map dirfd/name; with expected_xxh128 (may be NULL) the whole file is checked
 * first (-EBADMSG). Without it only the groups read are checked, each by its own checksum.
 */
int listing_open(int dirfd, const char *name, const char *expected_xxh128, Listing **ret);
/* listing_free: unmaps and frees; NULL ok; returns NULL. */
Listing *listing_free(Listing *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(Listing *, listing_free);
/* listing_group: dir's group, checked: 1 and *ret, 0 when l has none, -EBADMSG when damaged. O(log size). */
int listing_group(const Listing *l, const char *dir, ListingGroup *ret);
/* listing_extras: the paths outside every group (full relative paths): 1 and *ret, 0 none, -EBADMSG. */
int listing_extras(const Listing *l, ListingGroup *ret);
/* listing_group_next: the entry after cur (NULL: the first) and its type; NULL at the end. */
const char *listing_group_next(const ListingGroup *g, const char *cur, char *ret_type);
/* listing_group_index: an array of g's n entry names, sorted (caller frees the array only). */
int listing_group_index(const ListingGroup *g, const char ***ret);
/* listing_group_find: the type of entry name in g, 0 when absent; idx from listing_group_index. O(log n). */
char listing_group_find(const ListingGroup *g, const char *const *idx, const char *name);
/*
 * listing_chain_group: dir's group in the newest of chain[0..n) (newest first) that has one:
 * a directory's state at chain[0]'s backup. The last of the chain must be a complete listing.
 * 1, 0 (none), -EBADMSG.
 */
int listing_chain_group(Listing *const *chain, size_t n, const char *dir, ListingGroup *ret);
/*
 * listing_assemble: every path of the volume at chain[0]'s backup, from the top down, each
 * directory's entries from listing_chain_group, plus chain[0]'s extras; types as values.
 * -EBADMSG when a listed directory has no group anywhere in the chain.
 */
int listing_assemble(Listing *const *chain, size_t n, PathSet **ret);

/*
 * listing_load_chain: every path volume_path held at the backup chain[0] (the chain as
 * catalog_chain gives it, newest first, each a directory below dirfd), from its own
 * listing (format 1, or a complete format 2 one) or assembled from the delta listings down to
 * the newest complete one, every file checked against its manifest checksum.
 * 0 and *ret; -EBADMSG (damaged or missing link, with *reterr_name naming the backup), or a negative errno.
 */
int listing_load_chain(int dirfd, const Manifest *const *chain, size_t n_chain, const char *volume_path,
                       PathSet **ret, const char **reterr_name);

/* ------------------------------------------------------------------------------------------ */
/* Progress                                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct Progress {
        const char *verb;               /* "backup", "restore", "verify" */
        bool tty;                       /* a bar redrawn in place; plain lines otherwise */
        bool quiet;
        uint64_t total_bytes;           /* 0: unknown (no percentage) */
        uint64_t total_files;
        uint64_t bytes;
        uint64_t files;
        bool files_absolute;            /* files is a running total the caller keeps (no per-archive base) */
        uint64_t base_bytes;            /* what earlier archives contributed */
        uint64_t base_files;
        struct timespec start;
        struct timespec last;
        bool drawn;
} Progress;

/* progress_init: start the clock; totals 0 when unknown; quiet draws nothing. Cannot fail. */
void progress_init(Progress *p, const char *verb, bool quiet, uint64_t total_bytes, uint64_t total_files);
/* progress_update: running totals of the current archive (ArchiveProgressFn-compatible via a wrapper). */
void progress_update(Progress *p, uint64_t bytes, uint64_t files);
/* progress_next_archive: the totals so far become the base of the next archive's counts. */
void progress_next_archive(Progress *p);
/* progress_finish: the final line. */
void progress_finish(Progress *p);
/* progress_archive_cb: an ArchiveProgressFn whose userdata is a Progress. */
void progress_archive_cb(uint64_t bytes, uint64_t files, void *userdata);
/* format_bytes: "12.3 MiB" into buf. */
const char *format_bytes(uint64_t bytes, char buf[static 32]);

/* ------------------------------------------------------------------------------------------ */
/* Commands                                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct BackupOptions {
        vss_backup_type type;
        char **volumes;         /* the paths named: each backed up with the volume it lies on */
        size_t n_volumes;
        const char *to;
        const char *socket_path;
        bool no_writers;
        bool quiet;
        bool json;              /* the result as one JSON object on stdout */
        int compression_level;
        unsigned threads;
        char **excludes;        /* path patterns (pattern.c) left out of the named paths */
        size_t n_excludes;
        unsigned wait_s;        /* how long to wait for the backup directory and the snapshot slot */
} BackupOptions;

typedef struct RestoreOptions {
        const char *backup;
        const char *to;
        bool overwrite;
        bool quiet;
        bool verbose;
        bool json;              /* the summary as one JSON object on stdout */
        const char *report;     /* file for every file's status; "-" is stdout; NULL none */
        const char *socket_path; /* vssd's socket; NULL: $VSS_SOCKET or the default */
        bool no_writers;        /* files only: no InitializeForRestore, PreRestore, PostRestore */
        bool restore_setid;     /* keep set-id bits from a backup root does not own (restore.c) */
        char **includes;        /* restore only the paths these patterns match (and what is below) */
        size_t n_includes;
} RestoreOptions;

typedef struct PruneOptions {
        const char *dir;
        unsigned keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly;
        bool dry_run;
        bool json;
        unsigned wait_s;
} PruneOptions;

/*
 * The commands. Each prints its own messages and returns a VB_EXIT_* status:
 *   vb_backup   one backup of o->volumes into o->to (backup.c);
 *   vb_restore  o->backup and its chain into o->to (restore.c);
 *   vb_list     the backups of dir, oldest first, as a table or JSON (catalog.c);
 *   vb_ls       the paths one backup restores, below path (NULL: all) (catalog.c);
 *   vb_verify   every checksum of one backup and, unless only, of every backup it builds on (catalog.c);
 *   vb_prune    the retention policy applied to a backup directory (prune.c).
 */
int vb_backup(const BackupOptions *o);
int vb_restore(const RestoreOptions *o);
int vb_list(const char *dir, bool json);
int vb_ls(const char *backup, const char *path, bool json);
int vb_verify(const char *backup, bool only, bool quiet, bool json);
int vb_prune(const PruneOptions *o);

/* ------------------------------------------------------------------------------------------ */
/* Path patterns (pattern.c)                                                                  */
/* ------------------------------------------------------------------------------------------ */

/*
 * path_pattern_match: does the glob pattern match path or one of its ancestors? A pattern
 * starting with '/' is anchored at the root; any other matches runs of whole components at
 * any depth. docs/vssbackup.md "Patterns".
 */
bool path_pattern_match(const char *pattern, const char *path);
/* path_patterns_match: does any of them match? */
bool path_patterns_match(char *const *patterns, size_t n_patterns, const char *path);
/* path_pattern_check: 0 for a usable pattern; -EINVAL (empty, control bytes, longer than PATH_MAX). */
int path_pattern_check(const char *pattern);
/* patterns_add: append a copy of pattern. -EINVAL (path_pattern_check), -E2BIG past VB_MAX_PATTERNS, -ENOMEM. */
int patterns_add(char ***patterns, size_t *n_patterns, const char *pattern);
/*
 * patterns_read_file: append every pattern of an exclude file (one per line; blank lines and
 * '#' comments skipped). On a bad line, its number in *ret_line (may be NULL). 0 or a negative errno.
 */
int patterns_read_file(const char *path, char ***patterns, size_t *n_patterns, unsigned *ret_line);
/* patterns_free: the array and its strings. */
void patterns_free(char **patterns, size_t n_patterns);

/* ------------------------------------------------------------------------------------------ */
/* Retention (retention.c): which backups a prune keeps, as a pure function                   */
/* ------------------------------------------------------------------------------------------ */

typedef enum KeepReason {
        KEEP_LAST = 1u << 0,
        KEEP_HOURLY = 1u << 1,
        KEEP_DAILY = 1u << 2,
        KEEP_WEEKLY = 1u << 3,
        KEEP_MONTHLY = 1u << 4,
        KEEP_CHAIN = 1u << 5,   /* a kept backup builds on it */
} KeepReason;

typedef struct RetentionItem {
        int64_t created_ns;
        bool complete;          /* incomplete backups are never what a rule keeps */
        ssize_t parent;         /* index of the backup it builds on, -1 for none (or missing) */
} RetentionItem;

typedef struct RetentionPolicy {
        unsigned keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly;
} RetentionPolicy;

/*
 * retention_plan: for n items sorted oldest first, ret_reasons[i] = the KeepReason bits that
 * keep item i (0: prune it). Buckets are UTC hours, days, ISO weeks and months; each rule
 * keeps the newest complete backup of each of its N newest buckets that have one (restic's
 * rule); then every backup a kept one builds on is kept (KEEP_CHAIN), so no chain is broken.
 * Pure: no I/O. Returns 0, or -EINVAL for a parent index out of range or not older than its child.
 */
int retention_plan(const RetentionItem *items, size_t n, const RetentionPolicy *p, unsigned *ret_reasons);
/* retention_any_rule: does p keep anything at all? */
bool retention_any_rule(const RetentionPolicy *p);

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* now_ns: CLOCK_REALTIME in nanoseconds. */
int64_t now_ns(void);
/* split_backup_path: "DIR/NAME" into an fd of DIR (caller closes) and NAME (malloc'd). */
int split_backup_path(const char *path, int *ret_dirfd, char **ret_name);
/* remove_flat_dir: remove parentfd/name, a directory of plain files (a backup). 0 or a negative errno. */
int remove_flat_dir(int parentfd, const char *name);
/*
 * lock_backup_dir: take DIR/.lock (flock, exclusive) on dirfd, waiting up to wait_s seconds
 * (cut short by a signal) while another vssbackup holds it. Returns the lock's fd (held until
 * closed or exit), -EBUSY when the wait ran out, -EINTR, or a negative errno.
 */
int lock_backup_dir(int dirfd, const char *dir, unsigned wait_s);
