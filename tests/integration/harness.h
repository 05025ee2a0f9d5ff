/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness.h: what every integration test shares: a private vssd on a temporary socket,
 * writer processes (vss-test-writer) around it, readers for their event logs, and the
 * requester steps of a backup, so each test program states only what it is about.
 *
 * Internal style: functions return 0 or a negative errno (requester helpers return the
 * vss_hr of the step that failed); ret_* outputs are written only on success.
 *
 * Events are asynchronous: a writer's log catches up with what vssd did a little later.
 * Every log check that follows an action therefore waits (polls the file up to a deadline)
 * instead of reading once; the deadline is a generous bound, never the thing asserted.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/types.h>

#include "vss/vss.h"

#define HARNESS_MAX_WRITERS 16
/* Upper bound for anything we wait for in a log: far above any normal latency. */
#define HARNESS_WAIT_MS 20000U

typedef struct TestWriter {
        char *name;
        char *log_path;
        pid_t pid;
        vss_id class_id;
        vss_id instance_id;   /* from the "subscribed" line; null until then */
} TestWriter;

typedef struct HarnessOptions {
        unsigned event_timeout_ms;     /* vssd --event-timeout; 0: 3000 */
        long allow_writer_uid;         /* vssd --allow-writer-uid; < 0: none */
        unsigned max_connections;      /* vssd --max-connections; 0: vssd's default */
        const char *const *extra_args; /* more vssd options, NULL-terminated; may be NULL */
} HarnessOptions;

typedef struct Harness {
        char *dir;            /* the temporary directory holding everything below */
        char *socket_path;
        char *state_dir;
        char *vssd_log;       /* vssd's stderr */
        char *shared_log;     /* every writer's lines, prefixed with "writer=<name>" */
        pid_t vssd_pid;
        TestWriter *writers[HARNESS_MAX_WRITERS];
        size_t n_writers;
} Harness;

/*
 * harness_new: make a temporary directory, start vssd on a socket in it (stderr captured
 * to <dir>/vssd.log), wait until the socket accepts, and set VSS_SOCKET for this process.
 * opts may be NULL. Ownership: *ret is ended by harness_free().
 */
int harness_new(const HarnessOptions *opts, Harness **ret);

/*
 * harness_free: stop every writer and vssd (SIGTERM, then SIGKILL), reap them, and delete
 * the temporary directory unless $VSS_TEST_KEEP is set (its path is printed either way
 * when the vssd log is not empty). NULL is a no-op.
 */
void harness_free(Harness *h);

/* harness_vssd_alive: true while vssd has not exited. */
bool harness_vssd_alive(Harness *h);

/* harness_make_socket_public: let any uid reach the socket (for the privilege tests). */
int harness_make_socket_public(Harness *h);

/*
 * harness_spawn_writer: start vss-test-writer named name with a fresh class id, its log at
 * <dir>/<name>.log, plus extra_args (NULL-terminated, may be NULL). Does not wait for it to
 * subscribe. uid >= 0: the child drops to that uid/gid with no supplementary groups first.
 * The TestWriter belongs to h.
 */
int harness_spawn_writer(Harness *h, const char *name, const char *const *extra_args, long uid,
                         TestWriter **ret);

/* harness_add_writer: harness_spawn_writer as root, then wait for its "subscribed" line. */
int harness_add_writer(Harness *h, const char *name, const char *const *extra_args, TestWriter **ret);

/* writer_wait_subscribed: wait for "subscribed" (0) or "subscribe-failed" (-EACCES with
 * hr=E_ACCESSDENIED, -EPROTO otherwise); fills w->instance_id. */
int writer_wait_subscribed(TestWriter *w);

/* writer_kill: send sig to the writer; SIGKILL also reaps it. */
int writer_kill(TestWriter *w, int sig);

/*
 * harness_make_volume: a directory <dir>/<name> holding payload.txt with the text
 * "payload of <name>\n", to be snapshotted by the test-copy provider. *ret is malloc'd.
 */
int harness_make_volume(Harness *h, const char *name, char **ret);

/* volume_inject_fault: write <volume>/.vss-test-provider with the given content lines. */
int volume_inject_fault(const char *volume, const char *content);

/* ------------------------------------------------------------------------------------------ */
/* Log reading                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* log_read_lines: the lines of a file, NULL-terminated strv (free with strv_free). A missing
 * file is an empty list. */
int log_read_lines(const char *path, char ***ret);
void strv_free(char **l);
size_t strv_length(char *const *l);

/* log_count: number of lines of path that contain needle. */
unsigned log_count(const char *path, const char *needle);

/* log_wait: wait until at least n lines of path contain needle. 0 or -ETIMEDOUT. */
int log_wait(const char *path, const char *needle, unsigned n, unsigned timeout_ms);

/* log_find: index of the first line at or after from that contains needle, or -1. */
ssize_t log_find(char *const *lines, size_t from, const char *needle);

/* writer_log_count / writer_log_wait: the same on the writer's own log. */
unsigned writer_log_count(const TestWriter *w, const char *needle);
int writer_log_wait(const TestWriter *w, const char *needle, unsigned n);

/* writer_events: the event names of the writer's "event=" lines, in order (strv). */
int writer_events(const TestWriter *w, char ***ret);

/* writer_event_line: a copy of the index-th "event=<event>" line (0-based), or NULL. */
char *writer_event_line(const TestWriter *w, const char *event, unsigned index);

/* line_field: the value of key=value in a log line, copied into buf. -ENOENT if absent. */
int line_field(const char *line, const char *key, char *buf, size_t size);

/* ------------------------------------------------------------------------------------------ */
/* Requester side                                                                              */
/* ------------------------------------------------------------------------------------------ */

typedef enum BackupStep {
        STEP_INITIALIZE,        /* InitializeForBackup + SetBackupState(components, FULL) */
        STEP_GATHER,            /* GatherWriterMetadata */
        STEP_ADD_COMPONENTS,    /* AddComponent for every component of every writer */
        STEP_START_SET,         /* StartSnapshotSet */
        STEP_ADD_VOLUME,        /* AddToSnapshotSet(volume) if a volume was given */
        STEP_PREPARE,           /* PrepareForBackup */
        STEP_DO_SNAPSHOT,       /* DoSnapshotSet */
        STEP_BACKUP_COMPLETE,   /* BackupComplete */
        _STEP_MAX,
} BackupStep;

typedef struct BackupRun {
        vss_id set_id;
        vss_id snapshot_id;
        unsigned n_writers;     /* writers in the gathered metadata */
        BackupStep failed_step; /* valid when the run failed */
} BackupRun;

/* backup_step_name: "GatherWriterMetadata" etc. */
const char *backup_step_name(BackupStep s);

/*
 * async_finish: the effective result of an asynchronous call: call_hr if the call itself
 * failed, else (after waiting) the async status: VSS_S_ASYNC_FINISHED on success,
 * VSS_S_ASYNC_CANCELLED or the operation's failure code otherwise. Takes the address of the
 * handle, not its value, so that `async_finish(vss_requester_x(r, &a), &a)` reads the handle
 * after the call filled it (argument evaluation order is unspecified). *ap is released and
 * set to NULL.
 */
vss_hr async_finish(vss_hr call_hr, vss_async **ap);

/*
 * backup_run_steps: perform steps first..last of a component-mode FULL backup on r.
 * volume may be NULL (no AddToSnapshotSet). Returns S_OK, or the failing step's HRESULT
 * with run->failed_step set. run keeps what the steps produced.
 */
vss_hr backup_run_steps(vss_requester *r, const char *volume, BackupStep first, BackupStep last,
                        BackupRun *run);

/* requester_gather_status: GatherWriterStatus, waited for. VSS_S_ASYNC_FINISHED on success. */
vss_hr requester_gather_status(vss_requester *r);

/*
 * requester_find_status: the state and failure code of writer w in the last gathered status.
 * @return S_OK, or VSS_E_OBJECT_NOT_FOUND when w is not listed.
 */
vss_hr requester_find_status(vss_requester *r, const TestWriter *w, vss_writer_state *ret_state,
                             vss_hr *ret_failure);

/* assert_writer_status: gather status, then w must be in state with failure. */
void assert_writer_status_impl(vss_requester *r, const TestWriter *w, vss_writer_state state,
                               vss_hr failure, const char *file, int line);
#define assert_writer_status(r, w, state, failure) \
        assert_writer_status_impl((r), (w), (state), (failure), __FILE__, __LINE__)

/*
 * requester_new_checked: vss_requester_new with the default options (VSS_SOCKET), or NULL
 * after printing the failure.
 */
vss_requester *requester_new_checked(void);

/* ------------------------------------------------------------------------------------------ */
/* Child requesters                                                                            */
/* ------------------------------------------------------------------------------------------ */

/*
 * A child process running a requester: libvss is used only in the child, which reports
 * progress as lines on report_fd ("set <uuid>", step names, ...). fn returns the child's exit
 * status. No cmocka assertions in the child: it reports, the parent asserts.
 */
typedef int (*ChildFn)(int report_fd, void *userdata);

/* child_start: fork a child running fn; *ret_fd reads its reports (O_CLOEXEC). */
int child_start(ChildFn fn, void *userdata, pid_t *ret_pid, int *ret_fd);

/* child_wait_report: read report lines until one starting with prefix; copy it to buf. */
int child_wait_report(int fd, const char *prefix, char *buf, size_t size, unsigned timeout_ms);

/* child_reap: wait for the child; returns its exit status, 128+signal if killed, < 0 errno. */
int child_reap(pid_t pid);

/* report: printf to a report fd in one write. */
void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------------------------ */
/* Assertions                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* assert_hr: like assert_int_equal, printing HRESULT names. */
#define assert_hr(expr, expected)                                                              \
        do {                                                                                   \
                vss_hr _a = (expr), _e = (expected);                                           \
                if (_a != _e) {                                                                \
                        print_error("%s:%d: %s returned %s (0x%08x), expected %s (0x%08x)\n",  \
                                    __FILE__, __LINE__, #expr, vss_hr_name(_a), (unsigned) _a, \
                                    vss_hr_name(_e), (unsigned) _e);                           \
                        fail();                                                                \
                }                                                                              \
        } while (0)

/* assert_ok0: an internal call returning 0/negative errno must succeed. */
#define assert_ok0(expr)                                                                       \
        do {                                                                                   \
                int _r = (expr);                                                               \
                if (_r < 0) {                                                                  \
                        print_error("%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr,       \
                                    strerror(-_r));                                            \
                        fail();                                                                \
                }                                                                              \
        } while (0)

/* assert_events: the writer's event names are exactly the given list (NULL-terminated). */
void assert_events_impl(const TestWriter *w, const char *const *expected, const char *file, int line);
#define assert_events(w, ...)                                                                  \
        assert_events_impl((w), (const char *const[]) { __VA_ARGS__, NULL }, __FILE__, __LINE__)

/* assert_nothing_frozen: every Freeze in the writer's log is followed by a Thaw or Abort. */
void assert_nothing_frozen_impl(const TestWriter *w, const char *file, int line);
#define assert_nothing_frozen(w) assert_nothing_frozen_impl((w), __FILE__, __LINE__)

/*
 * assert_rss_bound: a bound on vssd's resident memory, asserted except under AddressSanitizer
 * (the build the sanitizer CI run makes of the whole tree, vssd included): its quarantine keeps
 * freed memory and its shadow adds more, so there the figures are printed, not checked.
 */
#if defined(__SANITIZE_ADDRESS__)
#define HARNESS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARNESS_UNDER_ASAN 1
#endif
#endif
#ifdef HARNESS_UNDER_ASAN
#define assert_rss_bound(cond) print_message("(VmRSS bound not asserted under AddressSanitizer: %s)\n", #cond)
#else
#define assert_rss_bound(cond) assert_true(cond)
#endif

/* id_str: format an id into a static rotating buffer (for messages and comparisons). */
const char *id_str(const vss_id *id);
