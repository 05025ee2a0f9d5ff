/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c: vshadow's command line (Windows vshadow's option syntax, -opt=value) and the
 * dispatch to the command it names.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "vshadow.h"

/* ------------------------------------------------------------------------------------------ */
/* Command line                                                                                */
/* ------------------------------------------------------------------------------------------ */

Args arg = {
        .command = COMMAND_CREATE,
        .backup_type = VSS_BT_FULL,
        .wait_turn_s = TOOL_DEFAULT_WAIT_S,
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
               "  -wait           Wait for Enter before releasing the snapshots\n"
               "  -waitset=SECONDS  Wait up to SECONDS (default 900, 0: not at all) while another\n"
               "                  snapshot set is being created, instead of failing\n\n"
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
               "  -json           With -q, -qx, -s, -ws, -wm: the listing as JSON on stdout\n"
               "  -r=FILE.xml     Restore with writers from a saved -bc document: PreRestore, the\n"
               "                  -exec command (it copies the files back), PostRestore\n"
               "  -rs=FILE.xml    Simulated restore: PreRestore and PostRestore, nothing restored\n"
               "  -er             Refused: Linux has no VSS share service\n\n"
               "Other:\n"
               "  -socket=PATH    vssd's socket (default: $VSS_SOCKET, else %s)\n"
               "  -h, -?, --help  Show this help\n"
               "  --version       Show the version\n\n"
               "Environment of -exec: VSHADOW_SET_ID, VSHADOW_SNAPSHOT_COUNT, VSHADOW_VOLUME_i,\n"
               "VSHADOW_SNAPSHOT_i (the volume's root), VSHADOW_PATH_i (VOLUME i as named, inside\n"
               "the snapshot), VSHADOW_SNAPSHOT_ID_i, VSHADOW_BACKUP_TYPE, VSHADOW_BCD,\n"
               "VSHADOW_FILE_LIST_i and VSHADOW_FILE_LIST (i from 0). With -r: VSHADOW_RESTORE=1,\n"
               "VSHADOW_BCD, VSHADOW_COMPONENT_COUNT, VSHADOW_COMPONENT_i (LOGICAL_PATH_i, NAME_i,\n"
               "WRITER_i, WRITER_ID_i).\n\n"
               "Exit status: 0 success, 1 usage error, 2 VSS error, 3 vssd is not running,\n"
               "130/143 interrupted by SIGINT/SIGTERM (the backup aborted, the writers told),\n"
               "else the failing exit status of the -exec command (docs/exit-codes.md).\n",
               VSS_DEFAULT_SOCKET);
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

const char *backup_type_name(vss_backup_type t) {
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
                        return -tool_usage_error("volume \"%s\": %s", v, strerror(errno));
        }
        if (!abs)
                return -ENOMEM;
        if (arg.n_volumes >= VSS_MAX_VOLUMES_PER_SET) {
                free(abs);
                return -tool_usage_error("at most %u volumes make a snapshot set", VSS_MAX_VOLUMES_PER_SET);
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
        OPT_JSON,
        OPT_WAIT_TURN,
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
        { "json", OPT_JSON, VALUE_NONE, 0, false },
        { "-json", OPT_JSON, VALUE_NONE, 0, false },
        { "waitset", OPT_WAIT_TURN, VALUE_REQUIRED, 0, true },
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
                                return r == -ENOMEM ? -tool_vss_error(E_OUTOFMEMORY, NULL) : r;
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
                        return -tool_usage_error("unknown option \"%.*s\"", (int) MIN(len + 1, (size_t) 64), a);
                if (eq)
                        value = eq + 1;
                if (options[o].value == VALUE_NONE && value)
                        return -tool_usage_error("option -%s takes no value", options[o].name);
                if (options[o].value == VALUE_REQUIRED && !value)
                        return -tool_usage_error("option -%s needs a value: -%s=...", options[o].name, options[o].name);
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
                                return -tool_usage_error("-%s needs a writer or component", options[o].name);
                        if (options[o].id == OPT_INCLUDE)
                                r = push_value(&arg.include, &arg.n_include, value);
                        else
                                r = push_value(&arg.exclude, &arg.n_exclude, value);
                        if (r < 0)
                                return -tool_vss_error(E_OUTOFMEMORY, NULL);
                        break;
                case OPT_BACKUP_TYPE: {
                        size_t t;

                        for (t = 0; t < ELEMENTSOF(backup_types); t++)
                                if (strcasecmp(value, backup_types[t].name) == 0)
                                        break;
                        if (t >= ELEMENTSOF(backup_types))
                                return -tool_usage_error("-bt=%s: the backup type is one of full, incremental, "
                                                         "differential, log, copy", value);
                        arg.backup_type = backup_types[t].type;
                        break;
                }
                case OPT_BC:
                        if (isempty(value))
                                return -tool_usage_error("-bc needs a file name");
                        arg.bc_file = value;
                        break;
                case OPT_EXEC:
                        if (isempty(value))
                                return -tool_usage_error("-exec needs a command");
                        arg.exec_cmd = value;
                        break;
                case OPT_SCRIPT:
                        if (isempty(value))
                                return -tool_usage_error("-script needs a file name");
                        arg.script_file = value;
                        break;
                case OPT_WAIT:
                        arg.wait = true;
                        break;
                case OPT_JSON:
                        arg.json = true;
                        break;
                case OPT_WAIT_TURN: {
                        char *end;
                        unsigned long v;

                        errno = 0;
                        v = strtoul(value, &end, 10);
                        if (errno != 0 || end == value || *end || value[0] == '-' || v > 7 * 24 * 3600)
                                return -tool_usage_error("-waitset takes 0..604800 seconds");
                        arg.wait_turn_s = (unsigned) v;
                        break;
                }
                case OPT_SOCKET:
                        if (isempty(value))
                                return -tool_usage_error("-socket needs a path");
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
                                return -tool_usage_error("-%s and -%s are two commands; give one", arg.command_option,
                                                         options[o].name);
                        have_command = true;
                        arg.command = options[o].command;
                        arg.command_option = options[o].name;
                        arg.command_arg = value;
                        break;
                }
        }

        if (arg.json && arg.command != COMMAND_QUERY && arg.command != COMMAND_QUERY_SET &&
            arg.command != COMMAND_QUERY_SNAPSHOT && arg.command != COMMAND_WRITER_STATUS &&
            arg.command != COMMAND_WRITER_METADATA)
                return -tool_usage_error("-json is for the listings: -q, -qx, -s, -ws, -wm");
        if (arg.command == COMMAND_RESTORE || arg.command == COMMAND_SIMULATE_RESTORE) {
                if (arg.n_volumes > 0)
                        return -tool_usage_error("-%s takes no volumes", arg.command_option);
                if (isempty(arg.command_arg))
                        return -tool_usage_error("-%s needs the Backup Components Document: -%s=FILE.xml",
                                                 arg.command_option, arg.command_option);
                if (not_restore_option)
                        return -tool_usage_error("-%s does not apply to -%s", not_restore_option, arg.command_option);
                if (arg.command == COMMAND_SIMULATE_RESTORE && arg.exec_cmd)
                        return -tool_usage_error("-rs is a simulated restore and runs no command; "
                                                 "use -r=FILE -exec=...");
                return 1;
        }
        if (arg.command != COMMAND_CREATE) {
                if (arg.n_volumes > 0)
                        return -tool_usage_error("-%s takes no volumes", arg.command_option);
                if (creation_option)
                        return -tool_usage_error("-%s only applies when creating a snapshot set, not with -%s",
                                                 creation_option, arg.command_option);
                return 1;
        }

        if (arg.n_volumes == 0)
                return -tool_usage_error("no volume given: vshadow [OPTIONS...] VOLUME...");
        if (arg.no_writers && (arg.n_include > 0 || arg.n_exclude > 0))
                return -tool_usage_error("-nw excludes every writer; it cannot be combined with -wi or -wx");
        for (size_t i = 0; i < arg.n_volumes; i++)
                for (size_t j = 0; j < i; j++)
                        if (streq(arg.volumes[i], arg.volumes[j]))
                                return -tool_usage_error("volume \"%s\" is given twice", arg.volumes[i]);
        return 1;
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
                return -tool_vss_error(VSS_E_NOT_SUPPORTED,
                                       "-er: Linux has no VSS share service, so snapshots cannot be exposed remotely; "
                                       "expose one locally with -el=SNAPID,DIR and share DIR with NFS or Samba");
        case COMMAND_WRITER_STATUS:
        case COMMAND_WRITER_METADATA:
                return writer_listing();
        case COMMAND_RESTORE:
        case COMMAND_SIMULATE_RESTORE:
                return restore();
        }
        return -TOOL_EXIT_USAGE;
}

int main(int argc, char *argv[]) {
        int r;

        if (tool_backup_privilege_init() < 0)
                return tool_vss_error(E_ACCESSDENIED, "cannot drop the backup privilege");
        r = parse_argv(argc, argv);
        if (r > 0)
                r = run();
        args_done();
        if (fflush(stdout) != 0 && r == 0)
                return TOOL_EXIT_VSS;
        return r < 0 ? -r : 0;
}

