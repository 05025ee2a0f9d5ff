/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-util.c: the plumbing the writer programs share (writer-util.h). It exists so each
 * writer's own file holds only what that writer knows about its application: how to quiesce
 * it, and how to describe it.
 *
 * Logging goes to stderr only, never to a file: a writer runs while volumes are being
 * snapshotted, and a log file on one of them could block the very thread that must thaw it.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "conf-text.h"
#include "config.h"
#include "writers/common/writer-util.h"

#define LOG_LINE_MAX 4096

static const char *log_program = "vss-writer";
static bool log_to_journal;

void wlog_init(const char *program) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (program)
                log_program = program;
        /* systemd sets JOURNAL_STREAM to "<dev>:<inode>" of the stream it connected. */
        log_to_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
                         (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void wlog(int priority, const char *fmt, ...) {
        static const char *const level_name[] = {
                [LOG_EMERG] = "emergency", [LOG_ALERT] = "alert",   [LOG_CRIT] = "critical",
                [LOG_ERR] = "error",       [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = NULL,         [LOG_DEBUG] = "debug",
        };
        char line[LOG_LINE_MAX];
        int saved = errno, n;
        size_t len;
        va_list ap;

        priority &= LOG_PRIMASK;
        if (log_to_journal)
                n = snprintf(line, sizeof(line), "<%d>", priority);
        else if (level_name[priority])
                n = snprintf(line, sizeof(line), "%s: %s: ", log_program, level_name[priority]);
        else
                n = snprintf(line, sizeof(line), "%s: ", log_program);
        len = n < 0 ? 0 : MIN((size_t) n, sizeof(line) - 1);

        va_start(ap, fmt);
        errno = saved; /* so %m works */
        n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
        va_end(ap);
        if (n > 0)
                len = MIN(len + (size_t) n, sizeof(line) - 2);
        line[len++] = '\n';

        /* One write: atomic against other threads' lines on a pipe or the journal stream. */
        (void) !write(STDERR_FILENO, line, len);
        errno = saved;
}

uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

int parse_ms(const char *s, uint32_t min, uint32_t max, uint32_t *ret) {
        unsigned long long v;
        char *end;

        if (isempty(s) || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (*end != '\0')
                return -EINVAL;
        if (errno == ERANGE || v < min || v > max)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int parse_level(const char *s, vss_application_level *ret) {
        if (!s)
                return -EINVAL;
        if (streq(s, "front-end") || streq(s, "front"))
                *ret = VSS_APP_FRONT_END;
        else if (streq(s, "back-end") || streq(s, "back"))
                *ret = VSS_APP_BACK_END;
        else if (streq(s, "system"))
                *ret = VSS_APP_SYSTEM;
        else
                return -EINVAL;
        return 0;
}

/* Drops the last component of the normalized prefix buf[0..*len). */
static void path_pop(char *buf, size_t *len) {
        while (*len > 1 && buf[*len - 1] != '/')
                (*len)--;
        if (*len > 1)
                (*len)--; /* the '/' before the popped component, unless it is the root */
}

int path_normalize_absolute(const char *path, char **ret) {
        _cleanup_free_ char *joined = NULL, *out = NULL;
        const char *p;
        size_t len = 1;

        if (isempty(path))
                return -EINVAL;
        if (path[0] != '/') {
                char cwd[PATH_MAX];

                if (!getcwd(cwd, sizeof(cwd)))
                        return -errno;
                if (asprintf(&joined, "%s/%s", cwd, path) < 0)
                        return -ENOMEM;
                path = joined;
        }
        if (strlen(path) >= PATH_MAX)
                return -ENAMETOOLONG;

        out = malloc(strlen(path) + 1);
        if (!out)
                return -ENOMEM;
        out[0] = '/';

        for (p = path; *p;) {
                size_t n;

                while (*p == '/')
                        p++;
                n = strcspn(p, "/");
                if (n == 0)
                        break;
                if (n == 1 && p[0] == '.') {
                        /* nothing */
                } else if (n == 2 && p[0] == '.' && p[1] == '.')
                        path_pop(out, &len);
                else {
                        if (len > 1)
                                out[len++] = '/';
                        memcpy(out + len, p, n);
                        len += n;
                }
                p += n;
        }
        out[len] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

int writer_block_signals(void) {
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        /* A reader that went away (a script's pipe, vssd's socket) is an error code, not death. */
        if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
                return -errno;
        return 0;
}

int writer_serve(vss_writer *w, uint32_t event_flags) {
        sigset_t mask;
        vss_hr hr;
        int sig = 0;

        hr = vss_writer_subscribe(w, event_flags);
        if (hr == VSS_E_WRITER_INFRASTRUCTURE) {
                /* The tools' wording for this condition (docs/exit-codes.md). */
                wlog(LOG_ERR, "vssd is not running: start it with `systemctl start vssd.socket` (%s)",
                     vss_hr_name(hr));
                return -ENOTCONN;
        }
        if (hr != S_OK) {
                wlog(LOG_ERR, "cannot subscribe to vssd: %s: %s", vss_hr_name(hr), vss_hr_message(hr));
                return -ECONNREFUSED;
        }
        wlog(LOG_INFO, "subscribed; waiting for backups");
        (void) sd_notify(0, "READY=1");

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        while (sigwait(&mask, &sig) != 0)
                ;

        wlog(LOG_INFO, "%s received; unsubscribing", strsignal(sig));
        (void) sd_notify(0, "STOPPING=1");
        hr = vss_writer_unsubscribe(w);
        if (hr != S_OK)
                wlog(LOG_WARNING, "unsubscribe: %s", vss_hr_name(hr));
        return 0;
}

void writer_version(void) {
        printf("%s %s\n", program_invocation_short_name, VSS_VERSION);
}

int writer_exit_status(int r) {
        if (r >= 0)
                return EXIT_SUCCESS;
        return r == -ENOTCONN ? WRITER_EXIT_UNREACHABLE : WRITER_EXIT_FAILED;
}

int writer_parse_argv(int argc, char **argv, const char *shortopts, const struct option *options,
                      void (*help)(void), writer_option_fn apply, void *userdata) {
        int c, r;

        while ((c = getopt_long(argc, argv, shortopts, options, NULL)) >= 0) {
                const char *name = NULL;

                if (c == 'h') {
                        help();
                        return 0;
                }
                if (c == WRITER_OPT_VERSION) {
                        writer_version();
                        return 0;
                }
                if (c == '?')
                        return -EINVAL;
                for (const struct option *o = options; o->name; o++)
                        if (o->val == c)
                                name = o->name;
                r = apply(c, name, optarg, userdata);
                if (r < 0)
                        return r;
        }
        if (optind < argc) {
                wlog(LOG_ERR, "unexpected argument: %s", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

typedef struct ConfigParse {
        const char *file;
        const struct option *options;
        bool (*accept)(int val);
        writer_option_fn apply;
        void *userdata;
        bool refused;   /* on_setting said why it stopped */
} ConfigParse;

/* One "key = value" line of a writer's configuration: a long option the file may set. */
static int on_setting(unsigned line, const char *key, const char *value, void *userdata) {
        ConfigParse *p = userdata;
        const struct option *o = NULL;
        int r;

        for (const struct option *c = p->options; c->name && !o; c++)
                if (streq(c->name, key) && p->accept(c->val))
                        o = c;
        p->refused = true;
        if (!o) {
                wlog(LOG_ERR, "%s:%u: unknown key \"%s\"", p->file, line, key);
                return -EINVAL;
        }
        r = p->apply(o->val, o->name, value, p->userdata);
        if (r < 0) {
                wlog(LOG_ERR, "%s:%u: rejected", p->file, line);
                return r;
        }
        p->refused = false;
        return 0;
}

/*
 * Every configuration text read, kept for the program's lifetime because applied values point
 * into it. Held from here, not only through those values, so it is never a leak.
 */
typedef struct KeptConfig {
        struct KeptConfig *next;
        char *text;
} KeptConfig;

static KeptConfig *kept_configs;

int writer_config_load(const char *file, const struct option *options, bool (*accept)(int val),
                       writer_option_fn apply, void *userdata) {
        ConfigParse p = { .file = file, .options = options, .accept = accept, .apply = apply, .userdata = userdata };
        unsigned line = 0;
        KeptConfig *kept;
        char *text = NULL;
        int r;

        r = conf_file_read(file, CONF_FILE_SIZE_MAX, &text);
        if (r < 0) {
                if (r == -E2BIG)
                        wlog(LOG_ERR, "%s: larger than %u bytes", file, CONF_FILE_SIZE_MAX);
                else
                        wlog(LOG_ERR, "cannot open %s: %s", file, strerror(-r));
                return r;
        }
        kept = malloc(sizeof(*kept));
        if (!kept) {
                free(text);
                return -ENOMEM;
        }
        *kept = (KeptConfig) { .next = kept_configs, .text = text };
        kept_configs = kept;

        r = conf_text_parse(text, on_setting, &p, &line);
        if (r < 0 && !p.refused)
                wlog(LOG_ERR, "%s:%u: expected key = value", file, line);
        /* text stays allocated, after a failure too: applied values point into it (see the
         * header). */
        return r;
}
