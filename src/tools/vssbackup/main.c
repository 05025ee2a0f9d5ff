/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c: vssbackup's command line. It only parses and dispatches: each command lives in its
 * own file (backup.c, restore.c, catalog.c for list and verify). docs/vssbackup.md is the
 * manual.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "vssbackup.h"

static void usage(FILE *f) {
        fputs("Usage:\n"
              "  vssbackup backup --type full|incremental|differential|copy|log PATH... --to DIR\n"
              "                   [--exclude PATTERN]... [--exclude-file FILE]... [--wait SECONDS]\n"
              "                   [--no-writers] [--socket PATH] [--level N] [--threads N] [--quiet] [--json]\n"
              "  vssbackup list --to DIR [--json]\n"
              "  vssbackup ls BACKUP [PATH] [--json]\n"
              "  vssbackup verify BACKUP [--only] [--quiet] [--json]\n"
              "  vssbackup restore BACKUP --to TARGET [--include PATTERN]... [--overwrite] [--no-writers]\n"
              "                    [--socket PATH] [--report FILE|-] [--verbose] [--quiet] [--json]\n"
              "                    [--restore-setid]\n"
              "  vssbackup prune --to DIR [--keep-last N] [--keep-hourly N] [--keep-daily N]\n"
              "                  [--keep-weekly N] [--keep-monthly N] [--dry-run] [--wait SECONDS] [--json]\n"
              "  vssbackup scheduled --config FILE     (what vssbackup@.service runs)\n"
              "\n"
              "A backup is a directory DIR/<time>-<type>-<id>; BACKUP names one. See docs/vssbackup.md.\n"
              "\n"
              "Exit status: 0 success, 1 usage error, 2 failure (the output says what), 3 vssd is not\n"
              "running, 4 partial (a backup stored incomplete, files kept by a restore), 130/143\n"
              "interrupted (docs/exit-codes.md).\n",
              f);
}

static int parse_unsigned(const char *s, unsigned max, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end || s[0] == '-' || v > max)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

enum {
        OPT_TYPE = 0x100,
        OPT_TO,
        OPT_NO_WRITERS,
        OPT_SOCKET,
        OPT_LEVEL,
        OPT_THREADS,
        OPT_QUIET,
        OPT_JSON,
        OPT_OVERWRITE,
        OPT_REPORT,
        OPT_VERBOSE,
        OPT_HELP,
        OPT_EXCLUDE,
        OPT_EXCLUDE_FILE,
        OPT_INCLUDE,
        OPT_ONLY,
        OPT_WAIT,
        OPT_KEEP_LAST,
        OPT_KEEP_HOURLY,
        OPT_KEEP_DAILY,
        OPT_KEEP_WEEKLY,
        OPT_KEEP_MONTHLY,
        OPT_DRY_RUN,
        OPT_FULL_EVERY,
        OPT_CONFIG,
        OPT_PATH,               /* config files only: one PATH to back up */
        OPT_RESTORE_SETID,
};

static const struct option options[] = {
        { "type", required_argument, NULL, OPT_TYPE },
        { "to", required_argument, NULL, OPT_TO },
        { "no-writers", no_argument, NULL, OPT_NO_WRITERS },
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "level", required_argument, NULL, OPT_LEVEL },
        { "threads", required_argument, NULL, OPT_THREADS },
        { "quiet", no_argument, NULL, OPT_QUIET },
        { "json", no_argument, NULL, OPT_JSON },
        { "overwrite", no_argument, NULL, OPT_OVERWRITE },
        { "report", required_argument, NULL, OPT_REPORT },
        { "verbose", no_argument, NULL, OPT_VERBOSE },
        { "help", no_argument, NULL, OPT_HELP },
        { "exclude", required_argument, NULL, OPT_EXCLUDE },
        { "exclude-file", required_argument, NULL, OPT_EXCLUDE_FILE },
        { "include", required_argument, NULL, OPT_INCLUDE },
        { "only", no_argument, NULL, OPT_ONLY },
        { "wait", required_argument, NULL, OPT_WAIT },
        { "keep-last", required_argument, NULL, OPT_KEEP_LAST },
        { "keep-hourly", required_argument, NULL, OPT_KEEP_HOURLY },
        { "keep-daily", required_argument, NULL, OPT_KEEP_DAILY },
        { "keep-weekly", required_argument, NULL, OPT_KEEP_WEEKLY },
        { "keep-monthly", required_argument, NULL, OPT_KEEP_MONTHLY },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { "full-every", required_argument, NULL, OPT_FULL_EVERY },
        { "config", required_argument, NULL, OPT_CONFIG },
        { "restore-setid", no_argument, NULL, OPT_RESTORE_SETID },
        {}
};

typedef struct Args {
        const char *command;
        const char *type;
        const char *to;
        const char *socket_path;
        const char *report;
        unsigned level;
        unsigned threads;
        unsigned wait_s;
        unsigned keep[5];       /* last, hourly, daily, weekly, monthly */
        unsigned full_every_days;       /* scheduled, type auto: a full when the last one is older */
        const char *config;
        char *config_text;              /* the config file's text: values point into it */
        char **config_paths;            /* its "path =" lines */
        size_t n_config_paths;
        bool no_writers, quiet, json, overwrite, verbose, only, dry_run, restore_setid;
        char **excludes;
        size_t n_excludes;
        char **includes;
        size_t n_includes;
        char **positional;
        size_t n_positional;
} Args;

/* Which options each command takes: anything else is a usage error, not silently ignored. */
static bool option_allowed(const char *command, int opt) {
        if (opt == OPT_HELP)
                return true;
        /* Every command's result or listing has a JSON form but scheduled's (a backup and a prune). */
        if (opt == OPT_JSON)
                return !streq(command, "scheduled");
        if (streq(command, "backup"))
                return opt == OPT_TO || opt == OPT_TYPE || opt == OPT_NO_WRITERS || opt == OPT_SOCKET ||
                       opt == OPT_LEVEL || opt == OPT_THREADS || opt == OPT_QUIET || opt == OPT_EXCLUDE ||
                       opt == OPT_EXCLUDE_FILE || opt == OPT_WAIT;
        if (streq(command, "list"))
                return opt == OPT_TO;
        if (streq(command, "ls"))
                return false;
        if (streq(command, "verify"))
                return opt == OPT_QUIET || opt == OPT_ONLY;
        if (streq(command, "restore"))
                return opt == OPT_TO || opt == OPT_OVERWRITE || opt == OPT_REPORT || opt == OPT_VERBOSE ||
                       opt == OPT_QUIET || opt == OPT_NO_WRITERS || opt == OPT_SOCKET || opt == OPT_INCLUDE ||
                       opt == OPT_RESTORE_SETID;
        if (streq(command, "prune"))
                return opt == OPT_TO || opt == OPT_WAIT || opt == OPT_DRY_RUN ||
                       (opt >= OPT_KEEP_LAST && opt <= OPT_KEEP_MONTHLY);
        if (streq(command, "scheduled"))
                return opt == OPT_CONFIG || opt == OPT_SOCKET || opt == OPT_QUIET;
        return false;
}

/* What an instance config file (scheduled) may set: a backup's and a prune's options. */
static bool config_key_allowed(int opt) {
        return opt == OPT_PATH || opt == OPT_TO || opt == OPT_TYPE || opt == OPT_FULL_EVERY ||
               opt == OPT_EXCLUDE || opt == OPT_EXCLUDE_FILE || opt == OPT_WAIT || opt == OPT_NO_WRITERS ||
               opt == OPT_SOCKET || opt == OPT_LEVEL || opt == OPT_THREADS ||
               (opt >= OPT_KEEP_LAST && opt <= OPT_KEEP_MONTHLY);
}

/* One option with its value (NULL for flags), from the command line or a config file. */
static int apply_option(Args *a, int c, const char *value) {
        switch (c) {
        case OPT_TYPE:
                a->type = value;
                break;
        case OPT_TO:
                a->to = value;
                break;
        case OPT_NO_WRITERS:
                a->no_writers = true;
                break;
        case OPT_SOCKET:
                a->socket_path = value;
                break;
        case OPT_LEVEL:
                if (parse_unsigned(value, 19, &a->level) < 0 || a->level == 0) {
                        fprintf(stderr, "vssbackup: --level takes 1..19\n");
                        return -EINVAL;
                }
                break;
        case OPT_THREADS:
                if (parse_unsigned(value, 256, &a->threads) < 0) {
                        fprintf(stderr, "vssbackup: --threads takes 0..256 (0: one per CPU)\n");
                        return -EINVAL;
                }
                break;
        case OPT_QUIET:
                a->quiet = true;
                break;
        case OPT_JSON:
                a->json = true;
                break;
        case OPT_OVERWRITE:
                a->overwrite = true;
                break;
        case OPT_RESTORE_SETID:
                a->restore_setid = true;
                break;
        case OPT_REPORT:
                a->report = value;
                break;
        case OPT_VERBOSE:
                a->verbose = true;
                break;
        case OPT_ONLY:
                a->only = true;
                break;
        case OPT_DRY_RUN:
                a->dry_run = true;
                break;
        case OPT_WAIT:
                if (parse_unsigned(value, 7 * 24 * 3600, &a->wait_s) < 0) {
                        fprintf(stderr, "vssbackup: --wait takes 0..604800 seconds\n");
                        return -EINVAL;
                }
                break;
        case OPT_KEEP_LAST ... OPT_KEEP_MONTHLY:
                if (parse_unsigned(value, 1000000, &a->keep[c - OPT_KEEP_LAST]) < 0) {
                        fprintf(stderr, "vssbackup: --keep-... takes a count 0..1000000, not \"%s\"\n", value);
                        return -EINVAL;
                }
                break;
        case OPT_EXCLUDE:
        case OPT_INCLUDE: {
                int r = c == OPT_EXCLUDE ? patterns_add(&a->excludes, &a->n_excludes, value) :
                                           patterns_add(&a->includes, &a->n_includes, value);

                if (r < 0) {
                        fprintf(stderr, "vssbackup: %s \"%s\": %s\n", c == OPT_EXCLUDE ? "--exclude" : "--include",
                                value, r == -E2BIG ? "too many patterns" :
                                r == -EINVAL ? "not a usable pattern (empty, control bytes or too long)" :
                                               strerror(-r));
                        return -EINVAL;
                }
                break;
        }
        case OPT_EXCLUDE_FILE: {
                unsigned line = 0;
                int r = patterns_read_file(value, &a->excludes, &a->n_excludes, &line);

                if (r < 0) {
                        if (line > 0)
                                fprintf(stderr, "vssbackup: %s:%u: %s\n", value, line,
                                        r == -E2BIG ? "too many patterns" : "not a usable pattern");
                        else
                                fprintf(stderr, "vssbackup: --exclude-file %s: %s\n", value, strerror(-r));
                        return -EINVAL;
                }
                break;
        }
        case OPT_FULL_EVERY:
                if (parse_unsigned(value, 3650, &a->full_every_days) < 0 || a->full_every_days == 0) {
                        fprintf(stderr, "vssbackup: full-every takes 1..3650 days\n");
                        return -EINVAL;
                }
                break;
        case OPT_CONFIG:
                a->config = value;
                break;
        case OPT_HELP:
                usage(stdout);
                exit(VB_EXIT_OK);
        }
        return 0;
}

static int parse_args(int argc, char **argv, Args *a) {
        int c;

        a->command = argv[1];
        a->level = 1;
        a->wait_s = VB_DEFAULT_WAIT_S;
        a->full_every_days = 7;
        optind = 2;
        while ((c = getopt_long(argc, argv, "hv", options, NULL)) >= 0) {
                if (c == 'h')
                        c = OPT_HELP;
                if (c == 'v')
                        c = OPT_VERBOSE;
                if (c == '?')
                        return -EINVAL;
                if (!option_allowed(a->command, c)) {
                        fprintf(stderr, "vssbackup %s: option %s does not apply\n", a->command, argv[optind - 1]);
                        return -EINVAL;
                }
                if (apply_option(a, c, optarg) < 0)
                        return -EINVAL;
        }
        a->positional = argv + optind;
        a->n_positional = (size_t) (argc - optind);
        return 0;
}

static int cmd_backup(const Args *a) {
        BackupOptions o = {
                .volumes = a->positional,
                .n_volumes = a->n_positional,
                .to = a->to,
                .socket_path = a->socket_path,
                .no_writers = a->no_writers,
                .quiet = a->quiet,
                .json = a->json,
                .compression_level = (int) a->level,
                .threads = a->threads,
                .excludes = a->excludes,
                .n_excludes = a->n_excludes,
                .wait_s = a->wait_s,
        };

        if (!a->type || backup_type_from_string(a->type, &o.type) < 0) {
                fprintf(stderr, "vssbackup backup: --type full|incremental|differential|copy|log is required\n");
                return VB_EXIT_USAGE;
        }
        if (!a->to || a->n_positional == 0) {
                fprintf(stderr, "vssbackup backup: give at least one PATH and --to DIR\n");
                return VB_EXIT_USAGE;
        }
        if (a->n_positional > VB_MAX_VOLUMES) {
                fprintf(stderr, "vssbackup backup: at most %u paths\n", VB_MAX_VOLUMES);
                return VB_EXIT_USAGE;
        }
        tool_interrupt_install();
        return vb_backup(&o);
}

static int cmd_restore(const Args *a) {
        RestoreOptions o = {
                .to = a->to,
                .overwrite = a->overwrite,
                .quiet = a->quiet,
                .verbose = a->verbose,
                .report = a->report,
                .socket_path = a->socket_path,
                .no_writers = a->no_writers,
                .restore_setid = a->restore_setid,
                .json = a->json,
                .includes = a->includes,
                .n_includes = a->n_includes,
        };

        if (a->n_positional != 1 || !a->to) {
                fprintf(stderr, "vssbackup restore: give one BACKUP and --to TARGET\n");
                return VB_EXIT_USAGE;
        }
        if (a->json && a->report && streq(a->report, "-")) {
                fprintf(stderr, "vssbackup restore: --json and --report - both want stdout; give --report FILE\n");
                return VB_EXIT_USAGE;
        }
        o.backup = a->positional[0];
        return vb_restore(&o);
}

static int cmd_prune(const Args *a) {
        PruneOptions o = {
                .dir = a->to,
                .keep_last = a->keep[0],
                .keep_hourly = a->keep[1],
                .keep_daily = a->keep[2],
                .keep_weekly = a->keep[3],
                .keep_monthly = a->keep[4],
                .dry_run = a->dry_run,
                .json = a->json,
                .wait_s = a->wait_s,
        };

        if (!a->to || a->n_positional > 0) {
                fprintf(stderr, "vssbackup prune: give --to DIR and --keep-... options\n");
                return VB_EXIT_USAGE;
        }
        tool_interrupt_install();
        return vb_prune(&o);
}

static char *strip(char *s) {
        char *e;

        s += strspn(s, " \t");
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                *--e = 0;
        return s;
}

#define CONFIG_SIZE_MAX (64U * 1024U)

/*
 * An instance config file (docs/vssbackup.md "Scheduled backups"): "key = value" lines whose
 * keys are the long options of backup and prune, plus "path" once per path; '#' comments and
 * blank lines skipped; flags take yes/no. The text stays with a: values point into it.
 */
static int load_config(Args *a, const char *file) {
        _cleanup_close_ int fd = -EBADF;
        char *line, *save = NULL;
        unsigned lineno = 0;
        ssize_t n;

        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                fprintf(stderr, "vssbackup: %s: %s\n", file, strerror(errno));
                return -errno;
        }
        a->config_text = calloc(1, CONFIG_SIZE_MAX + 1);
        if (!a->config_text)
                return -ENOMEM;
        n = read(fd, a->config_text, CONFIG_SIZE_MAX + 1);
        if (n < 0 || (size_t) n > CONFIG_SIZE_MAX) {
                fprintf(stderr, "vssbackup: %s: %s\n", file, n < 0 ? strerror(errno) : "larger than 64 KiB");
                return -EINVAL;
        }
        for (line = strtok_r(a->config_text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                const struct option *o = NULL;
                char *key, *value, *eq;
                int opt;

                lineno++;
                key = strip(line);
                if (*key == 0 || *key == '#')
                        continue;
                eq = strchr(key, '=');
                if (!eq) {
                        fprintf(stderr, "vssbackup: %s:%u: expected key = value\n", file, lineno);
                        return -EINVAL;
                }
                *eq = 0;
                key = strip(key);
                value = strip(eq + 1);
                if (streq(key, "path"))
                        opt = OPT_PATH;
                else {
                        for (const struct option *c = options; c->name && !o; c++)
                                if (streq(c->name, key))
                                        o = c;
                        opt = o ? o->val : 0;
                }
                if (!config_key_allowed(opt)) {
                        fprintf(stderr, "vssbackup: %s:%u: unknown key \"%s\"\n", file, lineno, key);
                        return -EINVAL;
                }
                if (opt == OPT_PATH) {
                        char **grown;

                        if (value[0] != '/' || a->n_config_paths >= VB_MAX_VOLUMES) {
                                fprintf(stderr, "vssbackup: %s:%u: path takes an absolute path (at most %u)\n", file,
                                        lineno, VB_MAX_VOLUMES);
                                return -EINVAL;
                        }
                        grown = realloc(a->config_paths, (a->n_config_paths + 1) * sizeof(char *));
                        if (!grown)
                                return -ENOMEM;
                        a->config_paths = grown;
                        a->config_paths[a->n_config_paths++] = value;
                        continue;
                }
                if (o->has_arg == no_argument) {
                        if (streq(value, "no") || streq(value, "false") || streq(value, "0"))
                                continue;
                        if (!streq(value, "yes") && !streq(value, "true") && !streq(value, "1")) {
                                fprintf(stderr, "vssbackup: %s:%u: %s takes yes or no\n", file, lineno, key);
                                return -EINVAL;
                        }
                }
                if (apply_option(a, opt, value) < 0) {
                        fprintf(stderr, "vssbackup: %s:%u: rejected\n", file, lineno);
                        return -EINVAL;
                }
        }
        return 0;
}

/* type auto: a full when DIR has no complete full newer than full_every_days, else an incremental. */
static int auto_type(const Args *a, vss_backup_type *ret) {
        _cleanup_close_ int fd = -EBADF;
        int64_t newest_full = INT64_MIN;
        Catalog c = {};

        *ret = VSS_BT_FULL;
        fd = open(a->to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0;       /* no directory yet: the first backup is a full */
        if (catalog_load(fd, &c) < 0)
                return 0;
        for (size_t i = 0; i < c.n_backups; i++)
                if (c.backups[i]->type == VSS_BT_FULL && c.backups[i]->complete)
                        newest_full = MAX(newest_full, c.backups[i]->created_ns);
        catalog_done(&c);
        if (newest_full != INT64_MIN && now_ns() - newest_full < (int64_t) a->full_every_days * 86400 * 1000000000LL)
                *ret = VSS_BT_INCREMENTAL;
        return 0;
}

/*
 * scheduled --config FILE: what vssbackup@.service runs. One backup of the file's paths (its
 * type, or "auto"), then, when it succeeded and the file has --keep-... rules, a prune.
 */
static int cmd_scheduled(Args *a) {
        BackupOptions o = {};
        int r;

        if (!a->config || a->n_positional > 0) {
                fprintf(stderr, "vssbackup scheduled: give --config FILE\n");
                return VB_EXIT_USAGE;
        }
        if (load_config(a, a->config) < 0)
                return VB_EXIT_USAGE;
        if (!a->to || a->n_config_paths == 0) {
                fprintf(stderr, "vssbackup: %s: give \"to = DIR\" and at least one \"path = PATH\"\n", a->config);
                return VB_EXIT_USAGE;
        }
        o = (BackupOptions) {
                .volumes = a->config_paths,
                .n_volumes = a->n_config_paths,
                .to = a->to,
                .socket_path = a->socket_path,
                .no_writers = a->no_writers,
                .quiet = a->quiet,
                .compression_level = (int) a->level,
                .threads = a->threads,
                .excludes = a->excludes,
                .n_excludes = a->n_excludes,
                .wait_s = a->wait_s,
        };
        if (!a->type || streq(a->type, "auto"))
                r = auto_type(a, &o.type);
        else
                r = backup_type_from_string(a->type, &o.type);
        if (r < 0) {
                fprintf(stderr, "vssbackup: %s: type takes auto, full, incremental, differential or copy\n", a->config);
                return VB_EXIT_USAGE;
        }
        tool_interrupt_install();
        r = vb_backup(&o);
        if (r != VB_EXIT_OK || !(a->keep[0] || a->keep[1] || a->keep[2] || a->keep[3] || a->keep[4]))
                return r;
        return cmd_prune(a);
}

static int dispatch(Args *a) {
        if (streq(a->command, "backup"))
                return cmd_backup(a);
        if (streq(a->command, "restore"))
                return cmd_restore(a);
        if (streq(a->command, "prune"))
                return cmd_prune(a);
        if (streq(a->command, "scheduled"))
                return cmd_scheduled(a);
        if (streq(a->command, "list")) {
                const char *dir = a->to ?: (a->n_positional == 1 ? a->positional[0] : NULL);

                if (!dir || a->n_positional > (a->to ? 0U : 1U)) {
                        fprintf(stderr, "vssbackup list: give --to DIR\n");
                        return VB_EXIT_USAGE;
                }
                return vb_list(dir, a->json);
        }
        if (streq(a->command, "ls")) {
                if (a->n_positional < 1 || a->n_positional > 2) {
                        fprintf(stderr, "vssbackup ls: give one BACKUP and at most one PATH\n");
                        return VB_EXIT_USAGE;
                }
                return vb_ls(a->positional[0], a->n_positional == 2 ? a->positional[1] : NULL, a->json);
        }
        if (a->n_positional != 1) {
                fprintf(stderr, "vssbackup verify: give one BACKUP\n");
                return VB_EXIT_USAGE;
        }
        return vb_verify(a->positional[0], a->only, a->quiet, a->json);
}

int main(int argc, char **argv) {
        Args a = {};
        int r;

        if (tool_backup_privilege_init() < 0)
                return tool_vss_error(E_ACCESSDENIED, "cannot drop the backup privilege");

        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? VB_EXIT_USAGE : VB_EXIT_OK;
        }
        if (streq(argv[1], "--version")) {
                printf("vssbackup %s\n", VSS_VERSION);
                return VB_EXIT_OK;
        }
        if (!streq(argv[1], "backup") && !streq(argv[1], "list") && !streq(argv[1], "verify") &&
            !streq(argv[1], "restore") && !streq(argv[1], "ls") && !streq(argv[1], "prune") &&
            !streq(argv[1], "scheduled")) {
                fprintf(stderr, "vssbackup: unknown command \"%s\"\n", argv[1]);
                usage(stderr);
                return VB_EXIT_USAGE;
        }
        if (parse_args(argc, argv, &a) < 0)
                r = VB_EXIT_USAGE;
        else
                r = dispatch(&a);
        patterns_free(a.excludes, a.n_excludes);
        patterns_free(a.includes, a.n_includes);
        free(a.config_paths);
        free(a.config_text);
        return r;
}
