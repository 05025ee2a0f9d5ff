/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c: vss-bacula's command line. With SNAPSHOT_ACTION in the environment it is the File
 * Daemon's snapshot backend (backend.c); otherwise it runs a subcommand for the job's
 * RunScripts: job-begin (the level, and the promise of a job-end), job-end (the outcome), and
 * the restore pair around a restore in place (restore.c). docs/bacula.md is its manual page.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "vss-bacula.h"
#include "vss-bus.h"

Options opt = {
        .run_dir = BACULA_RUN_DIR_DEFAULT,
        .state_dir = BACULA_STATE_DIR_DEFAULT,
        .wait_set_s = BACULA_WAIT_SET_DEFAULT_S,
        .idle_s = BACULA_IDLE_DEFAULT_S,
        .linger_s = BACULA_LINGER_DEFAULT_S,
        .deadline_s = BACULA_DEADLINE_DEFAULT_S,
        .keep_documents = BACULA_KEEP_DOCUMENTS_DEFAULT,
};

static int help(void) {
        printf("%s [OPTIONS]                      (Bacula's Snapshot Command: SNAPSHOT_ACTION set)\n"
               "%s [OPTIONS] job-begin --job NAME --level LEVEL\n"
               "%s [OPTIONS] job-end --job NAME --status STATUS\n"
               "%s [OPTIONS] restore-begin --job NAME [--backup-job NAME | --bcd FILE] [--where DIR]\n"
               "%s [OPTIONS] restore-end --job NAME --status STATUS\n"
               "\n"
               "Application-consistent snapshots for Bacula's File Daemon through vss-linux.\n"
               "\n"
               "Options:\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "     --socket=PATH     vssd's socket (default: $VSS_SOCKET, else the built-in one)\n"
               "     --run-dir=DIR     where the jobs' agents listen (default %s)\n"
               "     --state-dir=DIR   where the jobs' Backup Components Documents are kept (default %s)\n"
               "     --wait-set=SEC    wait for another snapshot set in creation (default %u)\n"
               "     --idle=SEC        give up a job whose File Daemon is silent before the set (default %u)\n"
               "     --linger=SEC      after the last delete, wait for job-end (default %u)\n"
               "     --deadline=SEC    the longest a job may hold its snapshots (default %u)\n"
               "     --keep-documents=N  documents kept per job name in the state directory (default %u)\n"
               "  -d LEVEL, -o FILE    accepted for the File Daemon's debug options\n"
               "\n"
               "See vss-bacula(8) and docs/bacula.md.\n",
               program_invocation_short_name, program_invocation_short_name, program_invocation_short_name,
               program_invocation_short_name, program_invocation_short_name, BACULA_RUN_DIR_DEFAULT,
               BACULA_STATE_DIR_DEFAULT, BACULA_WAIT_SET_DEFAULT_S, BACULA_IDLE_DEFAULT_S,
               BACULA_LINGER_DEFAULT_S, BACULA_DEADLINE_DEFAULT_S, BACULA_KEEP_DOCUMENTS_DEFAULT);
        return TOOL_EXIT_OK;
}

/* Bacula's job status as %e gives it ("OK", "OK -- with warnings", "Error", "Fatal Error",
 * "Canceled", "Differences", ...) or its letter: did the data reach the Storage Daemon? */
bool status_succeeded(const char *s) {
        return strncasecmp(s, "OK", 2) == 0 || streq(s, "T") || streq(s, "W");
}

static int parse_job_args(int argc, char **argv, const char *second, const char **ret_job,
                          const char **ret_second) {
        static const struct option options[] = {
                { "job", required_argument, NULL, 'j' },
                { "level", required_argument, NULL, 'l' },
                { "status", required_argument, NULL, 's' },
                {}
        };
        int c;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'j':
                        *ret_job = optarg;
                        break;
                case 'l':
                case 's':
                        if (!streq(options[c == 'l' ? 1 : 2].name, second))
                                return tool_usage_error("%s takes --job and --%s", argv[0], second);
                        *ret_second = optarg;
                        break;
                default:
                        return tool_usage_error("unknown option or missing value: '%s'", argv[optind - 1]);
                }
        /* %e is several words ("OK -- with warnings", "Fatal Error") and the File Daemon splits
         * the command at spaces: without quotes around %e, the rest arrives as arguments (and
         * getopt takes the "--"). The first word decides; the rest is accepted. */
        if (optind < argc && !streq(second, "status"))
                return tool_usage_error("unexpected argument '%s'", argv[optind]);
        if (!job_name_valid(*ret_job))
                return tool_usage_error("--job must be a Bacula job name (%%j) of 1 to %d bytes", BACULA_MAX_JOB_NAME);
        if (isempty(*ret_second))
                return tool_usage_error("--%s is missing", second);
        return 0;
}

static int job_begin(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *err = NULL;
        const char *job = NULL, *level = NULL;
        int r;

        r = parse_job_args(argc, argv, "level", &job, &level);
        if (r != 0)
                return r;
        r = agent_connect(job, true, getppid(), &bus);
        if (r < 0)
                return tool_vss_error(vss_hr_from_errno(r), "starting the snapshot session of job %s: %s", job,
                                      strerror(-r));
        if (agent_call(bus, "JobBegin", &err, NULL, "s", level) < 0) {
                fprintf(stderr, "%s: %s\n", program_invocation_short_name, strempty(err));
                return TOOL_EXIT_VSS;
        }
        return TOOL_EXIT_OK;
}

static int job_end(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *err = NULL;
        const char *job = NULL, *status = NULL;
        bool ok;
        int r;

        r = parse_job_args(argc, argv, "status", &job, &status);
        if (r != 0)
                return r;
        ok = status_succeeded(status);
        r = agent_connect(job, false, 0, &bus);
        if (r == -ENOENT) {
                /* No snapshot was taken (no Enable Snapshot, or nothing supported): nothing to tell. */
                tool_note("job %s: no snapshot session to end", job);
                return TOOL_EXIT_OK;
        }
        if (r < 0)
                return tool_vss_error(vss_hr_from_errno(r), "reaching the snapshot session of job %s: %s", job,
                                      strerror(-r));
        if (agent_call(bus, "JobEnd", &err, NULL, "b", ok) < 0) {
                fprintf(stderr, "%s: %s\n", program_invocation_short_name, strempty(err));
                return TOOL_EXIT_VSS;
        }
        tool_note("job %s: the writers heard: %s", job, ok ? "succeeded" : "failed");
        return TOOL_EXIT_OK;
}

int main(int argc, char **argv) {
        enum { ARG_VERSION = 0x100, ARG_SOCKET, ARG_RUN_DIR, ARG_STATE_DIR, ARG_WAIT_SET, ARG_IDLE, ARG_LINGER,
               ARG_DEADLINE, ARG_KEEP_DOCUMENTS };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "run-dir", required_argument, NULL, ARG_RUN_DIR },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "wait-set", required_argument, NULL, ARG_WAIT_SET },
                { "idle", required_argument, NULL, ARG_IDLE },
                { "linger", required_argument, NULL, ARG_LINGER },
                { "deadline", required_argument, NULL, ARG_DEADLINE },
                { "keep-documents", required_argument, NULL, ARG_KEEP_DOCUMENTS },
                {}
        };
        bool protocol = getenv("SNAPSHOT_ACTION") != NULL;
        int c;

        /* '+': options end at the subcommand, whose own options follow it. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+hd:o:", options, NULL)) >= 0) {
                unsigned *secs = NULL;

                switch (c) {
                case 'h':
                        return help();
                case ARG_VERSION:
                        return tool_version();
                case ARG_SOCKET:
                        opt.socket = optarg;
                        break;
                case ARG_RUN_DIR:
                        opt.run_dir = optarg;
                        break;
                case ARG_STATE_DIR:
                        opt.state_dir = optarg;
                        break;
                case ARG_WAIT_SET:
                        secs = &opt.wait_set_s;
                        break;
                case ARG_IDLE:
                        secs = &opt.idle_s;
                        break;
                case ARG_LINGER:
                        secs = &opt.linger_s;
                        break;
                case ARG_DEADLINE:
                        secs = &opt.deadline_s;
                        break;
                case ARG_KEEP_DOCUMENTS: {
                        char *end;
                        unsigned long v;

                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || optarg[0] == '-' || v == 0 || v > 100000) {
                                if (protocol) {
                                        puts("status=0 error=\"E_INVALIDARG: --keep-documents needs 1 to 100000\"");
                                        return 1;
                                }
                                return tool_usage_error("--keep-documents needs a number from 1 to 100000");
                        }
                        opt.keep_documents = (unsigned) v;
                        break;
                }
                case 'd':
                case 'o':
                        break;  /* the File Daemon's debug options: its own log says enough */
                default:
                        if (protocol) {
                                puts("status=0 error=\"E_INVALIDARG: bad Snapshot Command options; see vss-bacula --help\"");
                                return 1;
                        }
                        return tool_usage_error("unknown option or missing value: '%s'", argv[optind - 1]);
                }
                if (secs && parse_seconds(optarg, secs) < 0) {
                        if (protocol) {
                                puts("status=0 error=\"E_INVALIDARG: a time option needs 1 to 2592000 seconds\"");
                                return 1;
                        }
                        return tool_usage_error("%s needs a number of seconds from 1 to 2592000", argv[optind - 1]);
                }
        }
        if (opt.run_dir[0] != '/' || opt.state_dir[0] != '/')
                return protocol ? (puts("status=0 error=\"E_INVALIDARG: --run-dir and --state-dir must be absolute\""), 1)
                                : tool_usage_error("--run-dir and --state-dir must be absolute paths");

        if (protocol) {
                if (optind < argc) {
                        puts("status=0 error=\"E_INVALIDARG: unexpected arguments after the Snapshot Command options\"");
                        return 1;
                }
                return backend_run();
        }
        if (optind >= argc)
                return tool_usage_error("no subcommand, and SNAPSHOT_ACTION is not set");
        argc -= optind;
        argv += optind;
        if (streq(argv[0], "job-begin"))
                return job_begin(argc, argv);
        if (streq(argv[0], "job-end"))
                return job_end(argc, argv);
        if (streq(argv[0], "restore-begin"))
                return restore_begin(argc, argv);
        if (streq(argv[0], "restore-end"))
                return restore_end(argc, argv);
        return tool_usage_error("unknown subcommand '%s'", argv[0]);
}
