/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.c: Bacula's snapshot backend protocol, as the File Daemon speaks it (its
 * src/filed/fd_snapshot.c). The File Daemon runs the "Snapshot Command" with the action and
 * its arguments in the environment (SNAPSHOT_ACTION, SNAPSHOT_NAME = the job, SNAPSHOT_DEVICE,
 * SNAPSHOT_MOUNTPOINT, SNAPSHOT_FSTYPE, SNAPSHOT_TYPE, SNAPSHOT_VOLUME, SNAPSHOT_SNAPMOUNTPOINT)
 * and reads one line back:
 *
 *   status=1 key="value" ...           done
 *   status=0 error="text"              failed; exit status 1, the only one for which the File
 *                                      Daemon reads the text (any other is "command failed")
 *
 * In one backup job it calls, in this order: subvolumes for every mounted filesystem (we
 * report none), support for each filesystem holding a path of the FileSet, create for each
 * supported one, mount for each, then, once the files are read, unmount and delete for each.
 * support starts the job's agent (client.c) and the rest go to it; list, check and query
 * concern kept snapshots, which this backend never keeps past the job.
 *
 * Every value is checked: present where the action needs it, at most BACULA_MAX_VALUE bytes,
 * no quote or control character (they could not be written back in the answer line).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "vss-bacula.h"

/* The answer's text: quotes and control characters would break the File Daemon's parser. */
static void print_clean(const char *s) {
        for (; *s; s++)
                putchar(*s == '"' ? '\'' : ((unsigned char) *s < 0x20 ? ' ' : *s));
}

static int answer_error(const char *fmt, ...) _printf_(1, 2);
static int answer_error(const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        fputs("status=0 error=\"", stdout);
        print_clean(r < 0 ? "out of memory" : s);
        fputs("\"\n", stdout);
        fflush(stdout);
        return 1;
}

/* An environment value: NULL when absent; *ret_bad names the variable when it is malformed. */
static const char *env_value(const char *name, const char **ret_bad) {
        const char *v = getenv(name);

        if (!v)
                return NULL;
        if (strnlen(v, BACULA_MAX_VALUE + 1) > BACULA_MAX_VALUE) {
                *ret_bad = name;
                return NULL;
        }
        for (const unsigned char *p = (const unsigned char *) v; *p; p++)
                if (*p < 0x20 || *p == '"' || *p == 0x7f) {
                        *ret_bad = name;
                        return NULL;
                }
        return v;
}

typedef struct Request {
        const char *action, *name, *device, *mountpoint, *fstype;
} Request;

static int agent_for(const Request *q, bool spawn, sd_bus **ret) {
        int r = agent_connect(q->name, spawn, getppid(), ret);

        if (r >= 0)
                return 0;
        if (r == -ENOENT)
                return -answer_error("VSS_E_BAD_STATE: no snapshot session for job %s: 'support' must come first "
                                     "(or the session ended: see the agent's log in %s)", q->name, opt.run_dir);
        if (r == -EUSERS)
                return -answer_error("VSS_E_INSUFFICIENT_STORAGE: %d jobs hold snapshot sessions on this host; "
                                     "try again when one ends", BACULA_MAX_AGENTS);
        if (r == -EPERM)
                return -answer_error("E_ACCESSDENIED: %s must be a directory of root's alone (mode 0700); run as root",
                                     opt.run_dir);
        return -answer_error("VSS_E_UNEXPECTED: the snapshot session of job %s cannot be reached: %s", q->name,
                             strerror(-r));
}

static int call_simple(sd_bus *bus, const char *method, const Request *q) {
        _cleanup_free_ char *err = NULL;

        if (agent_call(bus, method, &err, NULL, "s", q->device) < 0)
                return answer_error("%s", strempty(err));
        puts("status=1");
        return 0;
}

static int do_support(sd_bus *bus, const Request *q) {
        _cleanup_free_ char *err = NULL;

        if (agent_call(bus, "Support", &err, NULL, "ss", q->device, q->mountpoint) < 0)
                return answer_error("%s", strempty(err));
        fputs("status=1 type=\"vss\" device=\"", stdout);
        print_clean(q->device);
        puts("\"");
        return 0;
}

static int do_create(sd_bus *bus, const Request *q) {
        _cleanup_free_ char *err = NULL;
        sd_bus_message *reply = NULL;
        const char *volume;
        uint64_t when;
        int r;

        r = agent_call(bus, "Create", &err, &reply, "s", q->device);
        if (r < 0)
                return answer_error("%s", strempty(err));
        r = sd_bus_message_read(reply, "st", &volume, &when);
        if (r >= 0) {
                fputs("status=1 volume=\"", stdout);
                print_clean(volume);
                printf("\" createtdate=%llu type=\"vss\"\n", (unsigned long long) when);
        }
        sd_bus_message_unref(reply);
        return r < 0 ? answer_error("VSS_E_UNEXPECTED: a malformed answer from the agent") : 0;
}

static int do_mount(sd_bus *bus, const Request *q) {
        _cleanup_free_ char *err = NULL;
        sd_bus_message *reply = NULL;
        const char *mnt, *snapdir;
        int r;

        r = agent_call(bus, "Mount", &err, &reply, "s", q->device);
        if (r < 0)
                return answer_error("%s", strempty(err));
        r = sd_bus_message_read(reply, "ss", &mnt, &snapdir);
        if (r >= 0) {
                fputs("status=1 snapmountpoint=\"", stdout);
                print_clean(mnt);
                if (!isempty(snapdir)) {
                        fputs("\" snapdirectory=\"", stdout);
                        print_clean(snapdir);
                }
                puts("\"");
        }
        sd_bus_message_unref(reply);
        return r < 0 ? answer_error("VSS_E_UNEXPECTED: a malformed answer from the agent") : 0;
}

int backend_run(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const char *bad = NULL;
        Request q = {};
        int r;

        q.action = env_value("SNAPSHOT_ACTION", &bad);
        q.name = env_value("SNAPSHOT_NAME", &bad);
        q.device = env_value("SNAPSHOT_DEVICE", &bad);
        q.mountpoint = env_value("SNAPSHOT_MOUNTPOINT", &bad);
        q.fstype = env_value("SNAPSHOT_FSTYPE", &bad);
        if (bad)
                return answer_error("E_INVALIDARG: %s is longer than %d bytes or holds a quote or control character",
                                    bad, BACULA_MAX_VALUE);
        if (isempty(q.action))
                return answer_error("E_INVALIDARG: SNAPSHOT_ACTION is empty");

        /* Actions about kept snapshots, or without a job: this backend keeps none. */
        if (streq(q.action, "subvolumes") || streq(q.action, "list") || streq(q.action, "check")) {
                puts("status=1");
                return 0;
        }
        if (streq(q.action, "query"))
                return answer_error("VSS_E_OBJECT_NOT_FOUND: snapshots are not kept past their job");

        if (!streq(q.action, "support") && !streq(q.action, "create") && !streq(q.action, "mount") &&
            !streq(q.action, "unmount") && !streq(q.action, "delete"))
                return answer_error("E_INVALIDARG: unknown SNAPSHOT_ACTION '%s' (support, create, mount, unmount, "
                                    "delete, subvolumes, list, check, query)", q.action);
        if (!job_name_valid(q.name))
                return answer_error("E_INVALIDARG: SNAPSHOT_NAME must be a job name of 1 to %d bytes without '/', "
                                    "'\\\\' or quotes", BACULA_MAX_JOB_NAME);
        if (isempty(q.device))
                return answer_error("E_INVALIDARG: SNAPSHOT_DEVICE is empty");
        if (streq(q.action, "support") && (isempty(q.mountpoint) || q.mountpoint[0] != '/'))
                return answer_error("E_INVALIDARG: SNAPSHOT_MOUNTPOINT must be an absolute path");

        r = agent_for(&q, streq(q.action, "support"), &bus);
        if (r < 0)
                return -r;
        if (streq(q.action, "support"))
                return do_support(bus, &q);
        if (streq(q.action, "create"))
                return do_create(bus, &q);
        if (streq(q.action, "mount"))
                return do_mount(bus, &q);
        return call_simple(bus, streq(q.action, "unmount") ? "Unmount" : "Delete", &q);
}
