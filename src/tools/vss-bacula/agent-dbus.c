/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * agent-dbus.c: the agent's bus methods, one per thing the File Daemon (through backend.c)
 * or a RunScript (main.c) tells it. Interface BACULA_BUS_IFACE at BACULA_BUS_PATH, peer to
 * peer on the job's socket:
 *
 *   Name() -> s                         the job this agent holds (a caller checks it)
 *   JobBegin(s level)                   the job's level; job-end will come with the outcome
 *   Support(s device, s mountpoint)     may the volume be snapshotted? recorded for the set
 *   Create(s device) -> (s volume, t createtdate)   the volume goes into the set
 *   Mount(s device) -> (s snapmountpoint, s snapdirectory)   the first one takes the set
 *   Unmount(s device)
 *   Delete(s device)                    the File Daemon is done with this volume
 *   JobEnd(b succeeded)                 the outcome: the writers hear it, the agent ends; an
 *                                       error when the set had failed (files read live)
 *   RestoreBegin(s bcd) -> u            a restore in place: PreRestore; the components selected
 *   RestoreEnd(b succeeded)             PostRestore with the file restore status, the end
 *
 * Every string is checked for length (BACULA_MAX_VALUE); a device the agent was not told
 * about is an error, as is any call after the set failed (the same error again).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>

#include "path-util.h"
#include "vss-bacula.h"
#include "vss-bus.h"

#define BACULA_ERROR "org.vsslinux.VSS1.Bacula.Failed"

static int fail(sd_bus_error *error, const char *fmt, ...) _printf_(2, 3);
static int fail(sd_bus_error *error, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return sd_bus_error_set(error, BACULA_ERROR, r < 0 ? "out of memory" : s);
}

static bool value_ok(const char *s) {
        return s && s[0] && strnlen(s, BACULA_MAX_VALUE + 1) <= BACULA_MAX_VALUE;
}

/* The reply, out before the loop ends: the caller learns the writers heard the outcome. */
static int reply_and_flush(sd_bus_message *m) {
        int r = sd_bus_reply_method_return(m, NULL);

        (void) sd_bus_flush(sd_bus_message_get_bus(m));
        return r;
}

static Volume *volume_find(Job *j, const char *device) {
        for (size_t i = 0; i < j->n_volumes; i++)
                if (streq(j->volumes[i].device, device))
                        return &j->volumes[i];
        return NULL;
}

static int method_name(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Agent *a = userdata;

        return sd_bus_reply_method_return(m, "s", a->job.name);
}

static int method_job_begin(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Agent *a = userdata;
        const char *level;
        int r;

        r = sd_bus_message_read(m, "s", &level);
        if (r < 0)
                return r;
        if (!value_ok(level))
                return fail(error, "E_INVALIDARG: the job level is empty or too long");
        if (a->job.restore)
                return fail(error, "VSS_E_BAD_STATE: job %s is a restore", a->job.name);
        if (a->job.set_taken)
                return fail(error, "VSS_E_BAD_STATE: job-begin after the snapshot set of job %s was taken",
                            a->job.name);
        a->job.backup_type = job_type_from_level(level);
        a->job.type_known = true;
        a->job.outcome_expected = true;
        agent_touch(a);
        tool_note("job %s: level %s, VSS backup type %d", a->job.name, level, (int) a->job.backup_type);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_support(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Agent *a = userdata;
        Job *j = &a->job;
        _cleanup_free_ char *reason = NULL;
        const char *device, *mountpoint;
        Volume *v;
        int r;

        r = sd_bus_message_read(m, "ss", &device, &mountpoint);
        if (r < 0)
                return r;
        if (!value_ok(device) || !value_ok(mountpoint) || mountpoint[0] != '/')
                return fail(error, "E_INVALIDARG: the device or mount point is empty, relative or too long");
        if (j->restore)
                return fail(error, "VSS_E_BAD_STATE: job %s is a restore", j->name);
        agent_touch(a);
        if (volume_find(j, device))
                return sd_bus_reply_method_return(m, NULL);
        if (j->set_taken || j->set_error)
                return fail(error, "VSS_E_BAD_STATE: the snapshot set of job %s was already taken; %s cannot join it",
                            j->name, mountpoint);
        if (j->n_volumes >= BACULA_MAX_VOLUMES)
                return fail(error, "VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED: job %s has %d volumes already",
                            j->name, BACULA_MAX_VOLUMES);
        r = job_supports(j, mountpoint, &reason);
        if (r == -ENOTCONN && !j->set_error)
                /* vssd is not there: the files will be read live; job-end will say so. */
                j->set_error = strdup(reason ?: "vssd cannot be reached");
        if (r < 0)
                return fail(error, "%s", reason ?: strerror(-r));
        v = &j->volumes[j->n_volumes];
        *v = (Volume) { .device = strdup(device), .mountpoint = strdup(mountpoint) };
        if (!v->device || !v->mountpoint) {
                free(v->device);
                free(v->mountpoint);
                return -ENOMEM;
        }
        j->n_volumes++;
        return sd_bus_reply_method_return(m, NULL);
}

static int method_create(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Agent *a = userdata;
        Job *j = &a->job;
        _cleanup_free_ char *volume = NULL;
        const char *device;
        Volume *v;
        int r;

        r = sd_bus_message_read(m, "s", &device);
        if (r < 0)
                return r;
        if (!value_ok(device))
                return fail(error, "E_INVALIDARG: the device is empty or too long");
        v = volume_find(j, device);
        if (!v)
                return fail(error, "VSS_E_OBJECT_NOT_FOUND: %s was not asked about (support) in job %s", device,
                            j->name);
        if (j->set_taken || j->set_error)
                return fail(error, "VSS_E_BAD_STATE: the snapshot set of job %s was already taken; %s cannot join it",
                            j->name, v->mountpoint);
        /* Only marked: the File Daemon creates every volume of its FileSet in one loop and mounts
         * them in the next, so the first mount takes the set of exactly these (docs/bacula.md). */
        v->created = true;
        agent_touch(a);
        if (asprintf(&volume, "vss:%s", v->mountpoint) < 0)
                return -ENOMEM;
        return sd_bus_reply_method_return(m, "st", volume, (uint64_t) time(NULL));
}

static int method_mount(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Agent *a = userdata;
        Job *j = &a->job;
        _cleanup_free_ char *snapdir = NULL;
        const char *device;
        Volume *v;
        char *slash;
        bool inside;
        int r;

        r = sd_bus_message_read(m, "s", &device);
        if (r < 0)
                return r;
        v = value_ok(device) ? volume_find(j, device) : NULL;
        if (!v || !v->created)
                return fail(error, "VSS_E_OBJECT_NOT_FOUND: %s was not created in job %s", strempty(device), j->name);
        if (!j->set_taken && !j->set_error) {
                char *why = NULL;

                r = job_take_set(j, &why);
                if (r < 0)
                        j->set_error = why ?: strdup(strerror(-r));
        }
        agent_touch(a);
        if (j->set_error)
                return fail(error, "%s", j->set_error);

        /* When the snapshot lives inside the volume (btrfs: MOUNT/.vss-snapshots/ID), its parent
         * is the snapshot directory the File Daemon excludes from the live tree. */
        snapdir = strdup(v->snapshot_dir);
        if (!snapdir)
                return -ENOMEM;
        slash = strrchr(snapdir, '/');
        if (slash && slash != snapdir)
                *slash = '\0';
        inside = path_is_under(snapdir, v->mountpoint);
        return sd_bus_reply_method_return(m, "ss", v->snapshot_dir, inside ? snapdir : "");
}

static int method_unmount(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Agent *a = userdata;
        const char *device;
        int r;

        r = sd_bus_message_read(m, "s", &device);
        if (r < 0)
                return r;
        if (!value_ok(device) || !volume_find(&a->job, device))
                return fail(error, "VSS_E_OBJECT_NOT_FOUND: no snapshot of %s in job %s", strempty(device),
                            a->job.name);
        /* The snapshot stays readable until the release; nothing to undo per volume. */
        return sd_bus_reply_method_return(m, NULL);
}

static int method_delete(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Agent *a = userdata;
        Job *j = &a->job;
        const char *device;
        bool all = true;
        Volume *v;
        int r;

        r = sd_bus_message_read(m, "s", &device);
        if (r < 0)
                return r;
        v = value_ok(device) ? volume_find(j, device) : NULL;
        if (!v || !v->created)
                return fail(error, "VSS_E_OBJECT_NOT_FOUND: no snapshot of %s in job %s", strempty(device), j->name);
        v->deleted = true;
        for (size_t i = 0; i < j->n_volumes; i++)
                all = all && (j->volumes[i].deleted || !j->volumes[i].created);
        if (all) {
                if (j->outcome_expected) {
                        /* The File Daemon has read everything, but the Storage Daemon has not
                         * confirmed yet: job-end tells. */
                        r = agent_arm_linger(a);
                        if (r < 0)
                                agent_end(a, false, "the linger clock could not be set");
                } else
                        agent_end(a, false, "the last delete, and no job-end announced to tell the outcome");
        }
        return reply_and_flush(m);
}

static int method_restore_begin(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Agent *a = userdata;
        Job *j = &a->job;
        _cleanup_free_ char *why = NULL;
        const char *bcd;
        int r;

        r = sd_bus_message_read(m, "s", &bcd);
        if (r < 0)
                return r;
        if (!value_ok(bcd) || bcd[0] != '/')
                return fail(error, "E_INVALIDARG: the document's path is empty, relative or too long");
        if (j->restore || j->n_volumes > 0 || j->type_known)
                return fail(error, "VSS_E_BAD_STATE: job %s already has a session", j->name);
        j->restore = true;
        r = job_restore_begin(j, bcd, &why);
        agent_touch(a);
        if (r < 0) {
                _cleanup_(sd_bus_error_freep) sd_bus_error e = SD_BUS_ERROR_NULL;

                /* Nothing may be restored now: the writers that prepared hear PostRestore at once. */
                j->pre_restore_failed = j->restore_begun;
                (void) fail(&e, "%s", why ?: strerror(-r));
                agent_end(a, false, "restore-begin failed");
                r = sd_bus_reply_method_error(m, &e);
                (void) sd_bus_flush(sd_bus_message_get_bus(m));
                return r;
        }
        return sd_bus_reply_method_return(m, "u", (uint32_t) j->n_components);
}

static int method_restore_end(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Agent *a = userdata;
        int succeeded, r;

        r = sd_bus_message_read(m, "b", &succeeded);
        if (r < 0)
                return r;
        if (!a->job.restore)
                return fail(error, "VSS_E_BAD_STATE: job %s is not a restore", a->job.name);
        agent_end(a, succeeded, succeeded ? "restore-end: the restore succeeded" : "restore-end: the restore failed");
        return reply_and_flush(m);
}

static int method_job_end(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Agent *a = userdata;
        int succeeded, r;

        r = sd_bus_message_read(m, "b", &succeeded);
        if (r < 0)
                return r;
        if (a->job.restore)
                return fail(error, "VSS_E_BAD_STATE: job %s is a restore: end it with restore-end", a->job.name);
        agent_end(a, succeeded, succeeded ? "job-end: the job succeeded" : "job-end: the job failed");
        if (a->job.set_error) {
                /* The File Daemon read live files after the failed mount: say so, so that the
                 * RunScript (FailJobOnError) fails a job that only looks successful. */
                _cleanup_(sd_bus_error_freep) sd_bus_error e = SD_BUS_ERROR_NULL;

                (void) fail(&e, "the job's files were read without a snapshot: %s", a->job.set_error);
                r = sd_bus_reply_method_error(m, &e);
                (void) sd_bus_flush(sd_bus_message_get_bus(m));
                return r;
        }
        return reply_and_flush(m);
}

static const sd_bus_vtable vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Name", "", "s", method_name, 0),
        SD_BUS_METHOD("JobBegin", "s", "", method_job_begin, 0),
        SD_BUS_METHOD("Support", "ss", "", method_support, 0),
        SD_BUS_METHOD("Create", "s", "st", method_create, 0),
        SD_BUS_METHOD("Mount", "s", "ss", method_mount, 0),
        SD_BUS_METHOD("Unmount", "s", "", method_unmount, 0),
        SD_BUS_METHOD("Delete", "s", "", method_delete, 0),
        SD_BUS_METHOD("JobEnd", "b", "", method_job_end, 0),
        SD_BUS_METHOD("RestoreBegin", "s", "u", method_restore_begin, 0),
        SD_BUS_METHOD("RestoreEnd", "b", "", method_restore_end, 0),
        SD_BUS_VTABLE_END
};

int agent_add_to_bus(Agent *a, sd_bus *bus) {
        return sd_bus_add_object_vtable(bus, NULL, BACULA_BUS_PATH, BACULA_BUS_IFACE, vtable, a);
}
