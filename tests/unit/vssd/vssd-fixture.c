/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vssd-fixture.c: a private vssd that survives being killed (its state directory stays), and
 * the small process and mount helpers the catalog, exposure and vssadmin tests use
 * (vssd-fixture.h). Children die with the test (PR_SET_PDEATHSIG) so a failed test leaves no
 * daemon behind; teardown lazily unmounts whatever is still mounted below the fixture.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "macro.h"
#include "root-harness.h"
#include "vssd-fixture.h"

#define VSSD_START_TIMEOUT_MS 20000U

int vssd_fixture_init(VssdFixture *f, const char *dir_template, bool test_provider) {
        _cleanup_free_ char *dir = strdup(dir_template);

        if (!dir)
                return -ENOMEM;
        if (!mkdtemp(dir))
                return -errno;

        *f = (VssdFixture) { .test_provider = test_provider };
        if (asprintf(&f->socket_path, "%s/vssd.sock", dir) < 0 || asprintf(&f->state_dir, "%s/state", dir) < 0 ||
            asprintf(&f->expose_dir, "%s/exposed", dir) < 0)
                return -ENOMEM;
        if (setenv("VSS_SOCKET", f->socket_path, 1) < 0)
                return -errno;
        f->dir = TAKE_PTR(dir);
        return 0;
}

int vssd_fixture_start(VssdFixture *f) {
        const char *vssd = getenv("VSSD"), *guardian = getenv("VSS_GUARDIAN_PATH");
        char limit[64];
        char *argv[16] = {
                (char *) vssd, (char *) "--socket", f->socket_path, (char *) "--state-dir", f->state_dir,
                (char *) "--expose-dir", f->expose_dir, (char *) "--event-timeout", (char *) "5000",
        };
        size_t n = 9;
        int r;

        if (f->test_provider)
                argv[n++] = (char *) "--test-provider";
        if (f->max_per_volume > 0) {
                snprintf(limit, sizeof(limit), "--max-snapshots-per-volume=%u", f->max_per_volume);
                argv[n++] = limit;
        }
        if (guardian) { /* the image provider needs it */
                argv[n++] = (char *) "--guardian";
                argv[n++] = (char *) guardian;
        }
        argv[n] = NULL;

        if (!vssd)
                return -ENOENT;
        r = process_spawn_flags(argv, 0, &f->pid);
        if (r < 0)
                return r;
        r = unix_socket_wait(f->socket_path, f->pid, VSSD_START_TIMEOUT_MS);
        if (r == -ESRCH)
                f->pid = 0; /* already reaped */
        return r;
}

int vssd_fixture_kill(VssdFixture *f) {
        if (f->pid <= 0)
                return -ESRCH;
        (void) kill(f->pid, SIGKILL);
        while (waitpid(f->pid, NULL, 0) < 0)
                if (errno != EINTR)
                        break;
        f->pid = 0;
        return 0;
}

int vssd_fixture_stop(VssdFixture *f) {
        int r = process_stop(f->pid, 10000);

        f->pid = 0;
        return r;
}

/* Lazily unmounts every mount point below dir, deepest first. */
static void unmount_below(const char *dir) {
        for (int pass = 0; pass < 8; pass++) {
                _cleanup_free_ char *info = NULL, *best = NULL;
                size_t size, n = strlen(dir);
                char *line, *save = NULL;

                if (read_file_full("/proc/self/mountinfo", &info, &size) < 0)
                        return;
                for (line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                        char mp[4096];

                        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                                continue;
                        if (strncmp(mp, dir, n) == 0 && mp[n] == '/' && (!best || strlen(mp) > strlen(best))) {
                                free(best);
                                best = strdup(mp);
                        }
                }
                if (!best)
                        return;
                (void) umount2(best, MNT_DETACH);
        }
}

void vssd_fixture_done(VssdFixture *f) {
        if (f->pid > 0)
                (void) vssd_fixture_stop(f);
        if (f->dir) {
                unmount_below(f->dir);
                (void) rm_rf_physical(f->dir);
        }
        free(f->dir);
        free(f->socket_path);
        free(f->state_dir);
        free(f->expose_dir);
        *f = (VssdFixture) {};
}

static int read_fd_all(int fd, char **ret) {
        char *buf = NULL;
        size_t len = 0, cap = 0;

        for (;;) {
                ssize_t k;

                if (GREEDY_REALLOC(buf, cap, len + 4096) < 0) {
                        free(buf);
                        return -ENOMEM;
                }
                k = read(fd, buf + len, cap - len - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        free(buf);
                        return -errno;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        buf[len] = 0;
        *ret = buf;
        return 0;
}

int run_capture(char *const argv[], char **ret_out, char **ret_err, int *ret_status) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        FILE *fo = NULL, *fe = NULL;
        int status, r = 0;
        pid_t pid;

        fo = tmpfile();
        fe = tmpfile();
        if (!fo || !fe) {
                r = -errno;
                goto finish;
        }

        pid = fork();
        if (pid < 0) {
                r = -errno;
                goto finish;
        }
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (dup2(fileno(fo), STDOUT_FILENO) < 0 || dup2(fileno(fe), STDERR_FILENO) < 0)
                        _exit(126);
                execv(argv[0], argv);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        r = -errno;
                        goto finish;
                }

        rewind(fo);
        rewind(fe);
        r = read_fd_all(fileno(fo), &out);
        if (r >= 0)
                r = read_fd_all(fileno(fe), &err);
        if (r < 0)
                goto finish;

        if (ret_out)
                *ret_out = TAKE_PTR(out);
        if (ret_err)
                *ret_err = TAKE_PTR(err);
        *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
finish:
        if (fo)
                fclose(fo);
        if (fe)
                fclose(fe);
        return r;
}

int mountinfo_options(const char *mount_point, char *buf, size_t size) {
        _cleanup_free_ char *info = NULL;
        char *line, *save = NULL;
        size_t n;
        int r, found = 0;

        r = read_file_full("/proc/self/mountinfo", &info, &n);
        if (r < 0)
                return r;
        for (line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char mp[4096], opts[1024];

                /* id parent maj:min root mount-point options ... */
                if (sscanf(line, "%*s %*s %*s %*s %4095s %1023s", mp, opts) != 2)
                        continue;
                if (!streq(mp, mount_point))
                        continue;
                snprintf(buf, size, "%s", opts); /* the last (topmost) mount wins */
                found = 1;
        }
        return found;
}

bool mount_option_has(const char *options, const char *option) {
        size_t n = strlen(option);

        for (const char *p = options; p && *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t) (comma - p) : strlen(p);

                if (len == n && strncmp(p, option, n) == 0)
                        return true;
                p = comma ? comma + 1 : NULL;
        }
        return false;
}

static vss_hr wait_async(vss_hr hr, vss_async **ap) {
        vss_async *a = *ap;

        *ap = NULL;
        if (VSS_SUCCEEDED(hr))
                hr = a ? vss_async_wait_result(a) : VSS_E_UNEXPECTED;
        vss_async_release(a);
        return hr;
}

vss_hr make_snapshot(vss_requester *r, vss_snapshot_context context, const char *volume, vss_id *ret_set_id,
                     vss_id *ret_snapshot_id) {
        bool writers = !(context & VSS_VOLSNAP_ATTR_NO_WRITERS);
        vss_async *a = NULL;
        vss_hr hr;

        hr = vss_requester_initialize_for_backup(r, NULL);
        if (VSS_SUCCEEDED(hr))
                hr = vss_requester_set_context(r, context);
        if (VSS_SUCCEEDED(hr) && writers) {
                hr = vss_requester_set_backup_state(r, false, false, VSS_BT_COPY, false);
                if (VSS_SUCCEEDED(hr)) {
                        hr = vss_requester_gather_writer_metadata(r, &a);
                        hr = wait_async(hr, &a);
                }
        }
        if (VSS_SUCCEEDED(hr))
                hr = vss_requester_start_snapshot_set(r, ret_set_id);
        if (VSS_SUCCEEDED(hr))
                hr = vss_requester_add_to_snapshot_set(r, volume, NULL, ret_snapshot_id);
        if (VSS_SUCCEEDED(hr) && writers) {
                hr = vss_requester_prepare_for_backup(r, &a);
                hr = wait_async(hr, &a);
        }
        if (VSS_SUCCEEDED(hr)) {
                hr = vss_requester_do_snapshot_set(r, &a);
                hr = wait_async(hr, &a);
        }
        return hr;
}

bool path_exists(const char *path) {
        struct stat st;

        return lstat(path, &st) >= 0;
}
