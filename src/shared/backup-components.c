/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup-components.c: the Backup Components Document model, its limits, and the writer-side
 * rules for differenced files (seed 003) and partial files.
 *
 * The document is the memory of a backup: the requester saves it beside the data and loads it
 * back for the next incremental and for restore, and writers read and edit their components
 * in it during the events the spec allows. Everything that enters goes through a setter that
 * validates and copies, so the same checks hold whether a value comes from a local call, a
 * peer over the bus or a file on disk (bcd-xml.c loads through these setters).
 *
 * Components are allocated one by one and never move, so a BcdComponent pointer handed out
 * stays valid until the document is freed, however many components are added after it.
 *
 * Differenced file sets are checked against the writer's own metadata the way the seed
 * describes: a set either names files the component already owns, and then must equal one of
 * the component's declared file sets exactly, or names new files, and then must not touch a
 * file set of anyone else. "Touch" is decided without the file system: two sets overlap when
 * their directory scopes meet (same directory, or one recursive over the other) and some name
 * matches both file specs, which for '*' and '?' patterns is a small dynamic program.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup-components.h"
#include "macro.h"
#include "vss-bus.h"
#include "xml-util.h"

/* Append item to a malloc'd array of n elements; false (array untouched) on OOM. */
#define ARRAY_APPEND(array, n, item)                                                 \
        ({                                                                           \
                __typeof__(array) _a_ = reallocarray((array), (n) + 1, sizeof(*(array))); \
                if (_a_) {                                                           \
                        (array) = _a_;                                               \
                        (array)[(n)++] = (item);                                     \
                }                                                                    \
                _a_ != NULL;                                                         \
        })

/* ------------------------------------------------------------------------------------------ */
/* Value checks                                                                                */
/* ------------------------------------------------------------------------------------------ */

static bool text_ok(const char *s, bool optional) {
        if (!s)
                return optional;
        return xml_string_ok(s, VSS_MAX_STRING);
}

static bool path_ok(const char *p) {
        return text_ok(p, false) && (p[0] == '/' || p[0] == '$');
}

static bool filespec_ok(const char *f) {
        return text_ok(f, false) && f[0] && !strchr(f, '/');
}

static bool filename_ok(const char *f) {
        return filespec_ok(f) && !strpbrk(f, "*?");
}

static bool component_name_ok(const char *n) {
        return text_ok(n, false) && n[0] && !strchr(n, '\\');
}

/* "offset:length[,offset:length...]", or the absolute path of a binary ranges file. */
static bool ranges_ok(const char *r) {
        if (!text_ok(r, false) || !r[0])
                return false;
        if (r[0] == '/')
                return true;

        for (const char *p = r;;) {
                uint64_t offset, length;

                if (!xml_number_prefix(&p, UINT64_MAX, &offset) || *p++ != ':' ||
                    !xml_number_prefix(&p, UINT64_MAX, &length))
                        return false;
                if (length > UINT64_MAX - offset)
                        return false;
                if (*p == '\0')
                        return true;
                if (*p++ != ',')
                        return false;
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Lifetime                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void differenced_done(BcdDifferencedFile *d) {
        free(d->path);
        free(d->filespec);
}

static void partial_done(BcdPartialFile *p) {
        free(p->path);
        free(p->filename);
        free(p->ranges);
        free(p->metadata);
}

static void directed_done(BcdDirectedTarget *t) {
        free(t->source_path);
        free(t->source_filename);
        free(t->source_ranges);
        free(t->destination_path);
        free(t->destination_filename);
        free(t->destination_ranges);
}

static void mapping_done(BcdFileMapping *m) {
        free(m->path);
        free(m->filespec);
        free(m->destination);
}

static void subcomponent_done(BcdRestoreSubcomponent *s) {
        free(s->logical_path);
        free(s->name);
}

static BcdComponent *component_free(BcdComponent *c) {
        if (!c)
                return NULL;

        free(c->logical_path);
        free(c->name);
        for (size_t i = 0; i < _BCD_STRING_MAX; i++)
                free(c->strings[i]);
        free(c->failure_message);

        for (size_t i = 0; i < c->n_differenced_files; i++)
                differenced_done(&c->differenced_files[i]);
        free(c->differenced_files);
        for (size_t i = 0; i < c->n_partial_files; i++)
                partial_done(&c->partial_files[i]);
        free(c->partial_files);
        for (size_t i = 0; i < c->n_directed_targets; i++)
                directed_done(&c->directed_targets[i]);
        free(c->directed_targets);
        for (size_t i = 0; i < c->n_new_targets; i++)
                mapping_done(&c->new_targets[i]);
        free(c->new_targets);
        for (size_t i = 0; i < c->n_alternate_mappings; i++)
                mapping_done(&c->alternate_mappings[i]);
        free(c->alternate_mappings);
        for (size_t i = 0; i < c->n_restore_subcomponents; i++)
                subcomponent_done(&c->restore_subcomponents[i]);
        free(c->restore_subcomponents);

        free(c);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(BcdComponent *, component_free);

BackupComponents *backup_components_new(void) {
        BackupComponents *b;

        b = calloc(1, sizeof(*b));
        if (!b)
                return NULL;
        b->select_components = true;
        return b;
}

BackupComponents *backup_components_free(BackupComponents *b) {
        if (!b)
                return NULL;

        for (size_t i = 0; i < b->n_writers; i++) {
                for (size_t j = 0; j < b->writers[i].n_components; j++)
                        component_free(b->writers[i].components[j]);
                free(b->writers[i].components);
        }
        free(b->writers);
        free(b);
        return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Document                                                                                    */
/* ------------------------------------------------------------------------------------------ */

vss_hr backup_components_set_backup_state(BackupComponents *b, bool select_components, bool bootable_system_state,
                                          vss_backup_type type, bool partial_file_support) {
        if (!b || (unsigned) type > VSS_BT_OTHER)
                return E_INVALIDARG;

        b->select_components = select_components;
        b->bootable_system_state = bootable_system_state;
        b->backup_type = type;
        b->partial_file_support = partial_file_support;
        return S_OK;
}

vss_hr backup_components_set_context(BackupComponents *b, vss_snapshot_context context) {
        if (!b)
                return E_INVALIDARG;
        b->context = context;
        return S_OK;
}

vss_hr backup_components_set_restore_type(BackupComponents *b, BcdRestoreType type) {
        if (!b || (unsigned) type >= _BCD_RESTORE_TYPE_MAX)
                return E_INVALIDARG;
        b->restore_type = type;
        return S_OK;
}

BcdWriter *backup_components_find_writer(const BackupComponents *b, const vss_id *instance_id) {
        if (!b || !instance_id)
                return NULL;

        for (size_t i = 0; i < b->n_writers; i++)
                if (vss_id_equal(&b->writers[i].instance_id, instance_id))
                        return &b->writers[i];
        return NULL;
}

static BcdComponent *writer_find_component(const BcdWriter *w, const char *logical_path, const char *name) {
        for (size_t i = 0; i < w->n_components; i++)
                if (streq(w->components[i]->logical_path, strempty(logical_path)) &&
                    streq(w->components[i]->name, name))
                        return w->components[i];
        return NULL;
}

vss_hr backup_components_add_component(BackupComponents *b, const vss_id *instance_id, const vss_id *writer_id,
                                       vss_component_type type, const char *logical_path, const char *name,
                                       BcdComponent **ret_component) {
        _cleanup_(component_freep) BcdComponent *c = NULL;
        BcdComponent **array;
        BcdWriter *w;

        if (!b || !instance_id || !writer_id || vss_id_is_null(instance_id) || vss_id_is_null(writer_id))
                return E_INVALIDARG;
        if (type != VSS_CT_DATABASE && type != VSS_CT_FILEGROUP)
                return E_INVALIDARG;
        if (!text_ok(logical_path, true) || !component_name_ok(name))
                return E_INVALIDARG;

        w = backup_components_find_writer(b, instance_id);
        if (w) {
                if (!vss_id_equal(&w->writer_id, writer_id))
                        return E_INVALIDARG;
                if (writer_find_component(w, logical_path, name))
                        return VSS_E_OBJECT_ALREADY_EXISTS;
        }
        if (b->n_components >= VSS_MAX_COMPONENTS)
                return E_INVALIDARG;

        c = calloc(1, sizeof(*c));
        if (!c)
                return E_OUTOFMEMORY;
        c->type = type;
        c->logical_path = strdup(strempty(logical_path));
        c->name = strdup(name);
        c->document = b;
        if (!c->logical_path || !c->name)
                return E_OUTOFMEMORY;

        if (!w) {
                BcdWriter nw = { .instance_id = *instance_id, .writer_id = *writer_id };

                if (!ARRAY_APPEND(b->writers, b->n_writers, nw))
                        return E_OUTOFMEMORY;
                w = &b->writers[b->n_writers - 1];
        }

        array = reallocarray(w->components, w->n_components + 1, sizeof(*array));
        if (!array) {
                /* Do not leave behind a writer entry this call created. */
                if (w->n_components == 0)
                        b->n_writers--;
                return E_OUTOFMEMORY;
        }
        w->components = array;
        w->components[w->n_components++] = c;
        b->n_components++;

        if (ret_component)
                *ret_component = c;
        TAKE_PTR(c);
        return S_OK;
}

vss_hr backup_components_get_component(const BackupComponents *b, const vss_id *instance_id,
                                       vss_component_type type, const char *logical_path, const char *name,
                                       BcdComponent **ret) {
        BcdComponent *c;
        BcdWriter *w;

        if (!b || !instance_id || !name || !ret)
                return E_INVALIDARG;

        w = backup_components_find_writer(b, instance_id);
        if (!w)
                return VSS_E_OBJECT_NOT_FOUND;
        c = writer_find_component(w, logical_path, name);
        if (!c || (type != VSS_CT_UNDEFINED && c->type != type))
                return VSS_E_OBJECT_NOT_FOUND;

        *ret = c;
        return S_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Component scalars and strings                                                               */
/* ------------------------------------------------------------------------------------------ */

vss_hr bcd_component_set_backup_succeeded(BcdComponent *c, bool succeeded) {
        if (!c)
                return E_INVALIDARG;
        c->backup_succeeded = succeeded;
        return S_OK;
}

vss_hr bcd_component_set_selected_for_restore(BcdComponent *c, bool selected) {
        if (!c)
                return E_INVALIDARG;
        c->selected_for_restore = selected;
        return S_OK;
}

vss_hr bcd_component_set_additional_restores(BcdComponent *c, bool additional) {
        if (!c)
                return E_INVALIDARG;
        c->additional_restores = additional;
        return S_OK;
}

vss_hr bcd_component_set_restore_target(BcdComponent *c, BcdRestoreTarget target) {
        if (!c || (unsigned) target >= _BCD_RESTORE_TARGET_MAX)
                return E_INVALIDARG;
        c->restore_target = target;
        return S_OK;
}

vss_hr bcd_component_set_file_restore_status(BcdComponent *c, BcdFileRestoreStatus status) {
        if (!c || (unsigned) status >= _BCD_FILE_RESTORE_MAX)
                return E_INVALIDARG;
        c->file_restore_status = status;
        return S_OK;
}

/* Replace *field with a copy of value (NULL clears); the field is untouched on failure. */
static vss_hr replace_string(char **field, const char *value) {
        char *copy = NULL;

        if (!text_ok(value, true))
                return E_INVALIDARG;
        if (value) {
                copy = strdup(value);
                if (!copy)
                        return E_OUTOFMEMORY;
        }
        free(*field);
        *field = copy;
        return S_OK;
}

vss_hr bcd_component_set_string(BcdComponent *c, BcdString which, const char *value) {
        if (!c || (unsigned) which >= _BCD_STRING_MAX)
                return E_INVALIDARG;
        return replace_string(&c->strings[which], value);
}

const char *bcd_component_get_string(const BcdComponent *c, BcdString which) {
        if (!c || (unsigned) which >= _BCD_STRING_MAX)
                return NULL;
        return c->strings[which];
}

vss_hr bcd_component_set_failure(BcdComponent *c, vss_hr failure, vss_hr application_failure, const char *message) {
        vss_hr hr;

        if (!c)
                return E_INVALIDARG;
        hr = replace_string(&c->failure_message, message);
        if (VSS_FAILED(hr))
                return hr;
        c->failure = failure;
        c->application_failure = application_failure;
        return S_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Lists                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* Room for one more entry in a list of n, and in the whole document? */
static bool entry_room(const BcdComponent *c, size_t n) {
        if (n >= BCD_MAX_ENTRIES_PER_LIST)
                return false;
        return !c->document || c->document->n_entries < BCD_MAX_ENTRIES;
}

static void entry_added(BcdComponent *c) {
        if (c->document)
                c->document->n_entries++;
}

/* strdup of each non-NULL source into the NULL-initialized targets; false on OOM. */
static bool dup_all(char **const *targets, const char *const *sources, size_t n) {
        for (size_t i = 0; i < n; i++) {
                *targets[i] = strdup(sources[i]);
                if (!*targets[i])
                        return false;
        }
        return true;
}

static vss_hr path_normalize(const char *path, char **ret);

static bool path_is_under(const char *child, const char *parent) {
        size_t n;

        if (streq(parent, "/"))
                return child[0] == '/' && child[1] != '\0';
        n = strlen(parent);
        return strncmp(child, parent, n) == 0 && child[n] == '/';
}

/* Is the partial file (path, filename) one of the files of the differenced set d? */
static bool partial_in_set(const BcdPartialFile *p, const BcdDifferencedFile *d) {
        _cleanup_free_ char *expanded = NULL;
        const char *path = p->path;

        if (bcd_path_expand(p->path, &expanded) == S_OK)
                path = expanded;
        if (!streq(path, d->path) && !(d->recursive && path_is_under(path, d->path)))
                return false;
        return bcd_filespec_match(d->filespec, p->filename);
}

vss_hr bcd_component_add_differenced_file(BcdComponent *c, const char *path, const char *filespec, bool recursive,
                                          vss_timestamp last_modify_time) {
        _cleanup_free_ char *normalized = NULL;
        BcdDifferencedFile d = {};
        vss_hr hr;

        if (!c || !text_ok(path, false) || path[0] != '/' || strpbrk(path, "*?") || !filespec_ok(filespec) ||
            last_modify_time < 0)
                return E_INVALIDARG;
        /* Stored sets are already expanded and normalized; anything else is not ours. */
        hr = path_normalize(path, &normalized);
        if (VSS_FAILED(hr))
                return hr;
        if (!streq(normalized, path))
                return E_INVALIDARG;

        for (size_t i = 0; i < c->n_differenced_files; i++) {
                const BcdDifferencedFile *o = &c->differenced_files[i];

                if (streq(o->path, path) && streq(o->filespec, filespec) && o->recursive == recursive)
                        return E_INVALIDARG;
        }

        d = (BcdDifferencedFile) {
                .path = (char *) path,
                .filespec = (char *) filespec,
                .recursive = recursive,
                .last_modify_time = last_modify_time,
        };
        /* The same file may not be both differenced and partial (seed 003). */
        for (size_t i = 0; i < c->n_partial_files; i++)
                if (partial_in_set(&c->partial_files[i], &d))
                        return E_INVALIDARG;
        if (!entry_room(c, c->n_differenced_files))
                return E_INVALIDARG;

        d.path = TAKE_PTR(normalized);
        d.filespec = strdup(filespec);
        if (!d.filespec || !ARRAY_APPEND(c->differenced_files, c->n_differenced_files, d)) {
                differenced_done(&d);
                return E_OUTOFMEMORY;
        }
        entry_added(c);
        return S_OK;
}

vss_hr bcd_component_add_partial_file(BcdComponent *c, const char *path, const char *filename, const char *ranges,
                                      const char *metadata) {
        BcdPartialFile p = {};

        if (!c || !path_ok(path) || !filename_ok(filename) || !ranges_ok(ranges) || !text_ok(metadata, true))
                return E_INVALIDARG;

        for (size_t i = 0; i < c->n_partial_files; i++)
                if (streq(c->partial_files[i].path, path) && streq(c->partial_files[i].filename, filename))
                        return VSS_E_OBJECT_ALREADY_EXISTS;

        p = (BcdPartialFile) { .path = (char *) path, .filename = (char *) filename };
        for (size_t i = 0; i < c->n_differenced_files; i++)
                if (partial_in_set(&p, &c->differenced_files[i]))
                        return E_INVALIDARG;
        if (!entry_room(c, c->n_partial_files))
                return E_INVALIDARG;

        p = (BcdPartialFile) {};
        if (!dup_all((char **const[]) { &p.path, &p.filename, &p.ranges, &p.metadata },
                     (const char *const[]) { path, filename, ranges, strempty(metadata) }, 4) ||
            !ARRAY_APPEND(c->partial_files, c->n_partial_files, p)) {
                partial_done(&p);
                return E_OUTOFMEMORY;
        }
        entry_added(c);
        return S_OK;
}

vss_hr bcd_component_add_directed_target(BcdComponent *c, const char *source_path, const char *source_filename,
                                         const char *source_ranges, const char *destination_path,
                                         const char *destination_filename, const char *destination_ranges) {
        BcdDirectedTarget t = {};

        if (!c || !path_ok(source_path) || !filename_ok(source_filename) || !ranges_ok(source_ranges) ||
            !path_ok(destination_path) || !filename_ok(destination_filename) || !ranges_ok(destination_ranges))
                return E_INVALIDARG;
        if (!entry_room(c, c->n_directed_targets))
                return E_INVALIDARG;

        if (!dup_all((char **const[]) { &t.source_path, &t.source_filename, &t.source_ranges, &t.destination_path,
                                        &t.destination_filename, &t.destination_ranges },
                     (const char *const[]) { source_path, source_filename, source_ranges, destination_path,
                                             destination_filename, destination_ranges },
                     6) ||
            !ARRAY_APPEND(c->directed_targets, c->n_directed_targets, t)) {
                directed_done(&t);
                return E_OUTOFMEMORY;
        }
        entry_added(c);
        return S_OK;
}

static vss_hr add_mapping(BcdComponent *c, BcdFileMapping **array, size_t *n, const char *path,
                          const char *filespec, bool recursive, const char *destination) {
        BcdFileMapping m = { .recursive = recursive };

        if (!c || !path_ok(path) || !filespec_ok(filespec) || !path_ok(destination))
                return E_INVALIDARG;
        for (size_t i = 0; i < *n; i++)
                if (streq((*array)[i].path, path) && streq((*array)[i].filespec, filespec) &&
                    (*array)[i].recursive == recursive)
                        return VSS_E_OBJECT_ALREADY_EXISTS;
        if (!entry_room(c, *n))
                return E_INVALIDARG;

        if (!dup_all((char **const[]) { &m.path, &m.filespec, &m.destination },
                     (const char *const[]) { path, filespec, destination }, 3) ||
            !ARRAY_APPEND(*array, *n, m)) {
                mapping_done(&m);
                return E_OUTOFMEMORY;
        }
        entry_added(c);
        return S_OK;
}

vss_hr bcd_component_add_new_target(BcdComponent *c, const char *path, const char *filespec, bool recursive,
                                    const char *alternate_path) {
        if (!c)
                return E_INVALIDARG;
        return add_mapping(c, &c->new_targets, &c->n_new_targets, path, filespec, recursive, alternate_path);
}

vss_hr bcd_component_add_alternate_location_mapping(BcdComponent *c, const char *path, const char *filespec,
                                                    bool recursive, const char *destination) {
        if (!c)
                return E_INVALIDARG;
        return add_mapping(c, &c->alternate_mappings, &c->n_alternate_mappings, path, filespec, recursive,
                           destination);
}

vss_hr bcd_component_add_restore_subcomponent(BcdComponent *c, const char *logical_path, const char *name,
                                              bool repair) {
        BcdRestoreSubcomponent s = { .repair = repair };

        if (!c || !text_ok(logical_path, true) || !component_name_ok(name))
                return E_INVALIDARG;
        for (size_t i = 0; i < c->n_restore_subcomponents; i++)
                if (streq(c->restore_subcomponents[i].logical_path, strempty(logical_path)) &&
                    streq(c->restore_subcomponents[i].name, name))
                        return VSS_E_OBJECT_ALREADY_EXISTS;
        if (!entry_room(c, c->n_restore_subcomponents))
                return E_INVALIDARG;

        if (!dup_all((char **const[]) { &s.logical_path, &s.name },
                     (const char *const[]) { strempty(logical_path), name }, 2) ||
            !ARRAY_APPEND(c->restore_subcomponents, c->n_restore_subcomponents, s)) {
                subcomponent_done(&s);
                return E_OUTOFMEMORY;
        }
        entry_added(c);
        return S_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* File specs                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/*
 * A file spec as code points, so '?' stands for one character, not one byte. Returns the
 * count, or -1 when longer than NAME_MAX characters or not UTF-8 (callers then assume the
 * worst). Wildcards come out as WILD_ANY / WILD_ONE, which no character can equal.
 */
#define WILD_ANY UINT32_C(0xFFFFFFFF)
#define WILD_ONE UINT32_C(0xFFFFFFFE)

static int decode_spec(const char *s, bool wildcards, uint32_t out[static NAME_MAX]) {
        const unsigned char *p = (const unsigned char *) s;
        int n = 0;

        while (*p) {
                uint32_t cp;
                int len;

                if (n >= NAME_MAX)
                        return -1;
                if (*p < 0x80) {
                        cp = *p;
                        len = 1;
                } else if ((*p & 0xE0) == 0xC0) {
                        cp = *p & 0x1F;
                        len = 2;
                } else if ((*p & 0xF0) == 0xE0) {
                        cp = *p & 0x0F;
                        len = 3;
                } else if ((*p & 0xF8) == 0xF0) {
                        cp = *p & 0x07;
                        len = 4;
                } else
                        return -1;
                for (int i = 1; i < len; i++) {
                        if ((p[i] & 0xC0) != 0x80)
                                return -1;
                        cp = (cp << 6) | (p[i] & 0x3F);
                }
                if (wildcards && cp == '*')
                        cp = WILD_ANY;
                else if (wildcards && cp == '?')
                        cp = WILD_ONE;
                out[n++] = cp;
                p += len;
        }
        return n;
}

bool bcd_filespec_match(const char *filespec, const char *name) {
        uint32_t pat[NAME_MAX], str[NAME_MAX];
        int np, ns, i = 0, j = 0, star = -1, mark = 0;

        if (!filespec || !name)
                return false;
        np = decode_spec(filespec, true, pat);
        ns = decode_spec(name, false, str);
        if (np < 0 || ns < 0)
                return false;

        /* Greedy with one backtrack point: the last '*' seen absorbs one more character. */
        while (j < ns) {
                if (i < np && (pat[i] == WILD_ONE || pat[i] == str[j])) {
                        i++;
                        j++;
                } else if (i < np && pat[i] == WILD_ANY) {
                        star = i++;
                        mark = j;
                } else if (star >= 0) {
                        i = star + 1;
                        j = ++mark;
                } else
                        return false;
        }
        while (i < np && pat[i] == WILD_ANY)
                i++;
        return i == np;
}

/*
 * Could one name match both file specs? can[i][j] says whether a[i..] and b[j..] share a
 * match; filled from the ends. Specs longer than NAME_MAX are assumed to share one.
 */
static bool filespecs_intersect(const char *fa, const char *fb) {
        uint32_t a[NAME_MAX], b[NAME_MAX];
        _cleanup_free_ bool *can = NULL;
        int la, lb;

        la = decode_spec(fa, true, a);
        lb = decode_spec(fb, true, b);
        if (la < 0 || lb < 0)
                return true;

        can = calloc((size_t) (la + 1) * (lb + 1), sizeof(bool));
        if (!can)
                return true;
#define CAN(i, j) can[(size_t) (i) * (lb + 1) + (j)]

        for (int i = la; i >= 0; i--)
                for (int j = lb; j >= 0; j--) {
                        bool v;

                        if (i == la && j == lb)
                                v = true;
                        else if (i < la && a[i] == WILD_ANY)
                                v = CAN(i + 1, j) || (j < lb && CAN(i, j + 1));
                        else if (j < lb && b[j] == WILD_ANY)
                                v = CAN(i, j + 1) || (i < la && CAN(i + 1, j));
                        else if (i == la || j == lb)
                                v = false;
                        else
                                v = (a[i] == WILD_ONE || b[j] == WILD_ONE || a[i] == b[j]) && CAN(i + 1, j + 1);
                        CAN(i, j) = v;
                }

        return CAN(0, 0);
#undef CAN
}

/* Do two file sets (expanded paths) share a possible file? */
static bool filesets_overlap(const char *pa, const char *sa, bool ra, const char *pb, const char *sb, bool rb) {
        bool dirs = streq(pa, pb) || (ra && path_is_under(pb, pa)) || (rb && path_is_under(pa, pb));

        return dirs && filespecs_intersect(sa, sb);
}

/* ------------------------------------------------------------------------------------------ */
/* Paths                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static bool var_char(char ch, bool first) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_' || (!first && ch >= '0' && ch <= '9');
}

/* Replace $VAR / ${VAR} from the environment. */
static vss_hr expand_variables(const char *path, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&out, &size);
        if (!f)
                return E_OUTOFMEMORY;

        for (const char *p = path; *p;) {
                _cleanup_free_ char *name = NULL;
                const char *value;
                size_t n;

                if (*p != '$') {
                        fputc(*p++, f);
                        continue;
                }
                p++;
                if (*p == '{') {
                        const char *end = strchr(++p, '}');

                        if (!end)
                                goto invalid;
                        n = end - p;
                        for (size_t i = 0; i < n; i++)
                                if (!var_char(p[i], i == 0))
                                        goto invalid;
                        name = strndup(p, n);
                        p = end + 1;
                } else {
                        for (n = 0; var_char(p[n], n == 0); n++)
                                ;
                        name = strndup(p, n);
                        p += n;
                }
                if (!name) {
                        fclose(f);
                        return E_OUTOFMEMORY;
                }
                value = name[0] ? secure_getenv(name) : NULL;
                if (!value)
                        goto invalid;
                fputs(value, f);
        }

        if (fclose(f) != 0 || !out)
                return E_OUTOFMEMORY;
        *ret = TAKE_PTR(out);
        return S_OK;

invalid:
        fclose(f);
        return E_INVALIDARG;
}

/*
 * An absolute path rebuilt segment by segment: empty and "." segments vanish, ".." is refused,
 * no trailing '/' except for "/" itself. E_INVALIDARG for relative paths and "..".
 */
static vss_hr path_normalize(const char *path, char **ret) {
        _cleanup_free_ char *copy = NULL, *out = NULL;
        size_t len = 0;

        if (path[0] != '/')
                return E_INVALIDARG;

        copy = strdup(path);
        out = malloc(strlen(path) + 2);
        if (!copy || !out)
                return E_OUTOFMEMORY;

        for (char *seg = copy, *next; seg; seg = next) {
                size_t n;

                next = strchr(seg, '/');
                if (next)
                        *next++ = '\0';
                n = strlen(seg);
                if (n == 0 || streq(seg, "."))
                        continue;
                if (streq(seg, ".."))
                        return E_INVALIDARG;
                out[len++] = '/';
                memcpy(out + len, seg, n);
                len += n;
        }
        if (len == 0)
                out[len++] = '/';
        out[len] = '\0';

        *ret = TAKE_PTR(out);
        return S_OK;
}

vss_hr bcd_path_expand(const char *path, char **ret) {
        _cleanup_free_ char *expanded = NULL;
        vss_hr hr;

        if (!text_ok(path, false) || !path[0] || !ret)
                return E_INVALIDARG;

        hr = expand_variables(path, &expanded);
        if (VSS_FAILED(hr))
                return hr;
        if (strlen(expanded) > VSS_MAX_STRING || !text_ok(expanded, false))
                return E_INVALIDARG;

        return path_normalize(expanded, ret);
}

/* ------------------------------------------------------------------------------------------ */
/* Seed 003                                                                                    */
/* ------------------------------------------------------------------------------------------ */

vss_hr bcd_event_window_check_edit(const BcdEventWindow *window) {
        if (!window)
                return E_INVALIDARG;
        if (!window->caller_is_writer || window->operation != BCD_OPERATION_BACKUP)
                return VSS_E_BAD_STATE;

        switch (window->event) {
        case BCD_EVENT_PREPARE_BACKUP:
        case BCD_EVENT_PREPARE_SNAPSHOT:
        case BCD_EVENT_FREEZE:
        case BCD_EVENT_THAW:
        case BCD_EVENT_POST_SNAPSHOT:
                return S_OK;
        default:
                /* BackupComplete and BackupShutdown by name in the seed; the rest never see a component. */
                return VSS_E_BAD_STATE;
        }
}

/* Does the writer's backup schema allow differenced files for this backup type? */
static bool schema_allows(uint32_t schema, vss_backup_type type) {
        if (!(schema & VSS_BS_LAST_MODIFY))
                return false;
        if (type == VSS_BT_INCREMENTAL)
                return schema & VSS_BS_INCREMENTAL;
        if (type == VSS_BT_DIFFERENTIAL)
                return schema & VSS_BS_DIFFERENTIAL;
        return true;
}

/* Is wc (a component of the writer's metadata) c itself or, when c defines a set, inside it? */
static bool in_component_set(const WmComponent *wc, const WmComponent *c) {
        _cleanup_free_ char *full = NULL;
        size_t n;

        if (streq(wc->logical_path, c->logical_path) && streq(wc->name, c->name))
                return true;
        if (!c->selectable)
                return false;

        if (isempty(c->logical_path))
                full = strdup(c->name);
        else if (asprintf(&full, "%s\\%s", c->logical_path, c->name) < 0)
                full = NULL;
        if (!full)
                return false;

        n = strlen(full);
        return strncmp(wc->logical_path, full, n) == 0 && (wc->logical_path[n] == '\0' || wc->logical_path[n] == '\\');
}

typedef enum SetRelation {
        SET_UNRELATED,  /* shares no file with the candidate */
        SET_EXACT,      /* the same (path, filespec, recursive) */
        SET_OVERLAP,    /* shares files without being the same set */
} SetRelation;

static SetRelation relate(const char *path, const char *filespec, bool recursive, const char *set_path,
                          const char *set_filespec, bool set_recursive) {
        _cleanup_free_ char *expanded = NULL;

        /* A declared set whose variables this process cannot expand cannot be judged. */
        if (bcd_path_expand(set_path, &expanded) != S_OK)
                return SET_UNRELATED;
        if (streq(expanded, path) && streq(set_filespec, filespec) && set_recursive == recursive)
                return SET_EXACT;
        return filesets_overlap(path, filespec, recursive, expanded, set_filespec, set_recursive) ? SET_OVERLAP
                                                                                                  : SET_UNRELATED;
}

static const WmComponent *wmd_component_of(const WriterMetadata *m, const WmFileSet *f) {
        return writer_metadata_find_component(m, f->logical_path, f->component_name);
}

/* The seed's file-set rule: E_INVALIDARG unless the set is c's own exactly, or new to everyone. */
static vss_hr check_file_set(const WmComponent *c, const WriterMetadata *wmd, const BcdEventWindow *window,
                             const char *path, const char *filespec, bool recursive) {
        bool exact = false, overlap_own = false;

        for (size_t i = 0; i < wmd->n_filesets; i++) {
                const WmFileSet *f = &wmd->filesets[i];
                const WmComponent *owner = wmd_component_of(wmd, f);
                SetRelation rel = relate(path, filespec, recursive, f->path, f->filespec, f->recursive);

                if (rel == SET_UNRELATED)
                        continue;
                if (!owner || !in_component_set(owner, c))
                        return E_INVALIDARG; /* files another component of this writer manages */
                if (rel == SET_EXACT)
                        exact = true;
                else
                        overlap_own = true;
        }
        if (exact)
                return S_OK;
        if (overlap_own)
                return E_INVALIDARG; /* existing files of c must be named exactly as declared */

        /* New files: no other writer may manage them. */
        for (size_t w = 0; w < window->n_other_writers; w++) {
                const WriterMetadata *o = window->other_writers[w];

                if (!o || o == wmd)
                        continue;
                for (size_t i = 0; i < o->n_filesets; i++)
                        if (relate(path, filespec, recursive, o->filesets[i].path, o->filesets[i].filespec,
                                   o->filesets[i].recursive) != SET_UNRELATED)
                                return E_INVALIDARG;
        }
        return S_OK;
}

vss_hr bcd_component_add_differenced_files_by_last_modify_time(BcdComponent *c, const WriterMetadata *wmd,
                                                               const BcdEventWindow *window, const char *path,
                                                               const char *filespec, bool recursive,
                                                               vss_timestamp last_modify_time) {
        _cleanup_free_ char *expanded = NULL;
        const WmComponent *declared;
        vss_hr hr;

        if (!c || !wmd || !window)
                return E_INVALIDARG;

        hr = bcd_event_window_check_edit(window);
        if (VSS_FAILED(hr))
                return hr;

        if (!text_ok(path, false) || !path[0] || strpbrk(path, "*?") || !filespec_ok(filespec) ||
            last_modify_time < 0)
                return E_INVALIDARG;
        hr = bcd_path_expand(path, &expanded);
        if (VSS_FAILED(hr))
                return hr;
        /* A variable's value may not smuggle in wildcards either. */
        if (strpbrk(expanded, "*?"))
                return E_INVALIDARG;

        if (!schema_allows(wmd->backup_schema, window->backup_type))
                return E_INVALIDARG;

        declared = writer_metadata_find_component(wmd, c->logical_path, c->name);
        if (!declared || declared->type != c->type)
                return VSS_E_UNEXPECTED;

        hr = check_file_set(declared, wmd, window, expanded, filespec, recursive);
        if (VSS_FAILED(hr))
                return hr;

        return bcd_component_add_differenced_file(c, expanded, filespec, recursive, last_modify_time);
}
