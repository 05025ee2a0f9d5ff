/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bacula-harness.h: a private Bacula installation for the issue-13 proof: one Director with
 * a SQLite catalog, one Storage Daemon writing File volumes into a temporary directory, and
 * several File Daemons ("hosts"), each on its own port with its own working directory and
 * pid file. Every daemon runs in the foreground as a child of the test, on 127.0.0.1 and on
 * ports chosen free for this run, so it collides neither with a system Bacula nor with a
 * parallel run. Everything is driven the way an administrator drives Bacula: bconsole with
 * a private configuration, its output read back.
 *
 * The harness writes the site's fixed resources (daemons, catalog, storage, pool, messages,
 * one Client per host, one restore job); the test adds its FileSets and Jobs as Director
 * configuration text, and directives for each File Daemon's own resource.
 *
 * Internal style: functions return 0 or a negative errno; ret_* outputs are written only on
 * success. Waits are bounded by generous deadlines that only keep a broken daemon from
 * hanging the test; nothing asserts on time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BACULA_MAX_HOSTS 4
/* bconsole's own deadline per call: a `wait` covers a whole job. */
#define BACULA_CONSOLE_TIMEOUT_MS 120000U

/* One File Daemon: a "host". */
typedef struct BaculaFd {
        char *name;       /* "<host>-fd", the Client's name too */
        unsigned port;
        char *work_dir;   /* its WorkingDirectory and PidDirectory */
        char *conf;       /* its configuration file */
        char *log;        /* its stdout + stderr */
        char *directives; /* extra lines inside its FileDaemon resource (test's; may be NULL) */
        pid_t pid;        /* while running */
} BaculaFd;

typedef struct BaculaSite {
        char *dir;           /* the site's directory (owned by the caller: not removed here) */
        unsigned dir_port;   /* the Director's */
        unsigned sd_port;    /* the Storage Daemon's */
        char *dir_conf, *sd_conf, *console_conf;
        char *dir_work, *sd_work;
        char *volumes;       /* the File device's directory */
        char *jobs_log;      /* every job's messages (Messages "append") */
        char *dir_log, *sd_log;
        char *catalog;       /* <dir_work>/bacula.db */
        pid_t dir_pid, sd_pid;
        BaculaFd fds[BACULA_MAX_HOSTS];
        size_t n_fds;
        unsigned serial;     /* numbers bconsole's transcripts */
} BaculaSite;

/*
 * bacula_site_init: lay out a site in dir (existing) for n_hosts File Daemons named
 * "<hosts[i]>-fd", choosing free ports. Nothing is written or started yet. Ownership: *ret
 * is ended by bacula_site_done().
 */
int bacula_site_init(const char *dir, const char *const *hosts, size_t n_hosts, BaculaSite *ret);

/*
 * bacula_site_start: write every configuration (the Director's with dir_resources appended:
 * the test's FileSets and Jobs), check each with the daemon's -t, make the catalog with
 * Debian's make_sqlite3_tables, start the Storage Daemon, every File Daemon and the Director,
 * and wait until each listens.
 */
int bacula_site_start(BaculaSite *s, const char *dir_resources);

/* bacula_fd_start / bacula_fd_stop: one File Daemon (e.g. again, after it was killed). */
int bacula_fd_start(BaculaSite *s, size_t i);
void bacula_fd_stop(BaculaSite *s, size_t i);

/* bacula_site_done: stop every daemon (SIGTERM, then SIGKILL) and free. Safe on a zeroed site. */
void bacula_site_done(BaculaSite *s);

/* ------------------------------------------------------------------------------------------ */
/* bconsole                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/*
 * bacula_console: run bconsole with commands (lines, '\n'-separated) on stdin; its whole
 * output in *ret (malloc'd; also kept as <dir>/bconsole-<serial>.out). Killed after
 * BACULA_CONSOLE_TIMEOUT_MS (-ETIMEDOUT).
 */
int bacula_console(BaculaSite *s, const char *commands, char **ret);
int bacula_consolef(BaculaSite *s, char **ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* bacula_run: "run job=<job> level=<level> yes" (level may be NULL): the queued JobId. */
int bacula_run(BaculaSite *s, const char *job, const char *level, unsigned *ret_jobid);

/*
 * bacula_wait: "wait jobid=N" until the job ended; its JobStatus letter ('T' OK, 'A'
 * canceled, 'f' fatal, 'E' errors, …) in *ret_status.
 */
int bacula_wait(BaculaSite *s, unsigned jobid, char *ret_status);

/*
 * bacula_wait_end: the same, found by asking the catalog for the job's status every
 * interval_ms: `wait` itself looks once a second, too coarse for timing a job.
 */
int bacula_wait_end(BaculaSite *s, unsigned jobid, unsigned interval_ms, char *ret_status);

/* bacula_llist: one field of "llist jobid=N" (e.g. "JobFiles", "Level"), malloc'd. */
int bacula_llist(BaculaSite *s, unsigned jobid, const char *field, char **ret);

/* bacula_list_files: the paths "list files jobid=N" prints, one per line, malloc'd. */
int bacula_list_files(BaculaSite *s, unsigned jobid, char **ret);

/* bacula_job_log: the job's messages ("list joblog jobid=N"), malloc'd; for failure reports. */
int bacula_job_log(BaculaSite *s, unsigned jobid, char **ret);

/*
 * bacula_restore: restore client's files as of jobids (a comma-separated list, as
 * `restore jobid=` takes it: usually a Full and the Incrementals after it) into where
 * ("/" for in place), every file, with the Restore job restore_job (NULL: the site's own,
 * "restore"); the restore job's JobId.
 */
int bacula_restore(BaculaSite *s, const char *client, const char *jobids, const char *where,
                   const char *restore_job, unsigned *ret_jobid);

/* bacula_cancel: "cancel jobid=N yes". */
int bacula_cancel(BaculaSite *s, unsigned jobid);

/* bacula_client_running: whether "status client=<client>" shows jobid running, with its
 * byte count so far in *ret_bytes (may be NULL). */
int bacula_client_running(BaculaSite *s, const char *client, unsigned jobid, uint64_t *ret_bytes);

/* bacula_list_has: whether a "list files" output lists path exactly. */
bool bacula_list_has(const char *list, const char *path);
