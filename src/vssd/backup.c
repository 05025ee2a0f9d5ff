/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup.c: the VSS backup sequence as vssd runs it for one requester (backup.h).
 *
 * Decisions this file implements (seeds 000-004, vss-semantics.md §2/§6/§11/§13):
 *   - Identify goes to every subscribed writer the requester did not filter out; writers that
 *     veto, time out or answer garbage are left out of the backup (no status either). In
 *     writer-less contexts GatherWriterMetadata still asks (it is informational and optional
 *     there), but no backup event ever follows: no writer takes part.
 *   - A cancelled GatherWriterMetadata leaves the backup un-gathered, so it may be retried.
 *   - PrepareForBackup goes to every gathered writer. Afterwards only "involved" writers get
 *     events: in component mode those with a selected component, otherwise all of them.
 *     A writer that failed an earlier event gets no further sequence events, but does get
 *     Abort and BackupShutdown.
 *   - DoSnapshotSet: PrepareForSnapshot (2× event timeout) → provider end-prepare → Freeze by
 *     level group (front-end, back-end, others), each bounded by the writer's freeze timeout,
 *     the whole window by the smallest → provider pre-commit, commit, post-commit → Thaw in
 *     reverse group order → provider pre-final-commit → PostSnapshot → provider
 *     post-final-commit. A PrepareForSnapshot failure sends no Abort (seed 004); a Freeze or
 *     Thaw failure, a blown window or a provider failure after Freeze sends Abort to every
 *     involved writer; a PostSnapshot failure is recorded and the set still succeeds.
 *     Any failure aborts every snapshot of the set: no partial commit.
 *   - Cancel is honoured at safe points: Identify rounds stop at once; PrepareForBackup after
 *     its round; DoSnapshotSet before Freeze, after each Freeze group and after commit (then
 *     the abort path runs); after Thaw and in BackupComplete it is too late.
 *   - AbortBackup before PrepareForBackup only drops the set; after it, Abort goes to every
 *     involved writer (writers tolerate repeats). It also deletes the backup's auto-release
 *     snapshots at once rather than at release: an aborted backup has no use for them.
 *   - The Backup Components Document (b->bcd) is the one record of the backup's state and
 *     components: SetBackupState, SetContext, AddComponent, SetBackupSucceeded,
 *     SetBackupOptions and SetPreviousBackupStamp write it; PrepareForBackup, PostSnapshot and
 *     BackupComplete send each writer its slice; the slices writers answer with are taken back
 *     through backup-bcd.c when the round ends, before the round's outcome is recorded, so a
 *     writer whose edits are refused fails that very event.
 *   - Restore (§3): InitializeForRestore loads the document saved at backup time; after
 *     GatherWriterMetadata each writer of the document is bound to the running instance of
 *     its class (its own instance id if it still runs, else the first instance of the class
 *     the document does not name yet), so events and document agree on the live writer.
 *     PreRestore goes to the writers with a component selected for restore (or a restore
 *     subcomponent) unless their metadata says VSS_WRE_NEVER; writers with nothing selected
 *     get no event. PostRestore goes to every writer that got PreRestore and did not fail
 *     it (as in a backup, a writer that failed an event gets no further sequence events;
 *     its FAILED_AT_PRE_RESTORE status stays for GatherWriterStatus). Writers may edit their slice
 *     in both events (restore target, restore metadata, directed targets, the failure
 *     messages; backup-bcd.c judges). A restore is never aborted (seed 004) and raises no
 *     BackupShutdown: VSS sends that event for backups only.
 *   - Release: Abort if the backup passed PrepareForBackup and neither BackupComplete,
 *     AbortBackup, a successful DoSnapshotSet (after PostSnapshot no Abort, §6) nor an abort
 *     already sent ended it; then BackupShutdown with the set id (null if no set was started)
 *     to every writer that got PrepareForBackup; then auto-release snapshots are deleted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bcd-xml.h"
#include "providers/provider-registry.h"
#include "vss-bus.h"
#include "vssd/backup-bcd.h"
#include "vssd/backup.h"
#include "vssd/client.h"
#include "vssd/log.h"

static void backup_free(Backup *b);
static char *mfree_str(char *s) {
        free(s);
        return NULL;
}
static void release_continue(Backup *b);
static void restore_bind_writers(Backup *b);
static int pre_restore_start(Backup *b);
static int post_restore_start(Backup *b);

/* ------------------------------------------------------------------------------------------ */
/* Lifetime                                                                                    */
/* ------------------------------------------------------------------------------------------ */

int backup_new(Manager *m, Client *client, Backup **ret) {
        Backup *b;

        assert(m);
        assert(ret);

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->bcd = backup_components_new();
        if (!b->bcd) {
                free(b);
                return -ENOMEM;
        }
        (void) backup_components_set_context(b->bcd, VSS_CTX_BACKUP);
        b->n_ref = 1; /* the manager's list */
        b->manager = m;
        b->client = client;
        vss_id_generate(&b->id);
        b->state = BACKUP_STATE_NEW;
        b->context = VSS_CTX_BACKUP;
        b->op = _BACKUP_METHOD_MAX;
        LIST_PREPEND(backups, m->backups, b);

        log_debug("Backup %s created for pid %d.", vss_id_to_str(&b->id).s, client ? (int) client->ucred.pid : 0);
        *ret = b;
        return 0;
}

Backup *backup_ref(Backup *b) {
        if (b)
                b->n_ref++;
        return b;
}

Backup *backup_unref(Backup *b) {
        if (!b)
                return NULL;
        assert(b->n_ref > 0);
        if (--b->n_ref == 0)
                backup_free(b);
        return NULL;
}

static void backup_free(Backup *b) {
        b->round = event_round_free(b->round);
        b->window_timer = sd_event_source_disable_unref(b->window_timer);
        b->set = snapshot_set_free(b->set);
        b->op_msg = sd_bus_message_unref(b->op_msg);

        for (size_t i = 0; i < b->n_sessions; i++) {
                writer_unref(b->sessions[i].writer);
                writer_metadata_free(b->sessions[i].metadata);
        }
        free(b->sessions);
        backup_components_free(b->bcd);
        for (size_t i = 0; i < b->n_volumes; i++)
                free(b->volumes[i]);
        free(b->volumes);
        free(b->enabled_classes);
        free(b->disabled_classes);
        free(b->disabled_instances);
        free(b->op_detail);
        free(b);
}

static void slot_release(Backup *b) {
        if (b->manager->set_owner == b)
                b->manager->set_owner = NULL;
}

/* Unlist from the manager and drop its reference: the end of every backup. */
static void backup_finish(Backup *b) {
        Manager *m = b->manager;

        slot_release(b);
        b->set = snapshot_set_free(b->set);
        (void) catalog_delete_owned(&m->catalog, &b->id);

        /* What `vssadmin list writers` shows once this backup is gone. */
        for (size_t i = 0; i < b->n_sessions; i++)
                writer_note_session(b->sessions[i].writer, b->sessions[i].state, b->sessions[i].failure);

        log_debug("Backup %s finished.", vss_id_to_str(&b->id).s);
        LIST_REMOVE(backups, m->backups, b);
        backup_unref(b);
        manager_check_exit(m);
}

void backup_free_now(Backup *b) {
        if (!b)
                return;
        b->round = event_round_free(b->round);
        backup_finish(b);
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */
/* ------------------------------------------------------------------------------------------ */

bool backup_context_is_writerless(uint32_t context) {
        return context & VSS_VOLSNAP_ATTR_NO_WRITERS;
}

bool backup_context_is_valid(uint32_t context) {
        switch (context) {
        case VSS_CTX_BACKUP:
        case VSS_CTX_FILE_SHARE_BACKUP:
        case VSS_CTX_NAS_ROLLBACK:
        case VSS_CTX_APP_ROLLBACK:
        case VSS_CTX_CLIENT_ACCESSIBLE:
        case VSS_CTX_CLIENT_ACCESSIBLE_WRITERS:
                return true;
        default:
                return false;
        }
}

static bool state_is_failed(vss_writer_state s) {
        return s == VSS_WS_UNKNOWN || (s >= VSS_WS_FAILED_AT_IDENTIFY && s <= VSS_WS_FAILED_AT_BACKUPSHUTDOWN);
}

static bool session_has_components(const Backup *b, const WriterSession *s) {
        const BcdWriter *w = backup_components_find_writer(b->bcd, &s->writer->instance_id);

        return w && w->n_components > 0;
}

bool backup_is_involved(const Backup *b, const WriterSession *s) {
        if (!s->got_prepare_backup)
                return false;
        return !b->flags.select_components || session_has_components(b, s);
}

static bool id_in(const vss_id *id, const vss_id *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (vss_id_equal(id, &list[i]))
                        return true;
        return false;
}

static WriterSession *session_by_instance(Backup *b, const vss_id *instance_id) {
        for (size_t i = 0; i < b->n_sessions; i++)
                if (vss_id_equal(&b->sessions[i].writer->instance_id, instance_id))
                        return &b->sessions[i];
        return NULL;
}

static void set_detail(Backup *b, const char *fmt, ...) _printf_(2, 3);
static void set_detail(Backup *b, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        free(b->op_detail);
        b->op_detail = s;
}

static uint64_t now_timestamp(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) vss_timestamp_from_unix_ns((int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

static uint64_t monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

/* The context keys each event carries (docs/dbus-api.md "Context keys"). */
static void event_context_for(const Backup *b, const char *method, EventContext *ctx) {
        bool backup_state = !streq(method, "Identify") && !streq(method, "BackupShutdown");
        bool restore = streq(method, "PreRestore") || streq(method, "PostRestore");
        bool volumes = backup_state && !restore && !streq(method, "BackupComplete");
        bool components = streq(method, "PrepareForBackup") || streq(method, "PostSnapshot") ||
                streq(method, "BackupComplete") || restore;

        *ctx = (EventContext) {
                .backup_id = streq(method, "Identify") ? NULL : &b->id,
                .snapshot_set_id = &b->set_id,
                .context = b->context,
                .has_backup_state = backup_state,
                .backup_type = b->backup_type,
                .select_components = b->flags.select_components,
                .bootable_system_state = b->bootable_system_state,
                .partial_file_support = b->partial_file_support,
                .has_volumes = volumes,
                .volumes = b->volumes,
                .n_volumes = b->n_volumes,
                .has_components = components,
                .bcd = b->bcd,
        };
}

typedef bool (*session_filter_t)(const Backup *b, const WriterSession *s, unsigned arg);

/* Start method on every session the filter picks; b->round holds it until done runs. */
static int start_round(Backup *b, const char *method, uint64_t timeout_usec, session_filter_t want,
                       unsigned arg, event_round_done_t done) {
        _cleanup_(event_round_freep) EventRound *r = NULL;
        EventContext ctx;
        int k;

        assert(!b->round);

        k = event_round_new(b->manager->event, method, timeout_usec, done, b, &r);
        if (k < 0)
                return k;

        for (size_t i = 0; i < b->n_sessions; i++) {
                if (!want(b, &b->sessions[i], arg))
                        continue;
                k = event_round_add(r, b->sessions[i].writer, i);
                if (k < 0)
                        return k;
        }

        event_context_for(b, method, &ctx);
        k = event_round_start(r, &ctx);
        if (k < 0)
                return k;

        log_debug("Backup %s: %s to %zu writer(s).", vss_id_to_str(&b->id).s, method, event_round_count(r));
        b->round = TAKE_PTR(r);
        return 0;
}

/* What a writer's failed answer means as an HRESULT (vss-semantics.md §6). */
static vss_hr outcome_failure(const EventOutcome *o, bool freeze_window) {
        switch (o->status) {
        case EVENT_VETO:
                return VSS_FAILED(o->failure) ? o->failure : VSS_E_WRITERERROR_NONRETRYABLE;
        case EVENT_TIMED_OUT:
                return freeze_window ? VSS_E_WRITERERROR_TIMEOUT : VSS_E_WRITER_NOT_RESPONDING;
        case EVENT_OK:
        case EVENT_CANCELLED:
        case EVENT_PENDING:
                return S_OK;
        default:
                return VSS_E_WRITER_NOT_RESPONDING;
        }
}

static BcdEvent bcd_event_of(const char *method) {
        static const struct {
                const char *method;
                BcdEvent event;
        } table[] = {
                { "PrepareForBackup", BCD_EVENT_PREPARE_BACKUP },
                { "PrepareForSnapshot", BCD_EVENT_PREPARE_SNAPSHOT },
                { "Freeze", BCD_EVENT_FREEZE },
                { "Thaw", BCD_EVENT_THAW },
                { "PostSnapshot", BCD_EVENT_POST_SNAPSHOT },
                { "Abort", BCD_EVENT_ABORT },
                { "BackupComplete", BCD_EVENT_BACKUP_COMPLETE },
                { "BackupShutdown", BCD_EVENT_BACKUP_SHUTDOWN },
                { "PreRestore", BCD_EVENT_PRE_RESTORE },
                { "PostRestore", BCD_EVENT_POST_RESTORE },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(table[i].method, method))
                        return table[i].event;
        return BCD_EVENT_NONE;
}

/* Take writer s's edited slice of the document; S_OK or the failure (reason logged). */
static vss_hr session_apply_edits(Backup *b, WriterSession *s, BcdEvent event, const char *xml, size_t len) {
        _cleanup_free_ const WriterMetadata **others = NULL;
        _cleanup_free_ char *reason = NULL;
        size_t n_others = 0;
        BcdEditor e;
        vss_hr hr;

        others = calloc(b->n_sessions ?: 1, sizeof(*others));
        if (!others)
                return VSS_E_WRITERERROR_OUTOFRESOURCES;
        for (size_t i = 0; i < b->n_sessions; i++)
                if (&b->sessions[i] != s)
                        others[n_others++] = b->sessions[i].metadata;

        e = (BcdEditor) {
                .instance_id = s->writer->instance_id,
                .writer_id = s->writer->class_id,
                .metadata = s->metadata,
                .window = {
                        .caller_is_writer = true,
                        .operation = event == BCD_EVENT_PRE_RESTORE || event == BCD_EVENT_POST_RESTORE
                                ? BCD_OPERATION_RESTORE : BCD_OPERATION_BACKUP,
                        .event = event,
                        .backup_type = b->backup_type,
                        .other_writers = (const WriterMetadata *const *) others,
                        .n_other_writers = n_others,
                },
        };

        hr = bcd_apply_writer_edits(&b->bcd, &e, xml, len, &reason);
        if (hr == S_OK)
                return S_OK;

        log_warning("Backup %s: writer \"%s\" answered with edits to the backup components document that are refused: %s (%s).",
                    vss_id_to_str(&b->id).s, s->writer->name, reason ?: "out of memory", vss_hr_name(hr));
        return hr == E_OUTOFMEMORY ? VSS_E_WRITERERROR_OUTOFRESOURCES : VSS_E_WRITERERROR_NONRETRYABLE;
}

/*
 * The writers' edits of the round now ending (docs/dbus-api.md "Writer edits"). A writer whose
 * edits are refused failed the event: its outcome becomes a veto with the code.
 */
static void round_apply_edits(Backup *b, EventRound *r) {
        BcdEvent event = bcd_event_of(event_round_method(r));

        for (size_t i = 0; i < event_round_count(r); i++) {
                EventOutcome *o = event_round_outcome(r, i);
                _cleanup_free_ char *xml = TAKE_PTR(o->components_xml);
                vss_hr hr;

                /* A writer that vetoed or vanished has no say in the document, except that in
                 * a restore a veto comes with its failure message (vss-semantics.md §8). */
                if (!xml || (o->status != EVENT_OK &&
                             !(o->status == EVENT_VETO &&
                               (event == BCD_EVENT_PRE_RESTORE || event == BCD_EVENT_POST_RESTORE))))
                        continue;

                hr = session_apply_edits(b, &b->sessions[event_round_tag(r, i)], event, xml, o->components_xml_len);
                if (hr != S_OK) {
                        o->status = EVENT_VETO;
                        o->failure = hr;
                }
        }
}

/*
 * Apply the finished round to the sessions: ok → ok_state, failure → failed_state with the
 * code. Returns the first failure (S_OK if none) and names its writer in op_detail.
 */
static vss_hr record_round(Backup *b, vss_writer_state ok_state, vss_writer_state failed_state, bool freeze_window) {
        EventRound *r = b->round;
        vss_hr first = S_OK;

        round_apply_edits(b, r);

        for (size_t i = 0; i < event_round_count(r); i++) {
                WriterSession *s = &b->sessions[event_round_tag(r, i)];
                const EventOutcome *o = event_round_outcome(r, i);
                vss_hr hr;

                if (o->status == EVENT_CANCELLED)
                        continue;

                if (o->status == EVENT_OK) {
                        s->state = ok_state;
                        if (VSS_FAILED(o->failure))
                                s->failure = o->failure; /* non-fatal SetWriterFailure */
                        continue;
                }

                hr = outcome_failure(o, freeze_window);
                s->state = failed_state;
                s->failure = hr;
                log_warning("Backup %s: writer \"%s\" failed %s (%s): %s.", vss_id_to_str(&b->id).s,
                            s->writer->name, event_round_method(r), event_status_to_string(o->status),
                            vss_hr_name(hr));
                if (first == S_OK) {
                        first = hr;
                        set_detail(b, "writer \"%s\" failed %s (%s): %s", s->writer->name, event_round_method(r),
                                   event_status_to_string(o->status), vss_hr_name(hr));
                }
        }
        return first;
}

/* ------------------------------------------------------------------------------------------ */
/* Filters                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static bool want_gathered(const Backup *b, const WriterSession *s, unsigned arg) {
        return true;
}

static bool want_in_sequence(const Backup *b, const WriterSession *s, unsigned arg) {
        return backup_is_involved(b, s) && !state_is_failed(s->state);
}

static bool want_state_group(const Backup *b, const WriterSession *s, unsigned arg) {
        vss_writer_state st = arg >> 8;
        unsigned group = arg & 0xff;

        return backup_is_involved(b, s) && s->state == st && writer_level_group(s->writer) == group;
}

static bool want_state(const Backup *b, const WriterSession *s, unsigned arg) {
        return backup_is_involved(b, s) && s->state == (vss_writer_state) arg;
}

static bool want_backup_complete(const Backup *b, const WriterSession *s, unsigned arg) {
        return backup_is_involved(b, s) &&
                (s->state == VSS_WS_WAITING_FOR_BACKUP_COMPLETE || s->state == VSS_WS_FAILED_AT_POST_SNAPSHOT);
}

static bool want_involved(const Backup *b, const WriterSession *s, unsigned arg) {
        return backup_is_involved(b, s);
}

static bool want_participant(const Backup *b, const WriterSession *s, unsigned arg) {
        return s->got_prepare_backup;
}

static bool any_session(const Backup *b, session_filter_t want, unsigned arg) {
        for (size_t i = 0; i < b->n_sessions; i++)
                if (want(b, &b->sessions[i], arg))
                        return true;
        return false;
}

/* ------------------------------------------------------------------------------------------ */
/* The deferred operation                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void op_end(Backup *b, vss_hr hr) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = TAKE_PTR(b->op_msg);
        BackupMethod op = b->op;

        b->state = backup_state_next(b->state, op, hr);
        b->flags.in_flight = false;
        b->op_cancel = false;
        b->op = _BACKUP_METHOD_MAX;

        log_info("Backup %s: %s finished: %s%s%s.", vss_id_to_str(&b->id).s, backup_method_to_string(op),
                 vss_hr_name(hr), b->op_detail ? ": " : "", strempty(b->op_detail));

        if (m)
                (void) backup_send_reply(b, m, op, hr);
        b->op_detail = mfree_str(b->op_detail);

        if (b->released)
                release_continue(b);
}

void backup_cancel(Backup *b) {
        if (!b->flags.in_flight)
                return;

        b->op_cancel = true;
        log_info("Backup %s: cancel of %s requested.", vss_id_to_str(&b->id).s, backup_method_to_string(b->op));

        /* Identify rounds stop at once; late answers are dropped. */
        if (b->op == BACKUP_METHOD_GATHER_WRITER_METADATA && b->round)
                event_round_expire(b->round, EVENT_CANCELLED);
}

/* -- GatherWriterMetadata ------------------------------------------------------------------ */

static bool writer_wanted(const Backup *b, const Writer *w) {
        uint32_t flag = backup_state_is_restore(b->state) ? VSS_SM_RESTORE_EVENTS_FLAG : VSS_SM_BACKUP_EVENTS_FLAG;

        if (writer_is_gone(w))
                return false;
        if (w->event_flags != 0 && !(w->event_flags & flag))
                return false;
        if (b->n_enabled_classes > 0 && !id_in(&w->class_id, b->enabled_classes, b->n_enabled_classes))
                return false;
        if (id_in(&w->class_id, b->disabled_classes, b->n_disabled_classes))
                return false;
        return !id_in(&w->instance_id, b->disabled_instances, b->n_disabled_instances);
}

static void on_gather_done(EventRound *r, void *userdata) {
        _cleanup_(backup_unrefp) Backup *b = backup_ref(userdata);
        WriterSession *sessions;
        size_t n = 0;

        if (b->op_cancel) {
                b->round = event_round_free(b->round);
                op_end(b, VSS_S_ASYNC_CANCELLED);
                return;
        }

        sessions = calloc(event_round_count(r) ?: 1, sizeof(*sessions));
        if (!sessions) {
                b->round = event_round_free(b->round);
                op_end(b, E_OUTOFMEMORY);
                return;
        }

        for (size_t i = 0; i < event_round_count(r); i++) {
                EventOutcome *o = event_round_outcome(r, i);
                Writer *w = event_round_writer(r, i);

                if (o->status != EVENT_OK || !o->metadata) {
                        log_info("Backup %s: writer \"%s\" left out of the metadata (Identify %s).",
                                 vss_id_to_str(&b->id).s, w->name, event_status_to_string(o->status));
                        continue;
                }
                sessions[n++] = (WriterSession) {
                        .writer = writer_ref(w),
                        .metadata = TAKE_PTR(o->metadata),
                        .state = VSS_WS_STABLE,
                        .failure = S_OK,
                };
        }

        b->round = event_round_free(b->round);
        b->sessions = sessions;
        b->n_sessions = n;
        b->flags.gathered = true;
        if (backup_state_is_restore(b->state))
                restore_bind_writers(b);
        op_end(b, S_OK);
}

static int gather_start(Backup *b) {
        _cleanup_(event_round_freep) EventRound *r = NULL;
        EventContext ctx;
        int k;

        k = event_round_new(b->manager->event, "Identify", manager_event_timeout(b->manager), on_gather_done, b, &r);
        if (k < 0)
                return k;

        LIST_FOREACH(writers, w, b->manager->writers) {
                if (!writer_wanted(b, w))
                        continue;
                k = event_round_add(r, w, 0);
                if (k < 0)
                        return k;
        }

        event_context_for(b, "Identify", &ctx);
        k = event_round_start(r, &ctx);
        if (k < 0)
                return k;
        b->round = TAKE_PTR(r);
        return 0;
}

/* -- PrepareForBackup ---------------------------------------------------------------------- */

static void on_prepare_backup_done(EventRound *r, void *userdata) {
        _cleanup_(backup_unrefp) Backup *b = backup_ref(userdata);

        /* Writer failures are reported through GatherWriterStatus; the call itself succeeds. */
        (void) record_round(b, VSS_WS_STABLE, VSS_WS_FAILED_AT_PREPARE_BACKUP, false);
        b->round = event_round_free(b->round);
        b->op_detail = mfree_str(b->op_detail);
        op_end(b, b->op_cancel ? VSS_S_ASYNC_CANCELLED : S_OK);
}

static int prepare_start(Backup *b) {
        for (size_t i = 0; i < b->n_sessions; i++)
                b->sessions[i].got_prepare_backup = true;
        b->abort_sent = false;
        return start_round(b, "PrepareForBackup", manager_event_timeout(b->manager), want_gathered, 0,
                           on_prepare_backup_done);
}

/* -- DoSnapshotSet ------------------------------------------------------------------------- */

static void dss_freeze(Backup *b, unsigned group);
static void dss_thaw(Backup *b, int group);

static void dss_end(Backup *b) {
        Manager *m = b->manager;
        vss_id recorded_set = VSS_ID_NULL;

        b->window_timer = sd_event_source_disable_unref(b->window_timer);
        slot_release(b);

        if (b->op_result == S_OK) {
                _cleanup_free_ SnapshotEntry *entries = NULL;
                CatalogIntent intent = b->set->intent;
                size_t n = 0;
                vss_hr hr;

                (void) snapshot_set_take(b->set, &entries, &n);
                hr = catalog_add_set(&m->catalog, entries, n, &intent, (int64_t) now_timestamp());
                if (VSS_FAILED(hr)) {
                        /* The snapshots could not be recorded, so they are gone again: the set
                         * failed, late, but nothing is left that nobody knows about. */
                        set_detail(b, "the snapshot catalog could not record the set: %s", vss_hr_name(hr));
                        b->op_result = hr;
                } else {
                        b->flags.snapshot_done = true;
                        recorded_set = intent.set_id;
                }
        }
        b->set = snapshot_set_free(b->set);
        op_end(b, b->op_result);

        /* The requester has its answer; the catalog rows of a set that is not persistent are
         * marked now (nothing of this requester's is read before this function returns). */
        if (!vss_id_is_null(&recorded_set))
                catalog_mark_created(&m->catalog, &recorded_set);
}

static void on_dss_abort_done(EventRound *r, void *userdata) {
        _cleanup_(backup_unrefp) Backup *b = backup_ref(userdata);

        for (size_t i = 0; i < event_round_count(r); i++) {
                WriterSession *s = &b->sessions[event_round_tag(r, i)];

                if (event_round_outcome(r, i)->status == EVENT_OK && !state_is_failed(s->state))
                        s->state = VSS_WS_STABLE;
        }
        b->round = event_round_free(b->round);
        dss_end(b);
}

/* The failure path of DoSnapshotSet: providers abort everything; writers get Abort if asked. */
static void dss_fail(Backup *b, vss_hr hr, bool abort_writers) {
        b->window_timer = sd_event_source_disable_unref(b->window_timer);
        b->op_result = hr;
        snapshot_set_abort(b->set);

        if (abort_writers && any_session(b, want_involved, 0)) {
                b->abort_sent = true;
                if (start_round(b, "Abort", manager_event_timeout(b->manager), want_involved, 0,
                                on_dss_abort_done) >= 0)
                        return;
                log_oom();
        }
        dss_end(b);
}

static void on_post_snapshot_done(EventRound *r, void *userdata) {
        _cleanup_(backup_unrefp) Backup *b = backup_ref(userdata);
        vss_hr hr;

        /* Seed 004: a PostSnapshot failure raises no Abort; the snapshots stand. */
        (void) record_round(b, VSS_WS_WAITING_FOR_BACKUP_COMPLETE, VSS_WS_FAILED_AT_POST_SNAPSHOT, false);
        b->round = event_round_free(b->round);
        b->op_detail = mfree_str(b->op_detail);

        hr = snapshot_set_run_phase(b->set, SNAPSHOT_PHASE_POST_FINAL_COMMIT);
        if (VSS_FAILED(hr)) {
                set_detail(b, "provider failed post-final-commit: %s", vss_hr_name(hr));
                dss_fail(b, hr, /* abort_writers= */ false);
                return;
        }

        b->op_result = S_OK;
        dss_end(b);
}

static void dss_after_thaw(Backup *b) {
        vss_hr hr;

        b->window_timer = sd_event_source_disable_unref(b->window_timer);

        hr = snapshot_set_run_phase(b->set, SNAPSHOT_PHASE_PRE_FINAL_COMMIT);
        if (VSS_FAILED(hr)) {
                set_detail(b, "provider failed pre-final-commit: %s", vss_hr_name(hr));
                dss_fail(b, hr, b->freeze_sent);
                return;
        }

        if (start_round(b, "PostSnapshot", manager_event_timeout(b->manager), want_state,
                        VSS_WS_WAITING_FOR_POST_SNAPSHOT, on_post_snapshot_done) < 0)
                dss_fail(b, E_OUTOFMEMORY, b->freeze_sent);
}

static void on_thaw_done(EventRound *r, void *userdata) {
        _cleanup_(backup_unrefp) Backup *b = backup_ref(userdata);
        vss_hr hr;

        hr = record_round(b, VSS_WS_WAITING_FOR_POST_SNAPSHOT, VSS_WS_FAILED_AT_THAW, true);
        b->round = event_round_free(b->round);
        if (VSS_FAILED(hr)) {
                dss_fail(b, hr, true);
                return;
        }
        if (b->window_expired) {
                set_detail(b, "the Freeze→Thaw window of the smallest writer freeze timeout was exceeded");
                dss_fail(b, VSS_E_WRITERERROR_TIMEOUT, true);
                return;
        }
        /* Cancel after Thaw has started is too late: the snapshots exist. */
        dss_thaw(b, (int) b->level_group - 1);
}

static void dss_thaw(Backup *b, int group) {
        for (; group >= 0; group--)
                if (any_session(b, want_state_group, (VSS_WS_WAITING_FOR_THAW << 8) | (unsigned) group))
                        break;
        if (group < 0) {
                dss_after_thaw(b);
                return;
        }

        b->level_group = (unsigned) group;
        if (start_round(b, "Thaw", 0, want_state_group, (VSS_WS_WAITING_FOR_THAW << 8) | (unsigned) group,
                        on_thaw_done) < 0)
                dss_fail(b, E_OUTOFMEMORY, true);
}

static void dss_commit(Backup *b) {
        static const SnapshotPhase phases[] = {
                SNAPSHOT_PHASE_PRE_COMMIT,
                SNAPSHOT_PHASE_COMMIT,
                SNAPSHOT_PHASE_POST_COMMIT,
        };
        uint64_t start = monotonic_usec();

        for (size_t i = 0; i < ELEMENTSOF(phases); i++) {
                vss_hr hr = snapshot_set_run_phase(b->set, phases[i]);

                if (VSS_FAILED(hr)) {
                        set_detail(b, "provider failed %s: %s", snapshot_phase_to_string(phases[i]), vss_hr_name(hr));
                        dss_fail(b, hr, b->freeze_sent);
                        return;
                }
        }
        /* What the writers' freeze window cannot be shorter than; bench/ compares the two. */
        log_info("Backup %s: providers committed the snapshot set in %.3f ms.", vss_id_to_str(&b->id).s,
                 (double) (monotonic_usec() - start) / USEC_PER_MSEC);

        if (b->op_cancel) {
                dss_fail(b, VSS_S_ASYNC_CANCELLED, true);
                return;
        }

        dss_thaw(b, WRITER_LEVEL_GROUPS - 1);
}

static void on_freeze_done(EventRound *r, void *userdata) {
        _cleanup_(backup_unrefp) Backup *b = backup_ref(userdata);
        vss_hr hr;

        hr = record_round(b, VSS_WS_WAITING_FOR_THAW, VSS_WS_FAILED_AT_FREEZE, true);
        b->round = event_round_free(b->round);
        if (VSS_FAILED(hr)) {
                dss_fail(b, hr, true);
                return;
        }
        if (b->window_expired) {
                set_detail(b, "the Freeze→Thaw window of the smallest writer freeze timeout was exceeded");
                dss_fail(b, VSS_E_WRITERERROR_TIMEOUT, true);
                return;
        }
        if (b->op_cancel) {
                dss_fail(b, VSS_S_ASYNC_CANCELLED, true);
                return;
        }

        dss_freeze(b, b->level_group + 1);
}

static int on_window_expired(sd_event_source *s, uint64_t usec, void *userdata) {
        Backup *b = userdata;

        log_warning("Backup %s: the Freeze→Thaw window expired; aborting the snapshot set.",
                    vss_id_to_str(&b->id).s);
        b->window_expired = true;
        b->window_timer = sd_event_source_disable_unref(b->window_timer);
        if (b->round)
                event_round_expire(b->round, EVENT_TIMED_OUT);
        return 0;
}

static int arm_window(Backup *b) {
        uint64_t window = UINT64_MAX;

        for (size_t i = 0; i < b->n_sessions; i++)
                if (want_in_sequence(b, &b->sessions[i], 0))
                        window = MIN(window, writer_freeze_timeout_usec(b->sessions[i].writer));
        if (window == UINT64_MAX)
                return 0;

        return sd_event_add_time_relative(b->manager->event, &b->window_timer, CLOCK_MONOTONIC, window, 0,
                                          on_window_expired, b);
}

static void dss_freeze(Backup *b, unsigned group) {
        for (; group < WRITER_LEVEL_GROUPS; group++)
                if (any_session(b, want_state_group, (VSS_WS_WAITING_FOR_FREEZE << 8) | group))
                        break;
        if (group >= WRITER_LEVEL_GROUPS) {
                dss_commit(b);
                return;
        }

        if (!b->freeze_sent && arm_window(b) < 0) {
                dss_fail(b, E_OUTOFMEMORY, false);
                return;
        }

        b->freeze_sent = true;
        b->level_group = group;
        if (start_round(b, "Freeze", 0, want_state_group, (VSS_WS_WAITING_FOR_FREEZE << 8) | group,
                        on_freeze_done) < 0)
                dss_fail(b, E_OUTOFMEMORY, true);
}

static void on_prepare_snapshot_done(EventRound *r, void *userdata) {
        _cleanup_(backup_unrefp) Backup *b = backup_ref(userdata);
        size_t n_writers = event_round_count(r);       /* r goes with b->round below */
        vss_hr hr;

        hr = record_round(b, VSS_WS_WAITING_FOR_FREEZE, VSS_WS_FAILED_AT_PREPARE_SNAPSHOT, false);
        b->round = event_round_free(b->round);
        /* Seed 004: failing PrepareForSnapshot does not raise Abort. */
        if (VSS_FAILED(hr)) {
                dss_fail(b, hr, false);
                return;
        }
        if (b->op_cancel) {
                dss_fail(b, VSS_S_ASYNC_CANCELLED, true);
                return;
        }

        /* The writers of this round are the ones Freeze goes to; with none, nobody waits out
         * the commit, and a provider need not flush first to make it short. */
        if (n_writers == 0)
                snapshot_set_add_flags(b->set, VSS_PROVIDER_SNAPSHOT_NO_FREEZE);

        /* vss-semantics §11/§13: a provider failure after PrepareForSnapshot aborts the writers
         * too (only a writer's own PrepareForSnapshot failure raises no Abort, seed 004). */
        hr = snapshot_set_run_phase(b->set, SNAPSHOT_PHASE_END_PREPARE);
        if (VSS_FAILED(hr)) {
                set_detail(b, "provider failed end-prepare: %s", vss_hr_name(hr));
                dss_fail(b, hr, true);
                return;
        }
        if (b->op_cancel) {
                dss_fail(b, VSS_S_ASYNC_CANCELLED, true);
                return;
        }

        dss_freeze(b, 0);
}

static int dss_start(Backup *b) {
        b->op_result = S_OK;
        b->freeze_sent = false;
        b->window_expired = false;
        b->level_group = 0;

        return start_round(b, "PrepareForSnapshot", 2 * manager_event_timeout(b->manager), want_in_sequence, 0,
                           on_prepare_snapshot_done);
}

/* -- BackupComplete ------------------------------------------------------------------------ */

static void on_backup_complete_done(EventRound *r, void *userdata) {
        _cleanup_(backup_unrefp) Backup *b = backup_ref(userdata);
        vss_hr result = S_OK;

        /* The document is read-only in BackupComplete: any edit fails the writer. */
        round_apply_edits(b, r);

        for (size_t i = 0; i < event_round_count(r); i++) {
                WriterSession *s = &b->sessions[event_round_tag(r, i)];
                const EventOutcome *o = event_round_outcome(r, i);

                if (o->status == EVENT_OK) {
                        s->state = VSS_WS_STABLE;
                        if (VSS_FAILED(o->failure))
                                s->failure = o->failure;
                        continue;
                }
                s->state = VSS_WS_FAILED_AT_BACKUP_COMPLETE;
                s->failure = outcome_failure(o, false);
                log_warning("Backup %s: writer \"%s\" failed BackupComplete (%s).", vss_id_to_str(&b->id).s,
                            s->writer->name, event_status_to_string(o->status));
                /* Seed 000: writers that cannot be reached make the call fail; a veto does not. */
                if (o->status != EVENT_VETO && result == S_OK) {
                        result = VSS_E_UNEXPECTED_WRITER_ERROR;
                        set_detail(b, "writer \"%s\" did not answer BackupComplete (%s)", s->writer->name,
                                   event_status_to_string(o->status));
                }
        }

        b->round = event_round_free(b->round);
        op_end(b, result);
}

/* -- AbortBackup --------------------------------------------------------------------------- */

static void on_abort_done(EventRound *r, void *userdata) {
        _cleanup_(backup_unrefp) Backup *b = backup_ref(userdata);

        for (size_t i = 0; i < event_round_count(r); i++) {
                WriterSession *s = &b->sessions[event_round_tag(r, i)];

                if (event_round_outcome(r, i)->status == EVENT_OK && !state_is_failed(s->state))
                        s->state = VSS_WS_STABLE;
        }
        b->round = event_round_free(b->round);
        op_end(b, S_OK);
}

static int abort_start(Backup *b) {
        slot_release(b);
        b->set = snapshot_set_free(b->set);
        (void) catalog_delete_owned(&b->manager->catalog, &b->id);

        /* Seed 004: Abort is for writers that were prepared; after BackupComplete nothing is
         * in progress any more. */
        if (b->state == BACKUP_STATE_COMPLETED || !any_session(b, want_involved, 0)) {
                op_end(b, S_OK);
                return 0;
        }

        b->abort_sent = true;
        return start_round(b, "Abort", manager_event_timeout(b->manager), want_involved, 0, on_abort_done);
}

int backup_begin(Backup *b, BackupMethod method, sd_bus_message *m) {
        int k;

        assert(b);
        assert(m);
        assert(!b->flags.in_flight);

        b->op = method;
        b->op_msg = sd_bus_message_ref(m);
        b->op_cancel = false;
        b->op_detail = mfree_str(b->op_detail);
        b->flags.in_flight = true;

        log_info("Backup %s: %s started.", vss_id_to_str(&b->id).s, backup_method_to_string(method));

        switch (method) {
        case BACKUP_METHOD_GATHER_WRITER_METADATA:
                k = gather_start(b);
                break;
        case BACKUP_METHOD_PREPARE_FOR_BACKUP:
                k = prepare_start(b);
                break;
        case BACKUP_METHOD_DO_SNAPSHOT_SET:
                k = dss_start(b);
                break;
        case BACKUP_METHOD_BACKUP_COMPLETE:
                k = start_round(b, "BackupComplete", manager_event_timeout(b->manager), want_backup_complete, 0,
                                on_backup_complete_done);
                break;
        case BACKUP_METHOD_ABORT_BACKUP:
                k = abort_start(b);
                break;
        case BACKUP_METHOD_PRE_RESTORE:
                k = pre_restore_start(b);
                break;
        case BACKUP_METHOD_POST_RESTORE:
                k = post_restore_start(b);
                break;
        default:
                k = -EINVAL;
        }

        if (k < 0 && b->flags.in_flight && b->op == method && !b->round) {
                /* Nothing started: undo, the caller answers the error. */
                b->op_msg = sd_bus_message_unref(b->op_msg);
                b->flags.in_flight = false;
                b->op = _BACKUP_METHOD_MAX;
                return k;
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Release                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void on_release_shutdown_done(EventRound *r, void *userdata) {
        Backup *b = userdata;

        b->round = event_round_free(b->round);
        backup_finish(b);
}

static void release_shutdown(Backup *b) {
        if (!any_session(b, want_participant, 0) ||
            start_round(b, "BackupShutdown", manager_event_timeout(b->manager), want_participant, 0,
                        on_release_shutdown_done) < 0)
                backup_finish(b);
}

static void on_release_abort_done(EventRound *r, void *userdata) {
        Backup *b = userdata;

        b->round = event_round_free(b->round);
        release_shutdown(b);
}

static void release_continue(Backup *b) {
        bool need_abort;

        slot_release(b);
        b->set = snapshot_set_free(b->set);

        need_abort = !b->abort_sent &&
                (b->state == BACKUP_STATE_PREPARED || b->state == BACKUP_STATE_FAILED) &&
                any_session(b, want_involved, 0);

        log_info("Backup %s released (%s)%s.", vss_id_to_str(&b->id).s, backup_state_to_string(b->state),
                 need_abort ? ": aborting" : "");

        if (need_abort) {
                b->abort_sent = true;
                if (start_round(b, "Abort", manager_event_timeout(b->manager), want_involved, 0,
                                on_release_abort_done) >= 0)
                        return;
                log_oom();
        }
        release_shutdown(b);
}

void backup_release(Backup *b) {
        if (!b || b->released)
                return;

        b->released = true;
        b->client = NULL;
        /* The requester's connection is going away: no reply can be sent any more. */
        b->op_msg = sd_bus_message_unref(b->op_msg);

        if (b->flags.in_flight) {
                backup_cancel(b); /* op_end() continues the release */
                return;
        }
        release_continue(b);
}

/* ------------------------------------------------------------------------------------------ */
/* Synchronous methods                                                                         */
/* ------------------------------------------------------------------------------------------ */

/* Adopt a loaded document: its backup state and context are the backup's from now on. */
static vss_hr backup_adopt_document(Backup *b, BackupComponents *loaded, const char **detail) {
        if (loaded->context != VSS_CTX_ALL && !backup_context_is_valid(loaded->context)) {
                *detail = "the document names an unknown snapshot context";
                return VSS_E_INVALID_XML_DOCUMENT;
        }

        backup_components_free(b->bcd);
        b->bcd = loaded;
        b->context = loaded->context;
        b->flags.writerless = loaded->context != VSS_CTX_ALL && backup_context_is_writerless(loaded->context);
        b->backup_type = loaded->backup_type;
        b->bootable_system_state = loaded->bootable_system_state;
        b->partial_file_support = loaded->partial_file_support;
        b->flags.select_components = loaded->select_components;
        /* A document that records a backup type was saved after SetBackupState. */
        b->flags.backup_state_set = loaded->backup_type != VSS_BT_UNDEFINED;
        return S_OK;
}

vss_hr backup_initialize(Backup *b, const char *bcd_xml, const char **detail, char **ret_reason) {
        if (!isempty(bcd_xml)) {
                BackupComponents *loaded = NULL;
                vss_hr hr;

                hr = backup_components_from_xml(bcd_xml, strlen(bcd_xml), &loaded, ret_reason);
                if (hr != S_OK) {
                        *detail = "the backup components document cannot be loaded";
                        return hr;
                }
                hr = backup_adopt_document(b, loaded, detail);
                if (hr != S_OK) {
                        backup_components_free(loaded);
                        return hr;
                }
                log_info("Backup %s: backup components document loaded (%zu components).", vss_id_to_str(&b->id).s,
                         b->bcd->n_components);
        }
        b->state = backup_state_next(b->state, BACKUP_METHOD_INITIALIZE_FOR_BACKUP, S_OK);
        return S_OK;
}

vss_hr backup_set_context(Backup *b, uint32_t context, const char **detail) {
        /* VSS_CTX_ALL is accepted for the management calls (Query, DeleteSnapshots, exposure);
         * StartSnapshotSet then refuses (vss-semantics §10). */
        if (context != VSS_CTX_ALL && !backup_context_is_valid(context)) {
                *detail = "unknown snapshot context";
                return E_INVALIDARG;
        }
        if (backup_components_set_context(b->bcd, context) != S_OK) {
                *detail = "unknown snapshot context";
                return E_INVALIDARG;
        }
        b->context = context;
        b->flags.context_set = true;
        b->flags.writerless = context != VSS_CTX_ALL && backup_context_is_writerless(context);
        return S_OK;
}

vss_hr backup_set_backup_state(Backup *b, bool select_components, bool bootable, uint32_t backup_type,
                               bool partial_file_support, const char **detail) {
        if (backup_type > VSS_BT_OTHER) {
                *detail = "unknown backup type";
                return E_INVALIDARG;
        }
        if (!select_components && b->bcd->n_components > 0) {
                *detail = "components were already selected; component mode cannot be switched off";
                return VSS_E_BAD_STATE;
        }
        if (backup_components_set_backup_state(b->bcd, select_components, bootable, backup_type,
                                               partial_file_support) != S_OK) {
                *detail = "unknown backup type";
                return E_INVALIDARG;
        }
        b->flags.backup_state_set = true;
        b->flags.select_components = select_components;
        b->bootable_system_state = bootable;
        b->backup_type = backup_type;
        b->partial_file_support = partial_file_support;
        return S_OK;
}

vss_hr backup_add_component(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                            const char *logical_path, const char *name, const char **detail) {
        const WmComponent *wc;
        WriterSession *s;
        vss_hr hr;

        if (type != VSS_CT_DATABASE && type != VSS_CT_FILEGROUP) {
                *detail = "component type must be VSS_CT_DATABASE or VSS_CT_FILEGROUP";
                return E_INVALIDARG;
        }
        s = session_by_instance(b, instance_id);
        if (!s || !vss_id_equal(&s->writer->class_id, writer_id)) {
                *detail = "no gathered writer has this instance id and writer id";
                return VSS_E_OBJECT_NOT_FOUND;
        }
        wc = writer_metadata_find_component(s->metadata, logical_path, name);
        if (!wc || wc->type != (vss_component_type) type) {
                *detail = "the writer's metadata has no such component";
                return VSS_E_OBJECT_NOT_FOUND;
        }
        if (b->bcd->n_components >= VSS_MAX_COMPONENTS) {
                *detail = "too many components in one backup (limit VSS_MAX_COMPONENTS)";
                return E_OUTOFMEMORY;
        }

        hr = backup_components_add_component(b->bcd, instance_id, writer_id, type, logical_path, name, NULL);
        if (hr == VSS_E_OBJECT_ALREADY_EXISTS)
                *detail = "this component was already added";
        else if (hr == E_INVALIDARG)
                *detail = "the document refuses this component (writer instance seen with another class?)";
        return hr;
}

/* The explicitly added component, also checking the writer class. */
static vss_hr component_lookup(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                               const char *logical_path, const char *name, const char **detail, BcdComponent **ret) {
        const BcdWriter *w = backup_components_find_writer(b->bcd, instance_id);

        if (!w || !vss_id_equal(&w->writer_id, writer_id) ||
            (type != VSS_CT_DATABASE && type != VSS_CT_FILEGROUP) ||
            backup_components_get_component(b->bcd, instance_id, type, logical_path, name, ret) != S_OK) {
                *detail = "no such component was added to this backup";
                return VSS_E_OBJECT_NOT_FOUND;
        }
        return S_OK;
}

vss_hr backup_set_writer_filter(Backup *b, BackupMethod method, const vss_id *ids, size_t n, const char **detail) {
        vss_id **list;
        size_t *count;
        vss_id *l;

        switch (method) {
        case BACKUP_METHOD_ENABLE_WRITER_CLASSES:
                list = &b->enabled_classes, count = &b->n_enabled_classes;
                break;
        case BACKUP_METHOD_DISABLE_WRITER_CLASSES:
                list = &b->disabled_classes, count = &b->n_disabled_classes;
                break;
        case BACKUP_METHOD_DISABLE_WRITER_INSTANCES:
                list = &b->disabled_instances, count = &b->n_disabled_instances;
                break;
        default:
                return E_INVALIDARG;
        }

        if (n > VSS_MAX_ID_LIST || *count + n > VSS_MAX_ID_LIST) {
                *detail = "too many ids (limit VSS_MAX_ID_LIST)";
                return E_INVALIDARG;
        }
        if (n == 0)
                return S_OK;

        l = realloc(*list, (*count + n) * sizeof(*l));
        if (!l)
                return E_OUTOFMEMORY;
        memcpy(l + *count, ids, n * sizeof(*l));
        *list = l;
        *count += n;
        return S_OK;
}

vss_hr backup_start_snapshot_set(Backup *b, vss_id *ret_set_id, const char **detail) {
        Manager *m = b->manager;
        vss_id id;

        if (b->context == VSS_CTX_ALL) {
                *detail = "VSS_CTX_ALL is for queries, deletion and exposure only; set a snapshot context";
                return VSS_E_BAD_STATE;
        }
        if (m->set_owner && m->set_owner != b) {
                *detail = "another snapshot set is being created; retry when it is done";
                return VSS_E_SNAPSHOT_SET_IN_PROGRESS;
        }

        vss_id_generate(&id);
        if (snapshot_set_new(&id, m->config.test_provider, &b->set) < 0)
                return E_OUTOFMEMORY;
        /* Auto-release snapshots belong to this backup and go when it is released. */
        snapshot_set_attach_catalog(b->set, &m->catalog, b->context,
                                    (b->context & VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE) ? NULL : &b->id);

        m->set_owner = b;
        b->set_id = id;
        b->flags.set_started = true;
        log_info("Backup %s: snapshot set %s started.", vss_id_to_str(&b->id).s, vss_id_to_str(&id).s);
        *ret_set_id = id;
        return S_OK;
}

vss_hr backup_add_to_snapshot_set(Backup *b, const char *volume, const vss_id *provider_id, vss_id *ret_snapshot_id,
                                  const char **detail) {
        const SnapshotEntry *e;
        char **v, *copy;
        vss_hr hr;

        if (!b->set) {
                *detail = "the snapshot set is no longer in creation";
                return VSS_E_BAD_STATE;
        }
        if (b->manager->catalog.n_records + b->set->n_entries >= VSSD_MAX_SNAPSHOTS) {
                *detail = "vssd holds the maximum number of snapshots; delete some";
                return VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED;
        }

        v = realloc(b->volumes, (b->n_volumes + 1) * sizeof(*v));
        if (!v)
                return E_OUTOFMEMORY;
        b->volumes = v;

        hr = snapshot_set_add(b->set, volume, provider_id, ret_snapshot_id);
        if (hr == VSS_E_VOLUME_NOT_SUPPORTED)
                *detail = provider_unsupported_detail(volume, b->manager->config.test_provider);
        if (VSS_FAILED(hr))
                return hr;

        e = snapshot_set_find(b->set, ret_snapshot_id);
        /* The per-volume limit needs the canonical volume, known only now. */
        if (e) {
                hr = catalog_check_limits(&b->manager->catalog, e->snap->volume, b->set->n_entries - 1, detail);
                if (VSS_FAILED(hr)) {
                        snapshot_set_drop(b->set, ret_snapshot_id);
                        return hr;
                }
        }
        copy = e ? strdup(e->snap->volume) : NULL;
        if (!copy) {
                /* Take the volume back out so the set and the event volume list agree. */
                snapshot_set_drop(b->set, ret_snapshot_id);
                return E_OUTOFMEMORY;
        }
        b->volumes[b->n_volumes++] = copy;
        log_info("Backup %s: %s added to snapshot set %s (snapshot %s).", vss_id_to_str(&b->id).s, copy,
                 vss_id_to_str(&b->set_id).s, vss_id_to_str(ret_snapshot_id).s);
        return S_OK;
}

vss_hr backup_set_backup_succeeded(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                   const char *logical_path, const char *name, bool succeeded, const char **detail) {
        BcdComponent *c;
        vss_hr hr;

        hr = component_lookup(b, instance_id, writer_id, type, logical_path, name, detail, &c);
        if (hr != S_OK)
                return hr;
        return bcd_component_set_backup_succeeded(c, succeeded);
}

vss_hr backup_set_component_string(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                   const char *logical_path, const char *name, BcdString which, const char *value,
                                   const char **detail) {
        BcdComponent *c;
        vss_hr hr;

        assert(which == BCD_STRING_BACKUP_OPTIONS || which == BCD_STRING_PREVIOUS_BACKUP_STAMP);

        hr = component_lookup(b, instance_id, writer_id, type, logical_path, name, detail, &c);
        if (hr != S_OK)
                return hr;
        hr = bcd_component_set_string(c, which, value);
        if (hr == E_INVALIDARG)
                *detail = "the value is not UTF-8 text XML can carry, or is too long";
        return hr;
}

vss_hr backup_save_as_xml(Backup *b, char **ret, const char **detail) {
        vss_hr hr;

        hr = backup_components_to_xml(b->bcd, ret);
        if (VSS_FAILED(hr))
                *detail = "the backup components document cannot be saved";
        return hr;
}

/* ------------------------------------------------------------------------------------------ */
/* Restore                                                                                     */
/* ------------------------------------------------------------------------------------------ */

vss_hr backup_initialize_for_restore(Backup *b, const char *bcd_xml, const char **detail, char **ret_reason) {
        BackupComponents *loaded = NULL;
        vss_hr hr;

        /* §3: the document saved at backup time is what a restore is about; it is mandatory. */
        if (isempty(bcd_xml)) {
                *detail = "InitializeForRestore needs the backup components document saved at backup time";
                return VSS_E_INVALID_XML_DOCUMENT;
        }

        hr = backup_components_from_xml(bcd_xml, strlen(bcd_xml), &loaded, ret_reason);
        if (hr != S_OK) {
                *detail = "the backup components document cannot be loaded";
                return hr;
        }
        hr = backup_adopt_document(b, loaded, detail);
        if (hr != S_OK) {
                backup_components_free(loaded);
                return hr;
        }

        log_info("Backup %s: initialised for restore (%zu components).", vss_id_to_str(&b->id).s,
                 b->bcd->n_components);
        b->state = backup_state_next(b->state, BACKUP_METHOD_INITIALIZE_FOR_RESTORE, S_OK);
        return S_OK;
}

static bool instance_named_in_document(const Backup *b, const vss_id *instance_id) {
        return backup_components_find_writer(b->bcd, instance_id) != NULL;
}

/* Bind each writer of the document to a running instance of its class (see the top). */
static void restore_bind_writers(Backup *b) {
        for (size_t i = 0; i < b->bcd->n_writers; i++) {
                BcdWriter *bw = &b->bcd->writers[i];
                WriterSession *s = session_by_instance(b, &bw->instance_id);

                if (s && vss_id_equal(&s->writer->class_id, &bw->writer_id))
                        continue;

                for (size_t j = 0; j < b->n_sessions; j++) {
                        const Writer *w = b->sessions[j].writer;

                        if (!vss_id_equal(&w->class_id, &bw->writer_id) ||
                            instance_named_in_document(b, &w->instance_id))
                                continue;
                        log_debug("Backup %s: document writer instance %s bound to running instance %s.",
                                  vss_id_to_str(&b->id).s, vss_id_to_str(&bw->instance_id).s,
                                  vss_id_to_str(&w->instance_id).s);
                        bw->instance_id = w->instance_id;
                        break;
                }
        }
}

/* The document's writer: by instance id (checking the class), or the first of the class. */
static BcdWriter *restore_find_writer(Backup *b, const vss_id *instance_id, const vss_id *writer_id) {
        for (size_t i = 0; i < b->bcd->n_writers; i++) {
                BcdWriter *bw = &b->bcd->writers[i];

                if (!vss_id_equal(&bw->writer_id, writer_id))
                        continue;
                if (vss_id_is_null(instance_id) || vss_id_equal(&bw->instance_id, instance_id))
                        return bw;
        }
        return NULL;
}

/* The running session of a document writer, or NULL when that writer does not run now. */
static WriterSession *restore_running_session(Backup *b, const BcdWriter *bw) {
        WriterSession *s = session_by_instance(b, &bw->instance_id);

        if (!s || writer_is_gone(s->writer) || !vss_id_equal(&s->writer->class_id, &bw->writer_id))
                return NULL;
        return s;
}

/*
 * The explicitly included component of the document a restore call names. need_running: the
 * call needs its writer to be running (*ret_session set), VSS_E_OBJECT_NOT_FOUND otherwise.
 */
static vss_hr restore_lookup(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                             const char *logical_path, const char *name, bool need_running, const char **detail,
                             BcdComponent **ret, WriterSession **ret_session) {
        BcdWriter *bw;
        WriterSession *s = NULL;

        if (type != VSS_CT_DATABASE && type != VSS_CT_FILEGROUP) {
                *detail = "component type must be VSS_CT_DATABASE or VSS_CT_FILEGROUP";
                return E_INVALIDARG;
        }
        bw = restore_find_writer(b, instance_id, writer_id);
        if (!bw || backup_components_get_component(b->bcd, &bw->instance_id, type, logical_path, name, ret) != S_OK) {
                *detail = "the backup components document has no such component";
                return VSS_E_OBJECT_NOT_FOUND;
        }
        if (need_running) {
                s = restore_running_session(b, bw);
                if (!s) {
                        *detail = "the component's writer is not running; restore its data without writer participation";
                        return VSS_E_OBJECT_NOT_FOUND;
                }
        }
        if (ret_session)
                *ret_session = s;
        return S_OK;
}

vss_hr backup_set_restore_state(Backup *b, uint32_t restore_type, const char **detail) {
        if (restore_type >= _BCD_RESTORE_TYPE_MAX ||
            backup_components_set_restore_type(b->bcd, (BcdRestoreType) restore_type) != S_OK) {
                *detail = "unknown restore type";
                return E_INVALIDARG;
        }
        return S_OK;
}

vss_hr backup_set_selected_for_restore(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                       const char *logical_path, const char *name, bool selected,
                                       const char **detail) {
        BcdComponent *c;
        vss_hr hr;

        hr = restore_lookup(b, instance_id, writer_id, type, logical_path, name, true, detail, &c, NULL);
        if (hr != S_OK)
                return hr;
        return bcd_component_set_selected_for_restore(c, selected);
}

/* "lp\name", or "name" at the root: the logical path of a component's children. */
static char *component_full_path(const char *logical_path, const char *name) {
        char *s;

        if (isempty(logical_path))
                return strdup(name);
        if (asprintf(&s, "%s\\%s", logical_path, name) < 0)
                return NULL;
        return s;
}

/* Is a component or file set at logical path lp (with the component's own name for file
 * sets) the component full itself or below it? */
static bool logical_path_under(const char *lp, const char *full) {
        size_t n = strlen(full);

        return strncmp(lp, full, n) == 0 && lp[n] == '\\';
}

vss_hr backup_add_restore_subcomponent(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                       const char *logical_path, const char *name, const char *sub_logical_path,
                                       const char *sub_name, bool repair, const char **detail) {
        _cleanup_free_ char *full = NULL;
        const WmComponent *wc;
        WriterSession *s;
        BcdComponent *c;
        vss_hr hr;

        hr = restore_lookup(b, instance_id, writer_id, type, logical_path, name, true, detail, &c, &s);
        if (hr != S_OK)
                return hr;

        full = component_full_path(c->logical_path, c->name);
        if (!full)
                return E_OUTOFMEMORY;
        wc = writer_metadata_find_component(s->metadata, sub_logical_path, sub_name);
        if (!wc || !(streq(strempty(sub_logical_path), full) || logical_path_under(strempty(sub_logical_path), full))) {
                *detail = "the writer has no such subcomponent below this component";
                return VSS_E_OBJECT_NOT_FOUND;
        }
        if (!wc->selectable_for_restore) {
                *detail = "the subcomponent is not selectable for restore";
                return E_INVALIDARG;
        }

        hr = bcd_component_add_restore_subcomponent(c, sub_logical_path, sub_name, repair);
        if (hr == VSS_E_OBJECT_ALREADY_EXISTS)
                *detail = "this subcomponent was already added";
        return hr;
}

vss_hr backup_set_restore_options(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                  const char *logical_path, const char *name, const char *options,
                                  const char **detail) {
        BcdComponent *c;
        vss_hr hr;

        hr = restore_lookup(b, instance_id, writer_id, type, logical_path, name, false, detail, &c, NULL);
        if (hr != S_OK)
                return hr;
        hr = bcd_component_set_string(c, BCD_STRING_RESTORE_OPTIONS, options);
        if (hr == E_INVALIDARG)
                *detail = "the value is not UTF-8 text XML can carry, or is too long";
        return hr;
}

vss_hr backup_set_additional_restores(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                      const char *logical_path, const char *name, bool additional,
                                      const char **detail) {
        BcdComponent *c;
        vss_hr hr;

        hr = restore_lookup(b, instance_id, writer_id, type, logical_path, name, false, detail, &c, NULL);
        if (hr != S_OK)
                return hr;
        return bcd_component_set_additional_restores(c, additional);
}

/* Does the writer declare the file set (path, filespec, recursive) for c or below it? */
static bool fileset_declared(const WriterMetadata *md, const BcdComponent *c, const char *full, const char *path,
                             const char *filespec, bool recursive) {
        for (size_t i = 0; i < md->n_filesets; i++) {
                const WmFileSet *f = &md->filesets[i];
                bool own = streq(strempty(f->logical_path), strempty(c->logical_path)) &&
                        streq(f->component_name, c->name);
                _cleanup_free_ char *f_full = NULL;

                if (!own) {
                        f_full = component_full_path(f->logical_path, f->component_name);
                        if (!f_full || !logical_path_under(f_full, full))
                                continue;
                }
                if (streq(f->path, path) && streq(f->filespec, filespec) && f->recursive == recursive)
                        return true;
        }
        return false;
}

vss_hr backup_add_new_target(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                             const char *logical_path, const char *name, const char *path, const char *filespec,
                             bool recursive, const char *alternate_path, const char **detail) {
        _cleanup_free_ char *full = NULL;
        WriterSession *s;
        BcdComponent *c;
        vss_hr hr;

        /* The file sets are in the writer's metadata, so its writer must be running. */
        hr = restore_lookup(b, instance_id, writer_id, type, logical_path, name, true, detail, &c, &s);
        if (hr != S_OK)
                return hr;

        /* §3: new targets need the writer's consent in its backup schema. */
        if (!(s->metadata->backup_schema & VSS_BS_WRITER_SUPPORTS_NEW_TARGET)) {
                *detail = "the writer's backup schema lacks VSS_BS_WRITER_SUPPORTS_NEW_TARGET";
                return E_INVALIDARG;
        }

        full = component_full_path(c->logical_path, c->name);
        if (!full)
                return E_OUTOFMEMORY;
        if (!fileset_declared(s->metadata, c, full, path, filespec, recursive)) {
                *detail = "(path, filespec, recursive) matches no file set of this component";
                return VSS_E_OBJECT_NOT_FOUND;
        }

        hr = bcd_component_add_new_target(c, path, filespec, recursive, alternate_path);
        if (hr == VSS_E_OBJECT_ALREADY_EXISTS)
                *detail = "a new target for this file set was already added";
        else if (hr == E_INVALIDARG)
                *detail = "the alternate path is not an absolute path XML can carry";
        return hr;
}

vss_hr backup_set_file_restore_status(Backup *b, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                      const char *logical_path, const char *name, uint32_t status,
                                      const char **detail) {
        BcdComponent *c;
        vss_hr hr;

        hr = restore_lookup(b, instance_id, writer_id, type, logical_path, name, false, detail, &c, NULL);
        if (hr != S_OK)
                return hr;
        if (status >= _BCD_FILE_RESTORE_MAX) {
                *detail = "unknown file restore status";
                return E_INVALIDARG;
        }
        return bcd_component_set_file_restore_status(c, (BcdFileRestoreStatus) status);
}

/* -- PreRestore / PostRestore -------------------------------------------------------------- */

static bool session_selected_for_restore(const Backup *b, const WriterSession *s) {
        const BcdWriter *w = backup_components_find_writer(b->bcd, &s->writer->instance_id);

        if (!w || !vss_id_equal(&w->writer_id, &s->writer->class_id))
                return false;
        for (size_t i = 0; i < w->n_components; i++)
                if (w->components[i]->selected_for_restore || w->components[i]->n_restore_subcomponents > 0)
                        return true;
        return false;
}

static bool want_pre_restore(const Backup *b, const WriterSession *s, unsigned arg) {
        return s->metadata->writer_restore != VSS_WRE_NEVER && session_selected_for_restore(b, s);
}

static bool want_post_restore(const Backup *b, const WriterSession *s, unsigned arg) {
        return s->got_pre_restore && !state_is_failed(s->state);
}

static void on_restore_round_done(Backup *b, vss_writer_state failed_state) {
        /* Writer failures are reported through GatherWriterStatus; the call itself succeeds. */
        (void) record_round(b, VSS_WS_STABLE, failed_state, false);
        b->round = event_round_free(b->round);
        b->op_detail = mfree_str(b->op_detail);
        op_end(b, b->op_cancel ? VSS_S_ASYNC_CANCELLED : S_OK);
}

static void on_pre_restore_done(EventRound *r, void *userdata) {
        _cleanup_(backup_unrefp) Backup *b = backup_ref(userdata);

        on_restore_round_done(b, VSS_WS_FAILED_AT_PRE_RESTORE);
}

static void on_post_restore_done(EventRound *r, void *userdata) {
        _cleanup_(backup_unrefp) Backup *b = backup_ref(userdata);

        on_restore_round_done(b, VSS_WS_FAILED_AT_POST_RESTORE);
}

static int pre_restore_start(Backup *b) {
        for (size_t i = 0; i < b->n_sessions; i++)
                b->sessions[i].got_pre_restore = want_pre_restore(b, &b->sessions[i], 0);
        return start_round(b, "PreRestore", manager_event_timeout(b->manager), want_pre_restore, 0,
                           on_pre_restore_done);
}

static int post_restore_start(Backup *b) {
        return start_round(b, "PostRestore", manager_event_timeout(b->manager), want_post_restore, 0,
                           on_post_restore_done);
}
