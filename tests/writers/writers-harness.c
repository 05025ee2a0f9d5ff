/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writers-harness.c: the machinery under the writer tests (writers-harness.h): the daemon,
 * the writer processes and their logs, and the requester side of a backup. The tests read
 * the writers' own log lines, the same lines an operator reads in the journal, so what is
 * asserted is what the writer says it did, checked against what the application saw.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "async-wait.h"
#include "macro.h"
#include "root-harness.h"
#include "writers-harness.h"

char *path_join(const char *a, const char *b) {
        char *p;

        if (asprintf(&p, "%s/%s", a, b) < 0)
                abort();
        return p;
}

int write_file(const char *path, const char *text, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(text);

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0)
                return -errno;
        if (write(fd, text, len) != (ssize_t) len)
                return -EIO;
        return 0;
}

int process_kill_wait(pid_t pid, int sig) {
        int status;

        if (pid <= 0)
                return -ESRCH;
        if (kill(pid, sig) < 0)
                return -errno;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return status;
}

int vssd_start(const char *dir, bool test_provider, unsigned event_timeout_ms, Vssd *ret) {
        Vssd v = {};
        const char *exe = getenv("VSSD");
        char timeout[32];
        char *argv[10];
        size_t n = 0;
        int r;

        if (!exe)
                return -EINVAL;
        v.socket = path_join(dir, "vssd.sock");
        v.state_dir = path_join(dir, "state");
        v.log = path_join(dir, "vssd.log");
        if (mkdir(v.state_dir, 0700) < 0 && errno != EEXIST) {
                r = -errno;
                vssd_stop(&v);
                return r;
        }

        (void) snprintf(timeout, sizeof(timeout), "%u", event_timeout_ms);
        argv[n++] = (char *) exe;
        argv[n++] = (char *) "--socket";
        argv[n++] = v.socket;
        argv[n++] = (char *) "--state-dir";
        argv[n++] = v.state_dir;
        argv[n++] = (char *) "--event-timeout";
        argv[n++] = timeout;
        if (test_provider)
                argv[n++] = (char *) "--test-provider";
        argv[n] = NULL;

        r = spawn_logged(argv, v.log, &v.pid);
        if (r >= 0) {
                r = unix_socket_wait(v.socket, v.pid, WH_WAIT_MS);
                if (r == -ESRCH)
                        v.pid = 0; /* exited and reaped */
        }
        if (r < 0) {
                fprintf(stderr, "vssd did not come up: %s (log %s)\n", strerror(-r), v.log);
                vssd_stop(&v);
                return r;
        }
        *ret = v;
        return 0;
}

void vssd_stop(Vssd *v) {
        if (v->pid > 0)
                (void) process_stop(v->pid, 5000);
        free(v->socket);
        free(v->state_dir);
        free(v->log);
        *v = (Vssd) {};
}

/* ------------------------------------------------------------------------------------------ */
/* Logs                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Calls fn on each line of path containing needle until it returns false. */
static void log_each(const char *path, const char *needle, bool (*fn)(const char *line, void *u), void *u) {
        _cleanup_free_ char *text = NULL;
        char *p, *nl;

        if (read_file_full(path, &text, NULL) < 0)
                return;
        for (p = text; *p; p = nl + 1) {
                nl = strchr(p, '\n');
                if (!nl)
                        break; /* a line still being written */
                *nl = '\0';
                if (strstr(p, needle) && !fn(p, u))
                        return;
        }
}

static bool count_one(const char *line, void *u) {
        (*(unsigned *) u)++;
        return true;
}

unsigned log_count(const char *path, const char *needle) {
        unsigned n = 0;

        log_each(path, needle, count_one, &n);
        return n;
}

int log_wait(const char *path, const char *needle, unsigned n, unsigned timeout_ms) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;

        for (;;) {
                if (log_count(path, needle) >= n)
                        return 0;
                if (now_usec() >= deadline) {
                        fprintf(stderr, "no %u line(s) with \"%s\" in %s\n", n, needle, path);
                        return -ETIMEDOUT;
                }
                (void) usleep(5000);
        }
}

typedef struct NthLine {
        unsigned index;
        char *found;
} NthLine;

static bool nth_one(const char *line, void *u) {
        NthLine *n = u;

        if (n->index-- > 0)
                return true;
        n->found = strdup(line);
        return false;
}

char *log_line(const char *path, const char *needle, unsigned index) {
        NthLine n = { .index = index };

        log_each(path, needle, nth_one, &n);
        return n.found;
}

int line_u64_after(const char *line, const char *key, uint64_t *ret) {
        const char *p = line ? strstr(line, key) : NULL;
        char *end;
        uint64_t v;

        if (!p)
                return -ENOENT;
        p += strlen(key);
        errno = 0;
        v = strtoull(p, &end, 10);
        if (end == p || errno != 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Requester                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static bool class_wanted(const vss_id *class_id, const char *const *classes, size_t n) {
        for (size_t i = 0; i < n; i++) {
                vss_id c;

                if (vss_id_parse(classes[i], &c) == S_OK && vss_id_equal(&c, class_id))
                        return true;
        }
        return false;
}

/* Selects every component of one writer's metadata. */
static vss_hr select_components(WhBackup *b, const vss_id *inst, const vss_id *wid, vss_examine_writer_metadata *m) {
        unsigned n_include = 0, n_exclude = 0, n_components = 0;
        vss_hr hr;

        hr = vss_examine_writer_metadata_get_file_counts(m, &n_include, &n_exclude, &n_components);
        if (hr != S_OK)
                return hr;
        for (unsigned k = 0; k < n_components; k++) {
                vss_wm_component *c = NULL;
                vss_component_info info;
                WhComponent *wc;

                hr = vss_examine_writer_metadata_get_component(m, k, &c);
                if (hr == S_OK)
                        hr = vss_wm_component_get_info(c, &info);
                if (hr != S_OK)
                        return hr;
                if (b->n_components >= WH_MAX_COMPONENTS)
                        return E_OUTOFMEMORY;

                wc = &b->components[b->n_components];
                *wc = (WhComponent) {
                        .instance = *inst,
                        .class_id = *wid,
                        .type = info.type,
                        .logical_path = info.logical_path ? strdup(info.logical_path) : NULL,
                        .name = strdup(info.component_name),
                };
                b->n_components++;
                hr = vss_requester_add_component(b->r, inst, wid, wc->type, wc->logical_path, wc->name);
                if (hr != S_OK)
                        return hr;
        }
        return S_OK;
}

vss_hr wh_backup_prepare(WhBackup *b, const char *socket, const char *volume, const char *const *classes,
                         size_t n_classes) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        unsigned n = 0;
        vss_hr hr;

        opts.socket_path = socket;
        hr = vss_requester_new(&b->r, &opts);
        if (hr == S_OK)
                hr = vss_requester_initialize_for_backup(b->r, NULL);
        if (hr == S_OK)
                hr = vss_requester_set_context(b->r, VSS_CTX_BACKUP);
        if (hr == S_OK)
                hr = vss_requester_set_backup_state(b->r, true, false, VSS_BT_FULL, false);
        if (hr == S_OK)
                hr = ASYNC(vss_requester_gather_writer_metadata, b->r);
        if (hr == S_OK)
                hr = vss_requester_get_writer_metadata_count(b->r, &n);
        for (unsigned i = 0; hr == S_OK && i < n; i++) {
                vss_examine_writer_metadata *m;
                vss_id inst, wid;

                hr = vss_requester_get_writer_metadata(b->r, i, &inst, &m);
                if (hr == S_OK)
                        hr = vss_examine_writer_metadata_get_identity(m, &inst, &wid, NULL, NULL, NULL, NULL);
                if (hr == S_OK && class_wanted(&wid, classes, n_classes))
                        hr = select_components(b, &inst, &wid, m);
        }
        if (hr == S_OK)
                hr = vss_requester_start_snapshot_set(b->r, &b->set_id);
        if (hr == S_OK)
                hr = vss_requester_add_to_snapshot_set(b->r, volume, NULL, &b->snapshot_id);
        if (hr == S_OK)
                hr = ASYNC(vss_requester_prepare_for_backup, b->r);
        if (hr != S_OK && b->r)
                fprintf(stderr, "backup preparation: %s: %s\n", vss_hr_name(hr), vss_requester_get_error_message(b->r));
        return hr;
}

vss_hr wh_backup_snapshot_start(WhBackup *b) {
        return vss_requester_do_snapshot_set(b->r, &b->dss);
}

vss_hr wh_backup_snapshot_finish(WhBackup *b) {
        vss_snapshot_prop prop = {};
        vss_hr hr;

        hr = async_wait_release(S_OK, b->dss);
        b->dss = NULL;
        if (hr != S_OK) {
                fprintf(stderr, "DoSnapshotSet: %s: %s\n", vss_hr_name(hr), vss_requester_get_error_message(b->r));
                return hr;
        }
        hr = vss_requester_get_snapshot_properties(b->r, &b->snapshot_id, &prop);
        if (hr != S_OK)
                return hr;
        b->snapshot_path = prop.snapshot_device_object ? strdup(prop.snapshot_device_object) : NULL;
        vss_snapshot_prop_free(&prop);
        return b->snapshot_path ? S_OK : E_OUTOFMEMORY;
}

vss_hr wh_backup_snapshot(WhBackup *b) {
        vss_hr hr = wh_backup_snapshot_start(b);

        if (hr != S_OK) {
                vss_async_release(b->dss);
                b->dss = NULL;
                return hr;
        }
        return wh_backup_snapshot_finish(b);
}

vss_hr wh_backup_complete(WhBackup *b) {
        vss_hr hr = S_OK;

        for (size_t i = 0; hr == S_OK && i < b->n_components; i++) {
                WhComponent *c = &b->components[i];

                hr = vss_requester_set_backup_succeeded(b->r, &c->instance, &c->class_id, c->type, c->logical_path,
                                                        c->name, true);
        }
        if (hr == S_OK)
                hr = ASYNC(vss_requester_backup_complete, b->r);
        return hr;
}

vss_hr wh_backup_writer_status(WhBackup *b, const char *class_id, vss_writer_state *ret_state,
                               vss_hr *ret_failure) {
        unsigned n = 0;
        vss_id want;
        vss_hr hr;

        hr = vss_id_parse(class_id, &want);
        if (hr == S_OK)
                hr = ASYNC(vss_requester_gather_writer_status, b->r);
        if (hr == S_OK)
                hr = vss_requester_get_writer_status_count(b->r, &n);
        for (unsigned i = 0; hr == S_OK && i < n; i++) {
                vss_writer_state state;
                vss_hr failure;
                vss_id inst, wid;

                hr = vss_requester_get_writer_status(b->r, i, &inst, &wid, NULL, &state, &failure);
                if (hr == S_OK && vss_id_equal(&wid, &want)) {
                        *ret_state = state;
                        *ret_failure = failure;
                        return S_OK;
                }
        }
        return hr == S_OK ? VSS_E_OBJECT_NOT_FOUND : hr;
}

void wh_backup_release(WhBackup *b) {
        if (b->dss) {
                (void) vss_async_wait(b->dss, VSS_INFINITE);
                vss_async_release(b->dss);
        }
        vss_requester_release(b->r);
        for (size_t i = 0; i < b->n_components; i++) {
                free(b->components[i].logical_path);
                free(b->components[i].name);
        }
        free(b->snapshot_path);
        *b = (WhBackup) {};
}
