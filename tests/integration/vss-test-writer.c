/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-test-writer.c: a scriptable writer process for the integration tests.
 *
 * The integration tests need writers that behave in precise, repeatable ways: veto a given
 * event, report a failure without vetoing, hang inside a callback, run at a chosen
 * application level. This program is such a writer, configured entirely from its command
 * line, built only on libvss's public writer API (so it also proves that API is enough).
 *
 * Everything it sees is appended to a log file, one line per record, each line written with
 * a single write() on an O_APPEND descriptor so lines from several writers sharing a file
 * never interleave and the file order is the order in which the writes happened:
 *
 *   subscribed instance=<uuid>
 *   subscribe-failed hr=<NAME>
 *   begin=<Event>                        (at callback entry, before any hang)
 *   event=<Event> set=<uuid|-> getsetid=<ok|NAME> backup_type=<n|NAME> volumes=<n|NAME>
 *         components=<lp/name:flag,...|-> result=<ok|veto|fail>
 *
 * For BackupShutdown, set= is the callback's snapshot set id argument; elsewhere it is what
 * vss_writer_get_current_snapshot_set_id returned ("-" when refused), and getsetid= records
 * whether that call was allowed, so the seed-002 rules can be checked from the outside.
 * In components=, flag is the component's backup_succeeded (1/0), or "-" when the call is
 * refused (it is only legal in BackupComplete).
 *
 * The Backup Components Document (IVssComponent) of the first component, in the events that
 * hand out components, before any edit:
 *
 *   doc in=<Event> prev=<s|-|NAME> options=<s|-|NAME> stamp=<s|-|NAME> metadata=<s|-|NAME>
 *       differenced=<n|NAME> partial=<n|NAME>
 *
 * and each edit --stamp, --backup-metadata, --differenced, --partial asks for, made in every
 * event named by --edit-in (default post-snapshot; in backup-shutdown on the component kept
 * from the last callback that had one):
 *
 *   edit in=<Event> op=<stamp|metadata|differenced|partial> arg=<argument> hr=<NAME>
 *
 * In PreRestore and PostRestore, the restore fields of the first component, before any edit:
 *
 *   restore in=<Event> selected=<0|1|NAME> options=<s|-|NAME> additional=<0|1|NAME>
 *       status=<n|NAME> target=<n|NAME> type=<n|NAME> new_targets=<path:spec:rec:alt,...|-|NAME>
 *
 * and the restore edits asked for (--restore-target, --restore-metadata in PreRestore,
 * --pre-restore-msg in PreRestore, --post-restore-msg in PostRestore):
 *
 *   edit in=<Event> op=<restore-target|restore-metadata|pre-restore-msg|post-restore-msg>
 *       arg=<argument> hr=<NAME>
 *
 * --no-callback EVENT leaves that event's callback NULL, as an application without the handler
 * (prepare-backup, prepare-snapshot, post-snapshot, backup-complete, pre-restore, post-restore);
 * nothing is logged for it then.
 *
 * --writer-restore never|if-replace-fails|always declares the writer's restore method
 * (VSS_RME_RESTORE_IF_CAN_REPLACE with that VSS_WRITERRESTORE_ENUM) in Identify.
 * --restore-method N[:SERVICE] declares restore method N (VSS_RME_*) instead, with SERVICE for
 * the stop/start methods (with --writer-restore, that VSS_WRITERRESTORE_ENUM too).
 * --alternate-location DEST maps the --file set to DEST (AddAlternateLocationMapping), and
 * --dependency CLASS:LP:NAME makes the first component depend on component LP\NAME of the
 * writer class CLASS (AddComponentDependency), both in Identify.
 *
 * The process runs until SIGTERM or SIGINT, then unsubscribes and exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "vss/vss.h"

#define MAX_COMPONENTS 256      /* test-slow-writers uses 200 for an event larger than a socket holds */
#define LINE_MAX_LEN 4096
/* Long options without a short letter (outside the char range: no clash with the letters). */
#define OPT_RESTORE_METHOD 0x100
#define OPT_ALTERNATE_LOCATION 0x101
#define OPT_DEPENDENCY 0x102
#define OPT_NO_CALLBACK 0x103

typedef enum Event {
        EVENT_IDENTIFY,
        EVENT_PREPARE_BACKUP,
        EVENT_PREPARE_SNAPSHOT,
        EVENT_FREEZE,
        EVENT_THAW,
        EVENT_POST_SNAPSHOT,
        EVENT_ABORT,
        EVENT_BACKUP_COMPLETE,
        EVENT_BACKUP_SHUTDOWN,
        EVENT_PRE_RESTORE,
        EVENT_POST_RESTORE,
        _EVENT_MAX,
} Event;

/* Log names (VSS's event names) and the short command-line aliases. */
static const char *const event_names[_EVENT_MAX] = {
        [EVENT_IDENTIFY] = "Identify",
        [EVENT_PREPARE_BACKUP] = "PrepareForBackup",
        [EVENT_PREPARE_SNAPSHOT] = "PrepareForSnapshot",
        [EVENT_FREEZE] = "Freeze",
        [EVENT_THAW] = "Thaw",
        [EVENT_POST_SNAPSHOT] = "PostSnapshot",
        [EVENT_ABORT] = "Abort",
        [EVENT_BACKUP_COMPLETE] = "BackupComplete",
        [EVENT_BACKUP_SHUTDOWN] = "BackupShutdown",
        [EVENT_PRE_RESTORE] = "PreRestore",
        [EVENT_POST_RESTORE] = "PostRestore",
};

static const char *const event_aliases[_EVENT_MAX] = {
        [EVENT_IDENTIFY] = "identify",
        [EVENT_PREPARE_BACKUP] = "prepare-backup",
        [EVENT_PREPARE_SNAPSHOT] = "prepare-snapshot",
        [EVENT_FREEZE] = "freeze",
        [EVENT_THAW] = "thaw",
        [EVENT_POST_SNAPSHOT] = "post-snapshot",
        [EVENT_ABORT] = "abort",
        [EVENT_BACKUP_COMPLETE] = "backup-complete",
        [EVENT_BACKUP_SHUTDOWN] = "backup-shutdown",
        [EVENT_PRE_RESTORE] = "pre-restore",
        [EVENT_POST_RESTORE] = "post-restore",
};

typedef enum Action {
        ACTION_NONE,
        ACTION_VETO, /* SetWriterFailure(code) and return false */
        ACTION_FAIL, /* SetWriterFailure(code) and return true */
} Action;

typedef struct EventScript {
        Action action;
        vss_hr code;
        unsigned hang_ms;
} EventScript;

typedef struct ComponentSpec {
        char *logical_path;
        char *name;
        vss_component_type type;
} ComponentSpec;

#define MAX_EDITS 16

typedef struct DifferencedSpec {
        char *path;
        char *filespec;
        bool recursive;
        vss_timestamp time;
        const char *arg;
} DifferencedSpec;

typedef struct PartialSpec {
        char *path;
        char *filename;
        char *ranges;
        const char *arg;
} PartialSpec;

typedef struct Config {
        const char *name;
        vss_id class_id;
        const char *instance;
        vss_application_level level;
        uint32_t freeze_timeout_ms;
        ComponentSpec components[MAX_COMPONENTS];
        unsigned n_components;
        const char *file;
        uint32_t schema;
        const char *stamp;
        const char *backup_metadata;
        DifferencedSpec differenced[MAX_EDITS];
        unsigned n_differenced;
        PartialSpec partial[MAX_EDITS];
        unsigned n_partial;
        unsigned edit_events;           /* bit per Event; 0: post-snapshot */
        unsigned no_callback_events;    /* bit per Event: the callback left NULL */
        int restore_target;             /* -1: none */
        const char *restore_metadata;
        const char *pre_restore_msg;
        const char *post_restore_msg;
        int writer_restore;             /* -1: no restore method declared */
        int restore_method;             /* -1: VSS_RME_RESTORE_IF_CAN_REPLACE when one is declared */
        const char *restore_service;
        const char *alternate_location; /* NULL: no mapping declared */
        bool have_dependency;
        vss_id dependency_class;
        char *dependency_logical_path;
        char *dependency_name;
        vss_component *kept;            /* first component of the last callback that had one */
        EventScript events[_EVENT_MAX];
        int log_fd;
        int shared_log_fd;
} Config;

static Config config = {
        .level = VSS_APP_FRONT_END,
        .freeze_timeout_ms = 60000,
        .log_fd = -1,
        .shared_log_fd = -1,
        .restore_target = -1,
        .writer_restore = -1,
        .restore_method = -1,
};

static void write_all(int fd, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, buf, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                buf += n;
                len -= (size_t) n;
        }
}

/* One record: a single write() per file so concurrent writers' lines stay whole. */
static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...) {
        char body[LINE_MAX_LEN], line[LINE_MAX_LEN + 256];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(body, sizeof body, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;

        if (config.log_fd >= 0) {
                n = snprintf(line, sizeof line, "%s\n", body);
                write_all(config.log_fd, line, MIN((size_t) n, sizeof line - 1));
        }
        if (config.shared_log_fd >= 0) {
                n = snprintf(line, sizeof line, "writer=%s %s\n", config.name, body);
                write_all(config.shared_log_fd, line, MIN((size_t) n, sizeof line - 1));
        }
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void append(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...) {
        size_t used = strlen(buf);
        va_list ap;

        if (used >= size - 1)
                return;
        va_start(ap, fmt);
        (void) vsnprintf(buf + used, size - used, fmt, ap);
        va_end(ap);
}

/* "lp/name:flag,..." for the components handed to a callback, "-" when there are none. */
static void format_components(vss_writer_components *c, char *buf, size_t size) {
        unsigned count = 0;

        buf[0] = '\0';
        if (!c || vss_writer_components_get_count(c, &count) != S_OK || count == 0) {
                append(buf, size, "-");
                return;
        }

        for (unsigned i = 0; i < count; i++) {
                vss_component *comp = NULL;
                const char *lp = "", *name = "?";
                bool succeeded = false;
                vss_hr hr = E_INVALIDARG;

                if (vss_writer_components_get_component(c, i, &comp) == S_OK && comp) {
                        if (vss_component_get_component_name(comp, &name) != S_OK || !name)
                                name = "?";
                        if (vss_component_get_logical_path(comp, &lp) != S_OK || !lp)
                                lp = "";
                        hr = vss_component_get_backup_succeeded(comp, &succeeded);
                }

                append(buf, size, "%s%s%s%s:%s", i > 0 ? "," : "", lp, lp[0] ? "/" : "", name,
                       hr == S_OK ? (succeeded ? "1" : "0") : "-");
        }
}

static const char *str_or_dash(vss_hr hr, const char *s) {
        if (hr != S_OK)
                return vss_hr_name(hr);
        return s ?: "-";
}

/* The document as the first component shows it (the "doc" line). */
static void log_document(Event e, vss_component *comp) {
        const char *prev = NULL, *options = NULL, *stamp = NULL, *metadata = NULL;
        vss_hr hp, ho, hs, hm, hd, hpa;
        unsigned n_diff = 0, n_partial = 0;
        char diff[32], partial[32];

        hp = vss_component_get_previous_backup_stamp(comp, &prev);
        ho = vss_component_get_backup_options(comp, &options);
        hs = vss_component_get_backup_stamp(comp, &stamp);
        hm = vss_component_get_backup_metadata(comp, &metadata);
        hd = vss_component_get_differenced_files_count(comp, &n_diff);
        hpa = vss_component_get_partial_file_count(comp, &n_partial);
        snprintf(diff, sizeof diff, "%u", n_diff);
        snprintf(partial, sizeof partial, "%u", n_partial);

        log_line("doc in=%s prev=%s options=%s stamp=%s metadata=%s differenced=%s partial=%s", event_names[e],
                 str_or_dash(hp, prev), str_or_dash(ho, options), str_or_dash(hs, stamp), str_or_dash(hm, metadata),
                 hd == S_OK ? diff : vss_hr_name(hd), hpa == S_OK ? partial : vss_hr_name(hpa));
}

/* The edits the command line asked for, on comp, each logged with its result. */
static void make_edits(Event e, vss_component *comp) {
        vss_hr hr;

        if (config.stamp) {
                hr = vss_component_set_backup_stamp(comp, config.stamp);
                log_line("edit in=%s op=stamp arg=%s hr=%s", event_names[e], config.stamp, vss_hr_name(hr));
        }
        if (config.backup_metadata) {
                hr = vss_component_set_backup_metadata(comp, config.backup_metadata);
                log_line("edit in=%s op=metadata arg=%s hr=%s", event_names[e], config.backup_metadata,
                         vss_hr_name(hr));
        }
        for (unsigned i = 0; i < config.n_differenced; i++) {
                const DifferencedSpec *d = &config.differenced[i];

                hr = vss_component_add_differenced_files_by_last_modify_time(comp, d->path, d->filespec, d->recursive,
                                                                             d->time);
                log_line("edit in=%s op=differenced arg=%s hr=%s", event_names[e], d->arg, vss_hr_name(hr));
        }
        for (unsigned i = 0; i < config.n_partial; i++) {
                const PartialSpec *p = &config.partial[i];

                hr = vss_component_add_partial_file(comp, p->path, p->filename, p->ranges, NULL);
                log_line("edit in=%s op=partial arg=%s hr=%s", event_names[e], p->arg, vss_hr_name(hr));
        }
}

static void handle_document(Event e, vss_writer_components *c) {
        unsigned mask = config.edit_events ?: 1U << EVENT_POST_SNAPSHOT;
        vss_component *comp = NULL;
        unsigned count = 0;

        if (c && vss_writer_components_get_count(c, &count) == S_OK && count > 0 &&
            vss_writer_components_get_component(c, 0, &comp) == S_OK) {
                config.kept = comp;
                log_document(e, comp);
        }
        /* In BackupShutdown no components are handed out: use the one kept (seed 003 says
         * the call is refused there, and it must be refused, not crash). */
        if (!comp && e == EVENT_BACKUP_SHUTDOWN)
                comp = config.kept;
        if (comp && (mask & (1U << e)))
                make_edits(e, comp);
}

/*
 * The common body of every backup callback: log entry, hang if asked, probe the protected
 * helpers, act as scripted, log the outcome. set_arg is the BackupShutdown argument.
 */
static bool handle_event(vss_writer *w, Event e, vss_writer_components *c, const vss_id *set_arg) {
        const EventScript *s = &config.events[e];
        char set_buf[VSS_ID_STRING_MAX], comps[LINE_MAX_LEN / 2];
        char backup_type[64], volumes[64];
        const char *const *vol_array = NULL;
        const char *getsetid, *result = "ok";
        vss_backup_type bt = VSS_BT_UNDEFINED;
        unsigned n_volumes = 0;
        vss_id set_id;
        vss_hr hr;
        bool ret = true;

        log_line("begin=%s", event_names[e]);
        if (s->hang_ms > 0)
                sleep_ms(s->hang_ms);

        hr = vss_writer_get_current_snapshot_set_id(w, &set_id);
        getsetid = hr == S_OK ? "ok" : vss_hr_name(hr);
        if (set_arg)
                vss_id_format(set_arg, set_buf);
        else if (hr == S_OK)
                vss_id_format(&set_id, set_buf);
        else
                strcpy(set_buf, "-");

        hr = vss_writer_get_backup_type(w, &bt);
        if (hr == S_OK)
                snprintf(backup_type, sizeof backup_type, "%d", (int) bt);
        else
                snprintf(backup_type, sizeof backup_type, "%s", vss_hr_name(hr));

        hr = vss_writer_get_current_volume_array(w, &n_volumes, &vol_array);
        if (hr == S_OK)
                snprintf(volumes, sizeof volumes, "%u", n_volumes);
        else
                snprintf(volumes, sizeof volumes, "%s", vss_hr_name(hr));

        format_components(c, comps, sizeof comps);
        handle_document(e, c);

        switch (s->action) {
        case ACTION_VETO:
                (void) vss_writer_set_writer_failure(w, s->code);
                result = "veto";
                ret = false;
                break;
        case ACTION_FAIL:
                (void) vss_writer_set_writer_failure(w, s->code);
                result = "fail";
                break;
        case ACTION_NONE:
                break;
        }

        log_line("event=%s set=%s getsetid=%s backup_type=%s volumes=%s components=%s result=%s",
                 event_names[e], set_buf, getsetid, backup_type, volumes, comps, result);
        return ret;
}

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        const EventScript *s = &config.events[EVENT_IDENTIFY];
        const char *result = "ok";
        vss_id set_id;
        vss_hr hr;

        log_line("begin=Identify");
        if (s->hang_ms > 0)
                sleep_ms(s->hang_ms);

        for (unsigned i = 0; i < config.n_components; i++) {
                const ComponentSpec *cs = &config.components[i];

                hr = vss_create_writer_metadata_add_component(md, cs->type, cs->logical_path, cs->name,
                                                               cs->name, false, true, true, true, 0);
                if (hr != S_OK) {
                        log_line("identify-error add_component=%s hr=%s", cs->name, vss_hr_name(hr));
                        result = "error";
                }
        }

        if (config.file && config.n_components > 0) {
                const ComponentSpec *cs = &config.components[0];
                uint32_t mask = VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED;

                if (cs->type == VSS_CT_DATABASE)
                        hr = vss_create_writer_metadata_add_database_files(md, cs->logical_path, cs->name,
                                                                            config.file, "*", mask);
                else
                        hr = vss_create_writer_metadata_add_files_to_file_group(md, cs->logical_path, cs->name,
                                                                                 config.file, "*", true, NULL, mask);
                if (hr != S_OK) {
                        log_line("identify-error add_files=%s hr=%s", config.file, vss_hr_name(hr));
                        result = "error";
                }
        }

        if (config.writer_restore >= 0 || config.restore_method >= 0) {
                vss_restore_method method = config.restore_method >= 0 ? (vss_restore_method) config.restore_method :
                                                                          VSS_RME_RESTORE_IF_CAN_REPLACE;
                vss_writer_restore wre = config.writer_restore >= 0 ? (vss_writer_restore) config.writer_restore :
                                                                      VSS_WRE_UNDEFINED;

                hr = vss_create_writer_metadata_set_restore_method(md, method, config.restore_service, NULL, wre,
                                                                    false);
                if (hr != S_OK) {
                        log_line("identify-error writer_restore=%d restore_method=%d hr=%s", config.writer_restore,
                                 (int) method, vss_hr_name(hr));
                        result = "error";
                }
        }

        if (config.alternate_location && config.file && config.n_components > 0) {
                bool recursive = config.components[0].type != VSS_CT_DATABASE;

                hr = vss_create_writer_metadata_add_alternate_location_mapping(md, config.file, "*", recursive,
                                                                               config.alternate_location);
                if (hr != S_OK) {
                        log_line("identify-error alternate_location=%s hr=%s", config.alternate_location,
                                 vss_hr_name(hr));
                        result = "error";
                }
        }

        if (config.have_dependency && config.n_components > 0) {
                const ComponentSpec *cs = &config.components[0];

                hr = vss_create_writer_metadata_add_component_dependency(md, cs->logical_path, cs->name,
                                                                         &config.dependency_class,
                                                                         config.dependency_logical_path,
                                                                         config.dependency_name);
                if (hr != S_OK) {
                        log_line("identify-error dependency=%s hr=%s", config.dependency_name, vss_hr_name(hr));
                        result = "error";
                }
        }

        if (config.schema != 0) {
                hr = vss_create_writer_metadata_set_backup_schema(md, config.schema);
                if (hr != S_OK) {
                        log_line("identify-error schema=0x%x hr=%s", (unsigned) config.schema, vss_hr_name(hr));
                        result = "error";
                }
        }

        if (s->action != ACTION_NONE)
                result = "veto";
        hr = vss_writer_get_current_snapshot_set_id(w, &set_id);
        log_line("event=Identify set=- getsetid=%s backup_type=- volumes=- components=- result=%s",
                 hr == S_OK ? "ok" : vss_hr_name(hr), result);
        return s->action == ACTION_NONE;
}

static bool on_prepare_backup(vss_writer *w, vss_writer_components *c, void *userdata) {
        return handle_event(w, EVENT_PREPARE_BACKUP, c, NULL);
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        return handle_event(w, EVENT_PREPARE_SNAPSHOT, NULL, NULL);
}

static bool on_freeze(vss_writer *w, void *userdata) {
        return handle_event(w, EVENT_FREEZE, NULL, NULL);
}

static bool on_thaw(vss_writer *w, void *userdata) {
        return handle_event(w, EVENT_THAW, NULL, NULL);
}

static bool on_post_snapshot(vss_writer *w, vss_writer_components *c, void *userdata) {
        return handle_event(w, EVENT_POST_SNAPSHOT, c, NULL);
}

static bool on_abort(vss_writer *w, void *userdata) {
        return handle_event(w, EVENT_ABORT, NULL, NULL);
}

static bool on_backup_complete(vss_writer *w, vss_writer_components *c, void *userdata) {
        return handle_event(w, EVENT_BACKUP_COMPLETE, c, NULL);
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *snapshot_set_id, void *userdata) {
        static const vss_id null_id = VSS_ID_NULL;

        return handle_event(w, EVENT_BACKUP_SHUTDOWN, NULL, snapshot_set_id ?: &null_id);
}

static const char *bool_or_name(vss_hr hr, bool b) {
        if (hr != S_OK)
                return vss_hr_name(hr);
        return b ? "1" : "0";
}

/* The restore fields of the first component (the "restore" line), then the restore edits. */
static void handle_restore(vss_writer *w, Event e, vss_writer_components *c) {
        char status[32], target[32], type[32], targets[LINE_MAX_LEN / 2] = "";
        vss_file_restore_status st = VSS_RS_UNDEFINED;
        vss_restore_target rt = VSS_RT_UNDEFINED;
        vss_restore_type rtype = VSS_RTYPE_UNDEFINED;
        const char *options = NULL;
        bool selected = false, additional = false;
        vss_hr hs, ho, ha, hst, ht, hty, hn, hr;
        vss_component *comp = NULL;
        unsigned count = 0, n_targets = 0;

        if (!c || vss_writer_components_get_count(c, &count) != S_OK || count == 0 ||
            vss_writer_components_get_component(c, 0, &comp) != S_OK)
                return;

        hs = vss_component_is_selected_for_restore(comp, &selected);
        ho = vss_component_get_restore_options(comp, &options);
        ha = vss_component_get_additional_restores(comp, &additional);
        hst = vss_component_get_file_restore_status(comp, &st);
        ht = vss_component_get_restore_target(comp, &rt);
        hty = vss_writer_get_restore_type(w, &rtype);
        hn = vss_component_get_new_target_count(comp, &n_targets);
        snprintf(status, sizeof status, "%s", hst == S_OK ? "" : vss_hr_name(hst));
        if (hst == S_OK)
                snprintf(status, sizeof status, "%d", (int) st);
        snprintf(target, sizeof target, "%s", ht == S_OK ? "" : vss_hr_name(ht));
        if (ht == S_OK)
                snprintf(target, sizeof target, "%d", (int) rt);
        snprintf(type, sizeof type, "%s", hty == S_OK ? "" : vss_hr_name(hty));
        if (hty == S_OK)
                snprintf(type, sizeof type, "%d", (int) rtype);
        if (hn != S_OK)
                append(targets, sizeof targets, "%s", vss_hr_name(hn));
        else if (n_targets == 0)
                append(targets, sizeof targets, "-");
        for (unsigned i = 0; hn == S_OK && i < n_targets; i++) {
                const char *path = NULL, *spec = NULL, *alt = NULL;
                bool rec = false;

                if (vss_component_get_new_target(comp, i, &path, &spec, &rec, &alt) == S_OK)
                        append(targets, sizeof targets, "%s%s:%s:%d:%s", i > 0 ? "," : "", path, spec, (int) rec,
                               alt);
        }

        log_line("restore in=%s selected=%s options=%s additional=%s status=%s target=%s type=%s new_targets=%s",
                 event_names[e], bool_or_name(hs, selected), str_or_dash(ho, options), bool_or_name(ha, additional),
                 status, target, type, targets);

        if (e == EVENT_PRE_RESTORE && config.restore_target >= 0) {
                hr = vss_component_set_restore_target(comp, (vss_restore_target) config.restore_target);
                log_line("edit in=%s op=restore-target arg=%d hr=%s", event_names[e], config.restore_target,
                         vss_hr_name(hr));
        }
        if (e == EVENT_PRE_RESTORE && config.restore_metadata) {
                hr = vss_component_set_restore_metadata(comp, config.restore_metadata);
                log_line("edit in=%s op=restore-metadata arg=%s hr=%s", event_names[e], config.restore_metadata,
                         vss_hr_name(hr));
        }
        if (e == EVENT_PRE_RESTORE && config.pre_restore_msg) {
                hr = vss_component_set_pre_restore_failure_msg(comp, config.pre_restore_msg);
                log_line("edit in=%s op=pre-restore-msg arg=%s hr=%s", event_names[e], config.pre_restore_msg,
                         vss_hr_name(hr));
        }
        if (config.post_restore_msg) {
                /* Also tried in PreRestore, where it must be refused. */
                hr = vss_component_set_post_restore_failure_msg(comp, config.post_restore_msg);
                log_line("edit in=%s op=post-restore-msg arg=%s hr=%s", event_names[e], config.post_restore_msg,
                         vss_hr_name(hr));
        }
}

static bool on_pre_restore(vss_writer *w, vss_writer_components *c, void *userdata) {
        handle_restore(w, EVENT_PRE_RESTORE, c);
        return handle_event(w, EVENT_PRE_RESTORE, c, NULL);
}

static bool on_post_restore(vss_writer *w, vss_writer_components *c, void *userdata) {
        handle_restore(w, EVENT_POST_RESTORE, c);
        return handle_event(w, EVENT_POST_RESTORE, c, NULL);
}

static int parse_event(const char *s, size_t len, Event *ret) {
        for (Event e = 0; e < _EVENT_MAX; e++)
                if ((strlen(event_aliases[e]) == len && strncasecmp(s, event_aliases[e], len) == 0) ||
                    (strlen(event_names[e]) == len && strncasecmp(s, event_names[e], len) == 0)) {
                        *ret = e;
                        return 0;
                }
        return -EINVAL;
}

static int parse_u32(const char *s, uint32_t *ret) {
        char *end = NULL;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 0);
        if (errno != 0 || !end || *end != '\0' || end == s || v > UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

/* "EVENT" or "EVENT:CODE" for --veto/--fail; CODE defaults to VSS_E_WRITERERROR_RETRYABLE. */
static int parse_action(const char *arg, Action action) {
        const char *colon = strchr(arg, ':');
        uint32_t code = (uint32_t) VSS_E_WRITERERROR_RETRYABLE;
        Event e;

        if (parse_event(arg, colon ? (size_t) (colon - arg) : strlen(arg), &e) < 0)
                return -EINVAL;
        if (colon && parse_u32(colon + 1, &code) < 0)
                return -EINVAL;
        config.events[e].action = action;
        config.events[e].code = VSS_HRESULT(code);
        return 0;
}

/* "EVENT:MS" for --hang. */
static int parse_hang(const char *arg) {
        const char *colon = strchr(arg, ':');
        uint32_t ms;
        Event e;

        if (!colon || parse_event(arg, (size_t) (colon - arg), &e) < 0 || parse_u32(colon + 1, &ms) < 0)
                return -EINVAL;
        config.events[e].hang_ms = ms;
        return 0;
}

/* "LP:NAME[:db|fg]"; an empty LP is the root. */
static int parse_component(const char *arg) {
        ComponentSpec *cs;
        char *copy, *name, *kind;

        if (config.n_components >= MAX_COMPONENTS)
                return -E2BIG;
        copy = strdup(arg);
        if (!copy)
                return -ENOMEM;
        name = strchr(copy, ':');
        if (!name || name[1] == '\0') {
                free(copy);
                return -EINVAL;
        }
        *name++ = '\0';
        kind = strchr(name, ':');
        if (kind)
                *kind++ = '\0';

        cs = &config.components[config.n_components];
        if (!kind || strcmp(kind, "fg") == 0)
                cs->type = VSS_CT_FILEGROUP;
        else if (strcmp(kind, "db") == 0)
                cs->type = VSS_CT_DATABASE;
        else {
                free(copy);
                return -EINVAL;
        }
        cs->logical_path = strdup(copy);
        cs->name = strdup(name);
        free(copy);
        if (!cs->logical_path || !cs->name)
                return -ENOMEM;
        config.n_components++;
        return 0;
}

/* Split arg at its first n-1 colons into n fields (the last keeps any further colons). */
static int split_fields(const char *arg, char **fields, unsigned n) {
        char *copy = strdup(arg), *p;

        if (!copy)
                return -ENOMEM;
        p = copy;
        for (unsigned i = 0; i < n; i++) {
                char *colon = i + 1 < n ? strchr(p, ':') : NULL;

                if (i + 1 < n && !colon) {
                        for (unsigned j = 0; j < i; j++)
                                free(fields[j]);
                        free(copy);
                        return -EINVAL;
                }
                if (colon)
                        *colon = '\0';
                fields[i] = strdup(p);
                if (colon)
                        p = colon + 1;
        }
        free(copy);
        for (unsigned i = 0; i < n; i++)
                if (!fields[i])
                        return -ENOMEM;
        return 0;
}

/* "PATH:SPEC:REC:TIME" for --differenced; REC 0/1, TIME a FILETIME. */
static int parse_differenced(const char *arg) {
        DifferencedSpec *d;
        char *f[4] = {};
        char *end = NULL;
        int r;

        if (config.n_differenced >= MAX_EDITS)
                return -E2BIG;
        r = split_fields(arg, f, 4);
        if (r < 0)
                return r;
        d = &config.differenced[config.n_differenced];
        d->path = f[0];
        d->filespec = f[1];
        d->recursive = streq(f[2], "1");
        errno = 0;
        d->time = strtoll(f[3], &end, 10);
        r = errno != 0 || !end || *end != '\0' ? -EINVAL : 0;
        free(f[2]);
        free(f[3]);
        if (r < 0)
                return r;
        d->arg = arg;
        config.n_differenced++;
        return 0;
}

/* "PATH:NAME:RANGES" for --partial (RANGES may hold colons: "0:4096"). */
static int parse_partial(const char *arg) {
        PartialSpec *p;
        char *f[3] = {};
        int r;

        if (config.n_partial >= MAX_EDITS)
                return -E2BIG;
        r = split_fields(arg, f, 3);
        if (r < 0)
                return r;
        p = &config.partial[config.n_partial++];
        p->path = f[0];
        p->filename = f[1];
        p->ranges = f[2];
        p->arg = arg;
        return 0;
}

static int parse_no_callback(const char *arg) {
        Event e;

        if (parse_event(arg, strlen(arg), &e) < 0)
                return -EINVAL;
        config.no_callback_events |= 1U << e;
        return 0;
}

static int parse_edit_in(const char *arg) {
        Event e;

        if (parse_event(arg, strlen(arg), &e) < 0)
                return -EINVAL;
        config.edit_events |= 1U << e;
        return 0;
}

static int parse_level(const char *s, vss_application_level *ret) {
        if (strcmp(s, "front") == 0)
                *ret = VSS_APP_FRONT_END;
        else if (strcmp(s, "back") == 0)
                *ret = VSS_APP_BACK_END;
        else if (strcmp(s, "system") == 0)
                *ret = VSS_APP_SYSTEM;
        else
                return -EINVAL;
        return 0;
}

/* "CLASS:LP:NAME" for --dependency (LP may be empty; neither LP nor NAME holds a colon). */
static int parse_dependency(const char *arg) {
        _cleanup_free_ char *copy = strdup(arg);
        char *lp, *name;

        if (!copy)
                return -ENOMEM;
        lp = strchr(copy, ':');
        if (!lp)
                return -EINVAL;
        *lp++ = 0;
        name = strchr(lp, ':');
        if (!name)
                return -EINVAL;
        *name++ = 0;
        if (vss_id_parse(copy, &config.dependency_class) != S_OK)
                return -EINVAL;

        free(config.dependency_logical_path);
        free(config.dependency_name);
        config.dependency_logical_path = strdup(lp);
        config.dependency_name = strdup(name);
        if (!config.dependency_logical_path || !config.dependency_name)
                return -ENOMEM;
        config.have_dependency = true;
        return 0;
}

static int open_log(const char *path) {
        return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static void usage(FILE *f) {
        fprintf(f,
                "usage: vss-test-writer --name N --class UUID [--instance NAME]\n"
                "         [--level front|back|system] [--freeze-timeout MS]\n"
                "         [--component LP:NAME[:db|fg]]... [--file PATH] [--schema MASK]\n"
                "         [--stamp S] [--backup-metadata M] [--differenced PATH:SPEC:REC:TIME]...\n"
                "         [--partial PATH:NAME:RANGES]... [--edit-in EVENT]...\n"
                "         [--restore-target N] [--restore-metadata M] [--pre-restore-msg S]\n"
                "         [--post-restore-msg S] [--writer-restore never|if-replace-fails|always]\n"
                "         [--veto EVENT[:CODE]]... [--fail EVENT[:CODE]]... [--hang EVENT:MS]...\n"
                "         [--restore-method N[:SERVICE]]\n"
                "         [--alternate-location DEST] [--dependency CLASS:LP:NAME]\n"
                "         [--no-callback EVENT]...\n"
                "         [--log FILE] [--shared-log FILE]\n"
                "EVENT: identify prepare-backup prepare-snapshot freeze thaw post-snapshot\n"
                "       abort backup-complete backup-shutdown pre-restore post-restore\n");
}

static int parse_argv(int argc, char **argv) {
        static const struct option options[] = {
                { "name", required_argument, NULL, 'n' },
                { "class", required_argument, NULL, 'c' },
                { "instance", required_argument, NULL, 'i' },
                { "level", required_argument, NULL, 'L' },
                { "freeze-timeout", required_argument, NULL, 't' },
                { "component", required_argument, NULL, 'C' },
                { "file", required_argument, NULL, 'f' },
                { "schema", required_argument, NULL, 'S' },
                { "stamp", required_argument, NULL, 'T' },
                { "backup-metadata", required_argument, NULL, 'M' },
                { "differenced", required_argument, NULL, 'D' },
                { "partial", required_argument, NULL, 'P' },
                { "edit-in", required_argument, NULL, 'E' },
                { "restore-target", required_argument, NULL, 'R' },
                { "restore-metadata", required_argument, NULL, 'm' },
                { "pre-restore-msg", required_argument, NULL, 'p' },
                { "post-restore-msg", required_argument, NULL, 'q' },
                { "writer-restore", required_argument, NULL, 'W' },
                { "restore-method", required_argument, NULL, OPT_RESTORE_METHOD },
                { "alternate-location", required_argument, NULL, OPT_ALTERNATE_LOCATION },
                { "dependency", required_argument, NULL, OPT_DEPENDENCY },
                { "no-callback", required_argument, NULL, OPT_NO_CALLBACK },
                { "veto", required_argument, NULL, 'v' },
                { "fail", required_argument, NULL, 'F' },
                { "hang", required_argument, NULL, 'H' },
                { "log", required_argument, NULL, 'l' },
                { "shared-log", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        bool have_class = false;
        int c, r = 0;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'n':
                        config.name = optarg;
                        break;
                case 'c':
                        if (vss_id_parse(optarg, &config.class_id) != S_OK)
                                r = -EINVAL;
                        have_class = true;
                        break;
                case 'i':
                        config.instance = optarg;
                        break;
                case 'L':
                        r = parse_level(optarg, &config.level);
                        break;
                case 't':
                        r = parse_u32(optarg, &config.freeze_timeout_ms);
                        break;
                case 'C':
                        r = parse_component(optarg);
                        break;
                case 'f':
                        config.file = optarg;
                        break;
                case 'S':
                        r = parse_u32(optarg, &config.schema);
                        break;
                case 'T':
                        config.stamp = optarg;
                        break;
                case 'M':
                        config.backup_metadata = optarg;
                        break;
                case 'D':
                        r = parse_differenced(optarg);
                        break;
                case 'P':
                        r = parse_partial(optarg);
                        break;
                case 'E':
                        r = parse_edit_in(optarg);
                        break;
                case 'R': {
                        uint32_t t;

                        r = parse_u32(optarg, &t);
                        if (r >= 0 && t > 16)
                                r = -EINVAL;
                        config.restore_target = (int) t;
                        break;
                }
                case 'm':
                        config.restore_metadata = optarg;
                        break;
                case 'p':
                        config.pre_restore_msg = optarg;
                        break;
                case 'q':
                        config.post_restore_msg = optarg;
                        break;
                case 'W':
                        if (streq(optarg, "never"))
                                config.writer_restore = VSS_WRE_NEVER;
                        else if (streq(optarg, "if-replace-fails"))
                                config.writer_restore = VSS_WRE_IF_REPLACE_FAILS;
                        else if (streq(optarg, "always"))
                                config.writer_restore = VSS_WRE_ALWAYS;
                        else
                                r = -EINVAL;
                        break;
                case OPT_RESTORE_METHOD: {
                        char *end = NULL;
                        long v;

                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno != 0 || end == optarg || v < 0 || v > VSS_RME_RESTORE_STOP_START ||
                            (*end != 0 && *end != ':'))
                                r = -EINVAL;
                        else {
                                config.restore_method = (int) v;
                                config.restore_service = *end == ':' ? end + 1 : NULL;
                        }
                        break;
                }
                case OPT_ALTERNATE_LOCATION:
                        config.alternate_location = optarg;
                        break;
                case OPT_NO_CALLBACK:
                        r = parse_no_callback(optarg);
                        break;
                case OPT_DEPENDENCY:
                        r = parse_dependency(optarg);
                        break;
                case 'v':
                        r = parse_action(optarg, ACTION_VETO);
                        break;
                case 'F':
                        r = parse_action(optarg, ACTION_FAIL);
                        break;
                case 'H':
                        r = parse_hang(optarg);
                        break;
                case 'l':
                        config.log_fd = open_log(optarg);
                        if (config.log_fd < 0)
                                r = -errno;
                        break;
                case 's':
                        config.shared_log_fd = open_log(optarg);
                        if (config.shared_log_fd < 0)
                                r = -errno;
                        break;
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                default:
                        return -EINVAL;
                }
                if (r < 0) {
                        fprintf(stderr, "vss-test-writer: bad option value '%s': %s\n", optarg, strerror(-r));
                        return r;
                }
        }

        if (optind < argc || !config.name || !have_class) {
                usage(stderr);
                return -EINVAL;
        }
        if (config.n_components == 0)
                return parse_component(":data:fg");
        return 0;
}

int main(int argc, char **argv) {
        vss_writer_callbacks callbacks = {
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
                .on_pre_restore = on_pre_restore,
                .on_post_restore = on_post_restore,
        };
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;
        char id_buf[VSS_ID_STRING_MAX];
        vss_writer *w = NULL;
        vss_id instance_id;
        sigset_t mask;
        int sig = 0;
        vss_hr hr;

        if (parse_argv(argc, argv) < 0)
                return EXIT_FAILURE;

        /* --no-callback: as an application without that handler (libvss then asks vssd not to
         * send the event at all). */
        {
                const unsigned n = config.no_callback_events;

                if (n & (1U << EVENT_PREPARE_BACKUP))
                        callbacks.on_prepare_backup = NULL;
                if (n & (1U << EVENT_PREPARE_SNAPSHOT))
                        callbacks.on_prepare_snapshot = NULL;
                if (n & (1U << EVENT_POST_SNAPSHOT))
                        callbacks.on_post_snapshot = NULL;
                if (n & (1U << EVENT_BACKUP_COMPLETE))
                        callbacks.on_backup_complete = NULL;
                if (n & (1U << EVENT_PRE_RESTORE))
                        callbacks.on_pre_restore = NULL;
                if (n & (1U << EVENT_POST_RESTORE))
                        callbacks.on_post_restore = NULL;
        }

        /* Block the stop signals before libvss starts its threads, so they inherit the mask
         * and only sigwait() below ever sees them. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
                return EXIT_FAILURE;

        opts.writer_id = config.class_id;
        opts.writer_name = config.name;
        opts.instance_name = config.instance;
        opts.level = config.level;
        opts.freeze_timeout_ms = config.freeze_timeout_ms;

        hr = vss_writer_new(&w, &opts, &callbacks, NULL);
        if (hr != S_OK) {
                log_line("subscribe-failed hr=%s step=new", vss_hr_name(hr));
                return 2;
        }

        hr = vss_writer_subscribe(w, VSS_SM_BACKUP_EVENTS_FLAG | VSS_SM_RESTORE_EVENTS_FLAG);
        if (hr != S_OK) {
                log_line("subscribe-failed hr=%s", vss_hr_name(hr));
                vss_writer_free(w);
                return 2;
        }

        hr = vss_writer_get_instance_id(w, &instance_id);
        if (hr != S_OK)
                instance_id = VSS_ID_NULL;
        log_line("subscribed instance=%s", vss_id_format(&instance_id, id_buf));

        (void) sigwait(&mask, &sig);

        vss_writer_free(w);
        log_line("exit signal=%d", sig);
        return EXIT_SUCCESS;
}
