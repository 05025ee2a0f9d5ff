/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vshadow.c: a requester that wraps any backup tool, after the Windows SDK's vshadow.
 *
 * `vshadow [options] VOLUME...` makes a snapshot set of the volumes with the writers taking
 * part (writers and components chosen with -wi/-wx), runs a command (-exec) against the
 * snapshots while they exist, tells the writers through SetBackupSucceeded whether that
 * command succeeded, completes the backup and releases the set (or keeps it with -p). The
 * command learns everything through environment variables: where each snapshot is, the
 * backup type, the saved Backup Components Document, and the list of files the writers'
 * components need copied for this backup type (the selection of file-select.[ch], the same
 * one every requester of this project uses). Other options query, delete and expose
 * snapshots and list writers' status and metadata; -r restores with the writers from a saved
 * document, running the command that copies the files back between PreRestore and PostRestore.
 *
 * Why this file exists: the VSS sequence (docs/api-map.md) has a dozen steps with rules on
 * order, aborts and writer status; a user who only wants "tar of a consistent /srv" should
 * not have to write a requester. Everything here goes through the public libvss API, except
 * two things the public API has no call for: the list of subscribed writers before
 * Identify (vssd's Admin.ListWriters, so that writers excluded by -wx are never even asked)
 * and the file selection (src/shared/file-select.c, over the two documents).
 *
 * Output: progress and notes go to stderr, so a command writing an archive to stdout stays
 * clean; listings (-q, -ws, -wm, -el) go to stdout. Errors:
 * "vshadow: <VSS_E_NAME>: <message>: <detail>". Exit: 0 success, 1 usage, 2 VSS error,
 * 3 vssd unreachable, or the failing status of the -exec command (docs/vshadow.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup-components.h"
#include "bcd-xml.h"
#include "config.h"
#include "file-select.h"
#include "macro.h"
#include "vss-bus.h"
#include "wmd-xml.h"
#include "writer-metadata.h"
#include "xml-util.h"
#include "vss/vss.h"

#define EXIT_USAGE 1
#define EXIT_VSS 2
#define EXIT_UNREACHABLE 3

DEFINE_TRIVIAL_CLEANUP_FUNC(WriterMetadata *, writer_metadata_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BackupComponents *, backup_components_free);

/* ------------------------------------------------------------------------------------------ */
/* Command line                                                                                */
/* ------------------------------------------------------------------------------------------ */

typedef enum Command {
        COMMAND_CREATE,
        COMMAND_QUERY,
        COMMAND_QUERY_SET,
        COMMAND_QUERY_SNAPSHOT,
        COMMAND_DELETE_ALL,
        COMMAND_DELETE_SET,
        COMMAND_DELETE_SNAPSHOT,
        COMMAND_DELETE_OLDEST,
        COMMAND_EXPOSE_LOCAL,
        COMMAND_EXPOSE_REMOTE,
        COMMAND_WRITER_STATUS,
        COMMAND_WRITER_METADATA,
        COMMAND_RESTORE,
        COMMAND_SIMULATE_RESTORE,
} Command;

typedef struct Args {
        Command command;
        const char *command_option;     /* as typed, for messages */
        const char *command_arg;
        bool persistent;
        bool no_writers;
        bool wait;
        vss_backup_type backup_type;
        const char *bc_file;
        const char *exec_cmd;
        const char *script_file;
        const char *socket;
        const char **include;           /* -wi values, borrowed from argv */
        size_t n_include;
        const char **exclude;           /* -wx values */
        size_t n_exclude;
        char **volumes;                 /* absolute, malloc'd */
        size_t n_volumes;
} Args;

static Args arg = {
        .command = COMMAND_CREATE,
        .backup_type = VSS_BT_FULL,
};

static void args_done(void) {
        for (size_t i = 0; i < arg.n_volumes; i++)
                free(arg.volumes[i]);
        free(arg.volumes);
        free(arg.include);
        free(arg.exclude);
}

static void help(void) {
        printf("vshadow [OPTIONS...] VOLUME...\n"
               "vshadow COMMAND\n\n"
               "Make a snapshot set of VOLUME... with the writers taking part, run a backup\n"
               "command against it, and complete the backup (after Windows' vshadow).\n\n"
               "Snapshot set creation:\n"
               "  -p              Persistent: the snapshots stay after vshadow exits\n"
               "                  (VSS_CTX_APP_ROLLBACK; VSS_CTX_NAS_ROLLBACK with -nw)\n"
               "  -nw             No writers (VSS_CTX_FILE_SHARE_BACKUP, or NAS_ROLLBACK with -p)\n"
               "  -wi=X           Include only writer or component X (repeatable); X is a writer\n"
               "                  name, class id, instance id or instance name, WRITER:COMPONENT\n"
               "                  or a component path (logical path and name, '\\' or '/')\n"
               "  -wx=X           Exclude writer or component X (repeatable; wins over -wi)\n"
               "  -bt=TYPE        Backup type: full (default), incremental, differential, log, copy\n"
               "  -bc=FILE        Save the Backup Components Document to FILE\n"
               "  -exec=COMMAND   Run COMMAND with /bin/sh -c while the snapshots exist; its exit\n"
               "                  status decides SetBackupSucceeded and vshadow's own\n"
               "  -script=FILE    Write the VSHADOW_* variables to FILE as a sourceable shell file\n"
               "  -wait           Wait for Enter before releasing the snapshots\n\n"
               "Commands:\n"
               "  -q              List every snapshot\n"
               "  -qx=SETID       List the snapshots of a set\n"
               "  -s=SNAPID       Show one snapshot\n"
               "  -da             Delete every snapshot\n"
               "  -dx=SETID       Delete the snapshots of a set\n"
               "  -ds=SNAPID      Delete one snapshot\n"
               "  -do=VOLUME      Delete the oldest snapshot of VOLUME\n"
               "  -el=SNAPID,DIR  Expose a snapshot read-only at DIR (empty DIR: vssd chooses)\n"
               "  -ws             Writer status (after a metadata gathering)\n"
               "  -wm             Writer metadata\n"
               "  -r=FILE.xml     Restore with writers from a saved -bc document: PreRestore, the\n"
               "                  -exec command (it copies the files back), PostRestore\n"
               "  -rs=FILE.xml    Simulated restore: PreRestore and PostRestore, nothing restored\n"
               "  -er             Refused: Linux has no VSS share service\n\n"
               "Other:\n"
               "  -socket=PATH    vssd's socket (default: $VSS_SOCKET, else %s)\n"
               "  -h, -?, --help  Show this help\n"
               "  --version       Show the version\n\n"
               "Environment of -exec: VSHADOW_SET_ID, VSHADOW_SNAPSHOT_COUNT, VSHADOW_VOLUME_i,\n"
               "VSHADOW_SNAPSHOT_i, VSHADOW_SNAPSHOT_ID_i, VSHADOW_BACKUP_TYPE, VSHADOW_BCD,\n"
               "VSHADOW_FILE_LIST_i and VSHADOW_FILE_LIST (i from 0). With -r: VSHADOW_RESTORE=1,\n"
               "VSHADOW_BCD, VSHADOW_COMPONENT_COUNT, VSHADOW_COMPONENT_i (LOGICAL_PATH_i, NAME_i,\n"
               "WRITER_i, WRITER_ID_i).\n\n"
               "Exit status: 0 success, 1 usage error, 2 VSS error, 3 vssd not reachable,\n"
               "else the failing exit status of the -exec command.\n",
               VSS_DEFAULT_SOCKET);
}

static int usage_error(const char *fmt, ...) _printf_(1, 2);
static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("vshadow: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry 'vshadow -h'.\n", stderr);
        return EXIT_USAGE;
}

/* "vshadow: <VSS_E_NAME>: <message>: <detail>"; returns the exit code for hr. */
static int vss_error(vss_hr hr, const char *fmt, ...) _printf_(2, 3);
static int vss_error(vss_hr hr, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "vshadow: %s: %s", vss_hr_name(hr), vss_hr_message(hr));
        if (fmt) {
                fputs(": ", stderr);
                va_start(ap, fmt);
                vfprintf(stderr, fmt, ap);
                va_end(ap);
        }
        fputc('\n', stderr);
        return hr == VSS_E_WRITER_INFRASTRUCTURE ? EXIT_UNREACHABLE : EXIT_VSS;
}

static void note(const char *fmt, ...) _printf_(1, 2);
static void note(const char *fmt, ...) {
        va_list ap;

        fputs("vshadow: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static const struct {
        const char *name;
        vss_backup_type type;
} backup_types[] = {
        { "full", VSS_BT_FULL },
        { "incremental", VSS_BT_INCREMENTAL },
        { "differential", VSS_BT_DIFFERENTIAL },
        { "log", VSS_BT_LOG },
        { "copy", VSS_BT_COPY },
};

static const char *backup_type_name(vss_backup_type t) {
        for (size_t i = 0; i < ELEMENTSOF(backup_types); i++)
                if (backup_types[i].type == t)
                        return backup_types[i].name;
        return "unknown";
}

static int push_value(const char ***list, size_t *n, const char *value) {
        const char **l;

        l = realloc(*list, (*n + 1) * sizeof(**list));
        if (!l)
                return -ENOMEM;
        l[(*n)++] = value;
        *list = l;
        return 0;
}

/* VOLUME as AddToSnapshotSet wants it: absolute. A relative one is resolved here. */
static int push_volume(const char *v) {
        char **l, *abs;

        if (v[0] == '/')
                abs = strdup(v);
        else {
                abs = realpath(v, NULL);
                if (!abs && errno != ENOMEM)
                        return -usage_error("volume \"%s\": %s", v, strerror(errno));
        }
        if (!abs)
                return -ENOMEM;
        if (arg.n_volumes >= VSS_MAX_VOLUMES_PER_SET) {
                free(abs);
                return -usage_error("at most %u volumes make a snapshot set", VSS_MAX_VOLUMES_PER_SET);
        }
        l = realloc(arg.volumes, (arg.n_volumes + 1) * sizeof(*l));
        if (!l) {
                free(abs);
                return -ENOMEM;
        }
        l[arg.n_volumes++] = abs;
        arg.volumes = l;
        return 0;
}

typedef enum OptionId {
        OPT_PERSISTENT,
        OPT_NO_WRITERS,
        OPT_INCLUDE,
        OPT_EXCLUDE,
        OPT_BACKUP_TYPE,
        OPT_BC,
        OPT_EXEC,
        OPT_SCRIPT,
        OPT_WAIT,
        OPT_SOCKET,
        OPT_HELP,
        OPT_VERSION,
        OPT_COMMAND,
} OptionId;

typedef enum ValueKind {
        VALUE_NONE,
        VALUE_REQUIRED,
} ValueKind;

static const struct {
        const char *name;
        OptionId id;
        ValueKind value;
        Command command;        /* for OPT_COMMAND */
        bool creation;          /* only meaningful when creating a set */
        bool restore;           /* also meaningful with -r (-exec) and -rs (-wi, -wx) */
} options[] = {
        { "p", OPT_PERSISTENT, VALUE_NONE, 0, true },
        { "nw", OPT_NO_WRITERS, VALUE_NONE, 0, true },
        { "wi", OPT_INCLUDE, VALUE_REQUIRED, 0, true, true },
        { "wx", OPT_EXCLUDE, VALUE_REQUIRED, 0, true, true },
        { "bt", OPT_BACKUP_TYPE, VALUE_REQUIRED, 0, true },
        { "bc", OPT_BC, VALUE_REQUIRED, 0, true },
        { "exec", OPT_EXEC, VALUE_REQUIRED, 0, true, true },
        { "script", OPT_SCRIPT, VALUE_REQUIRED, 0, true },
        { "wait", OPT_WAIT, VALUE_NONE, 0, true },
        { "socket", OPT_SOCKET, VALUE_REQUIRED, 0, false },
        { "h", OPT_HELP, VALUE_NONE, 0, false },
        { "?", OPT_HELP, VALUE_NONE, 0, false },
        { "-help", OPT_HELP, VALUE_NONE, 0, false },
        { "-version", OPT_VERSION, VALUE_NONE, 0, false },
        { "q", OPT_COMMAND, VALUE_NONE, COMMAND_QUERY, false },
        { "qx", OPT_COMMAND, VALUE_REQUIRED, COMMAND_QUERY_SET, false },
        { "s", OPT_COMMAND, VALUE_REQUIRED, COMMAND_QUERY_SNAPSHOT, false },
        { "da", OPT_COMMAND, VALUE_NONE, COMMAND_DELETE_ALL, false },
        { "dx", OPT_COMMAND, VALUE_REQUIRED, COMMAND_DELETE_SET, false },
        { "ds", OPT_COMMAND, VALUE_REQUIRED, COMMAND_DELETE_SNAPSHOT, false },
        { "do", OPT_COMMAND, VALUE_REQUIRED, COMMAND_DELETE_OLDEST, false },
        { "el", OPT_COMMAND, VALUE_REQUIRED, COMMAND_EXPOSE_LOCAL, false },
        { "er", OPT_COMMAND, VALUE_REQUIRED, COMMAND_EXPOSE_REMOTE, false },
        { "ws", OPT_COMMAND, VALUE_NONE, COMMAND_WRITER_STATUS, false },
        { "wm", OPT_COMMAND, VALUE_NONE, COMMAND_WRITER_METADATA, false },
        { "r", OPT_COMMAND, VALUE_REQUIRED, COMMAND_RESTORE, false },
        { "rs", OPT_COMMAND, VALUE_REQUIRED, COMMAND_SIMULATE_RESTORE, false },
};

/* Returns 1 to run, 0 to exit successfully (help, version), or minus an exit code. */
static int parse_argv(int argc, char *argv[]) {
        const char *creation_option = NULL, *not_restore_option = NULL;
        bool options_done = false, have_command = false;
        int r;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *value = NULL, *eq;
                size_t len;
                size_t o;

                if (options_done || a[0] != '-' || a[1] == '\0') {
                        r = push_volume(a);
                        if (r < 0)
                                return r == -ENOMEM ? -vss_error(E_OUTOFMEMORY, NULL) : r;
                        continue;
                }
                if (streq(a, "--")) {
                        options_done = true;
                        continue;
                }

                /* Windows' vshadow spells options "-name" or "-name=value", case-insensitively. */
                eq = strchr(a, '=');
                len = eq ? (size_t) (eq - a - 1) : strlen(a + 1);
                for (o = 0; o < ELEMENTSOF(options); o++)
                        if (strlen(options[o].name) == len && strncasecmp(a + 1, options[o].name, len) == 0)
                                break;
                if (o >= ELEMENTSOF(options))
                        return -usage_error("unknown option \"%.*s\"", (int) MIN(len + 1, (size_t) 64), a);
                if (eq)
                        value = eq + 1;
                if (options[o].value == VALUE_NONE && value)
                        return -usage_error("option -%s takes no value", options[o].name);
                if (options[o].value == VALUE_REQUIRED && !value)
                        return -usage_error("option -%s needs a value: -%s=...", options[o].name, options[o].name);
                if (options[o].creation && !creation_option)
                        creation_option = options[o].name;
                if (options[o].creation && !options[o].restore && !not_restore_option)
                        not_restore_option = options[o].name;

                switch (options[o].id) {
                case OPT_PERSISTENT:
                        arg.persistent = true;
                        break;
                case OPT_NO_WRITERS:
                        arg.no_writers = true;
                        break;
                case OPT_INCLUDE:
                case OPT_EXCLUDE:
                        if (isempty(value))
                                return -usage_error("-%s needs a writer or component", options[o].name);
                        if (options[o].id == OPT_INCLUDE)
                                r = push_value(&arg.include, &arg.n_include, value);
                        else
                                r = push_value(&arg.exclude, &arg.n_exclude, value);
                        if (r < 0)
                                return -vss_error(E_OUTOFMEMORY, NULL);
                        break;
                case OPT_BACKUP_TYPE: {
                        size_t t;

                        for (t = 0; t < ELEMENTSOF(backup_types); t++)
                                if (strcasecmp(value, backup_types[t].name) == 0)
                                        break;
                        if (t >= ELEMENTSOF(backup_types))
                                return -usage_error("-bt=%s: the backup type is one of full, incremental, "
                                                    "differential, log, copy", value);
                        arg.backup_type = backup_types[t].type;
                        break;
                }
                case OPT_BC:
                        if (isempty(value))
                                return -usage_error("-bc needs a file name");
                        arg.bc_file = value;
                        break;
                case OPT_EXEC:
                        if (isempty(value))
                                return -usage_error("-exec needs a command");
                        arg.exec_cmd = value;
                        break;
                case OPT_SCRIPT:
                        if (isempty(value))
                                return -usage_error("-script needs a file name");
                        arg.script_file = value;
                        break;
                case OPT_WAIT:
                        arg.wait = true;
                        break;
                case OPT_SOCKET:
                        if (isempty(value))
                                return -usage_error("-socket needs a path");
                        arg.socket = value;
                        break;
                case OPT_HELP:
                        help();
                        return 0;
                case OPT_VERSION:
                        printf("vshadow %s\n", VSS_VERSION);
                        return 0;
                case OPT_COMMAND:
                        if (have_command)
                                return -usage_error("-%s and -%s are two commands; give one", arg.command_option,
                                                    options[o].name);
                        have_command = true;
                        arg.command = options[o].command;
                        arg.command_option = options[o].name;
                        arg.command_arg = value;
                        break;
                }
        }

        if (arg.command == COMMAND_RESTORE || arg.command == COMMAND_SIMULATE_RESTORE) {
                if (arg.n_volumes > 0)
                        return -usage_error("-%s takes no volumes", arg.command_option);
                if (isempty(arg.command_arg))
                        return -usage_error("-%s needs the Backup Components Document: -%s=FILE.xml",
                                            arg.command_option, arg.command_option);
                if (not_restore_option)
                        return -usage_error("-%s does not apply to -%s", not_restore_option, arg.command_option);
                if (arg.command == COMMAND_SIMULATE_RESTORE && arg.exec_cmd)
                        return -usage_error("-rs is a simulated restore and runs no command; use -r=FILE -exec=...");
                return 1;
        }
        if (arg.command != COMMAND_CREATE) {
                if (arg.n_volumes > 0)
                        return -usage_error("-%s takes no volumes", arg.command_option);
                if (creation_option)
                        return -usage_error("-%s only applies when creating a snapshot set, not with -%s",
                                            creation_option, arg.command_option);
                return 1;
        }

        if (arg.n_volumes == 0)
                return -usage_error("no volume given: vshadow [OPTIONS...] VOLUME...");
        if (arg.no_writers && (arg.n_include > 0 || arg.n_exclude > 0))
                return -usage_error("-nw excludes every writer; it cannot be combined with -wi or -wx");
        for (size_t i = 0; i < arg.n_volumes; i++)
                for (size_t j = 0; j < i; j++)
                        if (streq(arg.volumes[i], arg.volumes[j]))
                                return -usage_error("volume \"%s\" is given twice", arg.volumes[i]);
        return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Requester helpers                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* Waits for the asynchronous step that call_hr started in *ap and releases it; returns the
 * effective result (S_OK when it finished). */
static vss_hr async_result(vss_hr call_hr, vss_async **ap) {
        vss_async *a = *ap;
        vss_hr status = call_hr;

        *ap = NULL;
        if (VSS_SUCCEEDED(call_hr) && a) {
                (void) vss_async_wait(a, VSS_INFINITE);
                if (vss_async_query_status(a, &status) != S_OK)
                        status = VSS_E_UNEXPECTED;
                if (status == VSS_S_ASYNC_FINISHED)
                        status = S_OK;
        }
        vss_async_release(a);
        return status;
}

/* A step's failure: "vshadow: NAME: message: STEP failed: detail". Returns minus the exit code. */
static int step_failed(vss_requester *req, const char *step, vss_hr hr) {
        const char *detail = req ? vss_requester_get_error_message(req) : "";

        return -vss_error(hr, "%s failed%s%s", step, isempty(detail) ? "" : ": ", strempty(detail));
}

/* A requester initialized for backup in context ctx. Returns 0 or minus an exit code. */
static int requester_open(vss_snapshot_context ctx, vss_requester **ret) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_requester *req = NULL;
        vss_hr hr;

        opts.socket_path = arg.socket;
        hr = vss_requester_new(&req, &opts);
        if (VSS_FAILED(hr)) {
                if (hr == VSS_E_WRITER_INFRASTRUCTURE)
                        return -vss_error(hr, "vssd is not reachable at %s", vss_socket_path(arg.socket));
                return -vss_error(hr, "cannot connect to vssd at %s", vss_socket_path(arg.socket));
        }
        hr = vss_requester_initialize_for_backup(req, NULL);
        if (VSS_FAILED(hr)) {
                int r = step_failed(req, "InitializeForBackup", hr);

                vss_requester_release(req);
                return r;
        }
        hr = vss_requester_set_context(req, ctx);
        if (VSS_FAILED(hr)) {
                int r = step_failed(req, "SetContext", hr);

                vss_requester_release(req);
                return r;
        }
        *ret = req;
        return 0;
}

static void requester_releasep(vss_requester **r) {
        vss_requester_release(*r);
}

static void enum_object_freep(vss_enum_object **e) {
        vss_enum_object_free(*e);
}

static int parse_id(const char *option, const char *s, vss_id *ret) {
        if (vss_id_parse(s, ret) != S_OK)
                return -usage_error("-%s=%s: not an id (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", option, s);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Query, delete, expose                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void format_time(vss_timestamp ts, char *buf, size_t size) {
        int64_t ns = vss_timestamp_to_unix_ns(ts);
        time_t t = (time_t) (ns / 1000000000LL);
        struct tm tm;

        if (ts == 0 || !localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, size, "unknown");
}

static const struct {
        uint32_t bit;
        const char *name;
} attribute_names[] = {
        { VSS_VOLSNAP_ATTR_PERSISTENT, "Persistent" },
        { VSS_VOLSNAP_ATTR_NO_AUTORECOVERY, "No_Auto_Recovery" },
        { VSS_VOLSNAP_ATTR_CLIENT_ACCESSIBLE, "Client_accessible" },
        { VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE, "No_Auto_Release" },
        { VSS_VOLSNAP_ATTR_NO_WRITERS, "No_Writers" },
        { VSS_VOLSNAP_ATTR_TRANSPORTABLE, "Transportable" },
        { VSS_VOLSNAP_ATTR_DIFFERENTIAL, "Differential" },
        { VSS_VOLSNAP_ATTR_PLEX, "Plex" },
        { VSS_VOLSNAP_ATTR_EXPOSED_LOCALLY, "Exposed_locally" },
        { VSS_VOLSNAP_ATTR_EXPOSED_REMOTELY, "Exposed_remotely" },
};

static void print_snapshot(const vss_snapshot_prop *p) {
        char when[64];

        format_time(p->creation_timestamp, when, sizeof(when));
        printf("* SNAPSHOT ID = {%s}\n", vss_id_to_str(&p->snapshot_id).s);
        printf("   - Shadow copy Set: {%s}\n", vss_id_to_str(&p->snapshot_set_id).s);
        printf("   - Original count of shadow copies = %" PRId32 "\n", p->snapshots_count);
        printf("   - Original volume name: %s\n", strempty(p->original_volume_name));
        printf("   - Creation time: %s\n", when);
        printf("   - Shadow copy device name: %s\n", strempty(p->snapshot_device_object));
        printf("   - Originating machine: %s\n", strempty(p->originating_machine));
        printf("   - Service machine: %s\n", strempty(p->service_machine));
        if (!isempty(p->exposed_path))
                printf("   - Exposed locally as: %s\n", p->exposed_path);
        printf("   - Provider id: {%s}\n", vss_id_to_str(&p->provider_id).s);
        printf("   - Attributes: ");
        if ((p->snapshot_attributes & VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE) == 0)
                printf(" Auto_Release");
        for (size_t i = 0; i < ELEMENTSOF(attribute_names); i++)
                if (p->snapshot_attributes & attribute_names[i].bit)
                        printf(" %s", attribute_names[i].name);
        printf("\n\n");
}

typedef bool (*SnapshotFilter)(const vss_snapshot_prop *p, const void *userdata);

static bool filter_set(const vss_snapshot_prop *p, const void *userdata) {
        return !userdata || vss_id_equal(&p->snapshot_set_id, userdata);
}

static bool filter_snapshot(const vss_snapshot_prop *p, const void *userdata) {
        return vss_id_equal(&p->snapshot_id, userdata);
}

/* Calls fn for every snapshot of every context that filter accepts; returns how many, or minus
 * an exit code. */
static int for_each_snapshot(vss_requester *req, SnapshotFilter filter, const void *filter_data,
                             void (*fn)(const vss_snapshot_prop *p, void *userdata), void *userdata) {
        _cleanup_(enum_object_freep) vss_enum_object *e = NULL;
        const vss_object_prop *o;
        int n = 0;
        vss_hr hr;

        hr = vss_requester_query(req, NULL, VSS_OBJECT_NONE, VSS_OBJECT_SNAPSHOT, &e);
        if (VSS_FAILED(hr))
                return step_failed(req, "Query", hr);
        while ((hr = vss_enum_object_next(e, &o)) == S_OK) {
                if (o->type != VSS_OBJECT_SNAPSHOT || !filter(&o->obj.snap, filter_data))
                        continue;
                fn(&o->obj.snap, userdata);
                n++;
        }
        if (VSS_FAILED(hr))
                return step_failed(req, "IVssEnumObject::Next", hr);
        return n;
}

static void print_snapshot_cb(const vss_snapshot_prop *p, void *userdata) {
        print_snapshot(p);
}

static int query(void) {
        _cleanup_(requester_releasep) vss_requester *req = NULL;
        SnapshotFilter filter = filter_set;
        vss_id id;
        int r;

        if (arg.command == COMMAND_QUERY_SET || arg.command == COMMAND_QUERY_SNAPSHOT) {
                r = parse_id(arg.command_option, arg.command_arg, &id);
                if (r < 0)
                        return r;
                if (arg.command == COMMAND_QUERY_SNAPSHOT)
                        filter = filter_snapshot;
        }

        r = requester_open(VSS_CTX_ALL, &req);
        if (r < 0)
                return r;
        r = for_each_snapshot(req, filter, arg.command == COMMAND_QUERY ? NULL : &id, print_snapshot_cb, NULL);
        if (r < 0)
                return r;
        if (r == 0) {
                if (arg.command == COMMAND_QUERY) {
                        printf("There are no shadow copies on the system.\n");
                        return 0;
                }
                return -vss_error(VSS_E_OBJECT_NOT_FOUND, "no %s {%s}",
                                  arg.command == COMMAND_QUERY_SET ? "snapshot set" : "snapshot", vss_id_to_str(&id).s);
        }
        printf("%d shadow cop%s listed.\n", r, r == 1 ? "y" : "ies");
        return 0;
}

/* Collects distinct set ids (for -da) or the oldest snapshot of a volume (for -do). */
typedef struct Collect {
        vss_id *ids;
        size_t n;
        size_t n_allocated;
        bool failed;
        const char *volume;             /* -do: canonical volume */
        vss_id oldest;
        vss_timestamp oldest_time;
        bool have_oldest;
} Collect;

static void collect_set(const vss_snapshot_prop *p, void *userdata) {
        Collect *c = userdata;
        vss_id *l;

        for (size_t i = 0; i < c->n; i++)
                if (vss_id_equal(&c->ids[i], &p->snapshot_set_id))
                        return;
        if (c->n >= c->n_allocated) {
                size_t m = MAX(c->n_allocated * 2, (size_t) 16);

                l = realloc(c->ids, m * sizeof(*l));
                if (!l) {
                        c->failed = true;
                        return;
                }
                c->ids = l;
                c->n_allocated = m;
        }
        c->ids[c->n++] = p->snapshot_set_id;
}

static void collect_oldest(const vss_snapshot_prop *p, void *userdata) {
        Collect *c = userdata;

        if (!p->original_volume_name || !streq(p->original_volume_name, c->volume))
                return;
        if (!c->have_oldest || p->creation_timestamp < c->oldest_time) {
                c->oldest = p->snapshot_id;
                c->oldest_time = p->creation_timestamp;
                c->have_oldest = true;
        }
}

static bool filter_all(const vss_snapshot_prop *p, const void *userdata) {
        return true;
}

static int delete_one(vss_requester *req, const vss_id *id, vss_object_type type, int32_t *deleted_total) {
        vss_id nondeleted = VSS_ID_NULL;
        int32_t deleted = 0;
        vss_hr hr;

        hr = vss_requester_delete_snapshots(req, id, type, true, &deleted, &nondeleted);
        if (VSS_FAILED(hr)) {
                const char *detail = vss_requester_get_error_message(req);

                return -vss_error(hr, "DeleteSnapshots(%s {%s}) failed after deleting %" PRId32 "%s%s",
                                  type == VSS_OBJECT_SNAPSHOT_SET ? "set" : "snapshot", vss_id_to_str(id).s,
                                  deleted, isempty(detail) ? "" : ": ", strempty(detail));
        }
        *deleted_total += deleted;
        return 0;
}

static int delete_snapshots(void) {
        _cleanup_(requester_releasep) vss_requester *req = NULL;
        _cleanup_free_ char *volume = NULL;
        Collect c = {};
        int32_t deleted = 0;
        vss_id id;
        int r;

        if (arg.command == COMMAND_DELETE_SET || arg.command == COMMAND_DELETE_SNAPSHOT) {
                r = parse_id(arg.command_option, arg.command_arg, &id);
                if (r < 0)
                        return r;
        } else if (arg.command == COMMAND_DELETE_OLDEST) {
                /* vssd names volumes by their canonical path. */
                volume = realpath(arg.command_arg, NULL);
                if (!volume)
                        return -usage_error("-do=%s: %s", arg.command_arg, strerror(errno));
        }

        r = requester_open(VSS_CTX_ALL, &req);
        if (r < 0)
                return r;

        switch (arg.command) {
        case COMMAND_DELETE_SET:
                r = delete_one(req, &id, VSS_OBJECT_SNAPSHOT_SET, &deleted);
                break;
        case COMMAND_DELETE_SNAPSHOT:
                r = delete_one(req, &id, VSS_OBJECT_SNAPSHOT, &deleted);
                break;
        case COMMAND_DELETE_OLDEST:
                c.volume = volume;
                r = for_each_snapshot(req, filter_all, NULL, collect_oldest, &c);
                if (r >= 0 && !c.have_oldest)
                        r = -vss_error(VSS_E_OBJECT_NOT_FOUND, "volume %s has no snapshot", volume);
                if (r >= 0)
                        r = delete_one(req, &c.oldest, VSS_OBJECT_SNAPSHOT, &deleted);
                break;
        default: /* COMMAND_DELETE_ALL */
                r = for_each_snapshot(req, filter_all, NULL, collect_set, &c);
                if (r >= 0 && c.failed)
                        r = -vss_error(E_OUTOFMEMORY, NULL);
                for (size_t i = 0; r >= 0 && i < c.n; i++)
                        r = delete_one(req, &c.ids[i], VSS_OBJECT_SNAPSHOT_SET, &deleted);
                break;
        }
        free(c.ids);
        if (r < 0)
                return r;
        printf("Deleted %" PRId32 " shadow cop%s.\n", deleted, deleted == 1 ? "y" : "ies");
        return 0;
}

static int expose_local(void) {
        _cleanup_(requester_releasep) vss_requester *req = NULL;
        _cleanup_free_ char *id_text = NULL, *exposed = NULL;
        const char *dir;
        char *comma;
        vss_id id;
        vss_hr hr;
        int r;

        id_text = strdup(arg.command_arg);
        if (!id_text)
                return -vss_error(E_OUTOFMEMORY, NULL);
        comma = strchr(id_text, ',');
        if (!comma)
                return -usage_error("-el=SNAPID,DIR: the directory is missing (an empty DIR lets vssd choose)");
        *comma = '\0';
        dir = comma + 1;
        if (!isempty(dir) && dir[0] != '/')
                return -usage_error("-el: the directory must be an absolute path");
        r = parse_id("el", id_text, &id);
        if (r < 0)
                return r;

        r = requester_open(VSS_CTX_ALL, &req);
        if (r < 0)
                return r;
        hr = vss_requester_expose_snapshot(req, &id, isempty(dir) ? NULL : dir, &exposed);
        if (VSS_FAILED(hr))
                return step_failed(req, "ExposeSnapshot", hr);
        printf("Shadow copy {%s} exposed at %s\n", vss_id_to_str(&id).s, exposed);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer status and metadata listings                                                         */
/* ------------------------------------------------------------------------------------------ */

static const char *usage_type_name(vss_usage_type t) {
        static const char *const names[] = { "undefined", "bootable system state", "system service", "user data",
                                             "other" };

        return (unsigned) t < ELEMENTSOF(names) ? names[t] : "unknown";
}

static const char *source_type_name(vss_source_type t) {
        static const char *const names[] = { "undefined", "transacted database", "non-transacted database",
                                             "other" };

        return (unsigned) t < ELEMENTSOF(names) ? names[t] : "unknown";
}

static const char *restore_method_name(vss_restore_method m) {
        static const char *const names[] = { "undefined", "restore if not there", "restore if can replace",
                                             "stop, restore, start", "restore to alternate location",
                                             "restore at reboot", "restore at reboot if cannot replace", "custom",
                                             "restore, stop, start" };

        return (unsigned) m < ELEMENTSOF(names) ? names[m] : "unknown";
}

static void print_filedesc(const char *kind, const vss_wm_filedesc *f) {
        printf("            - %s: path %s, filespec %s%s", kind, f->path, f->filespec,
               f->recursive ? ", recursive" : "");
        if (f->alternate_location)
                printf(", alternate location %s", f->alternate_location);
        printf(", backup type mask 0x%" PRIx32 "\n", f->backup_type_mask);
}

static int print_writer_metadata(vss_requester *req, unsigned index) {
        vss_examine_writer_metadata *m;
        const char *name, *instance_name, *service, *procedure;
        vss_id instance_id, writer_id;
        vss_usage_type usage;
        vss_source_type source;
        vss_restore_method method;
        uint32_t schema = 0;
        unsigned n_exclude, n_components;
        vss_hr hr;

        hr = vss_requester_get_writer_metadata(req, index, &instance_id, &m);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_identity(m, &instance_id, &writer_id, &name, &instance_name,
                                                              &usage, &source);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_file_counts(m, NULL, &n_exclude, &n_components);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_backup_schema(m, &schema);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_restore_method(m, &method, &service, &procedure, NULL, NULL);
        if (VSS_FAILED(hr))
                return step_failed(req, "GetWriterMetadata", hr);

        printf("* WRITER \"%s\"\n", name);
        printf("    - WriterId   = {%s}\n", vss_id_to_str(&writer_id).s);
        printf("    - InstanceId = {%s}\n", vss_id_to_str(&instance_id).s);
        if (!isempty(instance_name))
                printf("    - Instance name: %s\n", instance_name);
        printf("    - Usage type: %s\n", usage_type_name(usage));
        printf("    - Source type: %s\n", source_type_name(source));
        printf("    - Backup schema: 0x%04" PRIx32 "\n", schema);
        printf("    - Restore method: %s%s%s\n", restore_method_name(method), isempty(service) ? "" : ", service ",
               strempty(service));
        for (unsigned i = 0; i < n_exclude; i++) {
                vss_wm_filedesc f;

                if (vss_examine_writer_metadata_get_exclude_file(m, i, &f) == S_OK)
                        printf("    - Excluded files: path %s, filespec %s%s\n", f.path, f.filespec,
                               f.recursive ? ", recursive" : "");
        }
        printf("    - Components: %u\n", n_components);
        for (unsigned c = 0; c < n_components; c++) {
                vss_wm_component *comp;
                vss_component_info info;

                hr = vss_examine_writer_metadata_get_component(m, c, &comp);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_wm_component_get_info(comp, &info);
                if (VSS_FAILED(hr))
                        return step_failed(req, "GetComponent", hr);
                printf("        * Component \"%s%s%s\"\n", info.logical_path, isempty(info.logical_path) ? "" : "\\",
                       info.component_name);
                printf("            - Type: %s\n", vss_component_type_to_string(info.type));
                if (!isempty(info.caption))
                        printf("            - Caption: %s\n", info.caption);
                printf("            - Selectable: %s, selectable for restore: %s\n", info.selectable ? "yes" : "no",
                       info.selectable_for_restore ? "yes" : "no");
                for (unsigned i = 0; i < info.file_count; i++) {
                        vss_wm_filedesc f;

                        if (vss_wm_component_get_file(comp, i, &f) == S_OK)
                                print_filedesc("Files", &f);
                }
                for (unsigned i = 0; i < info.database_count; i++) {
                        vss_wm_filedesc f;

                        if (vss_wm_component_get_database_file(comp, i, &f) == S_OK)
                                print_filedesc("Database files", &f);
                }
                for (unsigned i = 0; i < info.log_file_count; i++) {
                        vss_wm_filedesc f;

                        if (vss_wm_component_get_database_log_file(comp, i, &f) == S_OK)
                                print_filedesc("Database log files", &f);
                }
        }
        printf("\n");
        return 0;
}

static int writer_listing(void) {
        _cleanup_(requester_releasep) vss_requester *req = NULL;
        vss_async *a = NULL;
        unsigned n = 0;
        vss_hr hr;
        int r;

        r = requester_open(VSS_CTX_BACKUP, &req);
        if (r < 0)
                return r;
        hr = vss_requester_set_backup_state(req, true, false, VSS_BT_FULL, false);
        if (VSS_FAILED(hr))
                return step_failed(req, "SetBackupState", hr);
        hr = async_result(vss_requester_gather_writer_metadata(req, &a), &a);
        if (VSS_FAILED(hr))
                return step_failed(req, "GatherWriterMetadata", hr);

        if (arg.command == COMMAND_WRITER_METADATA) {
                hr = vss_requester_get_writer_metadata_count(req, &n);
                if (VSS_FAILED(hr))
                        return step_failed(req, "GetWriterMetadataCount", hr);
                for (unsigned i = 0; i < n; i++) {
                        r = print_writer_metadata(req, i);
                        if (r < 0)
                                return r;
                }
                printf("%u writer%s answered Identify.\n", n, n == 1 ? "" : "s");
                return 0;
        }

        hr = async_result(vss_requester_gather_writer_status(req, &a), &a);
        if (VSS_SUCCEEDED(hr))
                hr = vss_requester_get_writer_status_count(req, &n);
        if (VSS_FAILED(hr))
                return step_failed(req, "GatherWriterStatus", hr);
        for (unsigned i = 0; i < n; i++) {
                const char *name;
                vss_id instance_id, writer_id;
                vss_writer_state state;
                vss_hr failure;

                hr = vss_requester_get_writer_status(req, i, &instance_id, &writer_id, &name, &state, &failure);
                if (VSS_FAILED(hr))
                        return step_failed(req, "GetWriterStatus", hr);
                printf("* WRITER \"%s\"\n", name);
                printf("   - Status: %d (%s)\n", (int) state, vss_writer_state_to_string(state));
                printf("   - Writer failure code: 0x%08" PRIx32 " (%s)\n", (uint32_t) failure, vss_hr_name(failure));
                printf("   - Writer ID: {%s}\n", vss_id_to_str(&writer_id).s);
                printf("   - Instance ID: {%s}\n\n", vss_id_to_str(&instance_id).s);
        }
        printf("%u writer%s listed.\n", n, n == 1 ? "" : "s");
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer and component selection (-wi / -wx)                                                  */
/* ------------------------------------------------------------------------------------------ */

typedef struct WriterIdentity {
        vss_id writer_id;
        vss_id instance_id;
        const char *name;
        const char *instance_name;
} WriterIdentity;

/* Does selector text s name this writer (its name, class id, instance id or instance name)? */
static bool identity_matches(const WriterIdentity *w, const char *s, size_t len) {
        _cleanup_free_ char *copy = strndup(s, len);
        vss_id id;

        if (!copy)
                return false;
        if (streq(copy, w->name) || (!isempty(w->instance_name) && streq(copy, w->instance_name)))
                return true;
        return vss_id_parse(copy, &id) == S_OK &&
               (vss_id_equal(&id, &w->writer_id) || vss_id_equal(&id, &w->instance_id));
}

/* A component path in VSS form: '\' separated, no leading or trailing separator. */
static char *component_path_normalize(const char *s) {
        char *p, *q;

        p = strdup(s);
        if (!p)
                return NULL;
        for (q = p; *q; q++)
                if (*q == '/')
                        *q = '\\';
        q = p;
        while (*q == '\\')
                q++;
        memmove(p, q, strlen(q) + 1);
        for (size_t n = strlen(p); n > 0 && p[n - 1] == '\\'; n--)
                p[n - 1] = '\0';
        return p;
}

/*
 * How selector s applies to one writer: SELECT_WRITER (names the writer), SELECT_COMPONENTS
 * (names a component path inside it, *ret_path malloc'd), or SELECT_NONE. A selector naming
 * some writer of the list as a whole is never also read as a component path; "W:PATH" is a
 * component path of writer W; anything else is a component path in every writer.
 */
typedef enum SelectKind {
        SELECT_NONE,
        SELECT_WRITER,
        SELECT_COMPONENTS,
} SelectKind;

static SelectKind selector_apply(const char *s, const WriterIdentity *w, const WriterIdentity *all, size_t n_all,
                                 char **ret_path) {
        const char *colon;

        if (identity_matches(w, s, strlen(s)))
                return SELECT_WRITER;
        for (size_t i = 0; i < n_all; i++)
                if (identity_matches(&all[i], s, strlen(s)))
                        return SELECT_NONE; /* names another writer */

        colon = strchr(s, ':');
        if (colon) {
                bool prefix_is_writer = false;

                for (size_t i = 0; i < n_all; i++)
                        if (identity_matches(&all[i], s, (size_t) (colon - s)))
                                prefix_is_writer = true;
                if (prefix_is_writer) {
                        if (!identity_matches(w, s, (size_t) (colon - s)))
                                return SELECT_NONE;
                        s = colon + 1;
                }
        }
        *ret_path = component_path_normalize(s);
        return *ret_path ? SELECT_COMPONENTS : SELECT_NONE;
}

/* Is the component with full path full, or one of its ancestors, the path p? */
static bool path_covers(const char *p, const char *full) {
        size_t n = strlen(p);

        if (n == 0)
                return true;
        return strncmp(full, p, n) == 0 && (full[n] == '\0' || full[n] == '\\');
}

typedef struct Component {
        vss_component_info info;        /* strings borrowed from the writer's metadata */
        char *full_path;                /* "LP\NAME" or "NAME" */
        bool wanted;
        bool add;                       /* explicitly added with AddComponent */
} Component;

typedef struct Writer {
        WriterIdentity id;
        vss_examine_writer_metadata *m;
        Component *components;
        size_t n_components;
        bool excluded;
        WriterMetadata *wmd;            /* for the file selection, built from m */
} Writer;

typedef struct Selection {
        Writer *writers;
        size_t n_writers;
        bool *include_matched;          /* per -wi */
        bool *exclude_matched;          /* per -wx */
} Selection;

static void selection_done(Selection *s) {
        for (size_t i = 0; i < s->n_writers; i++) {
                for (size_t c = 0; c < s->writers[i].n_components; c++)
                        free(s->writers[i].components[c].full_path);
                free(s->writers[i].components);
                writer_metadata_free(s->writers[i].wmd);
        }
        free(s->writers);
        free(s->include_matched);
        free(s->exclude_matched);
        *s = (Selection) {};
}

/* The subscribed writers as vssd lists them, before any Identify (Admin.ListWriters). */
typedef struct WriterList {
        WriterIdentity *writers;
        size_t n;
        sd_bus_message *reply;          /* owns the strings */
} WriterList;

static void writer_list_done(WriterList *l) {
        free(l->writers);
        sd_bus_message_unref(l->reply);
        *l = (WriterList) {};
}

static int writer_list_get(WriterList *ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        WriterList l = {};
        const char *class_id, *instance_id, *name, *instance_name;
        uint32_t state;
        int32_t failure;
        int r;

        r = vss_bus_connect(vss_socket_path(arg.socket), &bus);
        if (r < 0)
                return -vss_error(VSS_E_WRITER_INFRASTRUCTURE, "vssd is not reachable at %s: %s",
                                  vss_socket_path(arg.socket), strerror(-r));
        r = sd_bus_call_method(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_ADMIN, "ListWriters", &error, &l.reply, "");
        if (r < 0)
                return -vss_error(vss_hr_from_bus_error(&error, r), "listing the writers to apply -wi/-wx: %s",
                                  error.message ?: strerror(-r));
        r = sd_bus_message_enter_container(l.reply, 'a', VSS_BUS_SIG_WRITER_INFO);
        while (r >= 0 && (r = sd_bus_message_read(l.reply, VSS_BUS_SIG_WRITER_INFO, &class_id, &instance_id, &name,
                                                  &state, &failure, &instance_name)) > 0) {
                WriterIdentity *w;

                /* One disable list must hold them all (vssd bounds its registry too). */
                if (l.n >= VSS_MAX_ID_LIST) {
                        r = -E2BIG;
                        break;
                }
                w = realloc(l.writers, (l.n + 1) * sizeof(*w));
                if (!w) {
                        r = -ENOMEM;
                        break;
                }
                l.writers = w;
                w = &l.writers[l.n];
                if (vss_id_parse(class_id, &w->writer_id) != S_OK ||
                    vss_id_parse(instance_id, &w->instance_id) != S_OK) {
                        r = -EBADMSG;
                        break;
                }
                w->name = name;
                w->instance_name = instance_name;
                l.n++;
        }
        if (r < 0) {
                writer_list_done(&l);
                return -vss_error(r == -ENOMEM ? E_OUTOFMEMORY : VSS_E_UNEXPECTED, "reading vssd's writer list: %s",
                                  r == -E2BIG ? "more writers than -wi/-wx can filter" : strerror(-r));
        }
        *ret = l;
        return 0;
}

/* Does selector s name writer w, as a whole ("W") or as the writer of a component ("W:PATH")? */
static bool selector_names_writer(const WriterIdentity *w, const char *s) {
        const char *colon = strchr(s, ':');

        return identity_matches(w, s, strlen(s)) || (colon && identity_matches(w, s, (size_t) (colon - s)));
}

/*
 * Before Identify: writers that -wx names as a whole, and, when every -wi names writers
 * (whole, or "W:component"), the writers no -wi names, are disabled, so they get no event of
 * this backup at all. Selectors that need the metadata (bare component paths) are applied
 * after the gathering instead.
 */
static int filter_writers_early(vss_requester *req, Selection *sel) {
        _cleanup_free_ vss_id *disable = NULL;
        WriterList l = {};
        bool include_by_writer = arg.n_include > 0;
        size_t n = 0;
        vss_hr hr;
        int r;

        if (arg.n_include == 0 && arg.n_exclude == 0)
                return 0;
        r = writer_list_get(&l);
        if (r < 0)
                return r;

        for (size_t i = 0; i < arg.n_include && include_by_writer; i++) {
                bool names_writer = false;

                for (size_t w = 0; w < l.n; w++)
                        if (selector_names_writer(&l.writers[w], arg.include[i]))
                                names_writer = true;
                include_by_writer = names_writer;
        }

        disable = calloc(MAX(l.n, (size_t) 1), sizeof(*disable));
        if (!disable) {
                writer_list_done(&l);
                return -vss_error(E_OUTOFMEMORY, NULL);
        }
        for (size_t w = 0; w < l.n; w++) {
                bool off = false;

                for (size_t i = 0; i < arg.n_exclude; i++)
                        if (identity_matches(&l.writers[w], arg.exclude[i], strlen(arg.exclude[i]))) {
                                off = true;
                                sel->exclude_matched[i] = true;
                        }
                if (include_by_writer) {
                        bool named = false;

                        for (size_t i = 0; i < arg.n_include; i++)
                                if (selector_names_writer(&l.writers[w], arg.include[i]))
                                        named = true;
                        off = off || !named;
                }
                if (off)
                        disable[n++] = l.writers[w].instance_id;
        }
        writer_list_done(&l);

        if (n == 0)
                return 0;
        hr = vss_requester_disable_writer_instances(req, disable, (unsigned) n);
        if (VSS_FAILED(hr))
                return step_failed(req, "DisableWriterInstances", hr);
        return 0;
}

/* Is path the directory dir or below it? */
static bool path_is_under(const char *path, const char *dir) {
        size_t n = strlen(dir);

        if (streq(dir, "/"))
                return true;
        return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Does every file set of the component lie on one of the volumes (canonical paths)? */
static bool component_on_volumes(vss_wm_component *comp, const vss_component_info *info, char *const *volumes,
                                 size_t n_volumes, const char **ret_outside) {
        static const unsigned kinds = 3;

        for (unsigned k = 0; k < kinds; k++) {
                unsigned count = k == 0 ? info->file_count : k == 1 ? info->database_count : info->log_file_count;

                for (unsigned i = 0; i < count; i++) {
                        _cleanup_free_ char *path = NULL;
                        vss_wm_filedesc f;
                        vss_hr hr;
                        bool inside = false;

                        hr = k == 0 ? vss_wm_component_get_file(comp, i, &f) :
                             k == 1 ? vss_wm_component_get_database_file(comp, i, &f) :
                                      vss_wm_component_get_database_log_file(comp, i, &f);
                        if (hr != S_OK || bcd_path_expand(f.path, &path) != S_OK) {
                                *ret_outside = hr == S_OK ? f.path : "?";
                                return false;
                        }
                        for (size_t v = 0; v < n_volumes && !inside; v++)
                                inside = path_is_under(path, volumes[v]);
                        if (!inside) {
                                *ret_outside = f.path;
                                return false;
                        }
                }
        }
        return true;
}

/* The writer's metadata as the file selection reads it: its Writer Metadata Document, loaded. */
static int writer_metadata_load(Writer *w) {
        _cleanup_free_ char *xml = NULL, *reason = NULL;
        vss_hr hr;

        hr = vss_examine_writer_metadata_save_as_xml(w->m, &xml);
        if (hr == S_OK)
                hr = writer_metadata_from_xml(xml, strlen(xml), &w->wmd, &reason);
        if (hr != S_OK)
                return -vss_error(hr, "reading writer \"%s\"'s metadata%s%s", w->id.name, reason ? ": " : "",
                                  strempty(reason));
        return 0;
}

/* Room for which -wi and -wx matched something; the writers come with selection_load(). */
static int selection_init(Selection *sel) {
        sel->include_matched = calloc(MAX(arg.n_include, (size_t) 1), sizeof(bool));
        sel->exclude_matched = calloc(MAX(arg.n_exclude, (size_t) 1), sizeof(bool));
        if (!sel->include_matched || !sel->exclude_matched)
                return -vss_error(E_OUTOFMEMORY, NULL);
        return 0;
}

/* Loads the gathered metadata into sel->writers. */
static int selection_load(vss_requester *req, Selection *sel) {
        unsigned n = 0;
        vss_hr hr;

        hr = vss_requester_get_writer_metadata_count(req, &n);
        if (VSS_FAILED(hr))
                return step_failed(req, "GetWriterMetadataCount", hr);
        sel->writers = calloc(MAX(n, 1u), sizeof(*sel->writers));
        if (!sel->writers)
                return -vss_error(E_OUTOFMEMORY, NULL);

        for (unsigned i = 0; i < n; i++) {
                Writer *w = &sel->writers[sel->n_writers];
                unsigned n_components = 0;

                hr = vss_requester_get_writer_metadata(req, i, &w->id.instance_id, &w->m);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_examine_writer_metadata_get_identity(w->m, &w->id.instance_id, &w->id.writer_id,
                                                                      &w->id.name, &w->id.instance_name, NULL, NULL);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_examine_writer_metadata_get_file_counts(w->m, NULL, NULL, &n_components);
                if (VSS_FAILED(hr))
                        return step_failed(req, "GetWriterMetadata", hr);
                sel->n_writers++;

                w->components = calloc(MAX(n_components, 1u), sizeof(*w->components));
                if (!w->components)
                        return -vss_error(E_OUTOFMEMORY, NULL);
                for (unsigned c = 0; c < n_components; c++) {
                        Component *comp = &w->components[c];
                        vss_wm_component *wc;
                        int k;

                        hr = vss_examine_writer_metadata_get_component(w->m, c, &wc);
                        if (VSS_SUCCEEDED(hr))
                                hr = vss_wm_component_get_info(wc, &comp->info);
                        if (VSS_FAILED(hr))
                                return step_failed(req, "GetComponent", hr);
                        w->n_components++;
                        if (isempty(comp->info.logical_path))
                                k = asprintf(&comp->full_path, "%s", comp->info.component_name);
                        else
                                k = asprintf(&comp->full_path, "%s\\%s", comp->info.logical_path,
                                             comp->info.component_name);
                        if (k < 0) {
                                comp->full_path = NULL;
                                return -vss_error(E_OUTOFMEMORY, NULL);
                        }
                }
        }
        return 0;
}

/* Does selector s cover component c of writer w (the component or an ancestor path of it)?
 * *ret_writer tells whether it named the writer as a whole. */
static bool selector_covers(const char *s, const Writer *w, const Component *c, const WriterIdentity *all,
                            size_t n_all, bool *ret_writer) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ char *lp = NULL;

        *ret_writer = false;
        switch (selector_apply(s, &w->id, all, n_all, &path)) {
        case SELECT_WRITER:
                *ret_writer = true;
                return true;
        case SELECT_COMPONENTS:
                lp = component_path_normalize(c->full_path);
                return lp && path_covers(path, lp);
        default:
                return false;
        }
}

/*
 * Decides, per component, whether it is wanted (-wi/-wx and its files on the volumes) and
 * which components are added explicitly: the wanted ones not already covered by a wanted,
 * selectable ancestor whose whole set is wanted (AddComponent on it includes them, §7).
 * A selectable component with an unwanted subcomponent cannot be added without pulling that
 * one in; it is left out (its own files with it) and its wanted subcomponents are added.
 */
static int selection_decide(Selection *sel, char *const *volumes, size_t n_volumes) {
        _cleanup_free_ WriterIdentity *all = calloc(MAX(sel->n_writers, (size_t) 1), sizeof(*all));

        if (!all)
                return -vss_error(E_OUTOFMEMORY, NULL);
        for (size_t i = 0; i < sel->n_writers; i++)
                all[i] = sel->writers[i].id;

        for (size_t i = 0; i < sel->n_writers; i++) {
                Writer *w = &sel->writers[i];

                for (size_t x = 0; x < arg.n_exclude; x++)
                        if (identity_matches(&w->id, arg.exclude[x], strlen(arg.exclude[x]))) {
                                w->excluded = true;
                                sel->exclude_matched[x] = true;
                        }

                for (size_t c = 0; c < w->n_components; c++) {
                        Component *comp = &w->components[c];
                        const char *outside = NULL;
                        vss_wm_component *wc = NULL;
                        bool included = arg.n_include == 0, excluded = w->excluded, whole;

                        for (size_t x = 0; x < arg.n_include; x++)
                                if (selector_covers(arg.include[x], w, comp, all, sel->n_writers, &whole)) {
                                        included = true;
                                        sel->include_matched[x] = true;
                                }
                        for (size_t x = 0; x < arg.n_exclude; x++)
                                if (selector_covers(arg.exclude[x], w, comp, all, sel->n_writers, &whole)) {
                                        excluded = true;
                                        sel->exclude_matched[x] = true;
                                }
                        if (!included || excluded)
                                continue;
                        if (vss_examine_writer_metadata_get_component(w->m, (unsigned) c, &wc) == S_OK &&
                            !component_on_volumes(wc, &comp->info, volumes, n_volumes, &outside)) {
                                note("writer \"%s\": component \"%s\" left out: its files at %s are not on the "
                                     "volumes being snapshotted", w->id.name, comp->full_path, outside);
                                continue;
                        }
                        comp->wanted = true;
                }

                for (size_t c = 0; c < w->n_components; c++) {
                        Component *comp = &w->components[c];
                        bool whole = comp->wanted, covered = false;

                        for (size_t d = 0; d < w->n_components && whole; d++)
                                if (d != c && path_covers(comp->full_path, w->components[d].info.logical_path) &&
                                    !w->components[d].wanted)
                                        whole = false;
                        for (size_t a = 0; a < w->n_components && !covered; a++) {
                                const Component *anc = &w->components[a];
                                bool anc_whole = anc->wanted && anc->info.selectable;

                                if (a == c || !path_covers(anc->full_path, comp->info.logical_path))
                                        continue;
                                for (size_t d = 0; d < w->n_components && anc_whole; d++)
                                        if (path_covers(anc->full_path, w->components[d].info.logical_path) &&
                                            !w->components[d].wanted)
                                                anc_whole = false;
                                covered = anc_whole;
                        }
                        if (!comp->wanted || covered)
                                continue;
                        if (!whole && comp->info.selectable) {
                                note("writer \"%s\": component set \"%s\" is not added as a whole because some of its "
                                     "subcomponents are excluded; its own files are left out",
                                     w->id.name, comp->full_path);
                                continue;
                        }
                        comp->add = true;
                }
        }

        for (size_t x = 0; x < arg.n_exclude; x++)
                if (!sel->exclude_matched[x])
                        note("-wx=%s matches no writer or component; nothing excluded for it", arg.exclude[x]);
        return 0;
}

/* Every -wi must have matched something that is now part of the backup (as vshadow checks). */
static int selection_verify_includes(Selection *sel) {
        _cleanup_free_ WriterIdentity *all = calloc(MAX(sel->n_writers, (size_t) 1), sizeof(*all));

        if (!all)
                return -vss_error(E_OUTOFMEMORY, NULL);
        for (size_t i = 0; i < sel->n_writers; i++)
                all[i] = sel->writers[i].id;

        for (size_t x = 0; x < arg.n_include; x++) {
                bool selected = false;

                if (!sel->include_matched[x]) {
                        bool named_writer = false;

                        for (size_t i = 0; i < sel->n_writers; i++)
                                if (identity_matches(&sel->writers[i].id, arg.include[x], strlen(arg.include[x])))
                                        named_writer = true;
                        if (!named_writer)
                                return -vss_error(VSS_E_OBJECT_NOT_FOUND,
                                                  "-wi=%s matches no writer that answered Identify (writers -wx "
                                                  "excludes do not) and no component of one", arg.include[x]);
                }
                for (size_t i = 0; i < sel->n_writers && !selected; i++)
                        for (size_t c = 0; c < sel->writers[i].n_components && !selected; c++) {
                                bool whole;

                                selected = sel->writers[i].components[c].wanted &&
                                           selector_covers(arg.include[x], &sel->writers[i],
                                                           &sel->writers[i].components[c], all, sel->n_writers, &whole);
                        }
                if (!selected)
                        return -vss_error(VSS_E_OBJECT_NOT_FOUND,
                                          "-wi=%s: nothing it names is included in the backup (excluded by -wx, no "
                                          "components, or files outside the volumes)", arg.include[x]);
        }
        return 0;
}

static int selection_add_components(vss_requester *req, Selection *sel) {
        for (size_t i = 0; i < sel->n_writers; i++) {
                Writer *w = &sel->writers[i];

                for (size_t c = 0; c < w->n_components; c++) {
                        Component *comp = &w->components[c];
                        vss_hr hr;

                        if (!comp->add)
                                continue;
                        hr = vss_requester_add_component(req, &w->id.instance_id, &w->id.writer_id, comp->info.type,
                                                         comp->info.logical_path, comp->info.component_name);
                        if (VSS_FAILED(hr))
                                return step_failed(req, "AddComponent", hr);
                        note("writer \"%s\": component \"%s\" selected", w->id.name, comp->full_path);
                }
        }
        return 0;
}

static int selection_set_backup_succeeded(vss_requester *req, Selection *sel, bool succeeded) {
        for (size_t i = 0; i < sel->n_writers; i++) {
                Writer *w = &sel->writers[i];

                for (size_t c = 0; c < w->n_components; c++) {
                        Component *comp = &w->components[c];
                        vss_hr hr;

                        if (!comp->add)
                                continue;
                        hr = vss_requester_set_backup_succeeded(req, &w->id.instance_id, &w->id.writer_id,
                                                                comp->info.type, comp->info.logical_path,
                                                                comp->info.component_name, succeeded);
                        if (VSS_FAILED(hr))
                                return step_failed(req, "SetBackupSucceeded", hr);
                }
        }
        return 0;
}

static bool selection_writer_selected(const Selection *sel, const vss_id *instance_id) {
        for (size_t i = 0; i < sel->n_writers; i++)
                if (vss_id_equal(&sel->writers[i].id.instance_id, instance_id))
                        for (size_t c = 0; c < sel->writers[i].n_components; c++)
                                if (sel->writers[i].components[c].add)
                                        return true;
        return false;
}

typedef bool (*WriterSelected)(const void *userdata, const vss_id *instance_id);

static bool selection_writer_selected_cb(const void *userdata, const vss_id *instance_id) {
        return selection_writer_selected(userdata, instance_id);
}

/* After a step: a writer taking part (selected(userdata, instance) true) that failed makes the
 * operation fail, as in Windows' vshadow (its data may not be consistent). */
static int writer_status_check(vss_requester *req, WriterSelected selected, const void *userdata,
                               const char *after) {
        vss_async *a = NULL;
        unsigned n = 0;
        int r = 0;
        vss_hr hr;

        hr = async_result(vss_requester_gather_writer_status(req, &a), &a);
        if (VSS_SUCCEEDED(hr))
                hr = vss_requester_get_writer_status_count(req, &n);
        if (VSS_FAILED(hr))
                return step_failed(req, "GatherWriterStatus", hr);
        for (unsigned i = 0; i < n; i++) {
                const char *name;
                vss_id instance_id;
                vss_writer_state state;
                vss_hr failure;

                if (vss_requester_get_writer_status(req, i, &instance_id, NULL, &name, &state, &failure) != S_OK)
                        continue;
                if (!selected(userdata, &instance_id))
                        continue;
                /* vssd keeps the state of a writer that reported a failure but let the sequence go
                 * on; its data is no better for that, so the code counts as well. */
                if ((state >= VSS_WS_FAILED_AT_IDENTIFY && state < VSS_WS_COUNT) || VSS_FAILED(failure))
                        r = -vss_error(VSS_FAILED(failure) ? failure : VSS_E_UNEXPECTED_WRITER_ERROR,
                                       "after %s, selected writer \"%s\" is in state %s with last error %s", after,
                                       name, vss_writer_state_to_string(state), vss_hr_name(failure));
        }
        (void) vss_requester_free_writer_status(req);
        return r;
}

static int check_writer_status(vss_requester *req, const Selection *sel, const char *after) {
        return writer_status_check(req, selection_writer_selected_cb, sel, after);
}

/* ------------------------------------------------------------------------------------------ */
/* The file list (-exec)                                                                       */
/* ------------------------------------------------------------------------------------------ */

typedef struct Snapshot {
        vss_id id;
        vss_snapshot_prop prop;
        char *list_path;        /* VSHADOW_FILE_LIST_i */
        FILE *list;
} Snapshot;

typedef struct ListContext {
        Snapshot *snapshots;
        size_t n;
        uint64_t listed;
        uint64_t skipped;
} ListContext;

static int list_file(const FileSelectFile *f, void *userdata) {
        ListContext *ctx = userdata;
        size_t best = SIZE_MAX, best_len = 0;

        if (f->from_snapshot)
                for (size_t i = 0; i < ctx->n; i++) {
                        const char *top = ctx->snapshots[i].prop.snapshot_device_object;
                        size_t n = strlen(top);

                        if (n > best_len && strncmp(f->source_path, top, n) == 0 && f->source_path[n] == '/') {
                                best = i;
                                best_len = n;
                        }
                }
        if (best == SIZE_MAX) {
                /* Read live (a file set that needs no snapshot for this type) or outside every
                 * snapshot: nothing a command working on the snapshots can use. */
                if (ctx->skipped++ == 0)
                        note("file %s is not in a snapshot (read live); such files are left out of the file lists",
                             f->original_path);
                return 0;
        }
        if (fputs(f->source_path + best_len + 1, ctx->snapshots[best].list) < 0 ||
            fputc('\0', ctx->snapshots[best].list) == EOF)
                return -errno ?: -EIO;
        ctx->listed++;
        return 0;
}

/* The Backup Components Document as it stands in vssd, with what the writers added to it up
 * to PostSnapshot (differenced and partial files), loaded for the file selection. */
static int bcd_fetch(vss_requester *req, BackupComponents **ret) {
        _cleanup_free_ char *xml = NULL, *reason = NULL;
        vss_hr hr;

        hr = vss_requester_save_as_xml(req, &xml);
        if (VSS_FAILED(hr))
                return step_failed(req, "SaveAsXML", hr);
        hr = backup_components_from_xml(xml, strlen(xml), ret, &reason);
        if (hr != S_OK)
                return -vss_error(hr, "reading the backup components document%s%s", reason ? ": " : "",
                                  strempty(reason));
        return 0;
}

/* Writes VSHADOW_FILE_LIST_i for every snapshot into dir. */
static int file_lists_write(vss_requester *req, Selection *sel, Snapshot *snaps, size_t n_snaps, const char *dir) {
        _cleanup_(backup_components_freep) BackupComponents *bcd = NULL;
        _cleanup_free_ const WriterMetadata **wmds = NULL;
        _cleanup_free_ FileSelectVolume *volumes = NULL;
        _cleanup_free_ char *reason = NULL;
        ListContext lc = { .snapshots = snaps, .n = n_snaps };
        FileSelectInput in = {};
        size_t n_wmds = 0;
        int r = 0;

        for (size_t i = 0; i < n_snaps; i++) {
                _cleanup_close_ int fd = -1;

                if (asprintf(&snaps[i].list_path, "%s/files-%zu", dir, i) < 0) {
                        snaps[i].list_path = NULL;
                        return -vss_error(E_OUTOFMEMORY, NULL);
                }
                fd = open(snaps[i].list_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0)
                        snaps[i].list = fdopen(fd, "we");
                if (!snaps[i].list)
                        return -vss_error(vss_hr_from_errno(errno), "creating %s: %s", snaps[i].list_path,
                                          strerror(errno));
                TAKE_FD(fd);
        }

        r = bcd_fetch(req, &bcd);
        if (r < 0)
                return r;

        wmds = calloc(MAX(sel->n_writers, (size_t) 1), sizeof(*wmds));
        volumes = calloc(MAX(n_snaps, (size_t) 1), sizeof(*volumes));
        if (!wmds || !volumes)
                return -vss_error(E_OUTOFMEMORY, NULL);
        for (size_t i = 0; i < sel->n_writers; i++)
                if (backup_components_find_writer(bcd, &sel->writers[i].id.instance_id)) {
                        if (!sel->writers[i].wmd) {
                                r = writer_metadata_load(&sel->writers[i]);
                                if (r < 0)
                                        return r;
                        }
                        wmds[n_wmds++] = sel->writers[i].wmd;
                }
        for (size_t i = 0; i < n_snaps; i++) {
                volumes[i].original = snaps[i].prop.original_volume_name;
                volumes[i].snapshot = snaps[i].prop.snapshot_device_object;
        }

        in = (FileSelectInput) {
                .backup_type = arg.backup_type,
                .bcd = bcd,
                .writers = wmds,
                .n_writers = n_wmds,
                .volumes = volumes,
                .n_volumes = n_snaps,
        };
        if (n_wmds > 0) {
                r = file_select(&in, list_file, &lc, &reason);
                if (r < 0)
                        return -vss_error(r == -ENOMEM ? E_OUTOFMEMORY : r == -EXDEV ? VSS_E_UNSELECTED_VOLUME :
                                          r == -EINVAL || r == -EBADMSG ? E_INVALIDARG : vss_hr_from_errno(-r),
                                          "selecting the files to copy: %s", reason ?: strerror(-r));
        }
        for (size_t i = 0; i < n_snaps; i++) {
                r = fclose(snaps[i].list);
                snaps[i].list = NULL;
                if (r != 0)
                        return -vss_error(vss_hr_from_errno(errno), "writing %s: %s", snaps[i].list_path,
                                          strerror(errno));
        }
        note("file list: %" PRIu64 " file%s the writers' components need for a %s backup", lc.listed,
             lc.listed == 1 ? "" : "s", backup_type_name(arg.backup_type));
        return 0;
}

/* -bc: the Backup Components Document into path, replaced atomically (a reader never sees half
 * of one). Mode 0600: writers' private backup metadata travels in it. */
static int bcd_save(vss_requester *req, const char *path) {
        _cleanup_free_ char *xml = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1;
        size_t len, done = 0;
        vss_hr hr;

        hr = vss_requester_save_as_xml(req, &xml);
        if (VSS_FAILED(hr))
                return step_failed(req, "SaveAsXML", hr);
        if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
                tmp = NULL;
                return -vss_error(E_OUTOFMEMORY, NULL);
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -vss_error(vss_hr_from_errno(errno), "-bc=%s: %s", path, strerror(errno));
        len = strlen(xml);
        while (done < len) {
                ssize_t n = write(fd, xml + done, len - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break;
                done += (size_t) n;
        }
        if (done < len || fsync(fd) < 0 || rename(tmp, path) < 0) {
                int err = errno;

                (void) unlink(tmp);
                return -vss_error(vss_hr_from_errno(err), "-bc=%s: %s", path, strerror(err));
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Environment, script, command                                                                */
/* ------------------------------------------------------------------------------------------ */

typedef struct Env {
        char **names;
        char **values;
        size_t n;
} Env;

static void env_done(Env *e) {
        for (size_t i = 0; i < e->n; i++) {
                free(e->names[i]);
                free(e->values[i]);
        }
        free(e->names);
        free(e->values);
        *e = (Env) {};
}

static int env_add(Env *e, const char *value, const char *name_fmt, ...) _printf_(3, 4);
static int env_add(Env *e, const char *value, const char *name_fmt, ...) {
        char **n, **v, *name, *copy;
        va_list ap;
        int k;

        va_start(ap, name_fmt);
        k = vasprintf(&name, name_fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        copy = strdup(value);
        n = realloc(e->names, (e->n + 1) * sizeof(*n));
        if (n)
                e->names = n;
        v = realloc(e->values, (e->n + 1) * sizeof(*v));
        if (v)
                e->values = v;
        if (!copy || !n || !v) {
                free(name);
                free(copy);
                return -ENOMEM;
        }
        e->names[e->n] = name;
        e->values[e->n] = copy;
        e->n++;
        return 0;
}

static int env_build(Env *e, const vss_id *set_id, const Snapshot *snaps, size_t n_snaps, bool with_lists) {
        char count[32];
        int r;

        snprintf(count, sizeof(count), "%zu", n_snaps);
        r = env_add(e, vss_id_to_str(set_id).s, "VSHADOW_SET_ID");
        if (r >= 0)
                r = env_add(e, count, "VSHADOW_SNAPSHOT_COUNT");
        if (r >= 0)
                r = env_add(e, backup_type_name(arg.backup_type), "VSHADOW_BACKUP_TYPE");
        if (r >= 0 && arg.bc_file)
                r = env_add(e, arg.bc_file, "VSHADOW_BCD");
        for (size_t i = 0; r >= 0 && i < n_snaps; i++) {
                r = env_add(e, snaps[i].prop.original_volume_name, "VSHADOW_VOLUME_%zu", i);
                if (r >= 0)
                        r = env_add(e, snaps[i].prop.snapshot_device_object, "VSHADOW_SNAPSHOT_%zu", i);
                if (r >= 0)
                        r = env_add(e, vss_id_to_str(&snaps[i].id).s, "VSHADOW_SNAPSHOT_ID_%zu", i);
                if (r >= 0 && with_lists)
                        r = env_add(e, snaps[i].list_path, "VSHADOW_FILE_LIST_%zu", i);
        }
        if (r >= 0 && with_lists && n_snaps > 0)
                r = env_add(e, snaps[0].list_path, "VSHADOW_FILE_LIST");
        return r < 0 ? -vss_error(E_OUTOFMEMORY, NULL) : 0;
}

/* 'value' for sh, with every ' written as '\''. */
static void fput_shell_quoted(const char *s, FILE *f) {
        fputc('\'', f);
        for (; *s; s++)
                if (*s == '\'')
                        fputs("'\\''", f);
                else
                        fputc(*s, f);
        fputc('\'', f);
}

static int script_write(const Env *e, const char *path) {
        _cleanup_close_ int fd = -1;
        FILE *f;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -vss_error(vss_hr_from_errno(errno), "-script=%s: %s", path, strerror(errno));
        f = fdopen(fd, "we");
        if (!f)
                return -vss_error(E_OUTOFMEMORY, NULL);
        TAKE_FD(fd);
        fprintf(f, "# Written by vshadow %s: the snapshot set's variables, for sh's \".\".\n", VSS_VERSION);
        for (size_t i = 0; i < e->n; i++) {
                fprintf(f, "export %s=", e->names[i]);
                fput_shell_quoted(e->values[i], f);
                fputc('\n', f);
        }
        if (fclose(f) != 0)
                return -vss_error(vss_hr_from_errno(errno), "-script=%s: %s", path, strerror(errno));
        return 0;
}

/*
 * Runs arg.exec_cmd with /bin/sh -c and the environment e; returns its exit status (128+N
 * when killed by signal N), or minus an exit code when it could not be run. While it runs,
 * SIGINT and SIGQUIT are ignored here as system() does: a ^C reaches the command, whose
 * failure then reaches the writers through SetBackupSucceeded.
 */
static int command_run(const Env *e) {
        struct sigaction ignore = { .sa_handler = SIG_IGN }, old_int, old_quit;
        int status;
        pid_t pid;

        fflush(stdout);
        fflush(stderr);
        (void) sigaction(SIGINT, &ignore, &old_int);
        (void) sigaction(SIGQUIT, &ignore, &old_quit);
        pid = fork();
        if (pid < 0) {
                int err = errno;

                (void) sigaction(SIGINT, &old_int, NULL);
                (void) sigaction(SIGQUIT, &old_quit, NULL);
                return -vss_error(vss_hr_from_errno(err), "cannot start -exec command: %s", strerror(err));
        }
        if (pid == 0) {
                (void) sigaction(SIGINT, &old_int, NULL);
                (void) sigaction(SIGQUIT, &old_quit, NULL);
                for (size_t i = 0; i < e->n; i++)
                        if (setenv(e->names[i], e->values[i], 1) < 0)
                                _exit(127);
                execl("/bin/sh", "sh", "-c", arg.exec_cmd, (char *) NULL);
                _exit(127);
        }

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        status = W_EXITCODE(127, 0);
                        break;
                }
        (void) sigaction(SIGINT, &old_int, NULL);
        (void) sigaction(SIGQUIT, &old_quit, NULL);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

static void wait_for_enter(void) {
        int c;

        fprintf(stderr, "vshadow: press Enter to release the snapshot set...\n");
        do
                c = getchar();
        while (c != '\n' && c != EOF);
}

/* ------------------------------------------------------------------------------------------ */
/* Snapshot set creation                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void temp_dir_remove(char **dir, Snapshot *snaps, size_t n) {
        if (!*dir)
                return;
        for (size_t i = 0; i < n; i++)
                if (snaps[i].list_path)
                        (void) unlink(snaps[i].list_path);
        (void) rmdir(*dir);
        free(*dir);
        *dir = NULL;
}

static int temp_dir_make(char **ret) {
        const char *tmp = getenv("TMPDIR");
        char *d;

        if (asprintf(&d, "%s/vshadow-XXXXXX", isempty(tmp) ? "/tmp" : tmp) < 0)
                return -vss_error(E_OUTOFMEMORY, NULL);
        if (!mkdtemp(d)) {
                int err = errno;

                free(d);
                return -vss_error(vss_hr_from_errno(err), "cannot make a temporary directory: %s", strerror(err));
        }
        *ret = d;
        return 0;
}

typedef struct Creation {
        vss_requester *req;
        Selection sel;
        Snapshot *snaps;
        size_t n_snaps;
        char *temp_dir;
        Env env;
        vss_id set_id;
        bool prepared;          /* PrepareForBackup went out: failures need AbortBackup */
} Creation;

static void creation_done(Creation *c) {
        temp_dir_remove(&c->temp_dir, c->snaps, c->n_snaps);
        for (size_t i = 0; i < c->n_snaps; i++) {
                if (c->snaps[i].list)
                        fclose(c->snaps[i].list);
                free(c->snaps[i].list_path);
                vss_snapshot_prop_free(&c->snaps[i].prop);
        }
        free(c->snaps);
        env_done(&c->env);
        selection_done(&c->sel);
        vss_requester_release(c->req);
}

/* Everything up to a committed set whose writers are all well. Returns 0 or minus an exit code. */
static int creation_snapshot(Creation *c, vss_snapshot_context ctx, bool writers) {
        vss_async *a = NULL;
        vss_hr hr;
        int r;

        r = requester_open(ctx, &c->req);
        if (r < 0)
                return r;

        if (writers) {
                hr = vss_requester_set_backup_state(c->req, true, false, arg.backup_type, false);
                if (VSS_FAILED(hr))
                        return step_failed(c->req, "SetBackupState", hr);
                r = selection_init(&c->sel);
                if (r >= 0)
                        r = filter_writers_early(c->req, &c->sel);
                if (r < 0)
                        return r;
                hr = async_result(vss_requester_gather_writer_metadata(c->req, &a), &a);
                if (VSS_FAILED(hr))
                        return step_failed(c->req, "GatherWriterMetadata", hr);
                r = selection_load(c->req, &c->sel);
                if (r < 0)
                        return r;
        }

        hr = vss_requester_start_snapshot_set(c->req, &c->set_id);
        if (VSS_FAILED(hr))
                return step_failed(c->req, "StartSnapshotSet", hr);
        c->snaps = calloc(arg.n_volumes, sizeof(*c->snaps));
        if (!c->snaps)
                return -vss_error(E_OUTOFMEMORY, NULL);
        for (size_t i = 0; i < arg.n_volumes; i++) {
                hr = vss_requester_add_to_snapshot_set(c->req, arg.volumes[i], NULL, &c->snaps[i].id);
                if (VSS_FAILED(hr)) {
                        const char *detail = vss_requester_get_error_message(c->req);

                        return -vss_error(hr, "AddToSnapshotSet(%s) failed%s%s", arg.volumes[i],
                                          isempty(detail) ? "" : ": ", strempty(detail));
                }
                c->n_snaps++;
        }

        if (writers) {
                _cleanup_free_ char **canonical = calloc(arg.n_volumes, sizeof(char *));

                if (!canonical)
                        return -vss_error(E_OUTOFMEMORY, NULL);
                /* Writers name their files by real paths; compare against the volumes' real paths. */
                for (size_t i = 0; i < arg.n_volumes; i++)
                        canonical[i] = realpath(arg.volumes[i], NULL) ?: strdup(arg.volumes[i]);
                r = 0;
                for (size_t i = 0; i < arg.n_volumes; i++)
                        if (!canonical[i])
                                r = -vss_error(E_OUTOFMEMORY, NULL);
                if (r >= 0)
                        r = selection_decide(&c->sel, canonical, arg.n_volumes);
                for (size_t i = 0; i < arg.n_volumes; i++)
                        free(canonical[i]);
                if (r >= 0)
                        r = selection_verify_includes(&c->sel);
                if (r >= 0)
                        r = selection_add_components(c->req, &c->sel);
                if (r < 0)
                        return r;

                /* A failed PrepareForBackup needs no AbortBackup, only the release (§13). */
                hr = async_result(vss_requester_prepare_for_backup(c->req, &a), &a);
                if (VSS_FAILED(hr))
                        return step_failed(c->req, "PrepareForBackup", hr);
                c->prepared = true;
        }

        hr = async_result(vss_requester_do_snapshot_set(c->req, &a), &a);
        if (VSS_FAILED(hr))
                return step_failed(c->req, "DoSnapshotSet", hr);

        if (writers) {
                r = check_writer_status(c->req, &c->sel, "DoSnapshotSet");
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < c->n_snaps; i++) {
                hr = vss_requester_get_snapshot_properties(c->req, &c->snaps[i].id, &c->snaps[i].prop);
                if (VSS_FAILED(hr))
                        return step_failed(c->req, "GetSnapshotProperties", hr);
                note("snapshot {%s} of %s at %s", vss_id_to_str(&c->snaps[i].id).s,
                     c->snaps[i].prop.original_volume_name, c->snaps[i].prop.snapshot_device_object);
        }
        note("snapshot set {%s} created (%s%s)", vss_id_to_str(&c->set_id).s,
             arg.persistent ? "persistent" : "auto-release",
             writers ? "" : ", no writers");
        return 0;
}

static int create_set(void) {
        _cleanup_(creation_done) Creation c = {};
        vss_snapshot_context ctx;
        bool writers = !arg.no_writers, succeeded;
        int r, command_status = 0;
        vss_async *a = NULL;
        vss_hr hr;

        if (arg.persistent)
                ctx = writers ? VSS_CTX_APP_ROLLBACK : VSS_CTX_NAS_ROLLBACK;
        else
                ctx = writers ? VSS_CTX_BACKUP : VSS_CTX_FILE_SHARE_BACKUP;

        r = creation_snapshot(&c, ctx, writers);
        if (r < 0) {
                /* After PrepareForBackup (and whenever DoSnapshotSet failed, §13) the writers must
                 * hear Abort; release then sends BackupShutdown and drops the set. */
                if (c.prepared && c.req)
                        (void) vss_requester_abort_backup(c.req);
                return r;
        }

        if (arg.bc_file) {
                r = bcd_save(c.req, arg.bc_file);
                if (r < 0) {
                        if (writers)
                                (void) vss_requester_abort_backup(c.req);
                        return r;
                }
        }
        if (arg.exec_cmd) {
                r = temp_dir_make(&c.temp_dir);
                if (r >= 0)
                        r = file_lists_write(c.req, &c.sel, c.snaps, c.n_snaps, c.temp_dir);
                if (r < 0) {
                        if (writers)
                                (void) vss_requester_abort_backup(c.req);
                        return r;
                }
        }
        r = env_build(&c.env, &c.set_id, c.snaps, c.n_snaps, !!arg.exec_cmd);
        if (r >= 0 && arg.script_file)
                r = script_write(&c.env, arg.script_file);
        if (r < 0) {
                if (writers)
                        (void) vss_requester_abort_backup(c.req);
                return r;
        }

        if (arg.exec_cmd) {
                note("running: %s", arg.exec_cmd);
                command_status = command_run(&c.env);
                if (command_status < 0) {
                        if (writers)
                                (void) vss_requester_abort_backup(c.req);
                        return command_status;
                }
                if (command_status != 0)
                        note("the command failed with exit status %d; the backup is marked as failed", command_status);
                succeeded = command_status == 0;
        } else
                /* Without a command, the data outlives vshadow only in a persistent snapshot, or
                 * in whatever the user copied during -wait. */
                succeeded = arg.persistent || arg.wait;

        if (writers) {
                r = selection_set_backup_succeeded(c.req, &c.sel, succeeded);
                if (r >= 0 && arg.bc_file)
                        /* Again, so the saved document records what SetBackupSucceeded said. */
                        r = bcd_save(c.req, arg.bc_file);
                if (r < 0)
                        return command_status != 0 ? -command_status : r;
                hr = async_result(vss_requester_backup_complete(c.req, &a), &a);
                if (VSS_FAILED(hr)) {
                        r = step_failed(c.req, "BackupComplete", hr);
                        return command_status != 0 ? -command_status : r;
                }
                r = check_writer_status(c.req, &c.sel, "BackupComplete");
                if (r < 0)
                        return command_status != 0 ? -command_status : r;
        }

        if (arg.wait)
                wait_for_enter();
        if (command_status != 0)
                return -command_status;
        if (arg.persistent)
                note("snapshot set {%s} kept (persistent); delete it with -dx=%s", vss_id_to_str(&c.set_id).s,
                     vss_id_to_str(&c.set_id).s);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Restore with writers (-r, -rs)                                                              */
/* ------------------------------------------------------------------------------------------ */

/* One component of the saved document that this restore selects. */
typedef struct RestoreItem {
        vss_id writer_id;               /* the writer class: its running instance takes part */
        vss_id instance_id;             /* the live instance vssd bound the document's writer to */
        vss_component_type type;
        char *logical_path;
        char *name;
        char *full_path;                /* "LP\NAME" or "NAME" */
        const char *writer_name;        /* borrowed from the gathered metadata */
} RestoreItem;

typedef struct Restore {
        vss_requester *req;
        Selection sel;                  /* the running writers' identities, for -wi/-wx */
        RestoreItem *items;
        size_t n_items;
        Env env;
} Restore;

static void restore_done(Restore *x) {
        for (size_t i = 0; i < x->n_items; i++) {
                free(x->items[i].logical_path);
                free(x->items[i].name);
                free(x->items[i].full_path);
        }
        free(x->items);
        env_done(&x->env);
        selection_done(&x->sel);
        vss_requester_release(x->req);
}

static bool restore_writer_selected_cb(const void *userdata, const vss_id *instance_id) {
        const Restore *x = userdata;

        for (size_t i = 0; i < x->n_items; i++)
                if (vss_id_equal(&x->items[i].instance_id, instance_id))
                        return true;
        return false;
}

/* The document FILE, whole, NUL-terminated, at most XML_MAX_DOCUMENT_SIZE bytes. Returns 0 or
 * minus an exit code. */
static int document_read(const char *path, char **ret) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return -vss_error(vss_hr_from_errno(errno), "-%s=%s: %s", arg.command_option, path, strerror(errno));
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size > XML_MAX_DOCUMENT_SIZE)
                return -vss_error(VSS_E_INVALID_XML_DOCUMENT, "-%s=%s: not a regular file of at most %u bytes",
                                  arg.command_option, path, XML_MAX_DOCUMENT_SIZE);
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -vss_error(E_OUTOFMEMORY, NULL);
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -vss_error(vss_hr_from_errno(errno), "-%s=%s: %s", arg.command_option, path,
                                          strerror(errno));
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

/* The running writer bound to the document's writer (by instance, else by class), or NULL. */
static Writer *restore_find_writer(Selection *sel, const vss_id *instance_id, const vss_id *writer_id) {
        for (size_t i = 0; i < sel->n_writers; i++)
                if (vss_id_equal(&sel->writers[i].id.instance_id, instance_id))
                        return &sel->writers[i];
        for (size_t i = 0; i < sel->n_writers; i++)
                if (vss_id_equal(&sel->writers[i].id.writer_id, writer_id))
                        return &sel->writers[i];
        return NULL;
}

/* Does -wi/-wx leave component full_path of writer w in this restore (1, else 0)? Records
 * which selectors matched. Returns minus an exit code on failure. */
static int restore_component_wanted(Restore *x, Writer *w, const char *full_path) {
        _cleanup_free_ WriterIdentity *all = calloc(MAX(x->sel.n_writers, (size_t) 1), sizeof(*all));
        Component c = { .full_path = (char *) full_path };
        bool included = arg.n_include == 0, excluded = false, whole;

        if (!all)
                return -vss_error(E_OUTOFMEMORY, NULL);
        for (size_t i = 0; i < x->sel.n_writers; i++)
                all[i] = x->sel.writers[i].id;
        for (size_t i = 0; i < arg.n_include; i++)
                if (selector_covers(arg.include[i], w, &c, all, x->sel.n_writers, &whole)) {
                        included = true;
                        x->sel.include_matched[i] = true;
                }
        for (size_t i = 0; i < arg.n_exclude; i++)
                if (selector_covers(arg.exclude[i], w, &c, all, x->sel.n_writers, &whole)) {
                        excluded = true;
                        x->sel.exclude_matched[i] = true;
                }
        return included && !excluded;
}

static int restore_add_item(Restore *x, Writer *w, const vss_id *instance_id, const vss_id *writer_id,
                            vss_component_type type, const char *lp, const char *name, char *full_path) {
        RestoreItem *l, *it;

        l = realloc(x->items, (x->n_items + 1) * sizeof(*l));
        if (!l) {
                free(full_path);
                return -vss_error(E_OUTOFMEMORY, NULL);
        }
        x->items = l;
        it = &x->items[x->n_items];
        *it = (RestoreItem) {
                .writer_id = *writer_id,
                .instance_id = *instance_id,
                .type = type,
                .logical_path = strdup(lp),
                .name = strdup(name),
                .full_path = full_path,
                .writer_name = w->id.name,
        };
        x->n_items++;
        if (!it->logical_path || !it->name)
                return -vss_error(E_OUTOFMEMORY, NULL);
        return 0;
}

/* One writer of the document: each of its components that -wi/-wx leave in becomes an item. */
static int restore_collect_writer(Restore *x, vss_writer_components_ext *ext) {
        vss_id instance_id, writer_id;
        unsigned n = 0;
        Writer *w;
        vss_hr hr;
        int r;

        hr = vss_writer_components_ext_get_writer_info(ext, &instance_id, &writer_id);
        if (VSS_SUCCEEDED(hr))
                hr = vss_writer_components_ext_get_count(ext, &n);
        if (VSS_FAILED(hr))
                return step_failed(x->req, "GetWriterComponents", hr);
        w = restore_find_writer(&x->sel, &instance_id, &writer_id);
        if (!w) {
                note("writer {%s} of the document is not running: its %u component%s cannot be restored with it "
                     "(restore its files without writer participation)", vss_id_to_str(&writer_id).s, n,
                     n == 1 ? "" : "s");
                return 0;
        }
        for (unsigned c = 0; c < n; c++) {
                const char *lp = NULL, *name = NULL;
                vss_component_type type;
                vss_component *comp;
                char *full;

                hr = vss_writer_components_ext_get_component(ext, c, &comp);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_component_get_logical_path(comp, &lp);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_component_get_component_name(comp, &name);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_component_get_component_type(comp, &type);
                if (VSS_FAILED(hr))
                        return step_failed(x->req, "GetComponent", hr);
                if (asprintf(&full, "%s%s%s", strempty(lp), isempty(lp) ? "" : "\\", name) < 0)
                        return -vss_error(E_OUTOFMEMORY, NULL);
                r = restore_component_wanted(x, w, full);
                if (r <= 0) {
                        free(full);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = restore_add_item(x, w, &instance_id, &writer_id, type, strempty(lp), name, full);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Every component of the saved document that -wi/-wx leave in, with its running writer. */
static int restore_collect(Restore *x) {
        unsigned n = 0;
        vss_hr hr;
        int r;

        hr = vss_requester_get_writer_components_count(x->req, &n);
        if (VSS_FAILED(hr))
                return step_failed(x->req, "GetWriterComponentsCount", hr);
        for (unsigned i = 0; i < n; i++) {
                vss_writer_components_ext *ext = NULL;

                hr = vss_requester_get_writer_components(x->req, i, &ext);
                if (VSS_FAILED(hr))
                        return step_failed(x->req, "GetWriterComponents", hr);
                r = restore_collect_writer(x, ext);
                vss_writer_components_ext_free(ext);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < arg.n_include; i++)
                if (!x->sel.include_matched[i])
                        return -vss_error(VSS_E_OBJECT_NOT_FOUND,
                                          "-wi=%s names no component of the document whose writer is running",
                                          arg.include[i]);
        for (size_t i = 0; i < arg.n_exclude; i++)
                if (!x->sel.exclude_matched[i])
                        note("-wx=%s matches no component of the document; nothing excluded for it", arg.exclude[i]);
        return 0;
}

static int restore_select(Restore *x) {
        for (size_t i = 0; i < x->n_items; i++) {
                RestoreItem *it = &x->items[i];
                vss_hr hr;

                /* No instance: "the document's writer of this class", bound to its live instance. */
                hr = vss_requester_set_selected_for_restore(x->req, NULL, &it->writer_id, it->type, it->logical_path,
                                                            it->name, true);
                if (VSS_FAILED(hr)) {
                        const char *detail = vss_requester_get_error_message(x->req);

                        return -vss_error(hr, "SetSelectedForRestore(writer \"%s\", component \"%s\") failed%s%s",
                                          it->writer_name, it->full_path, isempty(detail) ? "" : ": ",
                                          strempty(detail));
                }
                note("writer \"%s\": component \"%s\" selected for restore", it->writer_name, it->full_path);
        }
        if (x->n_items == 0)
                note("no component of the document is selected: no writer takes part in this restore");
        return 0;
}

static int restore_env_build(Restore *x, const char *bcd_path) {
        char count[32];
        int r;

        snprintf(count, sizeof(count), "%zu", x->n_items);
        r = env_add(&x->env, "1", "VSHADOW_RESTORE");
        if (r >= 0)
                r = env_add(&x->env, bcd_path, "VSHADOW_BCD");
        if (r >= 0)
                r = env_add(&x->env, count, "VSHADOW_COMPONENT_COUNT");
        for (size_t i = 0; r >= 0 && i < x->n_items; i++) {
                const RestoreItem *it = &x->items[i];

                r = env_add(&x->env, it->full_path, "VSHADOW_COMPONENT_%zu", i);
                if (r >= 0)
                        r = env_add(&x->env, it->logical_path, "VSHADOW_COMPONENT_LOGICAL_PATH_%zu", i);
                if (r >= 0)
                        r = env_add(&x->env, it->name, "VSHADOW_COMPONENT_NAME_%zu", i);
                if (r >= 0)
                        r = env_add(&x->env, vss_id_to_str(&it->writer_id).s, "VSHADOW_COMPONENT_WRITER_ID_%zu", i);
                if (r >= 0)
                        r = env_add(&x->env, it->writer_name, "VSHADOW_COMPONENT_WRITER_%zu", i);
        }
        return r < 0 ? -vss_error(E_OUTOFMEMORY, NULL) : 0;
}

static const char *file_restore_status_name(vss_file_restore_status s) {
        switch (s) {
        case VSS_RS_NONE:
                return "VSS_RS_NONE";
        case VSS_RS_ALL:
                return "VSS_RS_ALL";
        case VSS_RS_FAILED:
                return "VSS_RS_FAILED";
        default:
                return "VSS_RS_UNDEFINED";
        }
}

static int restore_set_status(Restore *x, vss_file_restore_status status) {
        int r = 0;

        for (size_t i = 0; i < x->n_items; i++) {
                RestoreItem *it = &x->items[i];
                vss_hr hr;

                hr = vss_requester_set_file_restore_status(x->req, NULL, &it->writer_id, it->type, it->logical_path,
                                                           it->name, status);
                /* Go on with the others: every writer must still hear PostRestore. */
                if (VSS_FAILED(hr) && r == 0)
                        r = step_failed(x->req, "SetFileRestoreStatus", hr);
        }
        if (x->n_items > 0)
                note("file restore status %s for %zu component%s", file_restore_status_name(status), x->n_items,
                     x->n_items == 1 ? "" : "s");
        return r;
}

/*
 * -r / -rs: InitializeForRestore from the saved document, GatherWriterMetadata,
 * SetSelectedForRestore for its components (-wi/-wx), PreRestore, the command (-r), then
 * SetFileRestoreStatus and PostRestore, GatherWriterStatus. A restore cannot be aborted
 * (vss-semantics.md §13): once PreRestore went out, every later failure still goes through
 * PostRestore so the writers resume.
 */
static int restore(void) {
        _cleanup_(restore_done) Restore x = {};
        _cleanup_free_ char *xml = NULL;
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_file_restore_status status;
        int r, command_status = 0, failure = 0;
        vss_async *a = NULL;
        vss_hr hr;

        r = document_read(arg.command_arg, &xml);
        if (r < 0)
                return r;

        opts.socket_path = arg.socket;
        hr = vss_requester_new(&x.req, &opts);
        if (VSS_FAILED(hr))
                return -vss_error(hr, "%s vssd at %s",
                                  hr == VSS_E_WRITER_INFRASTRUCTURE ? "cannot reach" : "cannot connect to",
                                  vss_socket_path(arg.socket));
        hr = vss_requester_initialize_for_restore(x.req, xml);
        if (VSS_FAILED(hr))
                return step_failed(x.req, "InitializeForRestore", hr);
        r = selection_init(&x.sel);
        if (r < 0)
                return r;
        hr = async_result(vss_requester_gather_writer_metadata(x.req, &a), &a);
        if (VSS_FAILED(hr))
                return step_failed(x.req, "GatherWriterMetadata", hr);
        r = selection_load(x.req, &x.sel);
        if (r >= 0)
                r = restore_collect(&x);
        if (r >= 0)
                r = restore_select(&x);
        if (r < 0)
                return r;

        /* A writer that failed PreRestore is not ready for its files: copy nothing, but the
         * others still need PostRestore to resume. */
        hr = async_result(vss_requester_pre_restore(x.req, &a), &a);
        if (VSS_FAILED(hr))
                failure = step_failed(x.req, "PreRestore", hr);
        else
                failure = writer_status_check(x.req, restore_writer_selected_cb, &x, "PreRestore");

        if (arg.command == COMMAND_SIMULATE_RESTORE || failure < 0)
                status = VSS_RS_NONE;
        else {
                r = restore_env_build(&x, arg.command_arg);
                if (r < 0)
                        failure = r;
                else if (arg.exec_cmd) {
                        note("running: %s", arg.exec_cmd);
                        command_status = command_run(&x.env);
                        if (command_status < 0) {
                                failure = command_status;
                                command_status = 0;
                        } else if (command_status != 0)
                                note("the command failed with exit status %d; the restore is marked as failed",
                                     command_status);
                } else
                        /* You copy the files back by hand between PreRestore and PostRestore. */
                        wait_for_enter();
                status = failure < 0 ? VSS_RS_NONE : command_status == 0 ? VSS_RS_ALL : VSS_RS_FAILED;
        }

        r = restore_set_status(&x, status);
        if (r < 0 && failure == 0)
                failure = r;
        hr = async_result(vss_requester_post_restore(x.req, &a), &a);
        if (VSS_FAILED(hr)) {
                r = step_failed(x.req, "PostRestore", hr);
                if (failure == 0)
                        failure = r;
        } else if (failure == 0)
                /* Only when all went well so far: a writer that failed PreRestore keeps that state. */
                failure = writer_status_check(x.req, restore_writer_selected_cb, &x, "PostRestore");

        if (command_status != 0)
                return -command_status;
        if (failure < 0)
                return failure;
        note("%s from %s finished", arg.command == COMMAND_SIMULATE_RESTORE ? "simulated restore" : "restore",
             arg.command_arg);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */

static int run(void) {
        switch (arg.command) {
        case COMMAND_CREATE:
                return create_set();
        case COMMAND_QUERY:
        case COMMAND_QUERY_SET:
        case COMMAND_QUERY_SNAPSHOT:
                return query();
        case COMMAND_DELETE_ALL:
        case COMMAND_DELETE_SET:
        case COMMAND_DELETE_SNAPSHOT:
        case COMMAND_DELETE_OLDEST:
                return delete_snapshots();
        case COMMAND_EXPOSE_LOCAL:
                return expose_local();
        case COMMAND_EXPOSE_REMOTE:
                return -vss_error(VSS_E_NOT_SUPPORTED,
                                  "-er: Linux has no VSS share service, so snapshots cannot be exposed remotely; "
                                  "expose one locally with -el=SNAPID,DIR and share DIR with NFS or Samba");
        case COMMAND_WRITER_STATUS:
        case COMMAND_WRITER_METADATA:
                return writer_listing();
        case COMMAND_RESTORE:
        case COMMAND_SIMULATE_RESTORE:
                return restore();
        }
        return -EXIT_USAGE;
}

int main(int argc, char *argv[]) {
        int r;

        r = parse_argv(argc, argv);
        if (r > 0)
                r = run();
        args_done();
        if (fflush(stdout) != 0 && r == 0)
                return EXIT_VSS;
        return r < 0 ? -r : 0;
}
