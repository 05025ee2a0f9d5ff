/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-writer-script: a VSS writer that runs a directory of hook scripts, so setups built for
 * qemu-guest-agent's fsfreeze-hook.d (or any "freeze"/"thaw" hook framework) move over
 * unchanged (docs/writers/script.md).
 *
 * Freeze and thaw run every executable of the directory with the event's name as its only
 * argument, meaning exactly what they mean to fsfreeze-hook.d scripts: freeze just before the
 * snapshot, thaw just after (and, on Abort, thaw whatever was frozen). The other events
 * (identify, prepare-backup, prepare-snapshot, post-snapshot, backup-complete,
 * backup-shutdown, abort) go only to the scripts that ask for them with a line
 * "# vss-events: EVENT ..." (or "all") near their top. Why: a fsfreeze-hook.d script knows
 * freeze and thaw only, and starting it for six events it ignores cost four extra processes
 * inside every DoSnapshotSet — more than the freeze itself. A script is started directly
 * (its #! line picks the interpreter); no shell stands between the writer and it.
 *
 * Order: the events that build up (identify … freeze, post-snapshot, backup-complete) run
 * the scripts in lexical order (strcmp of the file names), the ones that tear down (thaw,
 * abort, backup-shutdown) in reverse, as hook frameworks nest them: the first one frozen is
 * the last one thawed. thaw goes only to the scripts that got freeze, including one whose
 * freeze failed (it may have half-frozen its application).
 *
 * Failure: a script that exits non-zero or outlives --timeout (its process group is killed)
 * vetoes prepare-backup, prepare-snapshot and freeze (the remaining scripts of that event do
 * not run) and fails post-snapshot and backup-complete; on thaw, abort and backup-shutdown
 * the failure is reported (SetWriterFailure without veto) and every script still runs; on
 * identify it is logged only.
 *
 * The scripts must not live on a volume being snapshotted: running a program from a frozen
 * filesystem can hang. PrepareForSnapshot checks the directory and every script's resolved
 * path against the snapshot set and vetoes (non-retryable) if one is inside it.
 *
 * Usage: vss-writer-script --dir DIR [--timeout MS] [--socket PATH] [--freeze-timeout MS]
 *        [--level LEVEL] [--instance NAME]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "writers/common/writer-util.h"
#include "writers/script/script-run.h"

/* The writer's class id: fixed, so requesters recognise the hook-script writer. */
#define SCRIPT_WRITER_CLASS "2d6e9a7c-41b3-4f58-8c0e-7b19d4a3e2f6"
#define SCRIPT_WRITER_NAME "Hook Script Writer"
#define COMPONENT_NAME "hooks"

#define SCRIPTS_MAX 256U
#define TIMEOUT_DEFAULT_MS 30000U
#define FREEZE_TIMEOUT_DEFAULT_MS 60000U
#define TIMEOUT_MAX_MS (3600U * 1000U)
#define SCRIPT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The events a script may ask for; freeze and thaw every script gets. */
typedef enum HookEvent {
        HOOK_IDENTIFY = 1U << 0,
        HOOK_PREPARE_BACKUP = 1U << 1,
        HOOK_PREPARE_SNAPSHOT = 1U << 2,
        HOOK_FREEZE = 1U << 3,
        HOOK_THAW = 1U << 4,
        HOOK_POST_SNAPSHOT = 1U << 5,
        HOOK_ABORT = 1U << 6,
        HOOK_BACKUP_COMPLETE = 1U << 7,
        HOOK_BACKUP_SHUTDOWN = 1U << 8,
        HOOK_ALWAYS = HOOK_FREEZE | HOOK_THAW,
        HOOK_ALL = (1U << 9) - 1,
} HookEvent;

static const struct {
        HookEvent event;
        const char *name;
} hook_events[] = {
        { HOOK_IDENTIFY, "identify" },
        { HOOK_PREPARE_BACKUP, "prepare-backup" },
        { HOOK_PREPARE_SNAPSHOT, "prepare-snapshot" },
        { HOOK_FREEZE, "freeze" },
        { HOOK_THAW, "thaw" },
        { HOOK_POST_SNAPSHOT, "post-snapshot" },
        { HOOK_ABORT, "abort" },
        { HOOK_BACKUP_COMPLETE, "backup-complete" },
        { HOOK_BACKUP_SHUTDOWN, "backup-shutdown" },
};

#define EVENTS_TAG "vss-events:"
#define EVENTS_SCAN_BYTES 4096U

typedef struct ScriptWriter {
        char *dir;              /* absolute, resolved */
        uint32_t timeout_ms;    /* per script */
        char **frozen;          /* the scripts that got "freeze" in the current backup, in order */
        size_t n_frozen;
        vss_id set_id;          /* the current set, remembered for the events that do not carry it */
} ScriptWriter;

static void strv_free_n(char **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(l[i]);
        free(l);
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Backup files and package-manager leftovers are not hooks (as fsfreeze-hook ignores them). */
static bool name_ignored(const char *name) {
        static const char *const suffixes[] = {
                "~",       ".bak",      ".orig",     ".sample",  ".rpmnew", ".rpmorig", ".rpmsave",
                ".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-tmp", ".dpkg-bak", ".dpkg-backup", ".dpkg-remove",
        };
        size_t len = strlen(name);

        if (name[0] == '.')
                return true;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t k = strlen(suffixes[i]);

                if (len >= k && streq(name + len - k, suffixes[i]))
                        return true;
        }
        return false;
}

static const char *hook_event_name(HookEvent e) {
        for (size_t i = 0; i < ELEMENTSOF(hook_events); i++)
                if (hook_events[i].event == e)
                        return hook_events[i].name;
        return "unknown";
}

/* The events named by the words of one "# vss-events:" line; with warn, unknown words are
 * logged (once, at start-up: every event re-reads the line). */
static unsigned events_parse(const char *script, char *words, bool warn) {
        unsigned mask = 0;
        char *save = NULL;

        for (char *w = strtok_r(words, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
                bool known = streq(w, "all");

                if (known)
                        mask |= HOOK_ALL;
                for (size_t i = 0; !known && i < ELEMENTSOF(hook_events); i++)
                        if (streq(w, hook_events[i].name)) {
                                mask |= hook_events[i].event;
                                known = true;
                        }
                if (!known && warn)
                        wlog(LOG_WARNING, "%s: unknown event \"%s\" in its " EVENTS_TAG " line", script, w);
        }
        return mask;
}

/*
 * The events a script asks for: freeze and thaw, plus those of a comment line
 * "# vss-events: ..." in its first EVENTS_SCAN_BYTES. Reading the head of a file in the hook
 * directory is safe at any event: the directory is outside every snapshotted volume
 * (checked at PrepareForSnapshot), and it costs far less than starting the script.
 */
static unsigned script_events(int dirfd, const char *name, bool warn) {
        char buf[EVENTS_SCAN_BYTES + 1];
        _cleanup_close_ int fd = -EBADF;
        unsigned mask = HOOK_ALWAYS;
        ssize_t n;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return mask;
        n = read(fd, buf, EVENTS_SCAN_BYTES);
        if (n <= 0)
                return mask;
        buf[n] = '\0';

        for (char *line = buf, *next; line && *line; line = next) {
                char *p = line;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                else if ((size_t) n == EVENTS_SCAN_BYTES)
                        break; /* a line cut at the scan limit is not read half */
                if (*p++ != '#')
                        continue;
                p += strspn(p, " \t");
                if (strncmp(p, EVENTS_TAG, strlen(EVENTS_TAG)) == 0)
                        mask |= events_parse(name, p + strlen(EVENTS_TAG), warn);
        }
        return mask;
}

/*
 * The hooks of dir now that take event: executable regular files (symlinks followed), sorted
 * by name; for events other than freeze and thaw, only those whose "# vss-events:" line names
 * it. A script others may rewrite is skipped with a warning: it would run as the writer's user.
 */
static int scripts_list(const char *dir, HookEvent event, char ***ret, size_t *ret_n) {
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d;
        int r = 0;

        d = opendir(dir);
        if (!d) {
                r = -errno;
                wlog(LOG_ERR, "cannot read hook directory %s: %m", dir);
                return r;
        }
        names = calloc(SCRIPTS_MAX, sizeof(char *));
        if (!names) {
                closedir(d);
                return -ENOMEM;
        }

        while ((errno = 0, de = readdir(d))) {
                struct stat st;

                if (name_ignored(de->d_name))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode) ||
                    faccessat(dirfd(d), de->d_name, X_OK, AT_EACCESS) < 0)
                        continue;
                if (st.st_mode & S_IWOTH) {
                        wlog(LOG_WARNING, "skipping %s/%s: writable by anyone", dir, de->d_name);
                        continue;
                }
                if (!(event & HOOK_ALWAYS) && !(script_events(dirfd(d), de->d_name, false) & event))
                        continue;
                if (n >= SCRIPTS_MAX) {
                        wlog(LOG_ERR, "more than %u scripts in %s", SCRIPTS_MAX, dir);
                        r = -E2BIG;
                        break;
                }
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        if (r == 0 && errno != 0)
                r = -errno;
        closedir(d);
        if (r < 0) {
                strv_free_n(names, n);
                return r;
        }

        qsort(names, n, sizeof(char *), cmp_names);
        *ret = names;
        *ret_n = n;
        return 0;
}

static vss_hr failure_code(const ScriptResult *res) {
        return res->status == SCRIPT_TIMED_OUT ? VSS_E_WRITERERROR_TIMEOUT : VSS_E_WRITERERROR_RETRYABLE;
}

/*
 * Runs event over names (reverse: last first). With stop_at_failure it stops after the first
 * failure. Returns how many scripts ran; *ret_failure is S_OK or the first failure's code.
 */
static size_t scripts_run(ScriptWriter *s, vss_writer *w, HookEvent hook, char *const *names, size_t n,
                          bool reverse, bool stop_at_failure, vss_hr *ret_failure) {
        const char *event = hook_event_name(hook);
        char set_env[sizeof("VSS_SNAPSHOT_SET_ID=") + VSS_ID_STRING_MAX], event_env[64], idbuf[VSS_ID_STRING_MAX];
        char *envp[4] = { (char *) SCRIPT_PATH, event_env, NULL, NULL };
        vss_hr failure = S_OK;
        vss_id set_id;
        size_t ran = 0;

        (void) snprintf(event_env, sizeof(event_env), "VSS_EVENT=%s", event);
        /* Identify belongs to no backup: it must not see (or change) the current set. */
        if (hook != HOOK_IDENTIFY) {
                if (vss_writer_get_current_snapshot_set_id(w, &set_id) == S_OK)
                        s->set_id = set_id;
                if (!vss_id_is_null(&s->set_id)) {
                        (void) snprintf(set_env, sizeof(set_env), "VSS_SNAPSHOT_SET_ID=%s",
                                        vss_id_format(&s->set_id, idbuf));
                        envp[2] = set_env;
                }
        }

        for (size_t k = 0; k < n; k++) {
                const char *name = names[reverse ? n - 1 - k : k];
                _cleanup_free_ char *path = NULL;
                ScriptResult res;
                char what[64];

                if (asprintf(&path, "%s/%s", s->dir, name) < 0) {
                        res = (ScriptResult) { .status = SCRIPT_SPAWN_FAILED, .code = ENOMEM };
                        wlog(LOG_ERR, "%s %s: out of memory", name, event);
                } else if (script_run(path, name, event, envp, s->timeout_ms, &res) < 0)
                        res = (ScriptResult) { .status = SCRIPT_SPAWN_FAILED, .code = EMFILE };
                ran++;

                if (res.status == SCRIPT_OK) {
                        wlog(LOG_DEBUG, "%s %s: exited 0 after %.1f ms", name, event, (double) res.duration_usec / 1e3);
                        continue;
                }
                wlog(LOG_ERR, "%s %s: %s after %.1f ms", name, event,
                     script_status_describe(&res, what, sizeof(what)), (double) res.duration_usec / 1e3);
                if (failure == S_OK)
                        failure = failure_code(&res);
                if (stop_at_failure)
                        break;
        }

        *ret_failure = failure;
        return ran;
}

/* Lists the scripts that take event and runs it on them: S_OK or the first failure's code. */
static vss_hr event_run(ScriptWriter *s, vss_writer *w, HookEvent event, bool reverse, bool stop_at_failure) {
        char **names = NULL;
        size_t n = 0;
        vss_hr failure;

        if (scripts_list(s->dir, event, &names, &n) < 0)
                return VSS_E_WRITERERROR_RETRYABLE;
        (void) scripts_run(s, w, event, names, n, reverse, stop_at_failure, &failure);
        strv_free_n(names, n);
        return failure;
}

/* The verdict of an event that may veto: failure set and false, or true. */
static bool verdict_veto(vss_writer *w, vss_hr failure) {
        if (failure == S_OK)
                return true;
        (void) vss_writer_set_writer_failure(w, failure);
        return false;
}

/* The verdict of an event that must not veto (thaw, abort, shutdown): failure reported only. */
static bool verdict_report(vss_writer *w, vss_hr failure) {
        if (failure != S_OK)
                (void) vss_writer_set_writer_failure(w, failure);
        return true;
}

/* Runs thaw, in reverse, on the scripts that got freeze; forgets them. S_OK or a failure. */
static vss_hr thaw_frozen(ScriptWriter *s, vss_writer *w) {
        vss_hr failure = S_OK;

        if (s->n_frozen > 0)
                (void) scripts_run(s, w, HOOK_THAW, s->frozen, s->n_frozen, true, false, &failure);
        strv_free_n(s->frozen, s->n_frozen);
        s->frozen = NULL;
        s->n_frozen = 0;
        return failure;
}

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        ScriptWriter *s = userdata;
        _cleanup_free_ char *caption = NULL;

        if (asprintf(&caption, "Hook scripts in %s", s->dir) < 0)
                return false;
        /* One component, so that a requester in component mode can involve this writer. It
         * has no files: the scripts protect data that other components or volumes hold. */
        if (vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, COMPONENT_NAME, caption, false,
                                                     false, false, false, 0) != S_OK ||
            vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_NOT_THERE, NULL, NULL,
                                                          VSS_WRE_NEVER, false) != S_OK)
                return false;

        /* Failures are logged only: Identify must describe the writer whatever the hooks say. */
        (void) event_run(s, w, HOOK_IDENTIFY, false, false);
        return true;
}

static bool on_prepare_backup(vss_writer *w, vss_writer_components *c, void *userdata) {
        ScriptWriter *s = userdata;

        s->set_id = VSS_ID_NULL;
        return verdict_veto(w, event_run(s, w, HOOK_PREPARE_BACKUP, false, true));
}

/* Whether path (resolved) lies on a volume of the snapshot set; logs it. */
static bool path_frozen(vss_writer *w, const char *what, const char *path) {
        _cleanup_free_ char *real = realpath(path, NULL);
        bool affected = false;

        if (!real || vss_writer_is_path_affected(w, real, &affected) != S_OK || !affected)
                return false;
        wlog(LOG_ERR, "prepare-snapshot: %s %s is on a volume of the snapshot set; refusing to run hooks from a "
             "volume that is about to be frozen (move the hook directory elsewhere)", what, real);
        return true;
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        ScriptWriter *s = userdata;
        bool frozen_path;
        char **names = NULL;
        size_t n = 0;

        frozen_path = path_frozen(w, "hook directory", s->dir);
        /* Every script, not only those that take prepare-snapshot: all of them get freeze. */
        if (!frozen_path && scripts_list(s->dir, HOOK_FREEZE, &names, &n) == 0) {
                for (size_t i = 0; i < n && !frozen_path; i++) {
                        _cleanup_free_ char *path = NULL;

                        if (asprintf(&path, "%s/%s", s->dir, names[i]) >= 0)
                                frozen_path = path_frozen(w, "hook script", path);
                }
                strv_free_n(names, n);
        }
        if (frozen_path) {
                (void) vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_NONRETRYABLE);
                return false;
        }

        return verdict_veto(w, event_run(s, w, HOOK_PREPARE_SNAPSHOT, false, true));
}

static bool on_freeze(vss_writer *w, void *userdata) {
        ScriptWriter *s = userdata;
        char **names = NULL;
        size_t n = 0, ran;
        vss_hr failure;

        /* A Freeze without the Thaw/Abort of an earlier one: thaw that first. */
        (void) thaw_frozen(s, w);

        if (scripts_list(s->dir, HOOK_FREEZE, &names, &n) < 0) {
                (void) vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_RETRYABLE);
                return false;
        }
        ran = scripts_run(s, w, HOOK_FREEZE, names, n, false, true, &failure);

        /* Those that ran get thaw, the failed one included; the rest never froze. */
        for (size_t i = ran; i < n; i++)
                free(names[i]);
        s->frozen = names;
        s->n_frozen = ran;

        if (failure != S_OK) {
                wlog(LOG_ERR, "freeze: vetoing; %zu script(s) will get thaw on abort", ran);
                (void) vss_writer_set_writer_failure(w, failure);
                return false;
        }
        wlog(LOG_INFO, "freeze: %zu script(s) frozen", ran);
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        ScriptWriter *s = userdata;
        size_t n = s->n_frozen;
        vss_hr hr;

        /* A thaw failure is reported, not a veto: the snapshot is already good. */
        hr = thaw_frozen(s, w);
        wlog(hr == S_OK ? LOG_INFO : LOG_ERR, "thaw: %zu script(s) thawed%s", n, hr == S_OK ? "" : ", with failures");
        return verdict_report(w, hr);
}

static bool on_post_snapshot(vss_writer *w, vss_writer_components *c, void *userdata) {
        return verdict_veto(w, event_run(userdata, w, HOOK_POST_SNAPSHOT, false, false));
}

static bool on_abort(vss_writer *w, void *userdata) {
        ScriptWriter *s = userdata;
        vss_hr hr_thaw, hr_abort;

        hr_thaw = thaw_frozen(s, w);
        hr_abort = event_run(s, w, HOOK_ABORT, true, false);
        wlog(LOG_INFO, "abort: done%s", hr_thaw == S_OK && hr_abort == S_OK ? "" : ", with failures");
        return verdict_report(w, hr_thaw != S_OK ? hr_thaw : hr_abort);
}

static bool on_backup_complete(vss_writer *w, vss_writer_components *c, void *userdata) {
        return verdict_veto(w, event_run(userdata, w, HOOK_BACKUP_COMPLETE, false, false));
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *set_id, void *userdata) {
        ScriptWriter *s = userdata;
        vss_hr hr;

        /* Normally empty: Thaw or Abort came first. A requester that vanished mid-freeze
         * still gets its applications thawed, by libvss's Abort or here at the latest. */
        (void) thaw_frozen(s, w);
        s->set_id = set_id ? *set_id : VSS_ID_NULL;
        hr = event_run(s, w, HOOK_BACKUP_SHUTDOWN, true, false);
        s->set_id = VSS_ID_NULL;
        return verdict_report(w, hr);
}

/* ------------------------------------------------------------------------------------------ */
/* Program                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct Args {
        const char *dir;
        const char *socket_path;
        const char *instance;
        uint32_t timeout_ms;
        uint32_t freeze_timeout_ms;
        vss_application_level level;
} Args;

static void help(void) {
        printf("vss-writer-script --dir DIR [OPTIONS]\n\n"
               "VSS writer that runs every executable in DIR with the event name (freeze, thaw,\n"
               "prepare-snapshot, ...), as qemu-guest-agent's fsfreeze-hook.d does.\n\n"
               "  -d --dir=DIR             The hook directory (required; outside the snapshotted volumes)\n"
               "  -t --timeout=MS          Per-script time limit (default %u)\n"
               "  -s --socket=PATH         vssd's socket (default: $VSS_SOCKET, else built-in)\n"
               "     --freeze-timeout=MS   Freeze→Thaw bound (default %u)\n"
               "     --level=LEVEL         front-end, back-end or system (default front-end)\n"
               "     --instance=NAME       Instance name (default: the hook directory)\n"
               "  -h --help                Show this help\n",
               TIMEOUT_DEFAULT_MS, FREEZE_TIMEOUT_DEFAULT_MS);
}

enum { ARG_FREEZE_TIMEOUT = 0x100, ARG_LEVEL, ARG_INSTANCE };

static const struct option options[] = {
        { "dir", required_argument, NULL, 'd' },
        { "timeout", required_argument, NULL, 't' },
        { "socket", required_argument, NULL, 's' },
        { "freeze-timeout", required_argument, NULL, ARG_FREEZE_TIMEOUT },
        { "level", required_argument, NULL, ARG_LEVEL },
        { "instance", required_argument, NULL, ARG_INSTANCE },
        { "help", no_argument, NULL, 'h' },
        WRITER_OPTION_VERSION,
        {}
};

/* One option of the command line (writer_parse_argv). */
static int option_apply(int val, const char *name, const char *value, void *userdata) {
        Args *a = userdata;
        int r;

        switch (val) {
        case 'd':
                a->dir = value;
                return 0;
        case 's':
                a->socket_path = value;
                return 0;
        case ARG_INSTANCE:
                a->instance = value;
                return 0;
        case 't':
        case ARG_FREEZE_TIMEOUT:
                r = parse_ms(value, 1, TIMEOUT_MAX_MS, val == 't' ? &a->timeout_ms : &a->freeze_timeout_ms);
                break;
        case ARG_LEVEL:
                r = parse_level(value, &a->level);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0) {
                wlog(LOG_ERR, "invalid --%s: %s", name, value);
                return -EINVAL;
        }
        return 0;
}

/* Returns 1 to run, 0 to exit successfully (help), negative errno on bad usage. */
static int parse_argv(int argc, char **argv, Args *a) {
        int r;

        r = writer_parse_argv(argc, argv, "d:t:s:h", options, help, option_apply, a);
        if (r <= 0)
                return r;
        if (!a->dir) {
                wlog(LOG_ERR, "--dir is required");
                return -EINVAL;
        }
        return 1;
}

/* The hook directory must exist, and nobody but its owner may add scripts to it. */
static int dir_check(const char *dir, char **ret) {
        _cleanup_free_ char *real = NULL;
        struct stat st;

        real = realpath(dir, NULL);
        if (!real || stat(real, &st) < 0) {
                wlog(LOG_ERR, "hook directory %s: %m", dir);
                return -errno;
        }
        if (!S_ISDIR(st.st_mode)) {
                wlog(LOG_ERR, "hook directory %s is not a directory", real);
                return -ENOTDIR;
        }
        if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
                wlog(LOG_ERR, "hook directory %s is writable by anyone; refusing to run scripts from it", real);
                return -EPERM;
        }
        *ret = TAKE_PTR(real);
        return 0;
}

int main(int argc, char **argv) {
        static ScriptWriter s;
        Args a = {
                .timeout_ms = TIMEOUT_DEFAULT_MS,
                .freeze_timeout_ms = FREEZE_TIMEOUT_DEFAULT_MS,
                .level = VSS_APP_FRONT_END,
        };
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;
        vss_writer_callbacks cb = {
                .version = VSS_WRITER_CALLBACKS_VERSION,
                .on_identify = on_identify,
                .on_prepare_backup = on_prepare_backup,
                .on_prepare_snapshot = on_prepare_snapshot,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_post_snapshot = on_post_snapshot,
                .on_abort = on_abort,
                .on_backup_complete = on_backup_complete,
                .on_backup_shutdown = on_backup_shutdown,
        };
        vss_writer *w = NULL;
        char **names = NULL;
        size_t n = 0;
        vss_hr hr;
        int r;

        wlog_init("vss-writer-script");
        r = parse_argv(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? WRITER_EXIT_USAGE : EXIT_SUCCESS;

        r = dir_check(a.dir, &s.dir);
        if (r < 0)
                return WRITER_EXIT_FAILED;
        s.timeout_ms = a.timeout_ms;
        if (a.timeout_ms >= a.freeze_timeout_ms)
                wlog(LOG_WARNING, "--timeout %u ms is not below --freeze-timeout %u ms: one hanging freeze script "
                     "will use up the whole window", a.timeout_ms, a.freeze_timeout_ms);

        r = writer_block_signals();
        if (r < 0)
                return WRITER_EXIT_FAILED;

        (void) vss_id_parse(SCRIPT_WRITER_CLASS, &opts.writer_id);
        opts.writer_name = SCRIPT_WRITER_NAME;
        opts.instance_name = a.instance ?: s.dir;
        opts.usage_type = VSS_UT_OTHER;
        opts.source_type = VSS_ST_OTHER;
        opts.level = a.level;
        opts.freeze_timeout_ms = a.freeze_timeout_ms;
        opts.socket_path = a.socket_path;

        hr = vss_writer_new(&w, &opts, &cb, &s);
        if (hr != S_OK) {
                wlog(LOG_ERR, "cannot create the writer: %s", vss_hr_name(hr));
                free(s.dir);
                return WRITER_EXIT_FAILED;
        }

        if (scripts_list(s.dir, HOOK_FREEZE, &names, &n) == 0) {
                _cleanup_close_ int dfd = open(s.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                wlog(LOG_INFO, "hook directory %s: %zu script(s), %u ms each", s.dir, n, s.timeout_ms);
                for (size_t i = 0; dfd >= 0 && i < n; i++)
                        (void) script_events(dfd, names[i], true);
                strv_free_n(names, n);
        }

        r = writer_serve(w, VSS_SM_BACKUP_EVENTS_FLAG | VSS_SM_POST_SNAPSHOT_FLAG);
        vss_writer_free(w);

        strv_free_n(s.frozen, s.n_frozen);
        free(s.dir);
        return writer_exit_status(r);
}
