/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exec.c: what the -exec command sees: the VSHADOW_* environment, the same as a sourceable
 * -script file, running the command, and -wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "vshadow.h"

/* ------------------------------------------------------------------------------------------ */
/* Environment, script, command                                                                */
/* ------------------------------------------------------------------------------------------ */


void env_done(Env *e) {
        for (size_t i = 0; i < e->n; i++) {
                free(e->names[i]);
                free(e->values[i]);
        }
        free(e->names);
        free(e->values);
        *e = (Env) {};
}

int env_add(Env *e, const char *value, const char *name_fmt, ...) {
        char **n, **v, *name, *copy;
        va_list ap;
        int k;

        va_start(ap, name_fmt);
        k = vasprintf(&name, name_fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        copy = strdup(value);
        n = realloc(e->names, (e->n + 1) * sizeof(*n));
        if (n)
                e->names = n;
        v = realloc(e->values, (e->n + 1) * sizeof(*v));
        if (v)
                e->values = v;
        if (!copy || !n || !v) {
                free(name);
                free(copy);
                return -ENOMEM;
        }
        e->names[e->n] = name;
        e->values[e->n] = copy;
        e->n++;
        return 0;
}

/*
 * VSHADOW_PATH_i: VOLUME i as it was named, inside its snapshot. A directory named below a
 * volume's top (vshadow /srv/www on the volume /srv) is snapshotted with its volume; the
 * command backs up this path, not the whole VSHADOW_SNAPSHOT_i.
 */
static int env_add_named_path(Env *e, const Snapshot *s, size_t i) {
        _cleanup_free_ char *named = realpath(arg.volumes[i], NULL), *inside = NULL;
        const char *vol = s->prop.original_volume_name, *rel;
        size_t l;

        if (!named)
                named = strdup(arg.volumes[i]);
        if (!named)
                return -ENOMEM;
        l = isempty(vol) || streq(vol, "/") ? 0 : strlen(vol);
        if (!isempty(vol) && strncmp(named, vol, l) == 0 && (named[l] == '/' || named[l] == 0))
                rel = named + l;
        else
                rel = "";       /* not below its volume as vssd names it: the volume's root */
        while (*rel == '/')
                rel++;
        if (asprintf(&inside, "%s%s%s", s->dir, *rel ? "/" : "", rel) < 0)
                return -ENOMEM;
        return env_add(e, inside, "VSHADOW_PATH_%zu", i);
}

int env_build(Env *e, const vss_id *set_id, const Snapshot *snaps, size_t n_snaps, bool with_lists) {
        char count[32];
        int r;

        snprintf(count, sizeof(count), "%zu", n_snaps);
        r = env_add(e, vss_id_to_str(set_id).s, "VSHADOW_SET_ID");
        if (r >= 0)
                r = env_add(e, count, "VSHADOW_SNAPSHOT_COUNT");
        if (r >= 0)
                r = env_add(e, backup_type_name(arg.backup_type), "VSHADOW_BACKUP_TYPE");
        if (r >= 0 && arg.bc_file)
                r = env_add(e, arg.bc_file, "VSHADOW_BCD");
        for (size_t i = 0; r >= 0 && i < n_snaps; i++) {
                r = env_add(e, snaps[i].prop.original_volume_name, "VSHADOW_VOLUME_%zu", i);
                if (r >= 0)
                        r = env_add(e, snaps[i].dir, "VSHADOW_SNAPSHOT_%zu", i);
                if (r >= 0)
                        r = env_add_named_path(e, &snaps[i], i);
                if (r >= 0)
                        r = env_add(e, snaps[i].prop.snapshot_device_object, "VSHADOW_SNAPSHOT_DEVICE_%zu", i);
                if (r >= 0)
                        r = env_add(e, vss_id_to_str(&snaps[i].id).s, "VSHADOW_SNAPSHOT_ID_%zu", i);
                if (r >= 0 && with_lists)
                        r = env_add(e, snaps[i].list_path, "VSHADOW_FILE_LIST_%zu", i);
        }
        if (r >= 0 && with_lists && n_snaps > 0)
                r = env_add(e, snaps[0].list_path, "VSHADOW_FILE_LIST");
        return r < 0 ? -tool_vss_error(E_OUTOFMEMORY, NULL) : 0;
}

/* 'value' for sh, with every ' written as '\''. */
static void fput_shell_quoted(const char *s, FILE *f) {
        fputc('\'', f);
        for (; *s; s++)
                if (*s == '\'')
                        fputs("'\\''", f);
                else
                        fputc(*s, f);
        fputc('\'', f);
}

int script_write(const Env *e, const char *path) {
        _cleanup_close_ int fd = -1;
        FILE *f;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -tool_vss_error(vss_hr_from_errno(errno), "-script=%s: %s", path, strerror(errno));
        f = fdopen(fd, "we");
        if (!f)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        TAKE_FD(fd);
        fprintf(f, "# Written by vshadow %s: the snapshot set's variables, for sh's \".\".\n", VSS_VERSION);
        for (size_t i = 0; i < e->n; i++) {
                fprintf(f, "export %s=", e->names[i]);
                fput_shell_quoted(e->values[i], f);
                fputc('\n', f);
        }
        if (fclose(f) != 0)
                return -tool_vss_error(vss_hr_from_errno(errno), "-script=%s: %s", path, strerror(errno));
        return 0;
}

/*
 * Runs arg.exec_cmd with /bin/sh -c and the environment e; returns its exit status (128+N
 * when killed by signal N), or minus an exit code when it could not be run. While it runs,
 * SIGINT and SIGQUIT are ignored here as system() does: a ^C reaches the command, whose
 * failure then reaches the writers through SetBackupSucceeded.
 */
int command_run(const Env *e) {
        struct sigaction ignore = { .sa_handler = SIG_IGN }, old_int, old_quit;
        int status;
        pid_t pid;

        fflush(stdout);
        fflush(stderr);
        (void) sigaction(SIGINT, &ignore, &old_int);
        (void) sigaction(SIGQUIT, &ignore, &old_quit);
        pid = fork();
        if (pid < 0) {
                int err = errno;

                (void) sigaction(SIGINT, &old_int, NULL);
                (void) sigaction(SIGQUIT, &old_quit, NULL);
                return -tool_vss_error(vss_hr_from_errno(err), "cannot start -exec command: %s", strerror(err));
        }
        if (pid == 0) {
                (void) sigaction(SIGINT, &old_int, NULL);
                (void) sigaction(SIGQUIT, &old_quit, NULL);
                /* A member of group backup: the command reads the snapshot with vshadow's privilege. */
                if (tool_backup_privilege_pass_on() < 0)
                        _exit(127);
                for (size_t i = 0; i < e->n; i++)
                        if (setenv(e->names[i], e->values[i], 1) < 0)
                                _exit(127);
                execl("/bin/sh", "sh", "-c", arg.exec_cmd, (char *) NULL);
                _exit(127);
        }

        /* A SIGTERM to vshadow (systemctl stop) goes on to the command; the backup is then
         * aborted (create.c). SIGINT from a terminal reaches the command by itself. */
        for (bool forwarded = false;;) {
                pid_t k = waitpid(pid, &status, WNOHANG);

                if (k == pid)
                        break;
                if (k < 0 && errno != EINTR) {
                        status = W_EXITCODE(127, 0);
                        break;
                }
                if (tool_interrupt_signal() && !forwarded) {
                        (void) kill(pid, tool_interrupt_signal());
                        forwarded = true;
                }
                (void) nanosleep(&(struct timespec) { .tv_nsec = 20 * 1000 * 1000 }, NULL);
        }
        (void) sigaction(SIGINT, &old_int, NULL);
        (void) sigaction(SIGQUIT, &old_quit, NULL);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

void wait_for_enter(void) {
        int c;

        fprintf(stderr, "vshadow: press Enter to release the snapshot set...\n");
        do
                c = getchar();
        while (c != '\n' && c != EOF);
}

