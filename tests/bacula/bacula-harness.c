/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bacula-harness.c: the private Bacula site of bacula-harness.h. The daemons are Debian's
 * own (bacula-dir, bacula-sd, bacula-fd 9.6), run unmodified in the foreground; the catalog
 * tables come from Debian's make_sqlite3_tables, so the catalog is the one a real
 * installation has. Results are read the way an operator reads them, through bconsole:
 * the harness never opens the catalog itself.
 *
 * Ports: each is found by binding 127.0.0.1:0 and keeping every socket open until all the
 * site's ports are chosen, so they are distinct; the daemons bind with SO_REUSEADDR, and a
 * port taken meanwhile by someone else shows as a daemon that does not come up, with its log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bacula-harness.h"
#include "macro.h"
#include "root-harness.h"

#define DAEMON_UP_MS 30000U
#define SBINDIR_DEFAULT "/usr/sbin"
#define TABLES_DEFAULT "/usr/share/bacula-director/make_sqlite3_tables"
/* Passwords of a site that lives for one test run and listens on 127.0.0.1 only. */
#define DIR_PASSWORD "vss-test-console"
#define SD_PASSWORD "vss-test-storage"
#define FD_PASSWORD "vss-test-client"

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        if (r < 0)
                abort();
        return p;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* The program path: $BACULA_SBINDIR (default /usr/sbin) / name. */
static char *sbin(const char *name) {
        const char *d = getenv("BACULA_SBINDIR");

        return xasprintf("%s/%s", d && *d ? d : SBINDIR_DEFAULT, name);
}

static int write_text(const char *path, const char *text) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(text);

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (write(fd, text, len) != (ssize_t) len)
                return -EIO;
        return 0;
}

/* Free ports: every socket stays bound until all n are chosen, so they are distinct. */
static int free_ports(unsigned *ret, size_t n) {
        int fds[2 + BACULA_MAX_HOSTS];
        size_t opened = 0;
        int r = 0;

        if (n > ELEMENTSOF(fds))
                return -E2BIG;
        for (; opened < n; opened++) {
                struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                socklen_t len = sizeof(a);

                fds[opened] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fds[opened] < 0) {
                        r = -errno;
                        break;
                }
                if (bind(fds[opened], (struct sockaddr *) &a, sizeof(a)) < 0 ||
                    getsockname(fds[opened], (struct sockaddr *) &a, &len) < 0) {
                        r = -errno;
                        opened++;
                        break;
                }
                ret[opened] = ntohs(a.sin_port);
        }
        for (size_t i = 0; i < opened; i++)
                (void) close(fds[i]);
        return r;
}

/* Waits until 127.0.0.1:port accepts a connection; -ESRCH at once when pid exited (reaped). */
static int port_wait(unsigned port, pid_t pid, unsigned timeout_ms) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;

        for (;;) {
                struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                int status;

                if (fd < 0)
                        return -errno;
                if (connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0)
                        return 0;
                if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid)
                        return -ESRCH;
                if (now_usec() > deadline)
                        return -ETIMEDOUT;
                sleep_ms(50);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Layout and configuration                                                                    */
/* ------------------------------------------------------------------------------------------ */

int bacula_site_init(const char *dir, const char *const *hosts, size_t n_hosts, BaculaSite *ret) {
        unsigned ports[2 + BACULA_MAX_HOSTS];
        BaculaSite s = {};
        int r;

        if (n_hosts == 0 || n_hosts > BACULA_MAX_HOSTS)
                return -EINVAL;
        r = free_ports(ports, 2 + n_hosts);
        if (r < 0)
                return r;

        s.dir = strdup(dir);
        if (!s.dir)
                return -ENOMEM;
        s.dir_port = ports[0];
        s.sd_port = ports[1];
        s.dir_conf = xasprintf("%s/bacula-dir.conf", dir);
        s.sd_conf = xasprintf("%s/bacula-sd.conf", dir);
        s.console_conf = xasprintf("%s/bconsole.conf", dir);
        s.dir_work = xasprintf("%s/dir", dir);
        s.sd_work = xasprintf("%s/sd", dir);
        s.volumes = xasprintf("%s/volumes", dir);
        s.jobs_log = xasprintf("%s/jobs.log", dir);
        s.dir_log = xasprintf("%s/bacula-dir.log", dir);
        s.sd_log = xasprintf("%s/bacula-sd.log", dir);
        s.catalog = xasprintf("%s/bacula.db", s.dir_work);
        for (size_t i = 0; i < n_hosts; i++) {
                BaculaFd *fd = &s.fds[i];

                fd->name = xasprintf("%s-fd", hosts[i]);
                fd->port = ports[2 + i];
                fd->work_dir = xasprintf("%s/%s", dir, fd->name);
                fd->conf = xasprintf("%s/%s.conf", dir, fd->name);
                fd->log = xasprintf("%s/%s.log", dir, fd->name);
        }
        s.n_fds = n_hosts;

        const char *const mkdirs[] = { s.dir_work, s.sd_work, s.volumes };
        for (size_t i = 0; i < ELEMENTSOF(mkdirs); i++)
                if (mkdir(mkdirs[i], 0700) < 0 && errno != EEXIST) {
                        r = -errno;
                        bacula_site_done(&s);
                        return r;
                }
        for (size_t i = 0; i < n_hosts; i++)
                if (mkdir(s.fds[i].work_dir, 0700) < 0 && errno != EEXIST) {
                        r = -errno;
                        bacula_site_done(&s);
                        return r;
                }
        *ret = s;
        return 0;
}

static char *dir_config(const BaculaSite *s, const char *resources) {
        _cleanup_free_ char *clients = strdup("");

        for (size_t i = 0; i < s->n_fds; i++) {
                char *more = xasprintf("%s"
                                       "Client {\n"
                                       "  Name = %s\n"
                                       "  Address = 127.0.0.1\n"
                                       "  FDPort = %u\n"
                                       "  Catalog = catalog\n"
                                       "  Password = \"" FD_PASSWORD "\"\n"
                                       "  Maximum Concurrent Jobs = 10\n"
                                       "  AutoPrune = no\n"
                                       "}\n",
                                       clients, s->fds[i].name, s->fds[i].port);
                free(clients);
                clients = more;
        }
        /* Messages: every job's report goes to jobs.log and to the catalog (list joblog);
         * nothing is mailed. Pool: volumes are labeled on demand, never recycled. One
         * restore job, so bconsole's restore never asks which one. */
        return xasprintf("Director {\n"
                         "  Name = vss-test-dir\n"
                         "  DIRport = %u\n"
                         "  DirAddress = 127.0.0.1\n"
                         "  QueryFile = \"/etc/bacula/scripts/query.sql\"\n"
                         "  WorkingDirectory = \"%s\"\n"
                         "  PidDirectory = \"%s\"\n"
                         "  Maximum Concurrent Jobs = 20\n"
                         "  Password = \"" DIR_PASSWORD "\"\n"
                         "  Messages = daemon\n"
                         "}\n"
                         "Catalog {\n"
                         "  Name = catalog\n"
                         "  dbname = \"bacula\"; dbuser = \"\"; dbpassword = \"\"\n"
                         "}\n"
                         "Messages {\n"
                         "  Name = daemon\n"
                         "  console = all, !skipped, !saved\n"
                         "  append = \"%s\" = all, !skipped\n"
                         "}\n"
                         "Messages {\n"
                         "  Name = standard\n"
                         "  console = all, !skipped, !saved\n"
                         "  append = \"%s\" = all, !skipped\n"
                         "  catalog = all, !skipped, !saved\n"
                         "}\n"
                         "Storage {\n"
                         "  Name = storage\n"
                         "  Address = 127.0.0.1\n"
                         "  SDPort = %u\n"
                         "  Password = \"" SD_PASSWORD "\"\n"
                         "  Device = files\n"
                         "  Media Type = File\n"
                         "  Maximum Concurrent Jobs = 20\n"
                         "}\n"
                         "Pool {\n"
                         "  Name = pool\n"
                         "  Pool Type = Backup\n"
                         "  Label Format = \"vol-\"\n"
                         "  Maximum Volume Bytes = 4G\n"
                         "  Maximum Volumes = 100\n"
                         "  Recycle = no\n"
                         "  AutoPrune = no\n"
                         "}\n"
                         "%s"
                         "Job {\n"
                         "  Name = restore\n"
                         "  Type = Restore\n"
                         "  Client = %s\n"
                         "  FileSet = restore-any\n"
                         "  Storage = storage\n"
                         "  Pool = pool\n"
                         "  Messages = standard\n"
                         "  Where = \"%s/restores\"\n"
                         "}\n"
                         "FileSet {\n"
                         "  Name = restore-any\n"
                         "  Include {\n"
                         "    File = /nonexistent\n"
                         "  }\n"
                         "}\n"
                         "%s",
                         s->dir_port, s->dir_work, s->dir_work, s->dir_log, s->jobs_log, s->sd_port, clients,
                         s->fds[0].name, s->dir, resources ? resources : "");
}

static char *sd_config(const BaculaSite *s) {
        /* One File device taking every job at once: concurrent jobs interleave on a volume. */
        return xasprintf("Storage {\n"
                         "  Name = vss-test-sd\n"
                         "  SDPort = %u\n"
                         "  SDAddress = 127.0.0.1\n"
                         "  WorkingDirectory = \"%s\"\n"
                         "  Pid Directory = \"%s\"\n"
                         "  Maximum Concurrent Jobs = 20\n"
                         "}\n"
                         "Director {\n"
                         "  Name = vss-test-dir\n"
                         "  Password = \"" SD_PASSWORD "\"\n"
                         "}\n"
                         "Device {\n"
                         "  Name = files\n"
                         "  Media Type = File\n"
                         "  Archive Device = \"%s\"\n"
                         "  LabelMedia = yes\n"
                         "  Random Access = yes\n"
                         "  AutomaticMount = yes\n"
                         "  RemovableMedia = no\n"
                         "  AlwaysOpen = no\n"
                         "  Maximum Concurrent Jobs = 20\n"
                         "}\n"
                         "Messages {\n"
                         "  Name = standard\n"
                         "  director = vss-test-dir = all\n"
                         "}\n",
                         s->sd_port, s->sd_work, s->sd_work, s->volumes);
}

static char *fd_config(const BaculaFd *fd) {
        return xasprintf("FileDaemon {\n"
                         "  Name = %s\n"
                         "  FDport = %u\n"
                         "  FDAddress = 127.0.0.1\n"
                         "  WorkingDirectory = \"%s\"\n"
                         "  Pid Directory = \"%s\"\n"
                         "  Maximum Concurrent Jobs = 10\n"
                         "%s"
                         "}\n"
                         "Director {\n"
                         "  Name = vss-test-dir\n"
                         "  Password = \"" FD_PASSWORD "\"\n"
                         "}\n"
                         "Messages {\n"
                         "  Name = standard\n"
                         "  director = vss-test-dir = all, !skipped, !restored\n"
                         "}\n",
                         fd->name, fd->port, fd->work_dir, fd->work_dir, fd->directives ? fd->directives : "");
}

static char *console_config(const BaculaSite *s) {
        return xasprintf("Director {\n"
                         "  Name = vss-test-dir\n"
                         "  DIRport = %u\n"
                         "  Address = 127.0.0.1\n"
                         "  Password = \"" DIR_PASSWORD "\"\n"
                         "}\n",
                         s->dir_port);
}

/* Writes text to path and has program check it with -t (errors into log). */
static int config_write_checked(const char *path, const char *text, const char *program, const char *log) {
        _cleanup_free_ char *exe = sbin(program);
        int r;

        r = write_text(path, text);
        if (r < 0)
                return r;
        r = process_run_logged((char *const[]) { exe, (char *) "-t", (char *) "-c", (char *) path, NULL }, log);
        if (r < 0)
                fprintf(stderr, "bacula-harness: %s -t rejects %s (see %s)\n", program, path, log);
        return r;
}

/*
 * The catalog, as Debian makes it: make_sqlite3_tables is a shell script that feeds its
 * here-document to sqlite3 in /var/lib/bacula; the here-document alone is run here, on the
 * site's own database file.
 */
static int catalog_create(const BaculaSite *s) {
        const char *script = getenv("BACULA_MAKE_TABLES");
        _cleanup_free_ char *text = NULL;
        char *begin, *end, *err = NULL;
        sqlite3 *db = NULL;
        int r;

        r = read_file_full(script && *script ? script : TABLES_DEFAULT, &text, NULL);
        if (r < 0) {
                fprintf(stderr, "bacula-harness: cannot read %s: %s\n", script ? script : TABLES_DEFAULT,
                        strerror(-r));
                return r;
        }
        begin = strstr(text, "<<END-OF-DATA\n");
        end = begin ? strstr(begin, "\nEND-OF-DATA") : NULL;
        if (!begin || !end)
                return -EBADMSG;
        begin += strlen("<<END-OF-DATA\n");
        *end = '\0';

        if (sqlite3_open(s->catalog, &db) != SQLITE_OK) {
                sqlite3_close(db);
                return -EIO;
        }
        r = sqlite3_exec(db, begin, NULL, NULL, &err) == SQLITE_OK ? 0 : -EIO;
        if (r < 0)
                fprintf(stderr, "bacula-harness: catalog tables: %s\n", err);
        sqlite3_free(err);
        sqlite3_close(db);
        return r;
}

/* Starts program -f -c conf with its output in log and waits for port. */
static int daemon_start(const char *program, const char *conf, const char *log, unsigned port, pid_t *ret_pid) {
        _cleanup_free_ char *exe = sbin(program);
        pid_t pid;
        int r;

        /* BACULA_DEBUG=N: the daemons' debug output (level N, with timestamps) in their logs. */
        if (getenv("BACULA_DEBUG"))
                r = spawn_logged((char *const[]) { exe, (char *) "-f", (char *) "-c", (char *) conf, (char *) "-dt",
                                                   (char *) "-d", getenv("BACULA_DEBUG"), NULL },
                                 log, &pid);
        else
                r = spawn_logged((char *const[]) { exe, (char *) "-f", (char *) "-c", (char *) conf, NULL }, log,
                                 &pid);
        if (r < 0)
                return r;
        r = port_wait(port, pid, DAEMON_UP_MS);
        if (r < 0) {
                fprintf(stderr, "bacula-harness: %s did not come up on port %u: %s (log %s)\n", program, port,
                        strerror(-r), log);
                if (r != -ESRCH)
                        (void) process_stop(pid, 2000);
                return r;
        }
        *ret_pid = pid;
        return 0;
}

int bacula_fd_start(BaculaSite *s, size_t i) {
        _cleanup_free_ char *text = NULL;
        BaculaFd *fd = &s->fds[i];
        int r;

        if (fd->pid > 0)
                return -EBUSY;
        text = fd_config(fd);
        r = config_write_checked(fd->conf, text, "bacula-fd", fd->log);
        if (r < 0)
                return r;
        return daemon_start("bacula-fd", fd->conf, fd->log, fd->port, &fd->pid);
}

void bacula_fd_stop(BaculaSite *s, size_t i) {
        if (s->fds[i].pid > 0)
                (void) process_stop(s->fds[i].pid, 5000);
        s->fds[i].pid = 0;
}

int bacula_site_start(BaculaSite *s, const char *dir_resources) {
        _cleanup_free_ char *dir_text = dir_config(s, dir_resources), *sd_text = sd_config(s);
        _cleanup_free_ char *console_text = console_config(s);
        int r;

        r = config_write_checked(s->sd_conf, sd_text, "bacula-sd", s->sd_log);
        if (r < 0)
                return r;
        /* The catalog first: the Director's -t opens it. */
        r = catalog_create(s);
        if (r < 0)
                return r;
        r = config_write_checked(s->dir_conf, dir_text, "bacula-dir", s->dir_log);
        if (r < 0)
                return r;
        r = write_text(s->console_conf, console_text);
        if (r < 0)
                return r;

        r = daemon_start("bacula-sd", s->sd_conf, s->sd_log, s->sd_port, &s->sd_pid);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n_fds; i++) {
                r = bacula_fd_start(s, i);
                if (r < 0)
                        return r;
        }
        return daemon_start("bacula-dir", s->dir_conf, s->dir_log, s->dir_port, &s->dir_pid);
}

void bacula_site_done(BaculaSite *s) {
        if (s->dir_pid > 0)
                (void) process_stop(s->dir_pid, 5000);
        for (size_t i = 0; i < s->n_fds; i++)
                bacula_fd_stop(s, i);
        if (s->sd_pid > 0)
                (void) process_stop(s->sd_pid, 5000);
        for (size_t i = 0; i < BACULA_MAX_HOSTS; i++) {
                BaculaFd *fd = &s->fds[i];

                free(fd->name);
                free(fd->work_dir);
                free(fd->conf);
                free(fd->log);
                free(fd->directives);
        }
        free(s->dir);
        free(s->dir_conf);
        free(s->sd_conf);
        free(s->console_conf);
        free(s->dir_work);
        free(s->sd_work);
        free(s->volumes);
        free(s->jobs_log);
        free(s->dir_log);
        free(s->sd_log);
        free(s->catalog);
        *s = (BaculaSite) {};
}

/* ------------------------------------------------------------------------------------------ */
/* bconsole                                                                                    */
/* ------------------------------------------------------------------------------------------ */

int bacula_console(BaculaSite *s, const char *commands, char **ret) {
        _cleanup_free_ char *in = NULL, *out = NULL, *exe = sbin("bconsole"), *text = NULL;
        uint64_t deadline;
        unsigned serial = ++s->serial;
        pid_t pid;
        int status, r;

        in = xasprintf("%s/bconsole-%u.in", s->dir, serial);
        out = xasprintf("%s/bconsole-%u.out", s->dir, serial);
        r = write_text(in, commands);
        if (r < 0)
                return r;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int i, o;

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                i = open(in, O_RDONLY | O_CLOEXEC);
                o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (i < 0 || o < 0 || dup2(i, STDIN_FILENO) < 0 || dup2(o, STDOUT_FILENO) < 0 ||
                    dup2(o, STDERR_FILENO) < 0)
                        _exit(127);
                execv(exe, (char *const[]) { exe, (char *) "-c", s->console_conf, NULL });
                _exit(127);
        }

        deadline = now_usec() + (uint64_t) BACULA_CONSOLE_TIMEOUT_MS * USEC_PER_MSEC;
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);

                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR)
                        return -errno;
                if (now_usec() > deadline) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, &status, 0);
                        fprintf(stderr, "bacula-harness: bconsole did not finish: %s\n", out);
                        return -ETIMEDOUT;
                }
                sleep_ms(20);
        }
        r = read_file_full(out, &text, NULL);
        if (r < 0)
                return r;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bacula-harness: bconsole failed (%s):\n%s\n", out, text);
                return -EPROTO;
        }
        *ret = TAKE_PTR(text);
        return 0;
}

int bacula_consolef(BaculaSite *s, char **ret, const char *fmt, ...) {
        _cleanup_free_ char *commands = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&commands, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return bacula_console(s, commands, ret);
}

/* The number after key in text ("JobId=" …); -ENOENT when key is absent. */
static int number_after(const char *text, const char *key, unsigned *ret) {
        const char *p = text ? strstr(text, key) : NULL;
        char *end;
        unsigned long v;

        if (!p)
                return -ENOENT;
        errno = 0;
        v = strtoul(p + strlen(key), &end, 10);
        if (errno != 0 || end == p + strlen(key) || v == 0 || v > UINT32_MAX)
                return -EBADMSG;
        *ret = (unsigned) v;
        return 0;
}

int bacula_run(BaculaSite *s, const char *job, const char *level, unsigned *ret_jobid) {
        _cleanup_free_ char *out = NULL;
        int r;

        if (level)
                r = bacula_consolef(s, &out, "run job=%s level=%s yes\n", job, level);
        else
                r = bacula_consolef(s, &out, "run job=%s yes\n", job);
        if (r < 0)
                return r;
        r = number_after(out, "Job queued. JobId=", ret_jobid);
        if (r < 0)
                fprintf(stderr, "bacula-harness: run job=%s: no JobId in:\n%s\n", job, out);
        return r;
}

int bacula_wait(BaculaSite *s, unsigned jobid, char *ret_status) {
        _cleanup_free_ char *out = NULL;
        const char *p, *open_paren;
        int r;

        r = bacula_consolef(s, &out, "wait jobid=%u\n", jobid);
        if (r < 0)
                return r;
        /* "JobStatus=OK (T)": the letter in parentheses. */
        p = strstr(out, "JobStatus=");
        open_paren = p ? strchr(p, '(') : NULL;
        if (!open_paren || !open_paren[1] || open_paren[2] != ')') {
                fprintf(stderr, "bacula-harness: wait jobid=%u: no status in:\n%s\n", jobid, out);
                return -EBADMSG;
        }
        *ret_status = open_paren[1];
        return 0;
}

int bacula_wait_end(BaculaSite *s, unsigned jobid, unsigned interval_ms, char *ret_status) {
        uint64_t deadline = now_usec() + (uint64_t) BACULA_CONSOLE_TIMEOUT_MS * USEC_PER_MSEC;

        for (;;) {
                _cleanup_free_ char *status = NULL;
                int r;

                r = bacula_llist(s, jobid, "JobStatus", &status);
                if (r < 0 && r != -ENOENT)
                        return r;
                /* The letters of a job that ended (src/jobstatus.h): OK, OK with warnings,
                 * errors, non-fatal errors, fatal, cancelled, differences. */
                if (r >= 0 && strlen(status) == 1 && strchr("TWEefAD", status[0])) {
                        *ret_status = status[0];
                        return 0;
                }
                if (now_usec() > deadline)
                        return -ETIMEDOUT;
                sleep_ms(interval_ms);
        }
}

int bacula_llist(BaculaSite *s, unsigned jobid, const char *field, char **ret) {
        _cleanup_free_ char *out = NULL, *key = xasprintf(" %s: ", field);
        const char *p;
        char *v;
        size_t n;
        int r;

        r = bacula_consolef(s, &out, "llist jobid=%u\n", jobid);
        if (r < 0)
                return r;
        /* "       JobFiles: 51": the field right-aligned before its colon. */
        p = strstr(out, key);
        if (!p)
                return -ENOENT;
        p += strlen(key);
        n = strcspn(p, "\n");
        while (n > 0 && p[n - 1] == ' ')
                n--;
        v = strndup(p, n);
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

int bacula_list_files(BaculaSite *s, unsigned jobid, char **ret) {
        _cleanup_free_ char *out = NULL;
        char *list, *w;
        int r;

        r = bacula_consolef(s, &out, "list files jobid=%u\n", jobid);
        if (r < 0)
                return r;
        list = w = malloc(strlen(out) + 1);
        if (!list)
                return -ENOMEM;
        /* Table rows "| /path/name    |"; the header and rulers are not paths. */
        for (const char *p = out; *p;) {
                size_t n = strcspn(p, "\n");

                if (n > 3 && strncmp(p, "| /", 3) == 0) {
                        const char *b = p + 2;
                        size_t m = n - 2;

                        while (m > 0 && (b[m - 1] == ' ' || b[m - 1] == '|'))
                                m--;
                        memcpy(w, b, m);
                        w += m;
                        *w++ = '\n';
                }
                p += n;
                if (*p == '\n')
                        p++;
        }
        *w = '\0';
        *ret = list;
        return 0;
}

bool bacula_list_has(const char *list, const char *path) {
        size_t len = strlen(path);

        for (const char *p = list; p && *p;) {
                size_t n = strcspn(p, "\n");

                if (n == len && strncmp(p, path, len) == 0)
                        return true;
                p += n;
                if (*p == '\n')
                        p++;
        }
        return false;
}

int bacula_job_log(BaculaSite *s, unsigned jobid, char **ret) {
        return bacula_consolef(s, ret, "list joblog jobid=%u\n", jobid);
}

int bacula_restore(BaculaSite *s, const char *client, const char *jobids, const char *where,
                   const char *restore_job, unsigned *ret_jobid) {
        _cleanup_free_ char *out = NULL;
        int r;

        r = bacula_consolef(s, &out,
                            "restore client=%s restoreclient=%s restorejob=%s jobid=%s where=\"%s\" all done yes\n",
                            client, client, restore_job ? restore_job : "restore", jobids, where);
        if (r < 0)
                return r;
        r = number_after(out, "Job queued. JobId=", ret_jobid);
        if (r < 0)
                fprintf(stderr, "bacula-harness: restore jobid=%s: no JobId in:\n%s\n", jobids, out);
        return r;
}

int bacula_cancel(BaculaSite *s, unsigned jobid) {
        _cleanup_free_ char *out = NULL;
        int r;

        r = bacula_consolef(s, &out, "cancel jobid=%u yes\n", jobid);
        if (r < 0)
                return r;
        if (!strstr(out, "marked to be canceled")) {
                fprintf(stderr, "bacula-harness: cancel jobid=%u:\n%s\n", jobid, out);
                return -EPROTO;
        }
        return 0;
}

int bacula_client_running(BaculaSite *s, const char *client, unsigned jobid, uint64_t *ret_bytes) {
        _cleanup_free_ char *out = NULL, *key = xasprintf("JobId %u Job ", jobid);
        const char *p, *b;
        uint64_t bytes = 0;
        int r;

        r = bacula_consolef(s, &out, "status client=%s\n", client);
        if (r < 0)
                return r;
        /* "JobId 5 Job NAME is running." then "    Files=18 Bytes=1,700,004 …". */
        p = strstr(out, key);
        if (!p || !strstr(p, "is running"))
                return 0;
        b = strstr(p, "Bytes=");
        if (b)
                for (b += strlen("Bytes="); (*b >= '0' && *b <= '9') || *b == ','; b++)
                        if (*b != ',')
                                bytes = bytes * 10 + (uint64_t) (*b - '0');
        if (ret_bytes)
                *ret_bytes = bytes;
        return 1;
}
