/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * file-select.h: which files a backup copies (vss-semantics.md §9 "requester algorithm"), as
 * one function of the two documents, the backup type, the previous backup and the snapshot
 * paths. The rules and every decision taken where the spec leaves room are in
 * docs/file-selection.md and at the top of file-select.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backup-components.h"
#include "change-scan.h"
#include "writer-metadata.h"

/* A snapshotted volume: where writers see it and where its snapshot can be read. */
typedef struct FileSelectVolume {
        const char *original;           /* absolute mount point as writers name it, e.g. "/srv" */
        const char *snapshot;           /* absolute path of the snapshot's top, e.g. "/run/vss/snap/x" */
        /*
         * btrfs: change_scan_btrfs_generation() of the snapshot the previous backup read (for
         * an incremental, the last full or incremental; for a differential, the last full), 0
         * when unknown. When set and the snapshot is a btrfs subvolume top the process may
         * search (root), "changed since the previous backup" comes from the file system's
         * generations in O(changed) instead of a walk comparing times. Used only together
         * with a non-zero previous_backup_time (which the walks of other sets still need).
         */
        uint64_t previous_generation;
        /*
         * Optional (have_changed): what change_scan_btrfs_changed(snapshot, previous_generation)
         * reports, gathered by the caller already (vssbackup's listing searches the same
         * generation for the directories that changed), so the file system is not searched
         * twice. Entries that are not regular files or symlinks are ignored. Used only where
         * the generation is; borrowed for the call.
         */
        const ChangeScanEntry *changed;
        size_t n_changed;
        bool have_changed;
} FileSelectVolume;

typedef struct FileSelectInput {
        vss_backup_type backup_type;    /* what SetBackupState chose */
        const BackupComponents *bcd;    /* the explicit components, differenced and partial files */
        /* The metadata of every writer the BCD names, matched by instance id. */
        const WriterMetadata *const *writers;
        size_t n_writers;
        /*
         * The previous backup's time (FILETIME): for an incremental the last full or
         * incremental, for a differential the last full. Take it just before that backup's
         * snapshot was created. 0: there is none, everything counts as changed.
         */
        vss_timestamp previous_backup_time;
        /* Kinds in the chain since the last full, for VSS_BS_EXCLUSIVE_INCREMENTAL_DIFFERENTIAL. */
        bool chain_has_incremental;
        bool chain_has_differential;
        const FileSelectVolume *volumes;
        size_t n_volumes;
} FileSelectInput;

typedef enum FileSelectReason {
        FILE_SELECT_FILE_SET,           /* a declared file set the backup type needs (whole or its changes) */
        FILE_SELECT_DIFFERENCED,        /* a declared file set the writer differenced by last-modify time */
        FILE_SELECT_NEW_FILE,           /* a differenced set naming files no component declares */
        FILE_SELECT_PARTIAL,            /* a partial file: only ranges */
        FILE_SELECT_RANGES_FILE,        /* the ranges file a partial file names */
        _FILE_SELECT_REASON_MAX,
} FileSelectReason;

typedef struct FileSelectFile {
        const char *source_path;        /* where to read it: in a snapshot, or live (from_snapshot false) */
        const char *original_path;      /* the file's own path; what a restore recreates */
        FileSelectReason reason;
        unsigned type;                  /* DT_REG or DT_LNK (partial and ranges files: DT_REG) */
        bool from_snapshot;
        bool from_alternate_location;   /* §9 step 7: read from the file set's alternate location */
        const char *ranges;             /* partial files: "offset:length,..." or a ranges-file path; NULL: whole */
        bool have_stat;                 /* the next three are valid */
        vss_timestamp mtime;
        vss_timestamp ctime;
        uint64_t size;
        const vss_id *writer_instance_id;
        const WmComponent *component;           /* the component whose file set selected it */
        const BcdComponent *explicit_component; /* the explicit component it came in with */
} FileSelectFile;

/* Everything in *file is borrowed for the call. Return < 0 to stop file_select with it. */
typedef int (*FileSelectCallback)(const FileSelectFile *file, void *userdata);

/*
 * file_select: report every file the backup in *in copies, each original path once, in no
 * particular order. Pure in the sense that it only reads: the documents are not changed and
 * the file system is only read (from the snapshots, and live only for file sets that do not
 * need a snapshot for this backup type).
 *
 * Returns 0, the callback's negative return, or a negative errno:
 *   -EINVAL    NULL or malformed input (no BCD, a volume path not absolute, a file set path
 *              with an unset variable);
 *   -EBADMSG   the documents disagree (a BCD writer without metadata, an explicit component
 *              the writer does not declare);
 *   -EXDEV     a file set needing a snapshot for this backup type lies on no volume given;
 *   -ENOMEM, or the walk's and the btrfs scan's errors.
 * When reterr_message is non-NULL, a failure other than the callback's and ENOMEM stores a
 * malloc'd sentence naming the writer, component or path there (owned by the caller).
 */
int file_select(const FileSelectInput *in, FileSelectCallback callback, void *userdata, char **reterr_message);

/* file_select_reason_to_string: "file-set", "differenced", "new-file", "partial", "ranges-file"; NULL out of range. */
const char *file_select_reason_to_string(FileSelectReason reason);
