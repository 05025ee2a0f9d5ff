/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c: vssbackup's command line. It only parses and dispatches: each command lives in its
 * own file (backup.c, restore.c, catalog.c for list and verify). docs/vssbackup.md is the
 * manual.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "vssbackup.h"

static void usage(FILE *f) {
        fputs("Usage:\n"
              "  vssbackup backup --type full|incremental|differential|copy|log VOLUME... --to DIR\n"
              "                   [--no-writers] [--socket PATH] [--level N] [--threads N] [--quiet]\n"
              "  vssbackup list --to DIR [--json]\n"
              "  vssbackup verify BACKUP [--quiet]\n"
              "  vssbackup restore BACKUP --to TARGET [--overwrite] [--no-writers] [--socket PATH]\n"
              "                    [--report FILE|-] [--verbose] [--quiet]\n"
              "\n"
              "A backup is a directory DIR/<time>-<type>-<id>; BACKUP names one. See docs/vssbackup.md.\n",
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
        bool no_writers, quiet, json, overwrite, verbose;
        char **positional;
        size_t n_positional;
} Args;

/* Which options each command takes: anything else is a usage error, not silently ignored. */
static bool option_allowed(const char *command, int opt) {
        if (opt == OPT_HELP || opt == OPT_TO)
                return true;
        if (streq(command, "backup"))
                return opt == OPT_TYPE || opt == OPT_NO_WRITERS || opt == OPT_SOCKET || opt == OPT_LEVEL ||
                       opt == OPT_THREADS || opt == OPT_QUIET;
        if (streq(command, "list"))
                return opt == OPT_JSON;
        if (streq(command, "verify"))
                return opt == OPT_QUIET;
        if (streq(command, "restore"))
                return opt == OPT_OVERWRITE || opt == OPT_REPORT || opt == OPT_VERBOSE || opt == OPT_QUIET ||
                       opt == OPT_NO_WRITERS || opt == OPT_SOCKET;
        return false;
}

static int parse_args(int argc, char **argv, Args *a) {
        int c;

        a->command = argv[1];
        a->level = 1;
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
                switch (c) {
                case OPT_TYPE:
                        a->type = optarg;
                        break;
                case OPT_TO:
                        a->to = optarg;
                        break;
                case OPT_NO_WRITERS:
                        a->no_writers = true;
                        break;
                case OPT_SOCKET:
                        a->socket_path = optarg;
                        break;
                case OPT_LEVEL:
                        if (parse_unsigned(optarg, 19, &a->level) < 0 || a->level == 0) {
                                fprintf(stderr, "vssbackup: --level takes 1..19\n");
                                return -EINVAL;
                        }
                        break;
                case OPT_THREADS:
                        if (parse_unsigned(optarg, 256, &a->threads) < 0) {
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
                case OPT_REPORT:
                        a->report = optarg;
                        break;
                case OPT_VERBOSE:
                        a->verbose = true;
                        break;
                case OPT_HELP:
                        usage(stdout);
                        exit(VB_EXIT_OK);
                }
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
                .compression_level = (int) a->level,
                .threads = a->threads,
        };

        if (!a->type || backup_type_from_string(a->type, &o.type) < 0) {
                fprintf(stderr, "vssbackup backup: --type full|incremental|differential|copy|log is required\n");
                return VB_EXIT_USAGE;
        }
        if (!a->to || a->n_positional == 0) {
                fprintf(stderr, "vssbackup backup: give at least one VOLUME and --to DIR\n");
                return VB_EXIT_USAGE;
        }
        if (a->n_positional > VB_MAX_VOLUMES) {
                fprintf(stderr, "vssbackup backup: at most %u volumes\n", VB_MAX_VOLUMES);
                return VB_EXIT_USAGE;
        }
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
        };

        if (a->n_positional != 1 || !a->to) {
                fprintf(stderr, "vssbackup restore: give one BACKUP and --to TARGET\n");
                return VB_EXIT_USAGE;
        }
        o.backup = a->positional[0];
        return vb_restore(&o);
}

int main(int argc, char **argv) {
        Args a = {};

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
            !streq(argv[1], "restore")) {
                fprintf(stderr, "vssbackup: unknown command \"%s\"\n", argv[1]);
                usage(stderr);
                return VB_EXIT_USAGE;
        }
        if (parse_args(argc, argv, &a) < 0)
                return VB_EXIT_USAGE;

        if (streq(a.command, "backup"))
                return cmd_backup(&a);
        if (streq(a.command, "restore"))
                return cmd_restore(&a);
        if (streq(a.command, "list")) {
                const char *dir = a.to ?: (a.n_positional == 1 ? a.positional[0] : NULL);

                if (!dir || a.n_positional > (a.to ? 0U : 1U)) {
                        fprintf(stderr, "vssbackup list: give --to DIR\n");
                        return VB_EXIT_USAGE;
                }
                return vb_list(dir, a.json);
        }
        if (a.n_positional != 1 || a.to) {
                fprintf(stderr, "vssbackup verify: give one BACKUP\n");
                return VB_EXIT_USAGE;
        }
        return vb_verify(a.positional[0], a.quiet);
}
