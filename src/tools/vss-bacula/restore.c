/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * restore.c: the restore pair, RunScripts of a Bacula restore job that writes back into place:
 *
 *   restore-begin --job %j [--backup-job NAME | --bcd FILE] [--where DIR]
 *                                                             before the job: PreRestore
 *   restore-end --job %j --status '%e'                        after it: PostRestore
 *
 * The document is the backup job's, kept beside it (STATE_DIR/<backup job>.xml): named with
 * --backup-job (the Job name `list jobs` shows), given as a file with --bcd, or by default the
 * newest one kept, the last backup of this client. restore-begin starts the restore's agent,
 * which holds the requester until restore-end (agent-restore.c). A restore into another
 * directory needs nothing from the writers: its job carries no RunScript pair, or says where
 * it writes with --where (the job's Where: the File Daemon has no %-code for it), and then
 * restore-begin does nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "vss-bacula.h"
#include "vss-bus.h"

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

/* The newest document in the state directory (malloc'd), or NULL. */
static char *newest_document(void) {
        _cleanup_(closedirp) DIR *d = opendir(opt.state_dir);
        struct timespec best = {};
        char *found = NULL;
        struct dirent *de;

        if (!d)
                return NULL;
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                struct stat st;

                if (n < 5 || !streq(de->d_name + n - 4, ".xml"))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (found && (st.st_mtim.tv_sec < best.tv_sec ||
                              (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec <= best.tv_nsec)))
                        continue;
                free(found);
                if (asprintf(&found, "%s/%s", opt.state_dir, de->d_name) < 0)
                        return NULL;
                best = st.st_mtim;
        }
        return found;
}

int restore_begin(int argc, char **argv) {
        static const struct option options[] = {
                { "job", required_argument, NULL, 'j' },
                { "backup-job", required_argument, NULL, 'b' },
                { "bcd", required_argument, NULL, 'f' },
                { "where", required_argument, NULL, 'w' },
                {}
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *err = NULL, *path = NULL;
        const char *job = NULL, *backup_job = NULL, *bcd = NULL, *where = NULL;
        sd_bus_message *reply = NULL;
        uint32_t count = 0;
        int c, r;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'j':
                        job = optarg;
                        break;
                case 'b':
                        backup_job = optarg;
                        break;
                case 'f':
                        bcd = optarg;
                        break;
                case 'w':
                        where = optarg;
                        break;
                default:
                        return tool_usage_error("unknown option or missing value: '%s'", argv[optind - 1]);
                }
        if (optind < argc)
                return tool_usage_error("unexpected argument '%s'", argv[optind]);
        if (!job_name_valid(job))
                return tool_usage_error("--job must be a Bacula job name (%%j) of 1 to %d bytes", BACULA_MAX_JOB_NAME);
        /* The File Daemon expands no code for the restore's Where: a "%w" arrives as it is. */
        if (where && where[0] == '%')
                return tool_usage_error("--where %s: the File Daemon has no such code; give the restore job's Where "
                                        "itself", where);
        if (!isempty(where) && !streq(where, "/")) {
                /* Into another directory: the writers' files are not touched, they take no part. */
                tool_note("job %s: restore into %s: the writers take no part", job, where);
                return TOOL_EXIT_OK;
        }
        if (backup_job && bcd)
                return tool_usage_error("--backup-job and --bcd name the document twice: give one");
        if (backup_job && !job_name_valid(backup_job))
                return tool_usage_error("--backup-job must be a Bacula job name of 1 to %d bytes", BACULA_MAX_JOB_NAME);
        if (bcd && bcd[0] != '/')
                return tool_usage_error("--bcd must be an absolute path");

        if (bcd)
                path = strdup(bcd);
        else if (backup_job) {
                if (asprintf(&path, "%s/%s.xml", opt.state_dir, backup_job) < 0)
                        path = NULL;
        } else {
                path = newest_document();
                if (!path)
                        return tool_vss_error(VSS_E_OBJECT_NOT_FOUND, "no Backup Components Document in %s: "
                                              "name one with --bcd", opt.state_dir);
        }
        if (!path)
                return tool_vss_error(E_OUTOFMEMORY, NULL);

        r = agent_connect(job, true, getppid(), &bus);
        if (r < 0)
                return tool_vss_error(vss_hr_from_errno(r), "starting the restore session of job %s: %s", job,
                                      strerror(-r));
        r = agent_call(bus, "RestoreBegin", &err, &reply, "s", path);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", program_invocation_short_name, strempty(err));
                return TOOL_EXIT_VSS;
        }
        (void) sd_bus_message_read(reply, "u", &count);
        sd_bus_message_unref(reply);
        tool_note("job %s: PreRestore done for %u component(s) of %s", job, count, path);
        return TOOL_EXIT_OK;
}

int restore_end(int argc, char **argv) {
        static const struct option options[] = {
                { "job", required_argument, NULL, 'j' },
                { "status", required_argument, NULL, 's' },
                {}
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *err = NULL;
        const char *job = NULL, *status = NULL;
        bool ok;
        int c, r;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'j':
                        job = optarg;
                        break;
                case 's':
                        status = optarg;
                        break;
                default:
                        return tool_usage_error("unknown option or missing value: '%s'", argv[optind - 1]);
                }
        /* As for job-end: an unquoted multi-word %e leaves its other words as arguments. */
        if (!job_name_valid(job))
                return tool_usage_error("--job must be a Bacula job name (%%j) of 1 to %d bytes", BACULA_MAX_JOB_NAME);
        if (isempty(status))
                return tool_usage_error("--status is missing");
        ok = status_succeeded(status);

        r = agent_connect(job, false, 0, &bus);
        if (r == -ENOENT) {
                tool_note("job %s: no restore session to end", job);
                return TOOL_EXIT_OK;
        }
        if (r < 0)
                return tool_vss_error(vss_hr_from_errno(r), "reaching the restore session of job %s: %s", job,
                                      strerror(-r));
        if (agent_call(bus, "RestoreEnd", &err, NULL, "b", ok) < 0) {
                fprintf(stderr, "%s: %s\n", program_invocation_short_name, strempty(err));
                return TOOL_EXIT_VSS;
        }
        tool_note("job %s: PostRestore done: the restore %s", job, ok ? "succeeded" : "failed");
        return TOOL_EXIT_OK;
}
