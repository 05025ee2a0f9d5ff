/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * event-context.c: the a{sv} context dictionary that comes with every writer event.
 *
 * vssd describes each event with a small dictionary (docs/dbus-api.md, "Context keys"): the
 * backup and snapshot set ids, the context, the backup state, the volumes of the set, the
 * writer's selected components and its slice of the Backup Components Document. This file turns it into an EventContext the helpers can
 * answer from. Known keys must have their documented type; every size is bounded by the
 * limits of vss-bus.h, so a confused or hostile peer cannot make the writer hold unbounded
 * memory. Unknown keys are skipped so vssd can grow the dictionary.
 */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "vss-bus.h"
#include "writer-internal.h"
#include "xml-util.h"

static bool string_ok(const char *s) {
        return strnlen(s, VSS_MAX_STRING + 1) <= VSS_MAX_STRING;
}

static void event_components_free(EventComponent *list, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(list[i].logical_path);
                free(list[i].name);
        }
        free(list);
}

static void strv_free_n(char **v) {
        if (!v)
                return;
        for (char **i = v; *i; i++)
                free(*i);
        free(v);
}

void event_context_done(EventContext *c) {
        if (!c)
                return;
        free(c->backup_id);
        strv_free_n(c->volumes);
        event_components_free(c->components, c->n_components);
        free(c->components_xml);
        *c = (EventContext) {};
}

/* Read a variant holding one basic value of type (contents is its one-letter signature). */
static int read_variant_basic(sd_bus_message *m, char type, void *p) {
        const char contents[2] = { type, 0 };
        int k;

        k = sd_bus_message_enter_container(m, 'v', contents);
        if (k < 0)
                return k == -ENXIO ? -EBADMSG : k;
        k = sd_bus_message_read_basic(m, type, p);
        if (k < 0)
                return k;
        if (k == 0)
                return -EBADMSG;
        return sd_bus_message_exit_container(m);
}

static int read_volumes(sd_bus_message *m, EventContext *c) {
        char **v = NULL;
        size_t n = 0;
        int k;

        k = sd_bus_message_enter_container(m, 'v', "as");
        if (k < 0)
                return k == -ENXIO ? -EBADMSG : k;
        k = sd_bus_message_read_strv(m, &v);
        if (k < 0)
                return k;
        k = sd_bus_message_exit_container(m);
        if (k < 0) {
                strv_free_n(v);
                return k;
        }

        if (!v) {
                /* An empty array reads as NULL; keep a valid empty list. */
                v = calloc(1, sizeof(char *));
                if (!v)
                        return -ENOMEM;
        }
        for (; v[n]; n++)
                if (n >= VSS_MAX_VOLUMES_PER_SET || !string_ok(v[n])) {
                        strv_free_n(v);
                        return -EBADMSG;
                }

        strv_free_n(c->volumes);
        c->volumes = v;
        c->n_volumes = n;
        c->has_volumes = true;
        return 0;
}

static int read_components(sd_bus_message *m, EventContext *c) {
        EventComponent *list = NULL;
        size_t n = 0;
        int k;

        k = sd_bus_message_enter_container(m, 'v', "a" VSS_BUS_SIG_EVENT_COMP);
        if (k < 0)
                return k == -ENXIO ? -EBADMSG : k;
        k = sd_bus_message_enter_container(m, 'a', VSS_BUS_SIG_EVENT_COMP);
        if (k < 0)
                return k;

        for (;;) {
                const char *path, *name, *caption;
                uint32_t type;
                int succeeded;
                EventComponent *bigger;

                k = sd_bus_message_read(m, VSS_BUS_SIG_EVENT_COMP, &type, &path, &name, &caption, &succeeded);
                if (k < 0)
                        goto fail;
                if (k == 0)
                        break;
                if (n >= VSS_MAX_COMPONENTS || !string_ok(path) || !string_ok(name) || isempty(name) ||
                    (type != VSS_CT_DATABASE && type != VSS_CT_FILEGROUP)) {
                        k = -EBADMSG;
                        goto fail;
                }

                bigger = realloc(list, (n + 1) * sizeof(*list));
                if (!bigger) {
                        k = -ENOMEM;
                        goto fail;
                }
                list = bigger;
                list[n] = (EventComponent) {
                        .type = (vss_component_type) type,
                        .logical_path = strdup(path),
                        .name = strdup(name),
                        .backup_succeeded = succeeded,
                };
                n++;
                if (!list[n - 1].logical_path || !list[n - 1].name) {
                        k = -ENOMEM;
                        goto fail;
                }
        }

        k = sd_bus_message_exit_container(m);
        if (k >= 0)
                k = sd_bus_message_exit_container(m);
        if (k < 0)
                goto fail;

        event_components_free(c->components, c->n_components);
        c->components = list;
        c->n_components = n;
        c->has_components = true;
        return 0;

fail:
        event_components_free(list, n);
        return k;
}

static int read_id(sd_bus_message *m, vss_id *ret) {
        const char *s;
        int k;

        k = read_variant_basic(m, 's', &s);
        if (k < 0)
                return k;
        return vss_id_from_bus(s, ret) == S_OK ? 0 : -EBADMSG;
}

static int read_bool(sd_bus_message *m, bool *ret) {
        int b, k;

        k = read_variant_basic(m, 'b', &b);
        if (k < 0)
                return k;
        *ret = b;
        return 0;
}

/* Read the value of one dictionary entry into c. */
static int read_entry(sd_bus_message *m, const char *key, EventContext *c) {
        const char *s;
        uint32_t u;
        int k;

        if (streq(key, "backup_id")) {
                char *copy;

                k = read_variant_basic(m, 's', &s);
                if (k < 0)
                        return k;
                if (!string_ok(s))
                        return -EBADMSG;
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
                free(c->backup_id);
                c->backup_id = copy;
                return 0;
        }
        if (streq(key, "snapshot_set_id")) {
                k = read_id(m, &c->snapshot_set_id);
                if (k >= 0)
                        c->has_snapshot_set_id = true;
                return k;
        }
        if (streq(key, "context")) {
                k = read_variant_basic(m, 'u', &c->context);
                if (k >= 0)
                        c->has_context = true;
                return k;
        }
        if (streq(key, "backup_type")) {
                k = read_variant_basic(m, 'u', &u);
                if (k < 0)
                        return k;
                if (u > VSS_BT_OTHER)
                        return -EBADMSG;
                c->backup_type = (vss_backup_type) u;
                c->has_backup_type = true;
                return 0;
        }
        if (streq(key, "select_components")) {
                k = read_bool(m, &c->select_components);
                if (k >= 0)
                        c->has_select_components = true;
                return k;
        }
        if (streq(key, "bootable_system_state"))
                return read_bool(m, &c->bootable_system_state);
        if (streq(key, "partial_file_support"))
                return read_bool(m, &c->partial_file_support);
        if (streq(key, "volumes"))
                return read_volumes(m, c);
        if (streq(key, "components"))
                return read_components(m, c);
        if (streq(key, "components_xml")) {
                char *copy;

                k = read_variant_basic(m, 's', &s);
                if (k < 0)
                        return k;
                /* Parsed later, on the callback thread, by the hardened loader. */
                if (strnlen(s, XML_MAX_DOCUMENT_SIZE + 1) > XML_MAX_DOCUMENT_SIZE)
                        return -EBADMSG;
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
                free(c->components_xml);
                c->components_xml = copy;
                return 0;
        }

        return sd_bus_message_skip(m, "v");
}

int event_context_read(sd_bus_message *m, EventContext *ret) {
        EventContext c = {};
        int k;

        assert(m);
        assert(ret);

        k = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (k < 0)
                return k;

        for (size_t n = 0;; n++) {
                const char *key;

                k = sd_bus_message_enter_container(m, 'e', "sv");
                if (k < 0)
                        goto fail;
                if (k == 0)
                        break;
                if (n >= LIBVSS_MAX_CONTEXT_KEYS) {
                        k = -EBADMSG;
                        goto fail;
                }

                k = sd_bus_message_read(m, "s", &key);
                if (k < 0)
                        goto fail;
                k = read_entry(m, key, &c);
                if (k < 0)
                        goto fail;
                k = sd_bus_message_exit_container(m);
                if (k < 0)
                        goto fail;
        }

        k = sd_bus_message_exit_container(m);
        if (k < 0)
                goto fail;

        *ret = c;
        return 0;

fail:
        event_context_done(&c);
        return k;
}

int event_context_copy(EventContext *dst, const EventContext *src) {
        EventContext c = *src;

        assert(dst);
        assert(src);

        /* Reset the owned pointers first so a partial copy can be freed safely. */
        c.backup_id = NULL;
        c.volumes = NULL;
        c.components = NULL;
        c.components_xml = NULL;
        c.n_volumes = c.n_components = 0;

        if (src->components_xml) {
                c.components_xml = strdup(src->components_xml);
                if (!c.components_xml)
                        goto oom;
        }

        if (src->backup_id) {
                c.backup_id = strdup(src->backup_id);
                if (!c.backup_id)
                        goto oom;
        }

        if (src->volumes) {
                c.volumes = calloc(src->n_volumes + 1, sizeof(char *));
                if (!c.volumes)
                        goto oom;
                for (size_t i = 0; i < src->n_volumes; i++) {
                        c.volumes[i] = strdup(src->volumes[i]);
                        if (!c.volumes[i])
                                goto oom;
                }
                c.n_volumes = src->n_volumes;
        }

        if (src->n_components > 0) {
                c.components = calloc(src->n_components, sizeof(EventComponent));
                if (!c.components)
                        goto oom;
                c.n_components = src->n_components;
                for (size_t i = 0; i < src->n_components; i++) {
                        c.components[i] = src->components[i];
                        c.components[i].logical_path = strdup(src->components[i].logical_path);
                        c.components[i].name = strdup(src->components[i].name);
                        if (!c.components[i].logical_path || !c.components[i].name)
                                goto oom;
                }
        }

        *dst = c;
        return 0;

oom:
        event_context_done(&c);
        return -ENOMEM;
}
