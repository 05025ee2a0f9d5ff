/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness.c: the machinery under every integration test: it owns the life of one private
 * vssd and of the writer and requester processes around it, and reads back what the writers
 * logged. Every child gets PR_SET_PDEATHSIG, so a test that crashes leaves no daemon or
 * writer behind; teardown goes on past each failure so a failed test still cleans up.
 *
 * The requester helpers walk the backup sequence of vss-semantics.md §2 through the public
 * libvss API only, step by step, so a test can stop at any step and do its own thing there.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "harness.h"
#include "macro.h"

static uint64_t now_msec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static char *path_join(const char *a, const char *b) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s", a, b) < 0)
                return NULL;
        return p;
}

static int write_file(const char *path, const char *content) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(content);

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t n = write(fd, content, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                content += n;
                len -= (size_t) n;
        }
        return 0;
}

static int rm_rf_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        if (type == FTW_DP)
                (void) rmdir(path);
        else
                (void) unlink(path);
        return 0;
}

static void rm_rf(const char *path) {
        (void) nftw(path, rm_rf_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------------------------------ */
/* Processes                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/*
 * spawn: fork+exec argv with stdout/stderr sent to out_path (appended) when given. uid >= 0:
 * drop to uid (gid = uid) without supplementary groups before exec.
 */
static int spawn(char *const argv[], const char *out_path, long uid, pid_t *ret_pid) {
        pid_t parent = getpid(), pid;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);
                if (out_path) {
                        int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

                        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                                _exit(127);
                        if (fd > STDERR_FILENO)
                                close(fd);
                }
                if (uid >= 0) {
                        if (setgroups(0, NULL) < 0 || setgid((gid_t) uid) < 0 || setuid((uid_t) uid) < 0)
                                _exit(126);
                        /* The PDEATHSIG setting is cleared by a credential change: set it again. */
                        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                                _exit(127);
                }
                execv(argv[0], argv);
                _exit(127);
        }
        *ret_pid = pid;
        return 0;
}

/* stop_process: SIGTERM, up to timeout_ms, then SIGKILL; always reaps. */
static void stop_process(pid_t pid, unsigned timeout_ms) {
        uint64_t deadline;

        if (pid <= 0)
                return;
        if (kill(pid, SIGTERM) < 0 && errno == ESRCH) {
                (void) waitpid(pid, NULL, WNOHANG);
                return;
        }
        deadline = now_msec() + timeout_ms;
        for (;;) {
                pid_t r = waitpid(pid, NULL, WNOHANG);

                if (r == pid || (r < 0 && errno == ECHILD))
                        return;
                if (now_msec() >= deadline)
                        break;
                sleep_ms(20);
        }
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
}

static int socket_wait(const char *path, pid_t pid, unsigned timeout_ms) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint64_t deadline = now_msec() + timeout_ms;

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        for (;;) {
                _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

                if (fd < 0)
                        return -errno;
                if (connect(fd, (const struct sockaddr *) &sa, sizeof sa) == 0)
                        return 0;
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        return -ECHILD;
                if (now_msec() >= deadline)
                        return -ETIMEDOUT;
                sleep_ms(20);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Harness                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Requester calls need uid 0 or group backup (docs/dbus-api.md); without either there is
 * nothing to test, which meson should hear as a skip. */
static bool may_request(void) {
        gid_t groups[256];
        struct group *g;
        int n;

        if (geteuid() == 0)
                return true;
        g = getgrnam("backup");
        if (!g)
                return false;
        if (getegid() == g->gr_gid)
                return true;
        n = getgroups(ELEMENTSOF(groups), groups);
        for (int i = 0; i < n; i++)
                if (groups[i] == g->gr_gid)
                        return true;
        return false;
}

int harness_new(const HarnessOptions *opts, Harness **ret) {
        char tmpl[] = "/tmp/vss-it-......";
        char timeout[32], uid_buf[32], conn_buf[32];
        const char *vssd = getenv("VSSD");
        char *argv[48];
        Harness *h;
        size_t n = 0;
        int r;

        if (!vssd || !getenv("VSS_TEST_WRITER")) {
                fprintf(stderr, "harness: VSSD and VSS_TEST_WRITER must name the programs under test\n");
                return -EINVAL;
        }
        if (!may_request()) {
                fprintf(stderr, "harness: requesters need root or group backup; skipping\n");
                exit(77);
        }

        h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        /* mkdtemp() wants the template to end in six capital X. */
        memset(tmpl + strlen(tmpl) - 6, 'X', 6);
        if (!mkdtemp(tmpl)) {
                free(h);
                return -errno;
        }
        h->dir = strdup(tmpl);
        h->socket_path = path_join(tmpl, "vssd.sock");
        h->state_dir = path_join(tmpl, "state");
        h->vssd_log = path_join(tmpl, "vssd.log");
        h->shared_log = path_join(tmpl, "all-writers.log");
        if (!h->dir || !h->socket_path || !h->state_dir || !h->vssd_log || !h->shared_log) {
                harness_free(h);
                return -ENOMEM;
        }
        if (mkdir(h->state_dir, 0700) < 0) {
                r = -errno;
                harness_free(h);
                return r;
        }

        snprintf(timeout, sizeof timeout, "%u", opts && opts->event_timeout_ms ? opts->event_timeout_ms : 3000U);
        argv[n++] = (char *) vssd;
        argv[n++] = (char *) "--socket";
        argv[n++] = h->socket_path;
        argv[n++] = (char *) "--state-dir";
        argv[n++] = h->state_dir;
        argv[n++] = (char *) "--test-provider";
        argv[n++] = (char *) "--event-timeout";
        argv[n++] = timeout;
        if ((opts && opts->allow_writer_uid >= 0) || geteuid() != 0) {
                /* Without root our own writers need the daemon's permission. */
                snprintf(uid_buf, sizeof uid_buf, "%ld",
                         opts && opts->allow_writer_uid >= 0 ? opts->allow_writer_uid : (long) geteuid());
                argv[n++] = (char *) "--allow-writer-uid";
                argv[n++] = uid_buf;
        }
        if (opts && opts->max_connections > 0) {
                snprintf(conn_buf, sizeof conn_buf, "%u", opts->max_connections);
                argv[n++] = (char *) "--max-connections";
                argv[n++] = conn_buf;
        }
        for (size_t i = 0; opts && opts->extra_args && opts->extra_args[i]; i++) {
                if (n + 1 >= ELEMENTSOF(argv)) {
                        harness_free(h);
                        return -E2BIG;
                }
                argv[n++] = (char *) opts->extra_args[i];
        }
        argv[n] = NULL;

        r = spawn(argv, h->vssd_log, -1, &h->vssd_pid);
        if (r < 0) {
                harness_free(h);
                return r;
        }

        r = socket_wait(h->socket_path, h->vssd_pid, 10000);
        if (r < 0) {
                fprintf(stderr, "harness: vssd did not come up on %s: %s (see %s)\n",
                        h->socket_path, strerror(-r), h->vssd_log);
                harness_free(h);
                return r;
        }

        if (setenv("VSS_SOCKET", h->socket_path, 1) < 0) {
                r = -errno;
                harness_free(h);
                return r;
        }

        *ret = h;
        return 0;
}

static void test_writer_free(TestWriter *w) {
        if (!w)
                return;
        free(w->name);
        free(w->log_path);
        free(w);
}

void harness_free(Harness *h) {
        if (!h)
                return;

        for (size_t i = 0; i < h->n_writers; i++) {
                stop_process(h->writers[i]->pid, 3000);
                test_writer_free(h->writers[i]);
        }
        stop_process(h->vssd_pid, 5000);

        if (h->dir) {
                if (getenv("VSS_TEST_KEEP"))
                        fprintf(stderr, "harness: kept %s\n", h->dir);
                else
                        rm_rf(h->dir);
        }
        free(h->dir);
        free(h->socket_path);
        free(h->state_dir);
        free(h->vssd_log);
        free(h->shared_log);
        free(h);
}

bool harness_vssd_alive(Harness *h) {
        int status;

        if (h->vssd_pid <= 0)
                return false;
        if (waitpid(h->vssd_pid, &status, WNOHANG) == h->vssd_pid) {
                fprintf(stderr, "harness: vssd exited (status 0x%x); log in %s\n", (unsigned) status, h->vssd_log);
                h->vssd_pid = 0;
                return false;
        }
        return true;
}

int harness_make_socket_public(Harness *h) {
        if (chmod(h->dir, 0755) < 0)
                return -errno;
        if (chmod(h->socket_path, 0666) < 0)
                return -errno;
        return 0;
}

int harness_spawn_writer(Harness *h, const char *name, const char *const *extra_args, long uid,
                         TestWriter **ret) {
        _cleanup_free_ char *stderr_path = NULL;
        char class_buf[VSS_ID_STRING_MAX];
        char *argv[512];        /* a writer may declare a few hundred components (test-slow-writers) */
        TestWriter *w;
        size_t n = 0;
        int r;

        if (h->n_writers >= HARNESS_MAX_WRITERS)
                return -E2BIG;

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->name = strdup(name);
        if (asprintf(&w->log_path, "%s/%s.log", h->dir, name) < 0)
                w->log_path = NULL;
        if (!w->name || !w->log_path) {
                test_writer_free(w);
                return -ENOMEM;
        }
        vss_id_generate(&w->class_id);
        vss_id_format(&w->class_id, class_buf);

        /* The writer opens its logs itself: make them exist and belong to it beforehand. */
        r = write_file(w->log_path, "");
        if (r >= 0 && uid >= 0) {
                if (access(h->shared_log, F_OK) < 0)
                        r = write_file(h->shared_log, "");
                if (r >= 0 && (chown(w->log_path, (uid_t) uid, (gid_t) uid) < 0 ||
                               chmod(h->shared_log, 0666) < 0))
                        r = -errno;
        }
        if (r < 0) {
                test_writer_free(w);
                return r;
        }

        argv[n++] = getenv("VSS_TEST_WRITER");
        argv[n++] = (char *) "--name";
        argv[n++] = w->name;
        argv[n++] = (char *) "--class";
        argv[n++] = class_buf;
        argv[n++] = (char *) "--log";
        argv[n++] = w->log_path;
        argv[n++] = (char *) "--shared-log";
        argv[n++] = h->shared_log;
        for (size_t i = 0; extra_args && extra_args[i]; i++) {
                if (n >= ELEMENTSOF(argv) - 1) {
                        test_writer_free(w);
                        return -E2BIG;
                }
                argv[n++] = (char *) extra_args[i];
        }
        argv[n] = NULL;

        if (asprintf(&stderr_path, "%s/%s.stderr", h->dir, name) < 0) {
                test_writer_free(w);
                return -ENOMEM;
        }
        r = spawn(argv, stderr_path, uid, &w->pid);
        if (r < 0) {
                test_writer_free(w);
                return r;
        }

        h->writers[h->n_writers++] = w;
        *ret = w;
        return 0;
}

int writer_wait_subscribed(TestWriter *w) {
        uint64_t deadline = now_msec() + HARNESS_WAIT_MS;

        for (;;) {
                char **lines = NULL;
                int r = log_read_lines(w->log_path, &lines);

                if (r < 0)
                        return r;
                for (size_t i = 0; lines[i]; i++) {
                        char buf[128];

                        if (strncmp(lines[i], "subscribed ", 11) == 0) {
                                r = line_field(lines[i], "instance", buf, sizeof buf);
                                if (r >= 0 && vss_id_parse(buf, &w->instance_id) != S_OK)
                                        r = -EBADMSG;
                                strv_free(lines);
                                return r < 0 ? r : 0;
                        }
                        if (strncmp(lines[i], "subscribe-failed ", 17) == 0) {
                                r = line_field(lines[i], "hr", buf, sizeof buf);
                                fprintf(stderr, "harness: writer %s: %s\n", w->name, lines[i]);
                                strv_free(lines);
                                return r >= 0 && streq(buf, "E_ACCESSDENIED") ? -EACCES : -EPROTO;
                        }
                }
                strv_free(lines);

                if (w->pid > 0 && waitpid(w->pid, NULL, WNOHANG) == w->pid) {
                        fprintf(stderr, "harness: writer %s exited before subscribing\n", w->name);
                        w->pid = 0;
                        return -ECHILD;
                }
                if (now_msec() >= deadline)
                        return -ETIMEDOUT;
                sleep_ms(20);
        }
}

int harness_add_writer(Harness *h, const char *name, const char *const *extra_args, TestWriter **ret) {
        TestWriter *w;
        int r;

        r = harness_spawn_writer(h, name, extra_args, -1, &w);
        if (r < 0)
                return r;
        r = writer_wait_subscribed(w);
        if (r < 0)
                return r;
        *ret = w;
        return 0;
}

int writer_kill(TestWriter *w, int sig) {
        if (w->pid <= 0)
                return -ESRCH;
        if (kill(w->pid, sig) < 0)
                return -errno;
        if (sig == SIGKILL) {
                (void) waitpid(w->pid, NULL, 0);
                w->pid = 0;
        }
        return 0;
}

int harness_make_volume(Harness *h, const char *name, char **ret) {
        _cleanup_free_ char *dir = NULL, *file = NULL, *content = NULL;
        int r;

        dir = path_join(h->dir, name);
        if (!dir)
                return -ENOMEM;
        if (mkdir(dir, 0755) < 0)
                return -errno;
        file = path_join(dir, "payload.txt");
        if (!file || asprintf(&content, "payload of %s\n", name) < 0)
                return -ENOMEM;
        r = write_file(file, content);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(dir);
        return 0;
}

int volume_inject_fault(const char *volume, const char *content) {
        _cleanup_free_ char *path = path_join(volume, ".vss-test-provider");

        if (!path)
                return -ENOMEM;
        return write_file(path, content);
}

/* ------------------------------------------------------------------------------------------ */
/* Logs                                                                                        */
/* ------------------------------------------------------------------------------------------ */

void strv_free(char **l) {
        if (!l)
                return;
        for (char **p = l; *p; p++)
                free(*p);
        free(l);
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

int log_read_lines(const char *path, char ***ret) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0, allocated = 0, n_lines = 0;
        char **lines, *p;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT)
                return -errno;
        for (; fd >= 0;) {
                ssize_t k;

                if (GREEDY_REALLOC(buf, allocated, size + 4096 + 1) < 0)
                        return -ENOMEM;
                k = read(fd, buf + size, allocated - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
        }

        lines = calloc(1, sizeof(char *));
        if (!lines)
                return -ENOMEM;
        if (!buf) {
                *ret = lines;
                return 0;
        }
        buf[size] = '\0';

        /* Only complete lines count: a writer may be in the middle of appending one. */
        p = buf;
        for (char *nl; (nl = strchr(p, '\n')); p = nl + 1) {
                char **nl_lines = realloc(lines, (n_lines + 2) * sizeof(char *));

                if (!nl_lines) {
                        strv_free(lines);
                        return -ENOMEM;
                }
                lines = nl_lines;
                lines[n_lines] = strndup(p, (size_t) (nl - p));
                if (!lines[n_lines]) {
                        strv_free(lines);
                        return -ENOMEM;
                }
                lines[++n_lines] = NULL;
        }
        *ret = lines;
        return 0;
}

unsigned log_count(const char *path, const char *needle) {
        char **lines = NULL;
        unsigned n = 0;

        if (log_read_lines(path, &lines) < 0)
                return 0;
        for (size_t i = 0; lines[i]; i++)
                if (strstr(lines[i], needle))
                        n++;
        strv_free(lines);
        return n;
}

int log_wait(const char *path, const char *needle, unsigned n, unsigned timeout_ms) {
        uint64_t deadline = now_msec() + timeout_ms;

        for (;;) {
                if (log_count(path, needle) >= n)
                        return 0;
                if (now_msec() >= deadline)
                        return -ETIMEDOUT;
                sleep_ms(20);
        }
}

ssize_t log_find(char *const *lines, size_t from, const char *needle) {
        for (size_t i = from; lines && lines[i]; i++)
                if (strstr(lines[i], needle))
                        return (ssize_t) i;
        return -1;
}

unsigned writer_log_count(const TestWriter *w, const char *needle) {
        return log_count(w->log_path, needle);
}

int writer_log_wait(const TestWriter *w, const char *needle, unsigned n) {
        int r = log_wait(w->log_path, needle, n, HARNESS_WAIT_MS);

        if (r < 0)
                fprintf(stderr, "harness: writer %s: no %u line(s) with '%s' in %s\n",
                        w->name, n, needle, w->log_path);
        return r;
}

int writer_events(const TestWriter *w, char ***ret) {
        char **lines = NULL, **events;
        size_t n = 0;
        int r;

        r = log_read_lines(w->log_path, &lines);
        if (r < 0)
                return r;
        events = calloc(strv_length(lines) + 1, sizeof(char *));
        if (!events) {
                strv_free(lines);
                return -ENOMEM;
        }
        for (size_t i = 0; lines[i]; i++) {
                const char *name;

                if (strncmp(lines[i], "event=", 6) != 0)
                        continue;
                name = lines[i] + 6;
                events[n] = strndup(name, strcspn(name, " "));
                if (!events[n]) {
                        strv_free(events);
                        strv_free(lines);
                        return -ENOMEM;
                }
                n++;
        }
        strv_free(lines);
        *ret = events;
        return 0;
}

char *writer_event_line(const TestWriter *w, const char *event, unsigned index) {
        _cleanup_free_ char *prefix = NULL;
        char **lines = NULL, *found = NULL;
        unsigned seen = 0;

        if (asprintf(&prefix, "event=%s ", event) < 0 || log_read_lines(w->log_path, &lines) < 0)
                return NULL;
        for (size_t i = 0; lines[i]; i++)
                if (strncmp(lines[i], prefix, strlen(prefix)) == 0 && seen++ == index) {
                        found = strdup(lines[i]);
                        break;
                }
        strv_free(lines);
        return found;
}

int line_field(const char *line, const char *key, char *buf, size_t size) {
        size_t klen = strlen(key);

        for (const char *p = line; p && *p; p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL) {
                if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
                        const char *v = p + klen + 1;
                        size_t vlen = strcspn(v, " ");

                        if (vlen >= size)
                                return -ENOBUFS;
                        memcpy(buf, v, vlen);
                        buf[vlen] = '\0';
                        return 0;
                }
        }
        return -ENOENT;
}

/* ------------------------------------------------------------------------------------------ */
/* Requester side                                                                              */
/* ------------------------------------------------------------------------------------------ */

const char *backup_step_name(BackupStep s) {
        static const char *const names[_STEP_MAX] = {
                [STEP_INITIALIZE] = "InitializeForBackup",
                [STEP_GATHER] = "GatherWriterMetadata",
                [STEP_ADD_COMPONENTS] = "AddComponent",
                [STEP_START_SET] = "StartSnapshotSet",
                [STEP_ADD_VOLUME] = "AddToSnapshotSet",
                [STEP_PREPARE] = "PrepareForBackup",
                [STEP_DO_SNAPSHOT] = "DoSnapshotSet",
                [STEP_BACKUP_COMPLETE] = "BackupComplete",
        };

        return s < _STEP_MAX ? names[s] : "?";
}

vss_hr async_finish(vss_hr call_hr, vss_async **ap) {
        vss_hr hr, result = VSS_E_UNEXPECTED;
        vss_async *a = *ap;

        *ap = NULL;
        if (VSS_FAILED(call_hr)) {
                vss_async_release(a);
                return call_hr;
        }
        if (!a)
                return VSS_E_UNEXPECTED;

        hr = vss_async_wait(a, VSS_INFINITE);
        if (hr == S_OK)
                hr = vss_async_query_status(a, &result);
        vss_async_release(a);
        return VSS_FAILED(hr) ? hr : result;
}

static vss_hr add_all_components(vss_requester *r) {
        unsigned count = 0;
        vss_hr hr;

        hr = vss_requester_get_writer_metadata_count(r, &count);
        if (hr != S_OK)
                return hr;

        for (unsigned i = 0; i < count; i++) {
                vss_examine_writer_metadata *m = NULL;
                unsigned n_components = 0;
                vss_id instance_id, writer_id;

                hr = vss_requester_get_writer_metadata(r, i, &instance_id, &m);
                if (hr != S_OK)
                        return hr;
                hr = vss_examine_writer_metadata_get_identity(m, NULL, &writer_id, NULL, NULL, NULL, NULL);
                if (hr != S_OK)
                        return hr;
                hr = vss_examine_writer_metadata_get_file_counts(m, NULL, NULL, &n_components);
                if (hr != S_OK)
                        return hr;

                for (unsigned c = 0; c < n_components; c++) {
                        vss_wm_component *comp = NULL;
                        vss_component_info info;

                        hr = vss_examine_writer_metadata_get_component(m, c, &comp);
                        if (hr != S_OK)
                                return hr;
                        hr = vss_wm_component_get_info(comp, &info);
                        if (hr != S_OK)
                                return hr;
                        hr = vss_requester_add_component(r, &instance_id, &writer_id, info.type,
                                                         info.logical_path, info.component_name);
                        if (hr != S_OK)
                                return hr;
                }
        }
        return S_OK;
}

static vss_hr run_step(vss_requester *r, const char *volume, BackupStep step, BackupRun *run) {
        vss_async *a = NULL;
        vss_hr hr;

        switch (step) {
        case STEP_INITIALIZE:
                hr = vss_requester_initialize_for_backup(r, NULL);
                if (hr != S_OK)
                        return hr;
                return vss_requester_set_backup_state(r, true, false, VSS_BT_FULL, false);

        case STEP_GATHER:
                hr = async_finish(vss_requester_gather_writer_metadata(r, &a), &a);
                if (hr != VSS_S_ASYNC_FINISHED)
                        return hr;
                return vss_requester_get_writer_metadata_count(r, &run->n_writers);

        case STEP_ADD_COMPONENTS:
                return add_all_components(r);

        case STEP_START_SET:
                return vss_requester_start_snapshot_set(r, &run->set_id);

        case STEP_ADD_VOLUME:
                if (!volume)
                        return S_OK;
                return vss_requester_add_to_snapshot_set(r, volume, NULL, &run->snapshot_id);

        case STEP_PREPARE:
                hr = async_finish(vss_requester_prepare_for_backup(r, &a), &a);
                return hr == VSS_S_ASYNC_FINISHED ? S_OK : hr;

        case STEP_DO_SNAPSHOT:
                hr = async_finish(vss_requester_do_snapshot_set(r, &a), &a);
                return hr == VSS_S_ASYNC_FINISHED ? S_OK : hr;

        case STEP_BACKUP_COMPLETE:
                hr = async_finish(vss_requester_backup_complete(r, &a), &a);
                return hr == VSS_S_ASYNC_FINISHED ? S_OK : hr;

        default:
                return E_INVALIDARG;
        }
}

vss_hr backup_run_steps(vss_requester *r, const char *volume, BackupStep first, BackupStep last,
                        BackupRun *run) {
        for (BackupStep s = first; s <= last; s++) {
                vss_hr hr = run_step(r, volume, s, run);

                if (hr != S_OK) {
                        fprintf(stderr, "harness: %s failed: %s (%s)\n", backup_step_name(s),
                                vss_hr_name(hr), vss_requester_get_error_message(r));
                        run->failed_step = s;
                        return hr;
                }
        }
        return S_OK;
}

vss_hr requester_gather_status(vss_requester *r) {
        vss_async *a = NULL;

        return async_finish(vss_requester_gather_writer_status(r, &a), &a);
}

vss_hr requester_find_status(vss_requester *r, const TestWriter *w, vss_writer_state *ret_state,
                             vss_hr *ret_failure) {
        unsigned count = 0;
        vss_hr hr;

        hr = vss_requester_get_writer_status_count(r, &count);
        if (hr != S_OK)
                return hr;
        for (unsigned i = 0; i < count; i++) {
                vss_writer_state state;
                vss_id instance_id;
                vss_hr failure;

                hr = vss_requester_get_writer_status(r, i, &instance_id, NULL, NULL, &state, &failure);
                if (hr != S_OK)
                        return hr;
                if (vss_id_equal(&instance_id, &w->instance_id)) {
                        *ret_state = state;
                        *ret_failure = failure;
                        return S_OK;
                }
        }
        return VSS_E_OBJECT_NOT_FOUND;
}

void assert_writer_status_impl(vss_requester *r, const TestWriter *w, vss_writer_state state,
                               vss_hr failure, const char *file, int line) {
        vss_writer_state got_state = VSS_WS_UNKNOWN;
        vss_hr hr, got_failure = S_OK;

        hr = requester_gather_status(r);
        if (hr != VSS_S_ASYNC_FINISHED) {
                print_error("%s:%d: GatherWriterStatus: %s\n", file, line, vss_hr_name(hr));
                fail();
        }
        hr = requester_find_status(r, w, &got_state, &got_failure);
        if (hr != S_OK) {
                print_error("%s:%d: no status for writer %s: %s\n", file, line, w->name, vss_hr_name(hr));
                fail();
        }
        if (got_state != state || got_failure != failure) {
                print_error("%s:%d: writer %s status %s/%s, expected %s/%s\n", file, line, w->name,
                            vss_writer_state_to_string(got_state), vss_hr_name(got_failure),
                            vss_writer_state_to_string(state), vss_hr_name(failure));
                fail();
        }
}

vss_requester *requester_new_checked(void) {
        vss_requester *r = NULL;
        vss_hr hr;

        hr = vss_requester_new(&r, NULL);
        if (hr != S_OK) {
                fprintf(stderr, "harness: vss_requester_new: %s\n", vss_hr_name(hr));
                return NULL;
        }
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Child requesters                                                                            */
/* ------------------------------------------------------------------------------------------ */

void report(int fd, const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n > sizeof buf - 2)
                n = (int) sizeof buf - 2;
        buf[n++] = '\n';
        (void) write(fd, buf, (size_t) n);
}

int child_start(ChildFn fn, void *userdata, pid_t *ret_pid, int *ret_fd) {
        pid_t parent = getpid(), pid;
        int fds[2];

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                int r = -errno;

                close(fds[0]);
                close(fds[1]);
                return r;
        }
        if (pid == 0) {
                close(fds[0]);
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);
                _exit(fn(fds[1], userdata));
        }
        close(fds[1]);
        *ret_pid = pid;
        *ret_fd = fds[0];
        return 0;
}

int child_wait_report(int fd, const char *prefix, char *buf, size_t size, unsigned timeout_ms) {
        uint64_t deadline = now_msec() + timeout_ms;
        size_t len = 0;

        if (size == 0)
                return -ENOBUFS;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = now_msec();
                ssize_t k;
                char c;
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) (deadline - now));
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        return -ETIMEDOUT;
                k = read(fd, &c, 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EPIPE;
                if (c != '\n') {
                        if (len < size - 1)
                                buf[len++] = c;
                        continue;
                }
                buf[len] = '\0';
                if (strncmp(buf, prefix, strlen(prefix)) == 0)
                        return 0;
                fprintf(stderr, "harness: child reported: %s\n", buf);
                len = 0;
        }
}

int child_reap(pid_t pid) {
        int status;

        for (;;) {
                if (waitpid(pid, &status, 0) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (WIFEXITED(status))
                        return WEXITSTATUS(status);
                if (WIFSIGNALED(status))
                        return 128 + WTERMSIG(status);
                return -EPROTO;
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Assertions                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void print_list(const char *what, char *const *l) {
        print_error("  %s:", what);
        for (size_t i = 0; l && l[i]; i++)
                print_error(" %s", l[i]);
        print_error("\n");
}

void assert_events_impl(const TestWriter *w, const char *const *expected, const char *file, int line) {
        char **events = NULL;
        bool same = true;
        size_t i;

        if (writer_events(w, &events) < 0) {
                print_error("%s:%d: cannot read the log of writer %s\n", file, line, w->name);
                fail();
        }
        for (i = 0; expected[i] && events[i]; i++)
                if (!streq(expected[i], events[i]))
                        same = false;
        if (expected[i] || events[i])
                same = false;
        if (!same) {
                print_error("%s:%d: writer %s saw the wrong events (log %s)\n", file, line, w->name, w->log_path);
                print_list("expected", (char *const *) expected);
                print_list("got     ", events);
        }
        strv_free(events);
        if (!same)
                fail();
}

void assert_nothing_frozen_impl(const TestWriter *w, const char *file, int line) {
        char **events = NULL;
        bool frozen = false;

        if (writer_events(w, &events) < 0) {
                print_error("%s:%d: cannot read the log of writer %s\n", file, line, w->name);
                fail();
        }
        for (size_t i = 0; events[i]; i++) {
                if (streq(events[i], "Freeze"))
                        frozen = true;
                else if (streq(events[i], "Thaw") || streq(events[i], "Abort"))
                        frozen = false;
        }
        if (frozen) {
                print_list("events", events);
                print_error("%s:%d: writer %s was left frozen (log %s)\n", file, line, w->name, w->log_path);
        }
        strv_free(events);
        if (frozen)
                fail();
}

const char *id_str(const vss_id *id) {
        static char bufs[8][VSS_ID_STRING_MAX];
        static unsigned next;

        return vss_id_format(id, bufs[next++ % ELEMENTSOF(bufs)]);
}
