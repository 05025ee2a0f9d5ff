/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * create.c: VOLUME...: the backup sequence up to a committed snapshot set whose writers are
 * well, the -exec command against it, SetBackupSucceeded from its status, BackupComplete and
 * the release (or -p keeps the set).
 *
 * SIGINT and SIGTERM (tool-interrupt.c) abort the backup the VSS way at any point before
 * BackupComplete: the step in progress is cancelled, AbortBackup tells the writers (once
 * PrepareForBackup went out), a persistent set is deleted, the temporary files go with the
 * release, one line says so, and the exit status is 130 or 143. During -exec the command gets
 * the signal (a terminal's ^C reaches it directly, a SIGTERM to vshadow is passed on); a
 * command that dies of SIGINT or SIGTERM aborts the backup the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vshadow.h"

/* ------------------------------------------------------------------------------------------ */
/* Snapshot set creation                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void temp_dir_remove(char **dir, Snapshot *snaps, size_t n) {
        if (!*dir)
                return;
        for (size_t i = 0; i < n; i++)
                if (snaps[i].list_path)
                        (void) unlink(snaps[i].list_path);
        (void) rmdir(*dir);
        free(*dir);
        *dir = NULL;
}

static int temp_dir_make(char **ret) {
        const char *tmp = getenv("TMPDIR");
        char *d;

        if (asprintf(&d, "%s/vshadow-XXXXXX", isempty(tmp) ? "/tmp" : tmp) < 0)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        if (!mkdtemp(d)) {
                int err = errno;

                free(d);
                return -tool_vss_error(vss_hr_from_errno(err), "cannot make a temporary directory: %s", strerror(err));
        }
        *ret = d;
        return 0;
}

typedef struct Creation {
        vss_requester *req;
        Selection sel;
        Snapshot *snaps;
        size_t n_snaps;
        char *temp_dir;
        Env env;
        vss_id set_id;
        bool set_started;       /* StartSnapshotSet succeeded: a persistent set may need deleting */
        bool prepared;          /* PrepareForBackup went out: failures need AbortBackup */
} Creation;

/* Did tool_snapshot_dir() mount snapshot s for us (it was neither a directory nor exposed)? */
static bool exposed_for_us(const Snapshot *s) {
        return s->dir && isempty(s->prop.exposed_path) && !streq(s->dir, strempty(s->prop.snapshot_device_object));
}

/* A step's result when a signal arrived meanwhile: the interrupt wins over the step's outcome. */
#define INTERRUPTED (-1000)

/* Returns INTERRUPTED when a signal has arrived (at the named point, for the tests), else 0. */
static int checkpoint(const char *name) {
        return tool_interrupt_point(name) < 0 ? INTERRUPTED : 0;
}

static void creation_done(Creation *c) {
        temp_dir_remove(&c->temp_dir, c->snaps, c->n_snaps);
        for (size_t i = 0; i < c->n_snaps; i++) {
                /* An auto-release set takes its mounts with it; a persistent one (-p) stays, but
                 * the mount made for the command does not: expose it with -el when wanted. */
                if (arg.persistent && c->req && exposed_for_us(&c->snaps[i]))
                        (void) vss_requester_unexpose_snapshot(c->req, &c->snaps[i].id);
                if (c->snaps[i].list)
                        fclose(c->snaps[i].list);
                free(c->snaps[i].list_path);
                free(c->snaps[i].dir);
                vss_snapshot_prop_free(&c->snaps[i].prop);
        }
        free(c->snaps);
        env_done(&c->env);
        selection_done(&c->sel);
        vss_requester_release(c->req);
}

/* Everything up to a committed set whose writers are all well. Returns 0 or minus an exit code. */
static int creation_snapshot(Creation *c, vss_snapshot_context ctx, bool writers) {
        vss_hr hr;
        int r;

        r = requester_open(ctx, &c->req);
        if (r < 0)
                return r;

        if (writers) {
                hr = vss_requester_set_backup_state(c->req, true, false, arg.backup_type, false);
                if (VSS_FAILED(hr))
                        return -tool_step_failed(c->req, "SetBackupState", hr);
                r = selection_init(&c->sel);
                if (r >= 0)
                        r = filter_writers_early(c->req, &c->sel);
                if (r < 0)
                        return r;
                hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_metadata, c->req);
                if (tool_interrupt_signal())
                        return INTERRUPTED;
                if (VSS_FAILED(hr))
                        return -tool_step_failed(c->req, "GatherWriterMetadata", hr);
                r = selection_load(c->req, &c->sel);
                if (r < 0)
                        return r;
        }

        r = checkpoint("gathered");
        if (r < 0)
                return r;
        hr = tool_start_snapshot_set(c->req, arg.wait_turn_s, false, &c->set_id);
        if (tool_interrupt_signal())
                return INTERRUPTED;
        if (hr == VSS_E_SNAPSHOT_SET_IN_PROGRESS)
                return -tool_vss_error(hr, "another snapshot set was still being created after %us: try again later "
                                       "or give a longer -waitset=SECONDS", arg.wait_turn_s);
        if (VSS_FAILED(hr))
                return -tool_step_failed(c->req, "StartSnapshotSet", hr);
        c->set_started = true;
        c->snaps = calloc(arg.n_volumes, sizeof(*c->snaps));
        if (!c->snaps)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        for (size_t i = 0; i < arg.n_volumes; i++) {
                hr = vss_requester_add_to_snapshot_set(c->req, arg.volumes[i], NULL, &c->snaps[i].id);
                if (VSS_FAILED(hr)) {
                        const char *detail = vss_requester_get_error_message(c->req);

                        return -tool_vss_error(hr, "AddToSnapshotSet(%s) failed%s%s", arg.volumes[i],
                                               isempty(detail) ? "" : ": ", strempty(detail));
                }
                c->n_snaps++;
        }

        if (writers) {
                _cleanup_free_ char **canonical = calloc(arg.n_volumes, sizeof(char *));

                if (!canonical)
                        return -tool_vss_error(E_OUTOFMEMORY, NULL);
                /* Writers name their files by real paths; compare against the volumes' real paths. */
                for (size_t i = 0; i < arg.n_volumes; i++)
                        canonical[i] = realpath(arg.volumes[i], NULL) ?: strdup(arg.volumes[i]);
                r = 0;
                for (size_t i = 0; i < arg.n_volumes; i++)
                        if (!canonical[i])
                                r = -tool_vss_error(E_OUTOFMEMORY, NULL);
                if (r >= 0)
                        r = selection_decide(&c->sel, canonical, arg.n_volumes);
                for (size_t i = 0; i < arg.n_volumes; i++)
                        free(canonical[i]);
                if (r >= 0)
                        r = selection_verify_includes(&c->sel);
                if (r >= 0)
                        r = selection_add_components(c->req, &c->sel);
                if (r < 0)
                        return r;

                /* A failed PrepareForBackup needs no AbortBackup, only the release (§13); an
                 * interrupted one does: the writers may have prepared. */
                hr = TOOL_RUN_ASYNC(vss_requester_prepare_for_backup, c->req);
                if (tool_interrupt_signal()) {
                        c->prepared = true;
                        return INTERRUPTED;
                }
                if (VSS_FAILED(hr))
                        return -tool_step_failed(c->req, "PrepareForBackup", hr);
                c->prepared = true;
        }
        r = checkpoint("prepared");
        if (r < 0)
                return r;

        hr = TOOL_RUN_ASYNC(vss_requester_do_snapshot_set, c->req);
        if (tool_interrupt_signal())
                return INTERRUPTED;
        if (VSS_FAILED(hr))
                return -tool_step_failed(c->req, "DoSnapshotSet", hr);

        if (writers) {
                r = check_writer_status(c->req, &c->sel, "DoSnapshotSet");
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < c->n_snaps; i++) {
                hr = vss_requester_get_snapshot_properties(c->req, &c->snaps[i].id, &c->snaps[i].prop);
                if (VSS_FAILED(hr))
                        return -tool_step_failed(c->req, "GetSnapshotProperties", hr);
                r = tool_snapshot_dir(c->req, &c->snaps[i].prop, &c->snaps[i].dir);
                if (r < 0)
                        return r;
                tool_note("snapshot {%s} of %s at %s", vss_id_to_str(&c->snaps[i].id).s,
                          c->snaps[i].prop.original_volume_name, c->snaps[i].dir);
        }
        tool_note("snapshot set {%s} created (%s%s)", vss_id_to_str(&c->set_id).s,
                  arg.persistent ? "persistent" : "auto-release",
                  writers ? "" : ", no writers");
        return checkpoint("snapshot");
}

/*
 * The backup was interrupted: AbortBackup (the writers hear Abort), a persistent set deleted
 * (an auto-release one goes with the release), one line. Returns minus 128 + the signal.
 */
static int interrupted(Creation *c, int signal_status) {
        int sig = tool_interrupt_signal();
        const char *name = sig ? tool_interrupt_name() : signal_status == 128 + 15 ? "SIGTERM" : "SIGINT";
        int status = sig ? 128 + sig : signal_status;

        if (c->req && c->prepared)
                (void) vss_requester_abort_backup(c->req);
        if (c->req && c->set_started && arg.persistent) {
                int32_t deleted = 0;
                vss_id nondeleted;

                (void) vss_requester_delete_snapshots(c->req, &c->set_id, VSS_OBJECT_SNAPSHOT_SET, true, &deleted,
                                                      &nondeleted);
        }
        tool_note("interrupted by %s%s: the backup was aborted (the writers were told), no snapshot was kept", name,
                  sig ? "" : " (the -exec command died of it)");
        return -status;
}

int create_set(void) {
        _cleanup_(creation_done) Creation c = {};
        vss_snapshot_context ctx;
        bool writers = !arg.no_writers, succeeded;
        int r, command_status = 0;
        vss_hr hr;

        if (arg.persistent)
                ctx = writers ? VSS_CTX_APP_ROLLBACK : VSS_CTX_NAS_ROLLBACK;
        else
                ctx = writers ? VSS_CTX_BACKUP : VSS_CTX_FILE_SHARE_BACKUP;

        tool_interrupt_install();
        r = creation_snapshot(&c, ctx, writers);
        if (r == INTERRUPTED || (r < 0 && tool_interrupt_signal()))
                return interrupted(&c, 0);
        if (r < 0) {
                /* After PrepareForBackup (and whenever DoSnapshotSet failed, §13) the writers must
                 * hear Abort; release then sends BackupShutdown and drops the set. */
                if (c.prepared && c.req)
                        (void) vss_requester_abort_backup(c.req);
                return r;
        }

        if (arg.bc_file) {
                r = bcd_save(c.req, arg.bc_file);
                if (r < 0) {
                        if (writers)
                                (void) vss_requester_abort_backup(c.req);
                        return r;
                }
        }
        if (arg.exec_cmd) {
                r = temp_dir_make(&c.temp_dir);
                if (r >= 0)
                        r = file_lists_write(c.req, &c.sel, c.snaps, c.n_snaps, c.temp_dir);
                if (r < 0) {
                        if (writers)
                                (void) vss_requester_abort_backup(c.req);
                        return r;
                }
        }
        r = env_build(&c.env, &c.set_id, c.snaps, c.n_snaps, !!arg.exec_cmd);
        if (r >= 0 && arg.script_file)
                r = script_write(&c.env, arg.script_file);
        if (r < 0) {
                if (writers)
                        (void) vss_requester_abort_backup(c.req);
                return r;
        }

        if (checkpoint("exec") < 0)
                return interrupted(&c, 0);
        if (arg.exec_cmd) {
                tool_note("running: %s", arg.exec_cmd);
                command_status = command_run(&c.env);
                /* A signal to vshadow (passed on), or a ^C that killed the command: abort. */
                if (tool_interrupt_signal() || command_status == 128 + 2 || command_status == 128 + 15)
                        return interrupted(&c, command_status);
                if (command_status < 0) {
                        if (writers)
                                (void) vss_requester_abort_backup(c.req);
                        return command_status;
                }
                if (command_status != 0)
                        tool_note("the command failed with exit status %d; the backup is marked as failed",
                                  command_status);
                succeeded = command_status == 0;
        } else
                /* Without a command, the data outlives vshadow only in a persistent snapshot, or
                 * in whatever the user copied during -wait. */
                succeeded = arg.persistent || arg.wait;

        if (writers) {
                r = selection_set_backup_succeeded(c.req, &c.sel, succeeded);
                if (r >= 0 && arg.bc_file)
                        /* Again, so the saved document records what SetBackupSucceeded said. */
                        r = bcd_save(c.req, arg.bc_file);
                if (r < 0)
                        return command_status != 0 ? -command_status : r;
                if (checkpoint("complete") < 0)
                        return interrupted(&c, 0);
                hr = TOOL_RUN_ASYNC(vss_requester_backup_complete, c.req);
                if (VSS_FAILED(hr)) {
                        r = -tool_step_failed(c.req, "BackupComplete", hr);
                        return command_status != 0 ? -command_status : r;
                }
                r = check_writer_status(c.req, &c.sel, "BackupComplete");
                if (r < 0)
                        return command_status != 0 ? -command_status : r;
        }

        if (arg.wait)
                wait_for_enter();
        if (command_status != 0)
                return -command_status;
        if (arg.persistent)
                tool_note("snapshot set {%s} kept (persistent); delete it with -dx=%s", vss_id_to_str(&c.set_id).s,
                          vss_id_to_str(&c.set_id).s);
        return 0;
}

