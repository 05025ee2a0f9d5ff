/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vshadow.h: what the parts of vshadow share. vshadow is a requester that wraps any backup
 * tool, after the Windows SDK's vshadow (docs/vshadow.md).
 *
 * `vshadow [options] VOLUME...` makes a snapshot set of the volumes with the writers taking
 * part (writers and components chosen with -wi/-wx), runs a command (-exec) against the
 * snapshots while they exist, tells the writers through SetBackupSucceeded whether that
 * command succeeded, completes the backup and releases the set (or keeps it with -p). The
 * command learns everything through environment variables: where each snapshot is, the
 * backup type, the saved Backup Components Document, and the list of files the writers'
 * components need copied for this backup type (the selection of src/backup/file-select.c,
 * the same one every requester of this project uses). Other options query, delete and expose
 * snapshots and list writers' status and metadata; -r restores with the writers from a saved
 * document, running the command that copies the files back between PreRestore and PostRestore.
 *
 * Why it exists: the VSS sequence (docs/api-map.md) has a dozen steps with rules on order,
 * aborts and writer status; a user who only wants "tar of a consistent /srv" should not have
 * to write a requester. Everything goes through the public libvss API, except two things the
 * public API has no call for: the list of subscribed writers before Identify (vssd's
 * Admin.ListWriters, so that writers excluded by -wx are never even asked) and the file
 * selection.
 *
 * The parts, one file per concept: main.c (command line), requester.c (opening a requester),
 * query.c (-q, -qx, -s, -d*, -el), writer-info.c (-ws, -wm), selection.c (-wi/-wx and the
 * writers' status), file-list.c (VSHADOW_FILE_LIST_i, -bc), exec.c (the environment, -script,
 * -exec), create.c (the snapshot set), restore.c (-r, -rs).
 *
 * Output: progress and notes go to stderr, so a command writing an archive to stdout stays
 * clean; listings (-q, -ws, -wm, -el) go to stdout. Errors and exit statuses are the tools'
 * (tool.h), and the failing status of the -exec command wins (docs/vshadow.md).
 *
 * Internal style: functions that can fail print why and return 0 (or a count) on success and
 * minus an exit status on failure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "backup-components.h"
#include "macro.h"
#include "tool-interrupt.h"
#include "tool.h"
#include "vss-bus.h"
#include "writer-metadata.h"
#include "vss/vss.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(WriterMetadata *, writer_metadata_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BackupComponents *, backup_components_free);

/* ------------------------------------------------------------------------------------------ */
/* The command line (main.c)                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef enum Command {
        COMMAND_CREATE,
        COMMAND_QUERY,
        COMMAND_QUERY_SET,
        COMMAND_QUERY_SNAPSHOT,
        COMMAND_DELETE_ALL,
        COMMAND_DELETE_SET,
        COMMAND_DELETE_SNAPSHOT,
        COMMAND_DELETE_OLDEST,
        COMMAND_EXPOSE_LOCAL,
        COMMAND_EXPOSE_REMOTE,
        COMMAND_WRITER_STATUS,
        COMMAND_WRITER_METADATA,
        COMMAND_RESTORE,
        COMMAND_SIMULATE_RESTORE,
} Command;

typedef struct Args {
        Command command;
        const char *command_option;     /* as typed, for messages */
        const char *command_arg;
        bool persistent;
        bool no_writers;
        bool wait;
        bool json;                      /* -json: listings as one JSON value on stdout */
        unsigned wait_turn_s;           /* -waitset: how long StartSnapshotSet waits for another set */
        vss_backup_type backup_type;
        const char *bc_file;
        const char *exec_cmd;
        const char *script_file;
        const char *socket;
        const char **include;           /* -wi values, borrowed from argv */
        size_t n_include;
        const char **exclude;           /* -wx values */
        size_t n_exclude;
        char **volumes;                 /* absolute, malloc'd */
        size_t n_volumes;
} Args;

/* The parsed command line; set once by main.c, read everywhere. */
extern Args arg;

/* backup_type_name: "full", "incremental", ... for -bt and VSHADOW_BACKUP_TYPE. */
const char *backup_type_name(vss_backup_type t);

/* ------------------------------------------------------------------------------------------ */
/* Requester (requester.c)                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* requester_open: a requester initialized for backup in context ctx. Returns 0 or minus an
 * exit status. */
int requester_open(vss_snapshot_context ctx, vss_requester **ret);
void requester_releasep(vss_requester **r);
void enum_object_freep(vss_enum_object **e);

/* parse_id: the id s given to -option; a usage error when it is not one. */
int parse_id(const char *option, const char *s, vss_id *ret);

/* ------------------------------------------------------------------------------------------ */
/* Writers and their components (selection.c)                                                 */
/* ------------------------------------------------------------------------------------------ */

typedef struct WriterIdentity {
        vss_id writer_id;
        vss_id instance_id;
        const char *name;
        const char *instance_name;
} WriterIdentity;

typedef struct Component {
        vss_component_info info;        /* strings borrowed from the writer's metadata */
        char *full_path;                /* "LP\NAME" or "NAME" */
        bool wanted;
        bool add;                       /* explicitly added with AddComponent */
} Component;

typedef struct Writer {
        WriterIdentity id;
        vss_examine_writer_metadata *m;
        Component *components;
        size_t n_components;
        bool excluded;
        WriterMetadata *wmd;            /* for the file selection, built from m */
} Writer;

typedef struct Selection {
        Writer *writers;
        size_t n_writers;
        bool *include_matched;          /* per -wi */
        bool *exclude_matched;          /* per -wx */
} Selection;

/* Is the writer with this instance taking part? (userdata: a Selection or a Restore) */
typedef bool (*WriterSelected)(const void *userdata, const vss_id *instance_id);

/* selection_init: room for which -wi and -wx matched something; the writers come with
 * selection_load(). selection_done: frees what s holds and zeroes it. */
int selection_init(Selection *sel);
void selection_done(Selection *s);

/* filter_writers_early: before Identify, disables the writers -wi/-wx leave out as a whole
 * (vssd's Admin.ListWriters), so they get no event of this backup at all. */
int filter_writers_early(vss_requester *req, Selection *sel);

/* selection_load: the gathered metadata into sel->writers. */
int selection_load(vss_requester *req, Selection *sel);

/* writer_metadata_load: the writer's metadata as the file selection reads it (w->wmd). */
int writer_metadata_load(Writer *w);

/* selection_decide: which components are wanted (-wi/-wx, files on the volumes) and which are
 * added explicitly (vss-semantics §7). */
int selection_decide(Selection *sel, char *const *volumes, size_t n_volumes);

/* selection_verify_includes: every -wi matched something now part of the backup. */
int selection_verify_includes(Selection *sel);

/* selection_add_components / selection_set_backup_succeeded: AddComponent and
 * SetBackupSucceeded for every component added. */
int selection_add_components(vss_requester *req, Selection *sel);
int selection_set_backup_succeeded(vss_requester *req, Selection *sel, bool succeeded);

/* selector_covers: does selector s cover component c of writer w (the component or an
 * ancestor path)? *ret_writer tells whether it named the writer as a whole. */
bool selector_covers(const char *s, const Writer *w, const Component *c, const WriterIdentity *all, size_t n_all,
                     bool *ret_writer);

/* writer_status_check: after a step, a writer taking part that failed makes the operation
 * fail (its data may not be consistent). check_writer_status: the same for a Selection. */
int writer_status_check(vss_requester *req, WriterSelected selected, const void *userdata, const char *after);
int check_writer_status(vss_requester *req, const Selection *sel, const char *after);

/* ------------------------------------------------------------------------------------------ */
/* Snapshots, file lists, the document (file-list.c)                                          */
/* ------------------------------------------------------------------------------------------ */

typedef struct Snapshot {
        vss_id id;
        vss_snapshot_prop prop;
        char *dir;              /* VSHADOW_SNAPSHOT_i: the snapshot as a directory (tool_snapshot_dir) */
        char *list_path;        /* VSHADOW_FILE_LIST_i */
        FILE *list;
} Snapshot;

/* file_lists_write: VSHADOW_FILE_LIST_i for every snapshot, into dir. */
int file_lists_write(vss_requester *req, Selection *sel, Snapshot *snaps, size_t n_snaps, const char *dir);

/* bcd_save: -bc, the Backup Components Document into path, replaced atomically, mode 0600. */
int bcd_save(vss_requester *req, const char *path);

/* ------------------------------------------------------------------------------------------ */
/* The command's environment, -script, -exec (exec.c)                                         */
/* ------------------------------------------------------------------------------------------ */

typedef struct Env {
        char **names;
        char **values;
        size_t n;
} Env;

void env_done(Env *e);
/* env_add: NAME (printf-formatted) = value, both copied. */
int env_add(Env *e, const char *value, const char *name_fmt, ...) _printf_(3, 4);
/* env_build: the VSHADOW_* variables of a created set (with_lists: the file lists too). */
int env_build(Env *e, const vss_id *set_id, const Snapshot *snaps, size_t n_snaps, bool with_lists);
/* script_write: -script, the variables as a sourceable shell file. */
int script_write(const Env *e, const char *path);
/* command_run: -exec with /bin/sh -c; its exit status (128+N for signal N), or minus an exit
 * status when it could not run. */
int command_run(const Env *e);
/* wait_for_enter: -wait. */
void wait_for_enter(void);

/* ------------------------------------------------------------------------------------------ */
/* The commands: each returns 0 or minus an exit status                                        */
/* ------------------------------------------------------------------------------------------ */

int create_set(void);           /* create.c: VOLUME... */
int query(void);                /* query.c: -q, -qx, -s */
int delete_snapshots(void);     /* query.c: -da, -dx, -ds, -do */
int expose_local(void);         /* query.c: -el */
int writer_listing(void);       /* writer-info.c: -ws, -wm */
int restore(void);              /* restore.c: -r, -rs */
