/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * query.c: -q, -qx, -s (list snapshots), -da, -dx, -ds, -do (delete them) and -el (expose
 * one read-only), all through the requester API over every context.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc-util.h"
#include "vshadow.h"

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

/* The same fields as vssadmin list shadows --json (docs/vssadmin.md). */
static void print_snapshot_json(const vss_snapshot_prop *p, bool first) {
        char iso[64] = "";
        int64_t ns = vss_timestamp_to_unix_ns(p->creation_timestamp);
        time_t t = (time_t) (ns / 1000000000LL);
        struct tm tm;
        bool any = false;

        if (p->creation_timestamp != 0 && gmtime_r(&t, &tm))
                (void) strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%s{", first ? "" : ",");
        json_field_string("shadow_id", vss_id_to_str(&p->snapshot_id).s, false);
        json_field_string("set_id", vss_id_to_str(&p->snapshot_set_id).s, false);
        printf("\"set_count\":%" PRId32 ",", p->snapshots_count);
        json_field_string("device", p->snapshot_device_object, false);
        json_field_string("original_volume", p->original_volume_name, false);
        json_field_string("originating_machine", p->originating_machine, false);
        json_field_string("service_machine", p->service_machine, false);
        json_field_string("exposed_path", p->exposed_path, false);
        json_field_string("provider_id", vss_id_to_str(&p->provider_id).s, false);
        printf("\"attributes\":%" PRIu32 ",\"attribute_names\":[", (uint32_t) p->snapshot_attributes);
        for (size_t i = 0; i < ELEMENTSOF(attribute_names); i++)
                if (p->snapshot_attributes & attribute_names[i].bit) {
                        printf("%s", any ? "," : "");
                        json_string(attribute_names[i].name);
                        any = true;
                }
        printf("],\"created\":%" PRId64 ",", (int64_t) p->creation_timestamp);
        json_field_string("created_utc", iso, true);
        putchar('}');
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
                return -tool_step_failed(req, "Query", hr);
        while ((hr = vss_enum_object_next(e, &o)) == S_OK) {
                if (o->type != VSS_OBJECT_SNAPSHOT || !filter(&o->obj.snap, filter_data))
                        continue;
                fn(&o->obj.snap, userdata);
                n++;
        }
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "IVssEnumObject::Next", hr);
        return n;
}

static void print_snapshot_cb(const vss_snapshot_prop *p, void *userdata) {
        unsigned *n = userdata;

        if (arg.json) {
                if (*n == 0)
                        putchar('[');
                print_snapshot_json(p, (*n)++ == 0);
        }
        else
                print_snapshot(p);
}

int query(void) {
        _cleanup_(requester_releasep) vss_requester *req = NULL;
        SnapshotFilter filter = filter_set;
        unsigned n = 0;
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
        r = for_each_snapshot(req, filter, arg.command == COMMAND_QUERY ? NULL : &id, print_snapshot_cb, &n);
        if (arg.json && r >= 0 && (r > 0 || arg.command == COMMAND_QUERY)) {
                printf("%s]\n", r == 0 ? "[" : "");
                return 0;
        }
        if (r < 0)
                return r;
        if (r == 0) {
                if (arg.command == COMMAND_QUERY) {
                        printf("There are no shadow copies on the system.\n");
                        return 0;
                }
                return -tool_vss_error(VSS_E_OBJECT_NOT_FOUND, "no %s {%s}",
                                       arg.command == COMMAND_QUERY_SET ? "snapshot set" : "snapshot",
                                       vss_id_to_str(&id).s);
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

        for (size_t i = 0; i < c->n; i++)
                if (vss_id_equal(&c->ids[i], &p->snapshot_set_id))
                        return;
        if (GREEDY_REALLOC(c->ids, c->n_allocated, c->n + 1) < 0) {
                c->failed = true;
                return;
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

                return -tool_vss_error(hr, "DeleteSnapshots(%s {%s}) failed after deleting %" PRId32 "%s%s",
                                       type == VSS_OBJECT_SNAPSHOT_SET ? "set" : "snapshot", vss_id_to_str(id).s,
                                       deleted, isempty(detail) ? "" : ": ", strempty(detail));
        }
        *deleted_total += deleted;
        return 0;
}

int delete_snapshots(void) {
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
                        return -tool_usage_error("-do=%s: %s", arg.command_arg, strerror(errno));
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
                        r = -tool_vss_error(VSS_E_OBJECT_NOT_FOUND, "volume %s has no snapshot", volume);
                if (r >= 0)
                        r = delete_one(req, &c.oldest, VSS_OBJECT_SNAPSHOT, &deleted);
                break;
        default: /* COMMAND_DELETE_ALL */
                r = for_each_snapshot(req, filter_all, NULL, collect_set, &c);
                if (r >= 0 && c.failed)
                        r = -tool_vss_error(E_OUTOFMEMORY, NULL);
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

int expose_local(void) {
        _cleanup_(requester_releasep) vss_requester *req = NULL;
        _cleanup_free_ char *id_text = NULL, *exposed = NULL;
        const char *dir;
        char *comma;
        vss_id id;
        vss_hr hr;
        int r;

        id_text = strdup(arg.command_arg);
        if (!id_text)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        comma = strchr(id_text, ',');
        if (!comma)
                return -tool_usage_error("-el=SNAPID,DIR: the directory is missing (an empty DIR lets vssd choose)");
        *comma = '\0';
        dir = comma + 1;
        if (!isempty(dir) && dir[0] != '/')
                return -tool_usage_error("-el: the directory must be an absolute path");
        r = parse_id("el", id_text, &id);
        if (r < 0)
                return r;

        r = requester_open(VSS_CTX_ALL, &req);
        if (r < 0)
                return r;
        hr = vss_requester_expose_snapshot(req, &id, isempty(dir) ? NULL : dir, &exposed);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "ExposeSnapshot", hr);
        printf("Shadow copy {%s} exposed at %s\n", vss_id_to_str(&id).s, exposed);
        return 0;
}

