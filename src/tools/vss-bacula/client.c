/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client.c: finding a job's agent, or starting it, and calling it.
 *
 * A job's agent listens on RUN_DIR/job-<hash>.sock, the hash (64-bit FNV-1a, hex) of the job
 * name, because Bacula's job names (up to 127 bytes) do not fit a socket address; the agent's
 * Name() is checked after connecting, so a collision is an error, never a mix-up.
 *
 * Starting one: under a lock on RUN_DIR (so two first calls of one job cannot both start an
 * agent), the caller binds and listens on the socket itself, then forks twice; the grandchild,
 * in a new session with stdin/stdout on /dev/null (the File Daemon reads the caller's stdout
 * to its end: an agent keeping it would hang the job) and stderr on RUN_DIR/job-<hash>.log,
 * becomes the agent (agent_main) without an exec: nothing has started a thread yet. The caller
 * connects at once: its connection waits in the backlog until the agent serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "vss-bacula.h"
#include "vss-bus.h"

bool job_name_valid(const char *job) {
        size_t n;

        if (!job)
                return false;
        n = strnlen(job, BACULA_MAX_JOB_NAME + 1);
        if (n == 0 || n > BACULA_MAX_JOB_NAME || streq(job, ".") || streq(job, ".."))
                return false;
        for (const unsigned char *p = (const unsigned char *) job; *p; p++)
                if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '/' || *p == '\\')
                        return false;
        return true;
}

static uint64_t fnv1a(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL;

        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= 0x100000001b3ULL;
        }
        return h;
}

static int run_file(const char *job, const char *suffix, char **ret) {
        if (asprintf(ret, "%s/job-%016llx.%s", opt.run_dir, (unsigned long long) fnv1a(job), suffix) < 0)
                return -ENOMEM;
        return 0;
}

int agent_socket_path(const char *job, char **ret) {
        return run_file(job, "sock", ret);
}

int mkdir_private(const char *dir) {
        _cleanup_free_ char *copy = strdup(dir);
        struct stat st;

        if (!copy)
                return -ENOMEM;
        for (char *p = copy + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(copy, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (lstat(dir, &st) < 0)
                return -errno;
        /* Ours alone: a directory anyone else may write to could hold a planted socket. */
        if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0077))
                return -EPERM;
        return 0;
}

int parse_seconds(const char *s, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v == 0 || v > 30UL * 24 * 3600)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

int agent_call(sd_bus *bus, const char *method, char **ret_error, sd_bus_message **ret_reply,
               const char *types, ...) {
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        va_list ap;
        int r;

        va_start(ap, types);
        r = sd_bus_call_methodv(bus, NULL, BACULA_BUS_PATH, BACULA_BUS_IFACE, method, &error, &reply, types, ap);
        va_end(ap);
        if (r < 0) {
                if (ret_error)
                        *ret_error = strdup(error.message ?: strerror(-r));
                return r;
        }
        if (ret_reply)
                *ret_reply = reply;
        else
                sd_bus_message_unref(reply);
        return 0;
}

/* Connect to the agent at path and check it holds job. */
static int connect_checked(const char *path, const char *job, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        sd_bus_message *reply = NULL;
        const char *name = NULL;
        int r;

        r = vss_bus_connect(path, &bus);
        if (r < 0)
                return r;
        r = agent_call(bus, "Name", NULL, &reply, "");
        if (r >= 0)
                r = sd_bus_message_read(reply, "s", &name);
        if (r >= 0 && !streq(name, job))
                r = -EEXIST;    /* another job's name has this hash */
        sd_bus_message_unref(reply);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static unsigned agents_count(void) {
        _cleanup_(closedirp) DIR *d = opendir(opt.run_dir);
        unsigned n = 0;
        struct dirent *de;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "job-", 4) == 0 && strstr(de->d_name, ".sock"))
                        n++;
        return n;
}

static int listen_on(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* Under the lock, a socket nobody answers on is a dead agent's: replace it. */
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* The grandchild: becomes the agent. Never returns. */
__attribute__((noreturn)) static void agent_become(const char *job, int listen_fd, pid_t fd_pid) {
        _cleanup_free_ char *log = NULL;
        int null_fd, log_fd = -1;

        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (run_file(job, "log", &log) >= 0)
                log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(null_fd, STDOUT_FILENO) < 0 ||
            dup2(log_fd >= 0 ? log_fd : null_fd, STDERR_FILENO) < 0)
                _exit(TOOL_EXIT_VSS);
        /* Close everything else the File Daemon may have left open to us. */
        for (int fd = 3; fd < 1024; fd++)
                if (fd != listen_fd)
                        (void) close(fd);
        if (chdir("/") < 0)
                _exit(TOOL_EXIT_VSS);
        _exit(agent_main(job, listen_fd, -1, fd_pid));
}

static int agent_spawn(const char *job, const char *path, pid_t fd_pid) {
        _cleanup_close_ int listen_fd = -EBADF;
        pid_t child;
        int status;

        if (agents_count() >= BACULA_MAX_AGENTS)
                return -EUSERS;
        listen_fd = listen_on(path);
        if (listen_fd < 0)
                return listen_fd;
        fflush(NULL);
        child = fork();
        if (child < 0)
                return -errno;
        if (child == 0) {
                pid_t grandchild;

                if (setsid() < 0)
                        _exit(1);
                grandchild = fork();
                if (grandchild < 0)
                        _exit(1);
                if (grandchild == 0)
                        agent_become(job, listen_fd, fd_pid);
                _exit(0);
        }
        while (waitpid(child, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                (void) unlink(path);
                return -ECHILD;
        }
        return 0;
}

int agent_connect(const char *job, bool spawn, pid_t fd_pid, sd_bus **ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int lock_fd = -EBADF;
        int r;

        r = agent_socket_path(job, &path);
        if (r < 0)
                return r;
        r = connect_checked(path, job, ret);
        if (r >= 0 || !spawn || (r != -ENOENT && r != -ECONNREFUSED))
                return r == -ECONNREFUSED ? -ENOENT : r;

        r = mkdir_private(opt.run_dir);
        if (r < 0)
                return r;
        lock_fd = open(opt.run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lock_fd < 0)
                return -errno;
        if (flock(lock_fd, LOCK_EX) < 0)
                return -errno;
        /* Someone may have started it while we waited for the lock. */
        r = connect_checked(path, job, ret);
        if (r >= 0 || (r != -ENOENT && r != -ECONNREFUSED))
                return r;
        r = agent_spawn(job, path, fd_pid);
        if (r < 0)
                return r;
        return connect_checked(path, job, ret);
}
