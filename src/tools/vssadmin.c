/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vssadmin.c: the administrator's command line for vssd, after Windows' vssadmin: list the
 * writers (with the state of their latest backup), the providers, the mounted volumes (with
 * the provider that takes each, or why none does) and the shadow copies (snapshots), create,
 * delete, expose and unexpose shadow copies.
 *
 * Every verb but "create" is one call on vssd's org.vsslinux.VSS1.Admin interface over a raw
 * sd-bus connection. "create shadow" is a whole backup sequence through libvss's requester
 * API, so writers see exactly what a backup application would make them see. Like Windows'
 * `vssadmin create shadow`, it makes a persistent, client-accessible copy that outlives this
 * process (an auto-release one would vanish when vssadmin exits).
 *
 * Output: readable text by default, one JSON array with --json for the list verbs. Errors:
 * "vssadmin: <VSS_E_NAME>: <message>: <detail>" on stderr. Exit codes: 0 success, 1 usage,
 * 2 a VSS error, 3 vssd unreachable.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin-client.h"
#include "config.h"
#include "macro.h"
#include "tool.h"
#include "vss-bus.h"
#include "vss/vss.h"


static const char *arg_socket;
static bool arg_json;
static const char *arg_set;
static const char *arg_shadow;
static const char *arg_for;
static const char *arg_path;
static const char *arg_provider;
static bool arg_oldest;
static bool arg_all;
static bool arg_persistent;
static bool arg_no_writers;
static bool arg_quiet;

static void help(void) {
        printf("vssadmin [OPTIONS...] COMMAND\n\n"
               "Administer the Volume Shadow Copy Service (vssd).\n\n"
               "Commands:\n"
               "  list writers [--json]              Subscribed writers and their latest backup state\n"
               "  list providers [--json]            Snapshot providers\n"
               "  list shadows [--set ID] [--json]   Shadow copies (all contexts)\n"
               "  list volumes [--json]              Mounted filesystems and the provider that takes each\n"
               "  create shadow --for PATH [--provider NAME|ID] [--persistent] [--no-writers]\n"
               "                                     Make a persistent shadow copy of a volume\n"
               "  delete shadows --shadow ID | --set ID | --for PATH --oldest | --all [--quiet]\n"
               "                                     Delete shadow copies\n"
               "  expose --shadow ID [--path DIR]    Mount a shadow copy read-only\n"
               "  unexpose --shadow ID               Unmount it again\n\n"
               "Options:\n"
               "  -h --help        Show this help\n"
               "     --version     Show the version\n"
               "     --socket PATH vssd's socket (default: $VSS_SOCKET, else %s)\n"
               "     --json        Print lists as JSON\n\n"
               "create shadow contexts (all persistent: kept until deleted, across vssd restarts):\n"
               "  (default)                  VSS_CTX_CLIENT_ACCESSIBLE_WRITERS, as Windows' vssadmin\n"
               "  --no-writers               VSS_CTX_CLIENT_ACCESSIBLE\n"
               "  --persistent               VSS_CTX_APP_ROLLBACK (diskshadow's \"persistent\")\n"
               "  --persistent --no-writers  VSS_CTX_NAS_ROLLBACK\n\n"
               "Exit status: 0 success, 1 usage error, 2 VSS error (the code is printed),\n"
               "3 vssd is not running (docs/exit-codes.md).\n",
               VSS_DEFAULT_SOCKET);
}

/* ------------------------------------------------------------------------------------------ */
/* Output helpers                                                                              */
/* ------------------------------------------------------------------------------------------ */

static void format_time(vss_timestamp ts, bool iso, char *buf, size_t size) {
        int64_t ns = vss_timestamp_to_unix_ns(ts);
        time_t t = (time_t) (ns / 1000000000LL);
        struct tm tm;

        if (ts == 0 || !(iso ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)) ||
            strftime(buf, size, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, size, "%s", iso ? "" : "unknown");
}

static const char *provider_type_name(uint32_t t) {
        switch (t) {
        case VSS_PROV_SYSTEM:
                return "System";
        case VSS_PROV_SOFTWARE:
                return "Software";
        case VSS_PROV_HARDWARE:
                return "Hardware";
        case VSS_PROV_FILESHARE:
                return "FileShare";
        default:
                return "Unknown";
        }
}

/* The snapshot's context, from the context bits its attributes carry. */
static const char *shadow_type_name(uint32_t attributes) {
        switch (attributes & (VSS_VOLSNAP_ATTR_PERSISTENT | VSS_VOLSNAP_ATTR_CLIENT_ACCESSIBLE |
                              VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE | VSS_VOLSNAP_ATTR_NO_WRITERS)) {
        case VSS_CTX_BACKUP:
                return "Backup";
        case VSS_CTX_FILE_SHARE_BACKUP:
                return "FileShareBackup";
        case VSS_CTX_NAS_ROLLBACK:
                return "DataVolumeRollback";
        case VSS_CTX_APP_ROLLBACK:
                return "ApplicationRollback";
        case VSS_CTX_CLIENT_ACCESSIBLE:
                return "ClientAccessible";
        case VSS_CTX_CLIENT_ACCESSIBLE_WRITERS:
                return "ClientAccessibleWriters";
        default:
                return "Unknown";
        }
}

static const struct {
        uint32_t bit;
        const char *name;
} attribute_names[] = {
        { VSS_VOLSNAP_ATTR_PERSISTENT, "Persistent" },
        { VSS_VOLSNAP_ATTR_NO_AUTORECOVERY, "No auto-recovery" },
        { VSS_VOLSNAP_ATTR_CLIENT_ACCESSIBLE, "Client-accessible" },
        { VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE, "No auto release" },
        { VSS_VOLSNAP_ATTR_NO_WRITERS, "No writers" },
        { VSS_VOLSNAP_ATTR_TRANSPORTABLE, "Transportable" },
        { VSS_VOLSNAP_ATTR_DIFFERENTIAL, "Differential" },
        { VSS_VOLSNAP_ATTR_PLEX, "Plex" },
        { VSS_VOLSNAP_ATTR_EXPOSED_LOCALLY, "Exposed locally" },
        { VSS_VOLSNAP_ATTR_EXPOSED_REMOTELY, "Exposed remotely" },
};

/* ------------------------------------------------------------------------------------------ */
/* The Admin interface                                                                         */
/* ------------------------------------------------------------------------------------------ */

/* Every list verb reads one array of sig elements from its reply: enters it and, with --json,
 * opens the array printed. */
static int list_enter(sd_bus_message *reply, const char *sig) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', sig);
        if (r < 0)
                return admin_bad_reply(r);
        if (arg_json)
                putchar('[');
        return 0;
}

/* Ends a list verb after its last read (r: that read's result) of n elements: closes the JSON
 * array, or says none_text when there were none. */
static int list_end(int r, unsigned n, const char *none_text) {
        if (r < 0)
                return admin_bad_reply(r);
        if (arg_json)
                puts("]");
        else if (n == 0)
                puts(none_text);
        return 0;
}

static int list_writers(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        ToolWriterStatus w = {};
        unsigned n = 0;
        int r;

        r = admin_call(bus, "ListWriters", &reply, NULL);
        if (r < 0)
                return r;
        r = list_enter(reply, VSS_BUS_SIG_WRITER_INFO);
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, VSS_BUS_SIG_WRITER_INFO, &w.writer_id, &w.instance_id, &w.name,
                                        &w.state, &w.last_error, &w.instance_name)) > 0) {
                tool_writer_status_print(&w, arg_json ? TOOL_WRITER_JSON : TOOL_WRITER_VSSADMIN, n == 0);
                n++;
        }
        return list_end(r, n, "No writers are subscribed.");
}

static int list_providers(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *id, *name, *version;
        uint32_t type;
        unsigned n = 0;
        int r;

        r = admin_call(bus, "ListProviders", &reply, NULL);
        if (r < 0)
                return r;
        r = list_enter(reply, VSS_BUS_SIG_PROVIDER);
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, VSS_BUS_SIG_PROVIDER, &id, &name, &type, &version)) > 0) {
                if (arg_json) {
                        printf("%s{", n > 0 ? "," : "");
                        json_field_string("provider_id", id, false);
                        json_field_string("name", name, false);
                        printf("\"type\":%" PRIu32 ",", type);
                        json_field_string("type_name", provider_type_name(type), false);
                        json_field_string("version", version, true);
                        putchar('}');
                } else {
                        printf("Provider name: '%s'\n", name);
                        printf("   Provider type: %s\n", provider_type_name(type));
                        printf("   Provider Id: {%s}\n", id);
                        printf("   Version: %s\n\n", version);
                }
                n++;
        }
        return list_end(r, n, "No providers are registered.");
}

/* One ListVolumes element (docs/dbus-api.md): mount point, fstype, source, provider id,
 * provider name, volume, why none. */
#define ADMIN_SIG_VOLUME "(sssssss)"

static int list_volumes(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *mnt, *fstype, *source, *id, *name, *volume, *why;
        unsigned n = 0;
        int r;

        r = admin_call(bus, "ListVolumes", &reply, NULL);
        if (r < 0)
                return r;
        r = list_enter(reply, ADMIN_SIG_VOLUME);
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, ADMIN_SIG_VOLUME, &mnt, &fstype, &source, &id, &name, &volume,
                                        &why)) > 0) {
                if (arg_json) {
                        printf("%s{", n > 0 ? "," : "");
                        json_field_string("mount_point", mnt, false);
                        json_field_string("fstype", fstype, false);
                        json_field_string("source", source, false);
                        if (isempty(id))
                                fputs("\"provider_id\":null,\"provider\":null,\"volume\":null,", stdout);
                        else {
                                json_field_string("provider_id", id, false);
                                json_field_string("provider", name, false);
                                json_field_string("volume", volume, false);
                        }
                        if (isempty(id))
                                json_field_string("why", why, true);
                        else
                                fputs("\"why\":null", stdout);
                        putchar('}');
                } else {
                        printf("Volume path: %s\n", mnt);
                        printf("   Filesystem: %s on %s\n", fstype, source);
                        if (isempty(id))
                                printf("   Provider: none: %s\n\n", why);
                        else {
                                printf("   Provider: '%s' {%s}\n", name, id);
                                printf("   Shadow copies of: %s\n\n", volume);
                        }
                }
                n++;
        }
        return list_end(r, n, "No filesystems are mounted.");
}

/* One ListShadows element: SNAPPROP and the presence word (docs/dbus-api.md). */
#define ADMIN_SIG_SHADOW "(" VSS_BUS_SIG_SNAPPROP "s)"

typedef struct Shadow {
        const char *id, *set_id, *device, *volume, *origin, *service, *exposed_name, *exposed_path, *provider;
        const char *presence;   /* "present", "missing", "unknown" */
        int32_t count;
        uint32_t attributes, state;
        int64_t created;
} Shadow;

/* Reads one element; 0 at the end of the array. */
static int shadow_read(sd_bus_message *m, Shadow *s) {
        int r;

        r = sd_bus_message_enter_container(m, 'r', VSS_BUS_SIG_SNAPPROP "s");
        if (r <= 0)
                return r;
        r = sd_bus_message_read(m, VSS_BUS_SIG_SNAPPROP, &s->id, &s->set_id, &s->count, &s->device, &s->volume,
                                &s->origin, &s->service, &s->exposed_name, &s->exposed_path, &s->provider,
                                &s->attributes, &s->created, &s->state);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &s->presence);
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        return r < 0 ? r : 1;
}

/* The text form of a presence word. */
static const char *presence_text(const char *presence) {
        if (streq(presence, "present"))
                return "present";
        if (streq(presence, "missing"))
                return "MISSING (its copy was deleted outside vssd)";
        return "unknown (the provider cannot tell)";
}

static void shadow_print_json(const Shadow *s, bool first) {
        char iso[64];
        bool any = false;

        format_time(s->created, true, iso, sizeof(iso));
        printf("%s{", first ? "" : ",");
        json_field_string("shadow_id", s->id, false);
        json_field_string("set_id", s->set_id, false);
        printf("\"set_count\":%" PRId32 ",", s->count);
        json_field_string("device", s->device, false);
        json_field_string("original_volume", s->volume, false);
        json_field_string("originating_machine", s->origin, false);
        json_field_string("service_machine", s->service, false);
        json_field_string("exposed_name", s->exposed_name, false);
        json_field_string("exposed_path", s->exposed_path, false);
        json_field_string("provider_id", s->provider, false);
        json_field_string("type", shadow_type_name(s->attributes), false);
        printf("\"attributes\":%" PRIu32 ",\"attribute_names\":[", s->attributes);
        for (size_t i = 0; i < ELEMENTSOF(attribute_names); i++)
                if (s->attributes & attribute_names[i].bit) {
                        printf("%s", any ? "," : "");
                        json_string(attribute_names[i].name);
                        any = true;
                }
        printf("],\"created\":%" PRId64 ",", s->created);
        json_field_string("created_utc", iso, false);
        printf("\"snapshot_state\":%" PRIu32 ",", s->state);
        json_field_string("state", s->presence, true);
        putchar('}');
}

static void shadow_print_text(const Shadow *s, const char *previous_set) {
        char when[64];
        bool any = false;

        format_time(s->created, false, when, sizeof(when));
        if (!previous_set || !streq(previous_set, s->set_id)) {
                printf("Contents of shadow copy set ID: {%s}\n", s->set_id);
                printf("   Contained %" PRId32 " shadow cop%s at creation time: %s\n", s->count,
                       s->count == 1 ? "y" : "ies", when);
        }
        printf("      Shadow Copy ID: {%s}\n", s->id);
        printf("         Original Volume: %s\n", s->volume);
        printf("         Shadow Copy Volume: %s\n", s->device);
        printf("         Originating Machine: %s\n", s->origin);
        printf("         Service Machine: %s\n", s->service);
        if (!isempty(s->exposed_name))
                printf("         Exposed At: %s\n", s->exposed_name);
        printf("         Provider Id: {%s}\n", s->provider);
        printf("         State: %s\n", presence_text(s->presence));
        printf("         Type: %s\n", shadow_type_name(s->attributes));
        printf("         Attributes: ");
        for (size_t i = 0; i < ELEMENTSOF(attribute_names); i++)
                if (s->attributes & attribute_names[i].bit) {
                        printf("%s%s", any ? ", " : "", attribute_names[i].name);
                        any = true;
                }
        printf("%s\n\n", any ? "" : "none");
}

static int list_shadows(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *previous = NULL;
        unsigned n = 0;
        Shadow s;
        int r;

        r = admin_call(bus, "ListShadows", &reply, "s", strempty(arg_set));
        if (r < 0)
                return r;
        r = list_enter(reply, ADMIN_SIG_SHADOW);
        if (r < 0)
                return r;
        while ((r = shadow_read(reply, &s)) > 0) {
                if (arg_json)
                        shadow_print_json(&s, n == 0);
                else {
                        shadow_print_text(&s, previous);
                        free(previous);
                        previous = strdup(s.set_id);
                }
                n++;
        }
        return list_end(r, n, "No items found that satisfy the query.");
}

static int delete_shadows(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *mode, *arg;
        int32_t deleted;
        int r;

        if (arg_shadow)
                mode = "shadow", arg = arg_shadow;
        else if (arg_set)
                mode = "set", arg = arg_set;
        else if (arg_all)
                mode = "all", arg = "";
        else
                mode = "oldest-for", arg = arg_for;

        r = admin_call(bus, "DeleteShadows", &reply, "ss", mode, arg);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "i", &deleted);
        if (r < 0)
                return admin_bad_reply(r);
        if (!arg_quiet)
                printf("Successfully deleted %" PRId32 " shadow cop%s.\n", deleted, deleted == 1 ? "y" : "ies");
        return 0;
}

static int expose(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        r = admin_call(bus, "ExposeShadow", &reply, "ss", arg_shadow, strempty(arg_path));
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &path);
        if (r < 0)
                return admin_bad_reply(r);
        printf("Shadow copy {%s} exposed at %s\n", arg_shadow, path);
        return 0;
}

static int unexpose(sd_bus *bus) {
        int r;

        r = admin_call(bus, "UnexposeShadow", NULL, "s", arg_shadow);
        if (r < 0)
                return r;
        printf("Shadow copy {%s} is no longer exposed.\n", arg_shadow);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* create shadow: a backup sequence through libvss                                             */
/* ------------------------------------------------------------------------------------------ */

/* The provider id for a name or id given on the command line. */
static int resolve_provider(const char *name, vss_id *ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *id, *pname, *version;
        uint32_t type;
        int r;

        if (vss_id_parse(name, ret) == S_OK)
                return 0;

        r = admin_connect(arg_socket, &bus);
        if (r < 0)
                return r;
        r = admin_call(bus, "ListProviders", &reply, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', VSS_BUS_SIG_PROVIDER);
        if (r < 0)
                return admin_bad_reply(r);
        while ((r = sd_bus_message_read(reply, VSS_BUS_SIG_PROVIDER, &id, &pname, &type, &version)) > 0)
                if (streq(pname, name) && vss_id_parse(id, ret) == S_OK)
                        return 0;
        if (r < 0)
                return admin_bad_reply(r);

        return -tool_vss_error(VSS_E_PROVIDER_NOT_REGISTERED, "%s", name);
}

static int create_shadow(void) {
        vss_snapshot_context context;
        vss_requester *req = NULL;
        vss_snapshot_prop prop = {};
        vss_id provider = VSS_ID_NULL, set_id, snapshot_id;
        const char *step;
        bool writers;
        vss_hr hr;
        int r;

        if (arg_provider) {
                r = resolve_provider(arg_provider, &provider);
                if (r < 0)
                        return r;
        }

        if (arg_persistent)
                context = arg_no_writers ? VSS_CTX_NAS_ROLLBACK : VSS_CTX_APP_ROLLBACK;
        else
                context = arg_no_writers ? VSS_CTX_CLIENT_ACCESSIBLE : VSS_CTX_CLIENT_ACCESSIBLE_WRITERS;
        writers = !(context & VSS_VOLSNAP_ATTR_NO_WRITERS);

        r = tool_requester_new(arg_socket, &req);
        if (r < 0)
                return r;

        step = "InitializeForBackup";
        hr = vss_requester_initialize_for_backup(req, NULL);
        if (VSS_SUCCEEDED(hr)) {
                step = "SetContext";
                hr = vss_requester_set_context(req, context);
        }
        if (VSS_SUCCEEDED(hr) && writers) {
                /* A copy backup: writers must not treat it as their backup of record (no log
                 * truncation), since nobody reads it out and keeps it. */
                step = "SetBackupState";
                hr = vss_requester_set_backup_state(req, false, false, VSS_BT_COPY, false);
                if (VSS_SUCCEEDED(hr)) {
                        step = "GatherWriterMetadata";
                        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_metadata, req);
                }
        }
        if (VSS_SUCCEEDED(hr)) {
                step = "StartSnapshotSet";
                hr = vss_requester_start_snapshot_set(req, &set_id);
        }
        if (VSS_SUCCEEDED(hr)) {
                step = "AddToSnapshotSet";
                hr = vss_requester_add_to_snapshot_set(req, arg_for, &provider, &snapshot_id);
        }
        if (VSS_SUCCEEDED(hr) && writers) {
                step = "PrepareForBackup";
                hr = TOOL_RUN_ASYNC(vss_requester_prepare_for_backup, req);
        }
        if (VSS_SUCCEEDED(hr)) {
                step = "DoSnapshotSet";
                hr = TOOL_RUN_ASYNC(vss_requester_do_snapshot_set, req);
        }
        if (VSS_SUCCEEDED(hr) && writers) {
                step = "BackupComplete";
                hr = TOOL_RUN_ASYNC(vss_requester_backup_complete, req);
        }
        if (VSS_SUCCEEDED(hr)) {
                step = "GetSnapshotProperties";
                hr = vss_requester_get_snapshot_properties(req, &snapshot_id, &prop);
        }

        if (VSS_FAILED(hr)) {
                r = -tool_step_failed(req, step, hr);
                vss_requester_release(req);
                return r;
        }

        printf("Successfully created shadow copy for '%s'\n", arg_for);
        printf("    Shadow Copy ID: {%s}\n", vss_id_to_str(&snapshot_id).s);
        printf("    Shadow Copy Set ID: {%s}\n", vss_id_to_str(&set_id).s);
        printf("    Shadow Copy Volume Name: %s\n", strempty(prop.snapshot_device_object));
        vss_snapshot_prop_free(&prop);
        vss_requester_release(req);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Command line                                                                                */
/* ------------------------------------------------------------------------------------------ */

typedef enum Verb {
        VERB_LIST_WRITERS,
        VERB_LIST_PROVIDERS,
        VERB_LIST_VOLUMES,
        VERB_LIST_SHADOWS,
        VERB_CREATE_SHADOW,
        VERB_DELETE_SHADOWS,
        VERB_EXPOSE,
        VERB_UNEXPOSE,
} Verb;

/* Returns 1 to run verb, 0 to exit successfully (help, version), -TOOL_EXIT_USAGE on bad usage. */
static int parse_argv(int argc, char *argv[], Verb *ret) {
        enum {
                ARG_VERSION = 0x100,
                ARG_SOCKET,
                ARG_JSON,
                ARG_SET,
                ARG_SHADOW,
                ARG_FOR,
                ARG_PATH,
                ARG_PROVIDER,
                ARG_OLDEST,
                ARG_ALL,
                ARG_PERSISTENT,
                ARG_NO_WRITERS,
                ARG_QUIET,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "json", no_argument, NULL, ARG_JSON },
                { "set", required_argument, NULL, ARG_SET },
                { "shadow", required_argument, NULL, ARG_SHADOW },
                { "for", required_argument, NULL, ARG_FOR },
                { "path", required_argument, NULL, ARG_PATH },
                { "provider", required_argument, NULL, ARG_PROVIDER },
                { "oldest", no_argument, NULL, ARG_OLDEST },
                { "all", no_argument, NULL, ARG_ALL },
                { "persistent", no_argument, NULL, ARG_PERSISTENT },
                { "no-writers", no_argument, NULL, ARG_NO_WRITERS },
                { "quiet", no_argument, NULL, ARG_QUIET },
                {}
        };
        const char *w1, *w2 = NULL;
        unsigned selectors;
        int opt;
        Verb verb;

        /* Options may come before or after the command words. */
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vssadmin %s\n", VSS_VERSION);
                        return 0;
                case ARG_SOCKET:
                        arg_socket = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_SET:
                        arg_set = optarg;
                        break;
                case ARG_SHADOW:
                        arg_shadow = optarg;
                        break;
                case ARG_FOR:
                        arg_for = optarg;
                        break;
                case ARG_PATH:
                        arg_path = optarg;
                        break;
                case ARG_PROVIDER:
                        arg_provider = optarg;
                        break;
                case ARG_OLDEST:
                        arg_oldest = true;
                        break;
                case ARG_ALL:
                        arg_all = true;
                        break;
                case ARG_PERSISTENT:
                        arg_persistent = true;
                        break;
                case ARG_NO_WRITERS:
                        arg_no_writers = true;
                        break;
                case ARG_QUIET:
                        arg_quiet = true;
                        break;
                default:
                        return -tool_usage_error("unknown option");
                }

        if (optind >= argc)
                return -tool_usage_error("a command is needed");
        w1 = argv[optind];
        if (optind + 1 < argc)
                w2 = argv[optind + 1];

        if (streq(w1, "list") && w2 && streq(w2, "writers"))
                verb = VERB_LIST_WRITERS;
        else if (streq(w1, "list") && w2 && streq(w2, "providers"))
                verb = VERB_LIST_PROVIDERS;
        else if (streq(w1, "list") && w2 && streq(w2, "volumes"))
                verb = VERB_LIST_VOLUMES;
        else if (streq(w1, "list") && w2 && streq(w2, "shadows"))
                verb = VERB_LIST_SHADOWS;
        else if (streq(w1, "create") && w2 && streq(w2, "shadow"))
                verb = VERB_CREATE_SHADOW;
        else if (streq(w1, "delete") && w2 && streq(w2, "shadows"))
                verb = VERB_DELETE_SHADOWS;
        else if (streq(w1, "expose")) {
                verb = VERB_EXPOSE;
                w2 = NULL;
        } else if (streq(w1, "unexpose")) {
                verb = VERB_UNEXPOSE;
                w2 = NULL;
        } else
                return -tool_usage_error("unknown command \"%s%s%s\"", w1, w2 ? " " : "", strempty(w2));
        if (optind + (w2 ? 2 : 1) < argc)
                return -tool_usage_error("unexpected argument \"%s\"", argv[optind + (w2 ? 2 : 1)]);

        if (arg_json && verb != VERB_LIST_WRITERS && verb != VERB_LIST_PROVIDERS && verb != VERB_LIST_SHADOWS &&
            verb != VERB_LIST_VOLUMES)
                return -tool_usage_error("--json is for the list commands");

        switch (verb) {
        case VERB_LIST_SHADOWS:
                if (arg_set && vss_id_parse(arg_set, &(vss_id) {}) != S_OK)
                        return -tool_usage_error("--set needs a shadow copy set id");
                break;
        case VERB_CREATE_SHADOW:
                if (isempty(arg_for) || arg_for[0] != '/')
                        return -tool_usage_error("create shadow needs --for with an absolute path");
                break;
        case VERB_DELETE_SHADOWS:
                selectors = !!arg_shadow + !!arg_set + !!arg_all + !!arg_for;
                if (selectors != 1 || (arg_for && !arg_oldest) || (arg_oldest && !arg_for))
                        return -tool_usage_error("delete shadows needs exactly one of --shadow ID, --set ID, "
                                                 "--for PATH --oldest, --all");
                if (arg_for && arg_for[0] != '/')
                        return -tool_usage_error("--for needs an absolute path");
                break;
        case VERB_EXPOSE:
        case VERB_UNEXPOSE:
                if (!arg_shadow)
                        return -tool_usage_error("%s needs --shadow ID", w1);
                if (verb == VERB_UNEXPOSE && arg_path)
                        return -tool_usage_error("unexpose takes no --path");
                if (arg_path && arg_path[0] != '/')
                        return -tool_usage_error("--path needs an absolute path");
                break;
        default:
                break;
        }

        *ret = verb;
        return 1;
}

static int run(Verb verb) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (verb == VERB_CREATE_SHADOW)
                return create_shadow();

        r = admin_connect(arg_socket, &bus);
        if (r < 0)
                return r;

        switch (verb) {
        case VERB_LIST_WRITERS:
                return list_writers(bus);
        case VERB_LIST_PROVIDERS:
                return list_providers(bus);
        case VERB_LIST_VOLUMES:
                return list_volumes(bus);
        case VERB_LIST_SHADOWS:
                return list_shadows(bus);
        case VERB_DELETE_SHADOWS:
                return delete_shadows(bus);
        case VERB_EXPOSE:
                return expose(bus);
        case VERB_UNEXPOSE:
                return unexpose(bus);
        default:
                return -TOOL_EXIT_USAGE;
        }
}

int main(int argc, char *argv[]) {
        Verb verb = VERB_LIST_WRITERS;
        int r;

        r = parse_argv(argc, argv, &verb);
        if (r <= 0)
                return -r;
        r = run(verb);
        if (fflush(stdout) != 0 && r == 0)
                return TOOL_EXIT_VSS;
        return -r;
}
