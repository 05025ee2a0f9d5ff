/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vb-harness.c: running vssbackup for the writer proofs and reading the load programs'
 * acknowledgements. The proofs judge vssbackup from the outside, as an administrator would:
 * its exit status, what it printed, and what its restore wrote; so the program runs as a
 * separate process, and both its streams are kept for the assertions and for the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "macro.h"
#include "root-harness.h"
#include "vb-harness.h"

#define VB_MAX_ARGS 32

static void vb_child(const char *socket, const char *out, const char *err, char *const argv[]) {
        int o, e;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (o < 0 || e < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
                _exit(127);
        if (setenv("VSS_SOCKET", socket, 1) < 0)
                _exit(127);
        execv(argv[0], argv);
        _exit(127);
}

static int vb_paths(const char *log_dir, unsigned serial, char **ret_out, char **ret_err) {
        _cleanup_free_ char *out = NULL, *err = NULL;

        if (asprintf(&out, "%s/vssbackup-%u.out", log_dir, serial) < 0 ||
            asprintf(&err, "%s/vssbackup-%u.err", log_dir, serial) < 0)
                return -ENOMEM;
        *ret_out = TAKE_PTR(out);
        *ret_err = TAKE_PTR(err);
        return 0;
}

int vb_start(const char *socket, const char *log_dir, unsigned serial, const char *const *args, pid_t *ret_pid) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *exe = getenv("VSSBACKUP");
        char *argv[VB_MAX_ARGS + 2];
        size_t n = 0;
        pid_t pid;
        int r;

        if (!exe)
                return -ENOENT;
        argv[n++] = (char *) exe;
        for (size_t i = 0; args[i]; i++) {
                if (n > VB_MAX_ARGS)
                        return -E2BIG;
                argv[n++] = (char *) args[i];
        }
        argv[n] = NULL;
        r = vb_paths(log_dir, serial, &out, &err);
        if (r < 0)
                return r;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                vb_child(socket, out, err, argv);
        *ret_pid = pid;
        return 0;
}

int vb_finish(pid_t pid, const char *log_dir, unsigned serial, VbRun *ret) {
        _cleanup_free_ char *out = NULL, *err = NULL, *out_text = NULL, *err_text = NULL;
        int status, r;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        r = vb_paths(log_dir, serial, &out, &err);
        if (r < 0)
                return r;
        r = read_file_full(out, &out_text, NULL);
        if (r < 0)
                return r;
        r = read_file_full(err, &err_text, NULL);
        if (r < 0)
                return r;
        *ret = (VbRun) {
                .exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                .out = TAKE_PTR(out_text),
                .err = TAKE_PTR(err_text),
        };
        return 0;
}

int vb_run(const char *socket, const char *log_dir, unsigned serial, const char *const *args, VbRun *ret) {
        pid_t pid;
        int r;

        r = vb_start(socket, log_dir, serial, args, &pid);
        if (r < 0)
                return r;
        return vb_finish(pid, log_dir, serial, ret);
}

void vb_run_done(VbRun *r) {
        free(r->out);
        free(r->err);
        *r = (VbRun) {};
}

int vb_run_backup_path(const VbRun *r, char **ret) {
        const char *p, *end;
        char *path;

        /* "full backup /dir/NAME\n": the last word of the line that announces the backup. */
        p = r->out ? strstr(r->out, " backup /") : NULL;
        if (!p)
                return -ENOENT;
        p += strlen(" backup ");
        end = p + strcspn(p, " \n");
        path = strndup(p, (size_t) (end - p));
        if (!path)
                return -ENOMEM;
        *ret = path;
        return 0;
}

int vb_acks_read(const char *path, VbAck **ret, size_t *ret_n) {
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ VbAck *acks = NULL;
        size_t n = 0, allocated = 0;
        char *p, *nl;
        int r;

        r = read_file_full(path, &text, NULL);
        if (r < 0)
                return r;
        for (p = text; (nl = strchr(p, '\n')); p = nl + 1) {
                VbAck a;

                *nl = '\0';
                /* A line is written with one write(2): a partial last line has no '\n' yet. */
                if (sscanf(p, "%" SCNd64 " %" SCNu64 " %" SCNu64, &a.k, &a.begin, &a.ack) != 3)
                        continue;
                if (GREEDY_REALLOC(acks, allocated, n + 1) < 0)
                        return -ENOMEM;
                acks[n++] = a;
        }
        *ret = TAKE_PTR(acks);
        *ret_n = n;
        return 0;
}
