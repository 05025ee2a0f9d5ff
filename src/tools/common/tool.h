/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool.h: what every command-line program of the project shares, so they speak with one
 * voice (docs/exit-codes.md): the exit statuses and error lines, --version (tool-output.c);
 * connecting to vssd, running an asynchronous VSS step, reading a snapshot as a directory
 * (tool-requester.c); the backup privilege (tool-privilege.c); JSON (tool-json.c); a writer's
 * status (tool-writer.c). The client of vssd's Admin interface is admin-client.h.
 *
 * Error lines go to stderr and start with the program's name:
 *   "PROG: <VSS_E_NAME>: <message>: <detail>"   a VSS error (exit TOOL_EXIT_VSS)
 *   "PROG: <detail>" + "Try 'PROG --help'."      a usage error (exit TOOL_EXIT_USAGE)
 *   "PROG: vssd is not running: start it ..."   vssd unreachable (exit TOOL_EXIT_UNREACHABLE)
 * The program's name is program_invocation_short_name, so nothing has to be set up.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "vss/vss.h"

/* Exit statuses of every tool (docs/exit-codes.md). */
#define TOOL_EXIT_OK 0
#define TOOL_EXIT_USAGE 1               /* bad command line: nothing was done */
#define TOOL_EXIT_VSS 2                 /* a VSS error; the line printed names its code */
#define TOOL_EXIT_UNREACHABLE 3         /* vssd could not be reached */
#define TOOL_EXIT_PARTIAL 4             /* done, but some files were not (files kept, failed) */

/* tool_version: prints "PROG VERSION", the one line --version prints. Returns TOOL_EXIT_OK. */
int tool_version(void);

/* tool_exit_for_hr: the exit status a failure code hr means. */
int tool_exit_for_hr(vss_hr hr);

/*
 * tool_usage_error: prints "PROG: <fmt...>" and a pointer to --help on stderr. Returns
 * TOOL_EXIT_USAGE.
 */
int tool_usage_error(const char *fmt, ...) _printf_(1, 2);

/*
 * tool_vss_error: prints "PROG: <VSS_E_NAME>: <message>[: <fmt...>]" on stderr (fmt may be
 * NULL). Returns the exit status for hr (tool_exit_for_hr).
 */
int tool_vss_error(vss_hr hr, const char *fmt, ...) _printf_(2, 3);

/*
 * tool_step_failed: a requester step's failure, "PROG: <VSS_E_NAME>: <message>: STEP failed:
 * <vssd's detail>" (the detail from vss_requester_get_error_message(r); r may be NULL).
 * Returns the exit status for hr.
 */
int tool_step_failed(vss_requester *r, const char *step, vss_hr hr);

/*
 * tool_step_message: the same failure as text for a program that hands it on rather than
 * printing it (vss-bacula's agent answers it to the File Daemon's call): "<VSS_E_NAME>: STEP
 * failed[: <vssd's detail>]". Returns a malloc'd string, or NULL when out of memory.
 */
char *tool_step_message(vss_requester *r, const char *step, vss_hr hr);

/* tool_note: "PROG: <fmt...>" on stderr, for progress and warnings. */
void tool_note(const char *fmt, ...) _printf_(1, 2);

/*
 * tool_async_result: the result of an asynchronous step that a call returning call_hr started
 * in a: call_hr when the call failed, else the operation's own result (vss_async_wait_result).
 * Takes a (may be NULL) and releases it.
 */
vss_hr tool_async_result(vss_hr call_hr, vss_async *a);

/* TOOL_RUN_ASYNC(call, r): starts call(r, &a) and gives tool_async_result() of it. */
#define TOOL_RUN_ASYNC(call, r)                         \
        ({                                              \
                vss_async *_a = NULL;                   \
                vss_hr _hr = call(r, &_a);              \
                tool_async_result(_hr, _a);             \
        })

/*
 * tool_requester_new: a requester connected to vssd at socket_path (NULL: $VSS_SOCKET, else
 * the default). On failure prints the one line that says why (vssd unreachable, or refused)
 * and returns minus the exit status; else 0 and *ret (vss_requester_release).
 */
int tool_requester_new(const char *socket_path, vss_requester **ret);

/*
 * tool_vssd_unreachable: prints the one line for "vssd cannot be reached at socket_path", with
 * its remedy; the connect() errno err (either sign) tells "not running" (ENOENT, ECONNREFUSED)
 * from "refused this user" (EACCES) from anything else. Returns the exit status:
 * TOOL_EXIT_UNREACHABLE, or TOOL_EXIT_VSS for a refusal.
 */
int tool_vssd_unreachable(const char *socket_path, int err);

/*
 * tool_vssd_unreachable_probe: after libvss reported VSS_E_WRITER_INFRASTRUCTURE for vssd at
 * socket_path (NULL: the default), connects once more to learn why and prints the line
 * tool_vssd_unreachable() prints. Returns its exit status.
 */
int tool_vssd_unreachable_probe(const char *socket_path);

/*
 * tool_backup_privilege_init: call first thing in main of a program installed with the backup
 * privilege (vshadow, vssbackup; tool-privilege.c). Keeps CAP_DAC_READ_SEARCH for a member of
 * group "backup", drops every capability for anyone else. Returns 1 when the privilege is
 * held, 0 when not (root, or not installed with it), or a negative errno from capset.
 */
int tool_backup_privilege_init(void);

/*
 * tool_backup_privilege_pass_on: in a child about to exec a backup command (vshadow -exec),
 * raises CAP_DAC_READ_SEARCH into the ambient set, so the command reads the snapshot as
 * vshadow can. Returns 1 when passed on, 0 when there is nothing to pass, or a negative errno.
 */
int tool_backup_privilege_pass_on(void);

/*
 * tool_snapshot_dir: where a tool reads the finished snapshot p, as a directory: the
 * snapshot's device object when it is one (btrfs), else a read-only mount of it that vssd
 * makes (ExposeSnapshot with no path: /run/vss/exposed/<id>) and removes when the snapshot is
 * released. Every provider's snapshots are thus directories to the tools (an image provider's
 * is an image file). Returns 0 and *ret (malloc'd), or minus the exit status, printed.
 */
int tool_snapshot_dir(vss_requester *r, const vss_snapshot_prop *p, char **ret);

/*
 * JSON on stdout, for the --json form of every listing and result (tool-json.c): json_string
 * writes s (NULL: "") quoted and escaped, bytes that are not UTF-8 as U+FFFD (file names need
 * not be UTF-8; the output is always valid JSON); json_field_string writes "name":"value" and a comma unless
 * last. The tools use the same field names for the same things (vssadmin list shadows and
 * vshadow -q -json both say shadow_id, set_id, original_volume, ...).
 */
void json_string(const char *s);
void json_field_string(const char *name, const char *value, bool last);

/*
 * One writer's identity and status, as vssadmin list writers (Admin.ListWriters) and vshadow
 * -ws (GetWriterStatus) have it. The strings are borrowed; instance_name is NULL where the
 * source does not give one (GetWriterStatus), and is then left out of the JSON.
 */
typedef struct ToolWriterStatus {
        const char *writer_id;          /* class id, without braces */
        const char *instance_id;
        const char *name;
        const char *instance_name;
        uint32_t state;                 /* vss_writer_state */
        vss_hr last_error;
} ToolWriterStatus;

typedef enum ToolWriterForm {
        TOOL_WRITER_JSON,               /* one object of a --json array, the same for every tool */
        TOOL_WRITER_VSSADMIN,           /* the block of Windows' vssadmin list writers */
        TOOL_WRITER_VSHADOW,            /* the block of Windows' vshadow -ws */
} ToolWriterForm;

/*
 * tool_writer_status_print: prints w on stdout in form (tool-writer.c). In JSON, the object is
 * preceded by a comma unless first; the text forms end with a blank line.
 */
void tool_writer_status_print(const ToolWriterStatus *w, ToolWriterForm form, bool first);

/* The kinds of file description a writer's component lists, in the order VSS lists them. */
typedef enum ToolFileKind {
        TOOL_FILE_KIND_FILES,           /* AddFiles */
        TOOL_FILE_KIND_DATABASE,        /* AddDatabaseFiles */
        TOOL_FILE_KIND_DATABASE_LOG,    /* AddDatabaseLogFiles */
        _TOOL_FILE_KIND_MAX,
} ToolFileKind;

/* tool_component_file_count: how many file descriptions of kind info says its component has. */
unsigned tool_component_file_count(const vss_component_info *info, ToolFileKind kind);

/*
 * tool_component_get_file: file description index of kind (vss_wm_component_get_file,
 * _get_database_file or _get_database_log_file), so a walk over all of a component's files
 * is two loops. Strings borrowed from comp.
 */
vss_hr tool_component_get_file(vss_wm_component *comp, ToolFileKind kind, unsigned index, vss_wm_filedesc *ret);

/*
 * tool_component_identity: the logical path, name and type of component index of a writer's
 * part of a Backup Components Document (vss_requester_get_writer_components), the three
 * things a restore selects it by. Strings borrowed from ext; outputs written only on success.
 */
vss_hr tool_component_identity(vss_writer_components_ext *ext, unsigned index, const char **ret_logical_path,
                               const char **ret_name, vss_component_type *ret_type);
