/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-bacula.h: what the parts of vss-bacula share. vss-bacula makes vss-linux the snapshot
 * engine of Bacula's Linux File Daemon (docs/bacula.md).
 *
 * The File Daemon runs its "Snapshot Command" once per action (support, create, mount,
 * unmount, delete, ...), each time as a short process, with the action and the volume in
 * SNAPSHOT_* environment variables, and reads one line "status=1 key=\"value\" ..." back. A VSS
 * backup, though, is one requester connection from the first step to BackupComplete: closing it
 * is a release. So the short processes (backend.c) talk to one agent per job (agent.c), a
 * daemon started by the job's first call that holds the requester for the whole job, over a
 * private Unix socket with sd-bus peer to peer (agent-dbus.c, client.c). The agent watches the
 * File Daemon through a pidfd and has an overall deadline; when the File Daemon goes away, or
 * the deadline passes, the writers hear SetBackupSucceeded(false) and the connection closes.
 *
 * The parts, one file per concept: main.c (command line, subcommands), backend.c (the
 * SNAPSHOT_ACTION protocol), client.c (finding or starting a job's agent, calling it),
 * agent.c (the daemon: socket, event loop, File Daemon watch, deadlines), agent-dbus.c (its
 * bus methods), agent-backup.c (the VSS backup sequence the agent runs), agent-restore.c
 * (PreRestore/PostRestore around a restore in place), restore.c (the restore pair's
 * subcommands).
 *
 * Internal style: functions return 0 or a negative errno unless they say otherwise.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "tool.h"
#include "vss/vss.h"

/* Where the agents' sockets live (0700, root) and where the jobs' documents are kept. */
#define BACULA_RUN_DIR_DEFAULT "/run/vss/bacula"
#define BACULA_STATE_DIR_DEFAULT "/var/lib/vss/bacula"

/* The bus object every agent serves (peer to peer; no bus daemon). */
#define BACULA_BUS_PATH "/org/vsslinux/VSS1/Bacula"
#define BACULA_BUS_IFACE "org.vsslinux.VSS1.Bacula"

/* Limits: what one job may make an agent hold, and how many agents may exist at once. */
#define BACULA_MAX_VOLUMES 64
#define BACULA_MAX_AGENTS 64
#define BACULA_MAX_VALUE 4096           /* longest SNAPSHOT_* value or method argument */
#define BACULA_MAX_JOB_NAME 127         /* Bacula's MAX_NAME_LENGTH - 1 */

/* Defaults of the agent's clocks (seconds); each has an option. */
#define BACULA_WAIT_SET_DEFAULT_S 300    /* wait for another set in creation; the File Daemon gives each action 600 s */
#define BACULA_IDLE_DEFAULT_S 300        /* no call before the set was taken: give up */
#define BACULA_LINGER_DEFAULT_S 600      /* after the last delete, wait for job-end this long */
#define BACULA_DEADLINE_DEFAULT_S (24 * 3600) /* the whole job */
#define BACULA_KEEP_DOCUMENTS_DEFAULT 100

/* The options every form of the program takes (main.c parses them, everything reads them). */
typedef struct Options {
        const char *socket;             /* vssd's socket; NULL: $VSS_SOCKET, else the default */
        const char *run_dir;
        const char *state_dir;
        unsigned wait_set_s;
        unsigned idle_s;
        unsigned linger_s;
        unsigned deadline_s;
        unsigned keep_documents;        /* per job name, the newest kept in state_dir */
} Options;

extern Options opt;

/* ---- backend.c: the File Daemon's protocol ------------------------------------------------ */

/*
 * backend_run: one SNAPSHOT_ACTION, from the environment. Prints the one answer line on
 * stdout. Returns the exit status: 0 with "status=1 ...", 1 with "status=0 error=..." (the File
 * Daemon reads the error text only when the status is 1; docs/bacula.md).
 */
int backend_run(void);

/* ---- client.c: reaching a job's agent ----------------------------------------------------- */

typedef struct sd_bus sd_bus;

/* job_name_valid: a Bacula job name we accept (1..127 printable bytes, no '"', '/' or '\\'). */
bool job_name_valid(const char *job);

/* agent_socket_path: the socket of job's agent (malloc'd): RUN_DIR/job-<hash>.sock. */
int agent_socket_path(const char *job, char **ret);

/*
 * agent_connect: a bus connection to job's agent. When spawn is true and none runs, starts one
 * (agent.c) whose File Daemon is fd_pid, and waits until it listens. -ENOENT when none runs
 * and spawn is false; -EUSERS at BACULA_MAX_AGENTS.
 */
int agent_connect(const char *job, bool spawn, pid_t fd_pid, sd_bus **ret);

typedef struct sd_bus_message sd_bus_message;

/*
 * agent_call: calls method on the agent with the arguments types says. On failure *ret_error
 * (malloc'd) says why (the agent's own text, or the transport's) and the result is negative;
 * on success *ret_reply (when given) is the reply to read (sd_bus_message_unref).
 */
int agent_call(sd_bus *bus, const char *method, char **ret_error, sd_bus_message **ret_reply,
               const char *types, ...);

/* ---- agent.c: the per-job daemon ---------------------------------------------------------- */

/*
 * agent_main: serve job on the listening socket fd until the job is over. ready_fd (closed
 * here) gets one byte once the agent serves. fd_pid is the File Daemon. Never returns to
 * the caller's code: the result is the process's exit status.
 */
int agent_main(const char *job, int listen_fd, int ready_fd, pid_t fd_pid);

/* ---- agent-backup.c: the VSS side of one job ---------------------------------------------- */

typedef struct Volume {
        char *device;                   /* SNAPSHOT_DEVICE as the File Daemon named it */
        char *mountpoint;               /* SNAPSHOT_MOUNTPOINT: what goes into the set */
        bool created;                   /* the File Daemon's create came: the volume is in the set */
        vss_id snapshot_id;
        char *snapshot_dir;             /* where the snapshot reads as a directory */
        bool deleted;                   /* the File Daemon's delete came */
} Volume;

typedef struct AddedComponent {
        vss_id instance_id;
        vss_id writer_id;
        vss_component_type type;
        char *logical_path;
        char *name;
} AddedComponent;

typedef struct Job {
        char *name;
        vss_backup_type backup_type;
        bool type_known;                /* job-begin named the level */
        bool outcome_expected;          /* job-begin ran: job-end will tell the outcome */
        Volume volumes[BACULA_MAX_VOLUMES];
        size_t n_volumes;
        vss_requester *req;
        vss_id set_id;
        bool set_taken;                 /* DoSnapshotSet succeeded */
        char *set_error;                /* the set failed: every create answers this */
        AddedComponent *components;     /* backup: added; restore: selected for restore */
        size_t n_components;
        char *bcd_path;
        bool restore;                   /* a restore job's session (agent-restore.c) */
        bool restore_begun;             /* PreRestore went out: PostRestore is owed */
        bool pre_restore_failed;
} Job;

/* job_type_from_level: Bacula's level ("Full", "Incremental", "Differential", or the letter)
 * as a VSS backup type; anything else is a copy (no writer history changes). */
vss_backup_type job_type_from_level(const char *level);

/* vssd's largest message; a document cannot be longer. */
#define BCD_MAX_BYTES (16U * 1024 * 1024)

/* read_document: the saved document at path (a regular file of at most BCD_MAX_BYTES) into *ret
 * (malloc'd, NUL-terminated); on failure -errno and *ret_error (a sentence; caller frees). */
int read_document(const char *path, char **ret, char **ret_error);

/* job_supports: does vssd snapshot the volume mounted at mountpoint? On no, *ret_reason;
 * -ENOTCONN when vssd could not be asked at all. */
int job_supports(Job *j, const char *mountpoint, char **ret_reason);

/*
 * job_take_set: the backup sequence up to a committed snapshot set of every created volume of j, with
 * the writers whose components lie on them (component mode), and the document saved. On
 * failure the writers heard Abort and *ret_error says why.
 */
int job_take_set(Job *j, char **ret_error);

/*
 * job_finish: SetBackupSucceeded(succeeded) for every component, the document saved again,
 * BackupComplete, then the release (BackupShutdown; the auto-release snapshots go).
 */
void job_finish(Job *j, bool succeeded);

void job_done(Job *j);

/* ---- agent-restore.c: the VSS side of a restore in place ---------------------------------- */

/*
 * job_restore_begin: InitializeForRestore from the document at bcd_path, every component of it
 * whose writer runs selected, PreRestore. On failure *ret_error says why; once PreRestore went
 * out (j->restore_begun) job_restore_end is owed even then.
 */
int job_restore_begin(Job *j, const char *bcd_path, char **ret_error);

/* job_restore_end: SetFileRestoreStatus(status) for each component, PostRestore, the release. */
void job_restore_end(Job *j, vss_file_restore_status status);

/* ---- agent-dbus.c: the agent's methods ----------------------------------------------------- */

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;

#define AGENT_MAX_CONNECTIONS 8

/* One job's agent (agent.c); its methods (agent-dbus.c) act on it. */
typedef struct Agent {
        Job job;
        sd_event *event;
        char *socket_path;
        int listen_fd;
        pid_t fd_pid;
        int pidfd;
        sd_event_source *idle_timer;    /* before the set: no call for opt.idle_s */
        sd_event_source *linger_timer;  /* after the last delete: job-end due within opt.linger_s */
        sd_bus *connections[AGENT_MAX_CONNECTIONS];
        unsigned n_connections;
        bool over;                      /* the outcome was given: the loop ends */
        bool succeeded;                 /* ... and it was a success */
} Agent;

/* agent_touch: a call came; the idle clock starts again. */
void agent_touch(Agent *a);

/* agent_end: the writers hear the outcome (when a set was taken), the loop ends. */
void agent_end(Agent *a, bool succeeded, const char *why);

/* agent_arm_linger: every volume was deleted: wait for job-end, at most opt.linger_s. */
int agent_arm_linger(Agent *a);

/* agent_add_to_bus: serve the agent's object on bus. */
int agent_add_to_bus(Agent *a, sd_bus *bus);

/* ---- restore.c: the restore pair's subcommands -------------------------------------------- */

/* restore_begin / restore_end: argv[0] is the subcommand; returns the exit status. */
int restore_begin(int argc, char **argv);
int restore_end(int argc, char **argv);

/* status_succeeded: Bacula's %e (or its letter): did the job end well? (main.c) */
bool status_succeeded(const char *s);

/* ---- small helpers (client.c) ------------------------------------------------------------- */

/* parse_seconds: a positive number of seconds, at most 30 days. */
int parse_seconds(const char *s, unsigned *ret);

/* mkdir_private: dir (and its parents 0755) with the last one 0700 root. */
int mkdir_private(const char *dir);
