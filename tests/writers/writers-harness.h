/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writers-harness.h: what the writer tests share: a private vssd, writer programs whose
 * log (stdout+stderr) goes to a file the test reads, waiting for lines in those logs, and a
 * requester that drives a component-mode backup of chosen writers step by step.
 *
 * Internal style: functions return 0 or a negative errno, requester helpers the vss_hr of
 * the step that failed; ret_* outputs are written only on success. Waits are bounded by a
 * generous deadline that only keeps a broken program from hanging the test; no test asserts
 * on time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vss/vss.h"

#define WH_WAIT_MS 20000U
#define WH_MAX_COMPONENTS 32

#define SQLITE_WRITER_CLASS "c5b7e0d2-6f1a-4e83-9a4c-2d8b1f0e7a64"
#define SCRIPT_WRITER_CLASS "2d6e9a7c-41b3-4f58-8c0e-7b19d4a3e2f6"

/* A vssd on <dir>/vssd.sock, state in <dir>/state, its stderr in <dir>/vssd.log. */
typedef struct Vssd {
        pid_t pid;
        char *socket;
        char *state_dir;
        char *log;
} Vssd;

/* vssd_start: start $VSSD (--test-provider when test_provider) and wait until it listens. */
int vssd_start(const char *dir, bool test_provider, unsigned event_timeout_ms, Vssd *ret);
/* vssd_stop: SIGTERM, then SIGKILL; frees the strings. Safe on a zeroed Vssd. */
void vssd_stop(Vssd *v);

/* spawn_logged: in root-harness.h. */

/* process_kill_wait: send sig and reap; returns the wait status, or -errno. */
int process_kill_wait(pid_t pid, int sig);

/* log_count: lines of path containing needle (a missing file has none). */
unsigned log_count(const char *path, const char *needle);
/* log_wait: wait until at least n lines of path contain needle. 0 or -ETIMEDOUT. */
int log_wait(const char *path, const char *needle, unsigned n, unsigned timeout_ms);
/* log_line: a malloc'd copy of the index-th (0-based) line containing needle, or NULL. */
char *log_line(const char *path, const char *needle, unsigned index);
/* line_u64_after: the decimal number right after the first occurrence of key in line. */
int line_u64_after(const char *line, const char *key, uint64_t *ret);

/* write_file: create or truncate path with text and mode. */
int write_file(const char *path, const char *text, mode_t mode);
/* path_join: "a/b", malloc'd; aborts the test on ENOMEM. */
char *path_join(const char *a, const char *b);

/* ------------------------------------------------------------------------------------------ */
/* Requester                                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct WhComponent {
        vss_id instance;
        vss_id class_id;
        vss_component_type type;
        char *logical_path;
        char *name;
} WhComponent;

typedef struct WhBackup {
        vss_requester *r;
        vss_id set_id;
        vss_id snapshot_id;
        WhComponent components[WH_MAX_COMPONENTS];
        size_t n_components;
        vss_async *dss;         /* an asynchronous DoSnapshotSet in flight */
        char *snapshot_path;    /* snapshot_device_object, once DoSnapshotSet succeeded */
} WhBackup;

/*
 * wh_backup_prepare: InitializeForBackup, SetBackupState(components, FULL), gather, select
 * every component of every writer whose class is in classes (n_classes of them), start a
 * set with volume, PrepareForBackup. b must be zeroed; it is filled as far as the steps got.
 */
vss_hr wh_backup_prepare(WhBackup *b, const char *socket, const char *volume, const char *const *classes,
                         size_t n_classes);
/* wh_backup_snapshot: DoSnapshotSet, waited for; on success b->snapshot_path is set. */
vss_hr wh_backup_snapshot(WhBackup *b);
/* wh_backup_snapshot_start / _finish: the same in two halves, so a test can act meanwhile. */
vss_hr wh_backup_snapshot_start(WhBackup *b);
vss_hr wh_backup_snapshot_finish(WhBackup *b);
/* wh_backup_complete: SetBackupSucceeded for every selected component, BackupComplete. */
vss_hr wh_backup_complete(WhBackup *b);
/*
 * wh_backup_writer_status: GatherWriterStatus, then the state and failure of the (only)
 * writer of class class_id. VSS_E_OBJECT_NOT_FOUND when it is not listed.
 */
vss_hr wh_backup_writer_status(WhBackup *b, const char *class_id, vss_writer_state *ret_state,
                               vss_hr *ret_failure);
/* wh_backup_release: release the requester (BackupShutdown follows) and free b's contents. */
void wh_backup_release(WhBackup *b);
