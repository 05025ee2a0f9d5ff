/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * selection.c: which writers and components take part (-wi/-wx, vshadow's rules: a writer
 * or component excluded wins, components whose files are off the volumes are left out), the
 * AddComponent/SetBackupSucceeded that follow, and the check of the writers' status after
 * each step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin-client.h"
#include "path-util.h"
#include "vss-bus.h"
#include "wmd-xml.h"
#include "xml-util.h"
#include "vshadow.h"

/* ------------------------------------------------------------------------------------------ */
/* Writer and component selection (-wi / -wx)                                                  */
/* ------------------------------------------------------------------------------------------ */


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




void selection_done(Selection *s) {
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
        WriterList l = {};
        const char *class_id, *instance_id, *name, *instance_name;
        uint32_t state;
        int32_t failure;
        int r;

        r = admin_connect(arg.socket, &bus);
        if (r < 0)
                return r;
        r = admin_call(bus, "ListWriters", &l.reply, NULL);
        if (r < 0)
                return r;
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
                return -tool_vss_error(r == -ENOMEM ? E_OUTOFMEMORY : VSS_E_UNEXPECTED,
                                       "reading vssd's writer list: %s",
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
int filter_writers_early(vss_requester *req, Selection *sel) {
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
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
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
                return -tool_step_failed(req, "DisableWriterInstances", hr);
        return 0;
}

/* Does every file set of the component lie on one of the volumes (canonical paths)? */
static bool component_on_volumes(vss_wm_component *comp, const vss_component_info *info, char *const *volumes,
                                 size_t n_volumes, const char **ret_outside) {
        for (ToolFileKind k = 0; k < _TOOL_FILE_KIND_MAX; k++) {
                unsigned count = tool_component_file_count(info, k);

                for (unsigned i = 0; i < count; i++) {
                        _cleanup_free_ char *path = NULL;
                        vss_wm_filedesc f;
                        vss_hr hr;
                        bool inside = false;

                        hr = tool_component_get_file(comp, k, i, &f);
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
int writer_metadata_load(Writer *w) {
        _cleanup_free_ char *xml = NULL, *reason = NULL;
        vss_hr hr;

        hr = vss_examine_writer_metadata_save_as_xml(w->m, &xml);
        if (hr == S_OK)
                hr = writer_metadata_from_xml(xml, strlen(xml), &w->wmd, &reason);
        if (hr != S_OK)
                return -tool_vss_error(hr, "reading writer \"%s\"'s metadata%s%s", w->id.name, reason ? ": " : "",
                                       strempty(reason));
        return 0;
}

/* Room for which -wi and -wx matched something; the writers come with selection_load(). */
int selection_init(Selection *sel) {
        sel->include_matched = calloc(MAX(arg.n_include, (size_t) 1), sizeof(bool));
        sel->exclude_matched = calloc(MAX(arg.n_exclude, (size_t) 1), sizeof(bool));
        if (!sel->include_matched || !sel->exclude_matched)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        return 0;
}

/* Loads the gathered metadata into sel->writers. */
int selection_load(vss_requester *req, Selection *sel) {
        unsigned n = 0;
        vss_hr hr;

        hr = vss_requester_get_writer_metadata_count(req, &n);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "GetWriterMetadataCount", hr);
        sel->writers = calloc(MAX(n, 1u), sizeof(*sel->writers));
        if (!sel->writers)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);

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
                        return -tool_step_failed(req, "GetWriterMetadata", hr);
                sel->n_writers++;

                w->components = calloc(MAX(n_components, 1u), sizeof(*w->components));
                if (!w->components)
                        return -tool_vss_error(E_OUTOFMEMORY, NULL);
                for (unsigned c = 0; c < n_components; c++) {
                        Component *comp = &w->components[c];
                        vss_wm_component *wc;
                        int k;

                        hr = vss_examine_writer_metadata_get_component(w->m, c, &wc);
                        if (VSS_SUCCEEDED(hr))
                                hr = vss_wm_component_get_info(wc, &comp->info);
                        if (VSS_FAILED(hr))
                                return -tool_step_failed(req, "GetComponent", hr);
                        w->n_components++;
                        if (isempty(comp->info.logical_path))
                                k = asprintf(&comp->full_path, "%s", comp->info.component_name);
                        else
                                k = asprintf(&comp->full_path, "%s\\%s", comp->info.logical_path,
                                             comp->info.component_name);
                        if (k < 0) {
                                comp->full_path = NULL;
                                return -tool_vss_error(E_OUTOFMEMORY, NULL);
                        }
                }
        }
        return 0;
}

/* Does selector s cover component c of writer w (the component or an ancestor path of it)?
 * *ret_writer tells whether it named the writer as a whole. */
bool selector_covers(const char *s, const Writer *w, const Component *c, const WriterIdentity *all,
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
int selection_decide(Selection *sel, char *const *volumes, size_t n_volumes) {
        _cleanup_free_ WriterIdentity *all = calloc(MAX(sel->n_writers, (size_t) 1), sizeof(*all));

        if (!all)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
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
                                tool_note("writer \"%s\": component \"%s\" left out: its files at %s are not on the "
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
                                tool_note("writer \"%s\": component set \"%s\" is not added as a whole because "
                                          "some of its subcomponents are excluded; its own files are left out",
                                          w->id.name, comp->full_path);
                                continue;
                        }
                        comp->add = true;
                }
        }

        for (size_t x = 0; x < arg.n_exclude; x++)
                if (!sel->exclude_matched[x])
                        tool_note("-wx=%s matches no writer or component; nothing excluded for it", arg.exclude[x]);
        return 0;
}

/* Every -wi must have matched something that is now part of the backup (as vshadow checks). */
int selection_verify_includes(Selection *sel) {
        _cleanup_free_ WriterIdentity *all = calloc(MAX(sel->n_writers, (size_t) 1), sizeof(*all));

        if (!all)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
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
                                return -tool_vss_error(VSS_E_OBJECT_NOT_FOUND,
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
                        return -tool_vss_error(VSS_E_OBJECT_NOT_FOUND,
                                               "-wi=%s: nothing it names is included in the backup (excluded by "
                                               "-wx, no components, or files outside the volumes)", arg.include[x]);
        }
        return 0;
}

int selection_add_components(vss_requester *req, Selection *sel) {
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
                                return -tool_step_failed(req, "AddComponent", hr);
                        tool_note("writer \"%s\": component \"%s\" selected", w->id.name, comp->full_path);
                }
        }
        return 0;
}

int selection_set_backup_succeeded(vss_requester *req, Selection *sel, bool succeeded) {
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
                                return -tool_step_failed(req, "SetBackupSucceeded", hr);
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


static bool selection_writer_selected_cb(const void *userdata, const vss_id *instance_id) {
        return selection_writer_selected(userdata, instance_id);
}

/* After a step: a writer taking part (selected(userdata, instance) true) that failed makes the
 * operation fail, as in Windows' vshadow (its data may not be consistent). */
int writer_status_check(vss_requester *req, WriterSelected selected, const void *userdata,
                        const char *after) {
        unsigned n = 0;
        int r = 0;
        vss_hr hr;

        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_status, req);
        if (VSS_SUCCEEDED(hr))
                hr = vss_requester_get_writer_status_count(req, &n);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "GatherWriterStatus", hr);
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
                        r = -tool_vss_error(VSS_FAILED(failure) ? failure : VSS_E_UNEXPECTED_WRITER_ERROR,
                                            "after %s, selected writer \"%s\" is in state %s with last error %s", after,
                                            name, vss_writer_state_to_string(state), vss_hr_name(failure));
        }
        (void) vss_requester_free_writer_status(req);
        return r;
}

int check_writer_status(vss_requester *req, const Selection *sel, const char *after) {
        return writer_status_check(req, selection_writer_selected_cb, sel, after);
}

