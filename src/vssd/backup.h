/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup.h: one requester instance (IVssBackupComponents) inside vssd: its VSS state, the
 * writers it gathered with their per-backup session state (VSS_WS_* and failure code), its
 * Backup Components Document, its snapshot set, and the one deferred operation in flight.
 *
 * This is the logic; backup-dbus.c parses the calls, checks the legality table
 * (backup-state.h) and replies. A Backup outlives its connection: when the requester goes
 * away (release, exit, SIGKILL) backup_release() cancels what is in flight, sends Abort where
 * due and BackupShutdown to every writer that took part, deletes the auto-release snapshots and
 * only then frees the object. It never touches the requester's sd_bus after the release.
 */
#pragma once

#include "macro.h"
#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "backup-components.h"
#include "vssd/backup-state.h"
#include "vssd/event-round.h"
#include "vssd/list.h"
#include "vssd/manager.h"
#include "vssd/snapshot-set.h"
#include "vssd/writer-registry.h"

/* A writer as this backup knows it: the metadata it answered Identify with, and its state. */
typedef struct WriterSession {
        Writer *writer;                 /* ref; may have left the registry since */
        WriterMetadata *metadata;
        vss_writer_state state;
        vss_hr failure;
        bool got_prepare_backup;        /* took part: gets BackupShutdown on release */
        bool got_pre_restore;           /* got PreRestore: PostRestore follows unless it failed */
} WriterSession;

struct Backup {
        unsigned n_ref;
        Manager *manager;
        Client *client;                 /* NULL once released */
        vss_id id;                      /* "backup_id" in every event */

        BackupState state;
        BackupFlags flags;
        uint32_t context;
        vss_backup_type backup_type;
        bool bootable_system_state;
        bool partial_file_support;

        vss_id *enabled_classes;
        size_t n_enabled_classes;
        vss_id *disabled_classes;
        size_t n_disabled_classes;
        vss_id *disabled_instances;
        size_t n_disabled_instances;

        WriterSession *sessions;
        size_t n_sessions;
        /* The Backup Components Document: backup state, explicitly added components and
         * everything requester and writers told each other about them. Never NULL. */
        BackupComponents *bcd;

        SnapshotSet *set;               /* while in creation */
        vss_id set_id;                  /* null until StartSnapshotSet */
        char **volumes;                 /* canonical volumes of the set, for event contexts */
        size_t n_volumes;

        /* The deferred operation in flight (docs/dbus-api.md: at most one). */
        BackupMethod op;
        sd_bus_message *op_msg;         /* the call to answer; NULL once released */
        bool op_cancel;
        char *op_detail;                /* sentence for the error reply */
        EventRound *round;              /* the writer round running now, if any */

        /* DoSnapshotSet progress. */
        unsigned level_group;
        sd_event_source *window_timer;  /* Freeze→Thaw bound: smallest freeze timeout */
        bool window_expired;
        bool freeze_sent;
        vss_hr op_result;

        bool abort_sent;                /* Abort went out since the last prepare */
        bool released;
        LIST_FIELDS(Backup, backups);
};

/* backup_new: a Backup in BACKUP_STATE_NEW for client, listed on m. 0 or -ENOMEM. */
int backup_new(Manager *m, Client *client, Backup **ret);

Backup *backup_ref(Backup *b);
Backup *backup_unref(Backup *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Backup *, backup_unref);

/*
 * backup_release: the requester's connection is gone. Cancels the operation in flight (at its
 * next safe point; no reply), then runs the release sequence (Abort if due, BackupShutdown,
 * auto-release snapshots deleted, slot freed) and frees the backup when it ends.
 */
void backup_release(Backup *b);

/*
 * backup_free_now: vssd is exiting and cannot wait for writers any more: cancel every round,
 * abort the set, delete the auto-release snapshots, free. Only from manager_free().
 */
void backup_free_now(Backup *b);

/* backup_is_writerless: the context has VSS_VOLSNAP_ATTR_NO_WRITERS. */
bool backup_context_is_writerless(uint32_t context);
/* backup_context_is_valid: a VSS_CTX_* value a backup may use (VSS_CTX_ALL is not). */
bool backup_context_is_valid(uint32_t context);

/* Synchronous requester methods; the state table was checked by the caller.
 * Each returns S_OK or the HRESULT to send, with *detail (static or NULL) explaining it. */
/* backup_initialize: InitializeForBackup; a non-empty bcd_xml is loaded (on failure
 * *ret_reason, malloc'd or NULL, says why; the caller frees it). */
vss_hr backup_initialize(Backup *b, const char *bcd_xml, const char **detail, char **ret_reason);
vss_hr backup_set_context(Backup *b, uint32_t context, const char **detail);
vss_hr backup_set_backup_state(Backup *b, bool select_components, bool bootable, uint32_t backup_type,
                               bool partial_file_support, const char **detail);
vss_hr backup_add_component(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                            const char *logical_path, const char *name, const char **detail);
vss_hr backup_set_writer_filter(Backup *b, BackupMethod method, const vss_id *ids, size_t n, const char **detail);
vss_hr backup_start_snapshot_set(Backup *b, vss_id *ret_set_id, const char **detail);
vss_hr backup_add_to_snapshot_set(Backup *b, const char *volume, const vss_id *provider_id, vss_id *ret_snapshot_id,
                                  const char **detail);
vss_hr backup_set_backup_succeeded(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                   const char *logical_path, const char *name, bool succeeded, const char **detail);
/* SetBackupOptions / SetPreviousBackupStamp: which is BCD_STRING_BACKUP_OPTIONS or
 * BCD_STRING_PREVIOUS_BACKUP_STAMP. */
vss_hr backup_set_component_string(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                   const char *logical_path, const char *name, BcdString which, const char *value,
                                   const char **detail);
/*
 * backup_save_as_xml: SaveAsXML (whole document) or, for GetWriterComponents, the same: the
 * requester sees every writer's components. S_OK with *ret (malloc'd) or the failure.
 */
vss_hr backup_save_as_xml(Backup *b, char **ret, const char **detail);

/*
 * The restore half (vss-semantics.md §3), on a Backup initialised with InitializeForRestore.
 * Components are named as in the backup calls, except that instance_id may be the null id:
 * then the document's writer of class writer_id is meant. After GatherWriterMetadata each
 * writer of the document is bound to the running instance of its class (same instance id if
 * it still runs), so the events and the document name the live writer.
 */
/* backup_initialize_for_restore: InitializeForRestore; bcd_xml is mandatory. As backup_initialize. */
vss_hr backup_initialize_for_restore(Backup *b, const char *bcd_xml, const char **detail, char **ret_reason);
/* SetRestoreState: a VSS_RTYPE_* value. */
vss_hr backup_set_restore_state(Backup *b, uint32_t restore_type, const char **detail);
/* SetSelectedForRestore: VSS_E_OBJECT_NOT_FOUND if the component is not in the document or
 * its writer is not running. */
vss_hr backup_set_selected_for_restore(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                       const char *logical_path, const char *name, bool selected,
                                       const char **detail);
/* AddRestoreSubcomponent: the subcomponent must be a selectable-for-restore component of the
 * running writer's metadata below the named component. */
vss_hr backup_add_restore_subcomponent(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                       const char *logical_path, const char *name, const char *sub_logical_path,
                                       const char *sub_name, bool repair, const char **detail);
/* SetRestoreOptions: writer-defined string, read with GetRestoreOptions. */
vss_hr backup_set_restore_options(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                  const char *logical_path, const char *name, const char *options,
                                  const char **detail);
/* SetAdditionalRestores. */
vss_hr backup_set_additional_restores(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                      const char *logical_path, const char *name, bool additional,
                                      const char **detail);
/* AddNewTarget: the running writer's schema must have VSS_BS_WRITER_SUPPORTS_NEW_TARGET
 * (E_INVALIDARG otherwise), and (path, filespec, recursive) must equal a file set it declared
 * for the component or one of its subcomponents (VSS_E_OBJECT_NOT_FOUND otherwise). */
vss_hr backup_add_new_target(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                             const char *logical_path, const char *name, const char *path, const char *filespec,
                             bool recursive, const char *alternate_path, const char **detail);
/* SetFileRestoreStatus: a VSS_RS_* value. */
vss_hr backup_set_file_restore_status(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                      const char *logical_path, const char *name, uint32_t status,
                                      const char **detail);

/*
 * backup_begin: start deferred method for call m (ref'd until the reply). The reply is sent by
 * backup-dbus.c (backup_send_reply) when the operation ends, possibly before this returns.
 * Returns 0, or negative errno when nothing could be started (no reply sent; the caller
 * answers the error).
 */
int backup_begin(Backup *b, BackupMethod method, sd_bus_message *m);

/* backup_cancel: Cancel: mark the operation in flight; it stops at its next safe point. */
void backup_cancel(Backup *b);

/*
 * backup_send_reply: answer the deferred call m of operation op with hr (S_OK: the
 * operation's output; otherwise the D-Bus error for hr with b->op_detail). backup-dbus.c.
 */
int backup_send_reply(Backup *b, sd_bus_message *m, BackupMethod op, vss_hr hr);

/* backup_is_involved: the session gets the events after PrepareForBackup (component mode:
 * only writers with a selected component). */
bool backup_is_involved(const Backup *b, const WriterSession *s);
