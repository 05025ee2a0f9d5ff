/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * file-select.c: the requester's file selection of vss-semantics.md §9, as one function.
 *
 * Every requester of this project (vshadow -exec's file list, vssbackup) must copy exactly the
 * same files for the same documents, so the decision lives here once, separate from copying.
 * It works in three stages:
 *
 * 1. Scopes. Per writer of the BCD: the effective backup type after the schema check (step 1),
 *    the components included (explicit ones, plus the implicit subcomponents of explicit
 *    selectable ones, §7), and for each of their file sets a rule: copy WHOLE, copy files
 *    changed SINCE_WRITER's time, copy files changed SINCE_OWN records, or nothing (steps 4
 *    and 6). Differenced entries (step 4) that equal a declared set replace its rule; the
 *    others are scopes of new files. Excludes and partial files are kept per writer.
 * 2. Sources. Files are enumerated by a walk over the directories the scopes name (merged so
 *    that no directory is walked twice), by the btrfs changed-inode scan for SINCE_OWN scopes
 *    on volumes whose previous generation is known, and by the list of partial files.
 *    Every file has exactly one source: the btrfs scan leaves alone what a walk covers, walks
 *    leave alone partial files and ranges files.
 * 3. Decision, per file and per writer whose scopes match it: an exclude of that writer
 *    removes it for that writer (excludes win over everything); a differenced scope of the
 *    writer matching it decides alone (step 4 before step 6); otherwise any matching file set
 *    whose rule selects it does. The file is copied when some writer wants it.
 *
 * Decisions where the spec leaves room (docs/file-selection.md says why):
 *   - Schema (step 1): INCREMENTAL without VSS_BS_INCREMENTAL, DIFFERENTIAL without
 *     VSS_BS_DIFFERENTIAL, LOG without VSS_BS_LOG, an exclusive writer asked to mix the two
 *     kinds in one chain, OTHER and UNDEFINED: that writer is backed up as FULL.
 *   - FSBT (step 6), with req = mask & ALL_BACKUP_REQUIRED, "in full" = req empty or has FULL:
 *     FULL and COPY copy sets in full whole, others not at all (a LOG-only set contributes
 *     nothing); INCREMENTAL / DIFFERENTIAL copy sets whose req has that type whole, sets in
 *     full by change, others not at all; LOG copies sets with LOG whole, nothing else.
 *   - Changed: a non-zero writer time selects files with mtime >= it, regardless of the
 *     previous backup; own records select files with mtime or ctime >= the previous backup
 *     time (ctime catches renames, chmod and restored old mtimes), or, on btrfs with the
 *     previous generation, inodes written in a later transaction. ">=" and not ">": a file
 *     touched in the very tick of the previous backup is copied twice rather than never.
 *   - Differenced entries count only when the writer's effective type is INCREMENTAL or
 *     DIFFERENTIAL; in a full, copy or log backup the FSBT rule copies what is needed.
 *   - Partial files (step 5) are copied by ranges whatever the type and FSBT, unless an
 *     exclude or a differenced scope of the same writer covers them (writer bug: the
 *     differenced rule wins). A ranges file given as a path is copied whole beside it.
 *   - Alternate location (step 7): a file set with one is enumerated in the alternate
 *     directory and reported with the original path it stands for.
 *   - Volumes: each path belongs to the volume with the longest original prefix; walks skip a
 *     nested volume's mount point and walk that volume's snapshot instead. A file set on no
 *     volume is read live when its FSBT does not require a snapshot for this type, and is an
 *     error (-EXDEV) when it does. Walks never follow symlinks, never cross mounts or btrfs
 *     subvolumes, and report regular files and symlinks only.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "file-select.h"
#include "macro.h"

typedef enum Rule {
        RULE_NONE,
        RULE_WHOLE,
        RULE_SINCE_WRITER,
        RULE_SINCE_OWN,
} Rule;

#define NO_VOLUME SIZE_MAX

typedef struct Scope {
        char *dir;                      /* original directory (expanded, normalized) */
        char *source_dir;               /* alternate location to read from; NULL when none */
        const char *filespec;
        bool recursive;
        Rule rule;
        vss_timestamp since;            /* RULE_SINCE_WRITER */
        bool differenced;               /* rule from a differenced entry: wins within its writer */
        FileSelectReason reason;
        size_t writer;
        const WmComponent *component;
        const BcdComponent *explicit_component;
        size_t volume;                  /* of source_dir ?: dir; NO_VOLUME: read live */
        bool walked;                    /* enumerated by a walk, not by the btrfs scan */
} Scope;

typedef struct Exclude {
        char *dir;
        const char *filespec;
        bool recursive;
        size_t writer;
} Exclude;

typedef struct Partial {
        char *path;                     /* original path of the file */
        char *ranges_path;              /* the ranges file, when ranges names one */
        const BcdPartialFile *entry;
        size_t writer;
        const WmComponent *component;
        const BcdComponent *explicit_component;
        bool effective;                 /* not excluded nor differenced by its writer, not a repeat */
        bool ranges_reported_elsewhere; /* its ranges file is another entry's (or a partial file) */
} Partial;

typedef struct Domain {
        size_t volume;
        char *dir;
        bool recursive;
} Domain;

typedef struct Volume {
        char *original;
        char *snapshot;
        uint64_t previous_generation;
        bool use_generation;
        const FileSelectVolume *in;     /* the caller's description (its changed entries) */
} Volume;

typedef struct WriterState {
        const WriterMetadata *wmd;
        const BcdWriter *bcd;
        vss_backup_type type;           /* effective, after the schema check */
} WriterState;

typedef struct Selector {
        const FileSelectInput *in;
        FileSelectCallback callback;
        void *userdata;
        char *error;

        WriterState *writers;
        size_t n_writers;
        Scope *scopes;
        size_t n_scopes;
        Exclude *excludes;
        size_t n_excludes;
        Partial *partials;
        size_t n_partials;
        Domain *domains;
        size_t n_domains;
        Volume *volumes;
        size_t n_volumes;

        /* Sorted original paths the walks and the btrfs scan leave to the partial source. */
        const char **skip;
        size_t n_skip;

        /* Per-directory candidates: scopes and excludes whose directory condition holds. */
        char *cand_dir;
        size_t cand_dir_size;
        bool cand_valid;
        size_t *cand_scopes;
        size_t n_cand_scopes;
        size_t *cand_excludes;
        size_t n_cand_excludes;

        /* The running enumeration. */
        const Domain *domain;
        size_t scan_volume;
        bool from_generation;
        char *path;                     /* original path of the current file */
        size_t path_size;
        char *aux;                      /* source path / alternate original path */
        size_t aux_size;
        char *aux2;
        size_t aux2_size;
} Selector;

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Is child strictly below the directory parent? */
static bool path_below(const char *child, const char *parent) {
        size_t n;

        if (streq(parent, "/"))
                return child[0] == '/' && child[1] != 0;
        n = strlen(parent);
        return strncmp(child, parent, n) == 0 && child[n] == '/';
}

/* Does a (dir, recursive) scope cover files directly in directory d? */
static bool dir_in_scope(const char *d, const char *dir, bool recursive) {
        return streq(d, dir) || (recursive && path_below(d, dir));
}

/* "<dir>/<rest>" without doubling the slash of the root. */
static int path_join(char **buf, size_t *size, const char *dir, const char *rest) {
        size_t dl = strlen(dir), rl = strlen(rest);
        int r;

        if (streq(dir, "/"))
                dl = 0;
        r = GREEDY_REALLOC(*buf, *size, dl + 1 + rl + 1);
        if (r < 0)
                return r;
        memmove(*buf, dir, dl);
        (*buf)[dl] = '/';
        memcpy(*buf + dl + 1, rest, rl + 1);
        return 0;
}

_printf_(2, 3) static int fail(Selector *s, const char *fmt, ...) {
        va_list ap;

        free(s->error);
        s->error = NULL;
        va_start(ap, fmt);
        if (vasprintf(&s->error, fmt, ap) < 0)
                s->error = NULL;
        va_end(ap);
        return 0;
}

static int expand_path(Selector *s, const char *path, const char *what, char **ret) {
        vss_hr hr;

        hr = bcd_path_expand(path, ret);
        if (hr == E_OUTOFMEMORY)
                return -ENOMEM;
        if (VSS_FAILED(hr)) {
                fail(s, "%s \"%s\" is not an absolute path or names an unset variable", what, path);
                return -EINVAL;
        }
        return 0;
}

const char *file_select_reason_to_string(FileSelectReason reason) {
        static const char *const table[_FILE_SELECT_REASON_MAX] = {
                [FILE_SELECT_FILE_SET] = "file-set",
                [FILE_SELECT_DIFFERENCED] = "differenced",
                [FILE_SELECT_NEW_FILE] = "new-file",
                [FILE_SELECT_PARTIAL] = "partial",
                [FILE_SELECT_RANGES_FILE] = "ranges-file",
        };

        if ((unsigned) reason >= _FILE_SELECT_REASON_MAX)
                return NULL;
        return table[reason];
}

/* ------------------------------------------------------------------------------------------ */
/* The rules of §9                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* Step 1: the backup type a writer is actually backed up with. */
static vss_backup_type effective_type(vss_backup_type type, uint32_t schema, const FileSelectInput *in) {
        bool exclusive = schema & VSS_BS_EXCLUSIVE_INCREMENTAL_DIFFERENTIAL;

        switch (type) {
        case VSS_BT_INCREMENTAL:
                if (!(schema & VSS_BS_INCREMENTAL) || (exclusive && in->chain_has_differential))
                        return VSS_BT_FULL;
                return type;
        case VSS_BT_DIFFERENTIAL:
                if (!(schema & VSS_BS_DIFFERENTIAL) || (exclusive && in->chain_has_incremental))
                        return VSS_BT_FULL;
                return type;
        case VSS_BT_LOG:
                return (schema & VSS_BS_LOG) ? type : VSS_BT_FULL;
        case VSS_BT_FULL:
        case VSS_BT_COPY:
                return type;
        default:
                return VSS_BT_FULL;
        }
}

/* Step 6: what a file set's FSBT mask asks of a backup of this (effective) type. */
static Rule rule_for_mask(uint32_t mask, vss_backup_type type) {
        uint32_t req = mask & VSS_FSBT_ALL_BACKUP_REQUIRED;
        bool in_full = req == 0 || (req & VSS_FSBT_FULL_BACKUP_REQUIRED);

        switch (type) {
        case VSS_BT_INCREMENTAL:
                if (req & VSS_FSBT_INCREMENTAL_BACKUP_REQUIRED)
                        return RULE_WHOLE;
                return in_full ? RULE_SINCE_OWN : RULE_NONE;
        case VSS_BT_DIFFERENTIAL:
                if (req & VSS_FSBT_DIFFERENTIAL_BACKUP_REQUIRED)
                        return RULE_WHOLE;
                return in_full ? RULE_SINCE_OWN : RULE_NONE;
        case VSS_BT_LOG:
                return (req & VSS_FSBT_LOG_BACKUP_REQUIRED) ? RULE_WHOLE : RULE_NONE;
        default:
                return in_full ? RULE_WHOLE : RULE_NONE;
        }
}

static bool needs_snapshot(uint32_t mask, vss_backup_type type) {
        if (mask == 0)
                return true;    /* nothing specified: the safe reading */
        switch (type) {
        case VSS_BT_INCREMENTAL:
                return mask & VSS_FSBT_INCREMENTAL_SNAPSHOT_REQUIRED;
        case VSS_BT_DIFFERENTIAL:
                return mask & VSS_FSBT_DIFFERENTIAL_SNAPSHOT_REQUIRED;
        case VSS_BT_LOG:
                return mask & VSS_FSBT_LOG_SNAPSHOT_REQUIRED;
        default:
                return mask & VSS_FSBT_FULL_SNAPSHOT_REQUIRED;
        }
}

static bool scope_selects(const Selector *s, const Scope *sc, const ChangeScanEntry *e) {
        vss_timestamp prev = s->in->previous_backup_time;

        switch (sc->rule) {
        case RULE_WHOLE:
                return true;
        case RULE_SINCE_WRITER:
                /* The writer's time is authoritative, whatever our own records say. */
                return !e->have_stat || e->mtime >= sc->since;
        case RULE_SINCE_OWN:
                if (s->from_generation || prev == 0 || !e->have_stat)
                        return true;
                return e->mtime >= prev || e->ctime >= prev;
        default:
                return false;
        }
}

/* The volume holding path: the longest original prefix. */
static size_t volume_of(const Selector *s, const char *path) {
        size_t best = NO_VOLUME, best_len = 0;

        for (size_t i = 0; i < s->n_volumes; i++) {
                const char *o = s->volumes[i].original;
                size_t n = strlen(o);

                if ((streq(path, o) || path_below(path, o)) && (best == NO_VOLUME || n > best_len)) {
                        best = i;
                        best_len = n;
                }
        }
        return best;
}

/* Where to read original-namespace path p: its volume's snapshot, or p itself. */
static int source_of(Selector *s, const char *p, char **buf, size_t *size, bool *ret_from_snapshot) {
        size_t v = volume_of(s, p);
        const char *rest;
        int r;

        if (v == NO_VOLUME) {
                r = GREEDY_REALLOC(*buf, *size, strlen(p) + 1);
                if (r < 0)
                        return r;
                strcpy(*buf, p);
                *ret_from_snapshot = false;
                return 0;
        }
        rest = streq(s->volumes[v].original, "/") ? p + 1 : p + strlen(s->volumes[v].original);
        while (*rest == '/')
                rest++;
        if (!*rest) {
                r = GREEDY_REALLOC(*buf, *size, strlen(s->volumes[v].snapshot) + 1);
                if (r < 0)
                        return r;
                strcpy(*buf, s->volumes[v].snapshot);
        } else {
                r = path_join(buf, size, s->volumes[v].snapshot, rest);
                if (r < 0)
                        return r;
        }
        *ret_from_snapshot = true;
        return 0;
}

static int skip_compare(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool skipped(const Selector *s, const char *path) {
        if (s->n_skip == 0)
                return false;
        return bsearch(&path, s->skip, s->n_skip, sizeof(*s->skip), skip_compare) != NULL;
}

static bool excluded_by_writer(const Selector *s, size_t writer, const char *dir, const char *name) {
        for (size_t i = 0; i < s->n_excludes; i++) {
                const Exclude *x = &s->excludes[i];

                if (x->writer == writer && dir_in_scope(dir, x->dir, x->recursive) &&
                    change_scan_filespec_match(x->filespec, name))
                        return true;
        }
        return false;
}

/* Split path into its directory (copied into *buf) and its name (pointing into path). */
static int split_path(const char *path, char **buf, size_t *size, const char **ret_name) {
        const char *slash = strrchr(path, '/');
        size_t n = slash == path ? 1 : (size_t) (slash - path);
        int r;

        r = GREEDY_REALLOC(*buf, *size, n + 1);
        if (r < 0)
                return r;
        memcpy(*buf, path, n);
        (*buf)[n] = 0;
        *ret_name = slash + 1;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Stage 1: scopes                                                                             */
/* ------------------------------------------------------------------------------------------ */

static void selector_done(Selector *s) {
        for (size_t i = 0; i < s->n_scopes; i++) {
                free(s->scopes[i].dir);
                free(s->scopes[i].source_dir);
        }
        for (size_t i = 0; i < s->n_excludes; i++)
                free(s->excludes[i].dir);
        for (size_t i = 0; i < s->n_partials; i++) {
                free(s->partials[i].path);
                free(s->partials[i].ranges_path);
        }
        for (size_t i = 0; i < s->n_domains; i++)
                free(s->domains[i].dir);
        for (size_t i = 0; i < s->n_volumes; i++) {
                free(s->volumes[i].original);
                free(s->volumes[i].snapshot);
        }
        free(s->writers);
        free(s->scopes);
        free(s->excludes);
        free(s->partials);
        free(s->domains);
        free(s->volumes);
        free(s->skip);
        free(s->cand_dir);
        free(s->cand_scopes);
        free(s->cand_excludes);
        free(s->path);
        free(s->aux);
        free(s->aux2);
        free(s->error);
}

#define GROW(array, n)                                                                       \
        ({                                                                                   \
                __typeof__(array) _a_ = reallocarray((array), (n) + 1, sizeof(*(array)));    \
                if (_a_)                                                                     \
                        (array) = _a_;                                                       \
                _a_ ? 0 : -ENOMEM;                                                           \
        })

static int add_scope(Selector *s, const Scope *sc) {
        int r;

        r = GROW(s->scopes, s->n_scopes);
        if (r < 0)
                return r;
        s->scopes[s->n_scopes++] = *sc;
        return 0;
}

static int load_volumes(Selector *s) {
        const FileSelectInput *in = s->in;

        if (in->n_volumes > 0 && !in->volumes)
                return -EINVAL;
        s->volumes = calloc(MAX(in->n_volumes, (size_t) 1), sizeof(*s->volumes));
        if (!s->volumes)
                return -ENOMEM;
        for (size_t i = 0; i < in->n_volumes; i++) {
                const FileSelectVolume *v = &in->volumes[i];
                Volume *o = &s->volumes[i];
                size_t n;
                int r;

                if (!v->original || v->original[0] != '/' || !v->snapshot || v->snapshot[0] != '/') {
                        fail(s, "volume %zu: original and snapshot paths must be absolute", i);
                        return -EINVAL;
                }
                s->n_volumes++;
                r = expand_path(s, v->original, "volume", &o->original);
                if (r < 0)
                        return r;
                o->snapshot = strdup(v->snapshot);
                if (!o->snapshot)
                        return -ENOMEM;
                n = strlen(o->snapshot);
                while (n > 1 && o->snapshot[n - 1] == '/')
                        o->snapshot[--n] = 0;
                o->previous_generation = v->previous_generation;
                o->in = v;
        }
        return 0;
}

static const char *component_full_path(const WmComponent *c, char **buf) {
        free(*buf);
        *buf = NULL;
        if (isempty(c->logical_path))
                return (*buf = strdup(c->name));
        if (asprintf(buf, "%s\\%s", c->logical_path, c->name) < 0)
                *buf = NULL;
        return *buf;
}

/* §7: the explicit components of a writer and the implicit subcomponents of the selectable ones. */
static int include_components(Selector *s, const WriterState *w, const BcdComponent **included) {
        const WriterMetadata *m = w->wmd;
        _cleanup_free_ char *full = NULL;

        for (size_t i = 0; i < w->bcd->n_components; i++) {
                const BcdComponent *bc = w->bcd->components[i];
                const WmComponent *c = writer_metadata_find_component(m, bc->logical_path, bc->name);
                size_t ci, flen;

                if (!c) {
                        fail(s, "writer \"%s\": component \"%s\\%s\" in the backup components document is not in its metadata",
                             m->writer_name, bc->logical_path, bc->name);
                        return -EBADMSG;
                }
                ci = (size_t) (c - m->components);
                if (!included[ci])
                        included[ci] = bc;
                if (!c->selectable)
                        continue;       /* non-selectable components do not form sets */
                if (!component_full_path(c, &full))
                        return -ENOMEM;
                flen = strlen(full);
                for (size_t j = 0; j < m->n_components; j++) {
                        const char *lp = m->components[j].logical_path;

                        if (included[j])
                                continue;
                        if (streq(lp, full) || (strncmp(lp, full, flen) == 0 && lp[flen] == '\\'))
                                included[j] = bc;
                }
        }
        return 0;
}

static Rule differenced_rule(const BcdDifferencedFile *d, vss_timestamp *ret_since) {
        *ret_since = d->last_modify_time;
        return d->last_modify_time != 0 ? RULE_SINCE_WRITER : RULE_SINCE_OWN;
}

static int place_scope(Selector *s, Scope *sc, uint32_t mask, vss_backup_type type, const WriterState *w) {
        const char *where = sc->source_dir ?: sc->dir;

        sc->volume = volume_of(s, where);
        sc->walked = true;
        if (sc->volume == NO_VOLUME && needs_snapshot(mask, type)) {
                fail(s, "writer \"%s\", component \"%s\": \"%s\" needs a snapshot for this backup but lies on no snapshotted volume",
                     w->wmd->writer_name, sc->component->name, where);
                return -EXDEV;
        }
        return 0;
}

static int build_writer(Selector *s, size_t wi) {
        const WriterState *w = &s->writers[wi];
        const WriterMetadata *m = w->wmd;
        bool differencing = w->type == VSS_BT_INCREMENTAL || w->type == VSS_BT_DIFFERENTIAL;
        _cleanup_free_ const BcdComponent **included = NULL;
        _cleanup_free_ bool *used = NULL;
        size_t n_diff = 0, base;
        int r;

        included = calloc(MAX(m->n_components, (size_t) 1), sizeof(*included));
        if (!included)
                return -ENOMEM;
        r = include_components(s, w, included);
        if (r < 0)
                return r;

        /* One "used" flag per differenced entry of the writer, in component order. */
        for (size_t i = 0; i < w->bcd->n_components; i++)
                n_diff += w->bcd->components[i]->n_differenced_files;
        used = calloc(MAX(n_diff, (size_t) 1), sizeof(*used));
        if (!used)
                return -ENOMEM;

        for (size_t i = 0; i < m->n_filesets; i++) {
                const WmFileSet *fs = &m->filesets[i];
                const WmComponent *c = writer_metadata_find_component(m, fs->logical_path, fs->component_name);
                const BcdComponent *ex;
                Scope sc = {};

                if (!c || !(ex = included[c - m->components]))
                        continue;
                sc = (Scope) {
                        .filespec = fs->filespec,
                        .recursive = fs->recursive,
                        .rule = rule_for_mask(fs->backup_type_mask, w->type),
                        .reason = FILE_SELECT_FILE_SET,
                        .writer = wi,
                        .component = c,
                        .explicit_component = ex,
                };
                r = expand_path(s, fs->path, "file set path", &sc.dir);
                if (r < 0)
                        return r;
                if (fs->alternate_location) {
                        r = expand_path(s, fs->alternate_location, "alternate location", &sc.source_dir);
                        if (r < 0)
                                goto fail_scope;
                }

                /* Step 4: a differenced entry equal to this set replaces its rule and its FSBT. */
                base = 0;
                for (size_t k = 0; differencing && k < w->bcd->n_components; k++) {
                        const BcdComponent *bc = w->bcd->components[k];

                        for (size_t j = 0; bc == ex && j < bc->n_differenced_files; j++) {
                                const BcdDifferencedFile *d = &bc->differenced_files[j];

                                if (!streq(d->path, sc.dir) || !streq(d->filespec, fs->filespec) ||
                                    d->recursive != fs->recursive)
                                        continue;
                                used[base + j] = true;
                                if (!sc.differenced) {
                                        sc.rule = differenced_rule(d, &sc.since);
                                        sc.differenced = true;
                                        sc.reason = FILE_SELECT_DIFFERENCED;
                                }
                        }
                        base += bc->n_differenced_files;
                }
                if (sc.rule == RULE_NONE) {
                        free(sc.dir);
                        free(sc.source_dir);
                        continue;
                }
                r = place_scope(s, &sc, fs->backup_type_mask, w->type, w);
                if (r < 0)
                        goto fail_scope;
                r = add_scope(s, &sc);
                if (r < 0)
                        goto fail_scope;
                continue;
        fail_scope:
                free(sc.dir);
                free(sc.source_dir);
                return r;
        }

        /* Differenced entries equal to no declared set: new files of their component. */
        base = 0;
        for (size_t k = 0; differencing && k < w->bcd->n_components; k++) {
                const BcdComponent *bc = w->bcd->components[k];
                const WmComponent *c = writer_metadata_find_component(m, bc->logical_path, bc->name);

                for (size_t j = 0; j < bc->n_differenced_files; j++) {
                        const BcdDifferencedFile *d = &bc->differenced_files[j];
                        Scope sc;

                        if (used[base + j])
                                continue;
                        sc = (Scope) {
                                .filespec = d->filespec,
                                .recursive = d->recursive,
                                .differenced = true,
                                .reason = FILE_SELECT_NEW_FILE,
                                .writer = wi,
                                .component = c,
                                .explicit_component = bc,
                        };
                        sc.rule = differenced_rule(d, &sc.since);
                        sc.dir = strdup(d->path);
                        if (!sc.dir)
                                return -ENOMEM;
                        r = place_scope(s, &sc, VSS_FSBT_ALL_SNAPSHOT_REQUIRED, w->type, w);
                        if (r >= 0)
                                r = add_scope(s, &sc);
                        if (r < 0) {
                                free(sc.dir);
                                return r;
                        }
                }
                base += bc->n_differenced_files;
        }

        for (size_t i = 0; i < m->n_excludes; i++) {
                Exclude x = {
                        .filespec = m->excludes[i].filespec,
                        .recursive = m->excludes[i].recursive,
                        .writer = wi,
                };

                r = expand_path(s, m->excludes[i].path, "exclude path", &x.dir);
                if (r < 0)
                        return r;
                r = GROW(s->excludes, s->n_excludes);
                if (r < 0) {
                        free(x.dir);
                        return r;
                }
                s->excludes[s->n_excludes++] = x;
        }

        for (size_t k = 0; k < w->bcd->n_components; k++) {
                const BcdComponent *bc = w->bcd->components[k];
                const WmComponent *c = writer_metadata_find_component(m, bc->logical_path, bc->name);

                for (size_t j = 0; j < bc->n_partial_files; j++) {
                        const BcdPartialFile *pf = &bc->partial_files[j];
                        _cleanup_free_ char *dir = NULL;
                        Partial p = {
                                .entry = pf,
                                .writer = wi,
                                .component = c,
                                .explicit_component = bc,
                        };

                        r = expand_path(s, pf->path, "partial file path", &dir);
                        if (r < 0)
                                return r;
                        r = path_join(&p.path, &(size_t) { 0 }, dir, pf->filename);
                        if (r < 0)
                                return r;
                        if (pf->ranges[0] == '/' && !(p.ranges_path = strdup(pf->ranges))) {
                                free(p.path);
                                return -ENOMEM;
                        }
                        r = GROW(s->partials, s->n_partials);
                        if (r < 0) {
                                free(p.path);
                                free(p.ranges_path);
                                return r;
                        }
                        s->partials[s->n_partials++] = p;
                }
        }
        return 0;
}

typedef struct SkipEntry {
        const char *path;
        size_t partial;         /* index in Selector.partials */
        bool ranges;            /* the partial's ranges file, not the partial file itself */
} SkipEntry;

static int skip_entry_compare(const void *a, const void *b) {
        const SkipEntry *x = a, *y = b;
        int c = strcmp(x->path, y->path);

        if (c != 0)
                return c;
        if (x->ranges != y->ranges)
                return x->ranges ? 1 : -1;      /* a partial file before a ranges file of the same path */
        return x->partial < y->partial ? -1 : x->partial > y->partial;
}

/*
 * A partial file counts unless its own writer excludes it or differences it; a file named
 * twice (or a ranges file shared by several partial files) is reported once, for the first
 * entry. Sorting keeps this O(n log n) for the thousands of entries a document may hold.
 */
static int settle_partials(Selector *s) {
        _cleanup_free_ SkipEntry *entries = NULL;
        size_t n = 0;

        for (size_t i = 0; i < s->n_partials; i++) {
                Partial *p = &s->partials[i];
                const char *name;
                int r;

                r = split_path(p->path, &s->aux, &s->aux_size, &name);
                if (r < 0)
                        return r;
                p->effective = !excluded_by_writer(s, p->writer, s->aux, name);
                for (size_t j = 0; p->effective && j < s->n_scopes; j++) {
                        const Scope *sc = &s->scopes[j];

                        if (sc->writer == p->writer && sc->differenced &&
                            dir_in_scope(s->aux, sc->dir, sc->recursive) &&
                            change_scan_filespec_match(sc->filespec, name))
                                p->effective = false;
                }
        }

        entries = calloc(MAX(2 * s->n_partials, (size_t) 1), sizeof(*entries));
        s->skip = calloc(MAX(2 * s->n_partials, (size_t) 1), sizeof(*s->skip));
        if (!entries || !s->skip)
                return -ENOMEM;

        /* First the partial files themselves: a repeat loses to the first entry. */
        for (size_t i = 0; i < s->n_partials; i++)
                if (s->partials[i].effective)
                        entries[n++] = (SkipEntry) { .path = s->partials[i].path, .partial = i };
        qsort(entries, n, sizeof(*entries), skip_entry_compare);
        for (size_t i = 1; i < n; i++)
                if (streq(entries[i].path, entries[i - 1].path))
                        s->partials[entries[i].partial].effective = false;

        /* Then with the ranges files of those that remain: one report per path. */
        n = 0;
        for (size_t i = 0; i < s->n_partials; i++) {
                if (!s->partials[i].effective)
                        continue;
                entries[n++] = (SkipEntry) { .path = s->partials[i].path, .partial = i };
                if (s->partials[i].ranges_path)
                        entries[n++] = (SkipEntry) { .path = s->partials[i].ranges_path, .partial = i, .ranges = true };
        }
        qsort(entries, n, sizeof(*entries), skip_entry_compare);
        for (size_t i = 0; i < n; i++) {
                if (i == 0 || !streq(entries[i].path, entries[i - 1].path))
                        s->skip[s->n_skip++] = entries[i].path;
                else if (entries[i].ranges)
                        s->partials[entries[i].partial].ranges_reported_elsewhere = true;
        }
        return 0;
}

/* Volumes whose SINCE_OWN scopes the btrfs scan can serve instead of a walk. */
static void choose_generation_volumes(Selector *s) {
        for (size_t v = 0; v < s->n_volumes; v++) {
                Volume *vol = &s->volumes[v];
                bool wanted = false;

                for (size_t i = 0; i < s->n_scopes && !wanted; i++)
                        wanted = s->scopes[i].volume == v && s->scopes[i].rule == RULE_SINCE_OWN;
                if (!wanted || vol->previous_generation == 0 || s->in->previous_backup_time == 0)
                        continue;
                vol->use_generation = change_scan_btrfs_probe(vol->snapshot) >= 0;
                for (size_t i = 0; vol->use_generation && i < s->n_scopes; i++)
                        if (s->scopes[i].volume == v && s->scopes[i].rule == RULE_SINCE_OWN)
                                s->scopes[i].walked = false;
        }
}

static int add_domain(Selector *s, size_t volume, const char *dir, bool recursive) {
        char *d;
        int r;

        /* Already covered by a domain, or covering some (which then go)? */
        for (size_t i = 0; i < s->n_domains; i++) {
                const Domain *o = &s->domains[i];

                if (o->volume != volume)
                        continue;
                if (streq(o->dir, dir) ? (o->recursive || !recursive) : (o->recursive && path_below(dir, o->dir)))
                        return 0;
        }
        for (size_t i = 0; i < s->n_domains;) {
                Domain *o = &s->domains[i];

                if (o->volume == volume && recursive && (streq(o->dir, dir) || path_below(o->dir, dir))) {
                        free(o->dir);
                        *o = s->domains[--s->n_domains];
                } else
                        i++;
        }

        d = strdup(dir);
        if (!d)
                return -ENOMEM;
        r = GROW(s->domains, s->n_domains);
        if (r < 0) {
                free(d);
                return r;
        }
        s->domains[s->n_domains++] = (Domain) { .volume = volume, .dir = d, .recursive = recursive };

        /* A recursive domain over another volume's mount point continues in that volume's snapshot. */
        for (size_t v = 0; recursive && v < s->n_volumes; v++)
                if (v != volume && path_below(s->volumes[v].original, dir)) {
                        r = add_domain(s, v, s->volumes[v].original, true);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int build_domains(Selector *s) {
        for (size_t i = 0; i < s->n_scopes; i++) {
                const Scope *sc = &s->scopes[i];
                int r;

                if (!sc->walked)
                        continue;
                r = add_domain(s, sc->volume, sc->source_dir ?: sc->dir, sc->recursive);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Stage 3: the decision for one file                                                          */
/* ------------------------------------------------------------------------------------------ */

static int candidates_for(Selector *s, const char *dir) {
        int r;

        if (s->cand_valid && streq(s->cand_dir, dir))
                return 0;
        r = GREEDY_REALLOC(s->cand_dir, s->cand_dir_size, strlen(dir) + 1);
        if (r < 0)
                return r;
        strcpy(s->cand_dir, dir);
        s->n_cand_scopes = s->n_cand_excludes = 0;
        for (size_t i = 0; i < s->n_scopes; i++)
                if (dir_in_scope(dir, s->scopes[i].source_dir ?: s->scopes[i].dir, s->scopes[i].recursive))
                        s->cand_scopes[s->n_cand_scopes++] = i;
        for (size_t i = 0; i < s->n_excludes; i++)
                if (dir_in_scope(dir, s->excludes[i].dir, s->excludes[i].recursive))
                        s->cand_excludes[s->n_cand_excludes++] = i;
        s->cand_valid = true;
        return 0;
}

static bool cand_excluded(const Selector *s, size_t writer, const char *name) {
        for (size_t i = 0; i < s->n_cand_excludes; i++) {
                const Exclude *x = &s->excludes[s->cand_excludes[i]];

                if (x->writer == writer && change_scan_filespec_match(x->filespec, name))
                        return true;
        }
        return false;
}

/* The scope that copies the file at its own path, or NULL. Candidates are grouped by writer. */
static const Scope *decide_plain(const Selector *s, const char *name, const ChangeScanEntry *e) {
        size_t i = 0;

        while (i < s->n_cand_scopes) {
                size_t w = s->scopes[s->cand_scopes[i]].writer;
                const Scope *diff_sel = NULL, *set_sel = NULL;
                bool any = false, any_diff = false;

                for (; i < s->n_cand_scopes && s->scopes[s->cand_scopes[i]].writer == w; i++) {
                        const Scope *sc = &s->scopes[s->cand_scopes[i]];

                        if (sc->source_dir || !change_scan_filespec_match(sc->filespec, name))
                                continue;
                        any = true;
                        if (sc->differenced) {
                                any_diff = true;
                                if (!diff_sel && scope_selects(s, sc, e))
                                        diff_sel = sc;
                        } else if (!set_sel && scope_selects(s, sc, e))
                                set_sel = sc;
                }
                if (!any || cand_excluded(s, w, name))
                        continue;
                if (any_diff ? diff_sel : set_sel)
                        return any_diff ? diff_sel : set_sel;
        }
        return NULL;
}

static int report(Selector *s, const FileSelectFile *f) {
        int r = s->callback(f, s->userdata);

        return r < 0 ? r : 0;
}

static void file_from_scope(FileSelectFile *f, const Selector *s, const Scope *sc, const ChangeScanEntry *e) {
        *f = (FileSelectFile) {
                .reason = sc->reason,
                .type = e->type,
                .have_stat = e->have_stat,
                .mtime = e->mtime,
                .ctime = e->ctime,
                .size = e->size,
                .writer_instance_id = &s->writers[sc->writer].bcd->instance_id,
                .component = sc->component,
                .explicit_component = sc->explicit_component,
        };
}

/* Alternate-location scopes matching the file: each reads it for the original path it stands for. */
static int decide_alternates(Selector *s, const char *path, const char *name, const ChangeScanEntry *e) {
        for (size_t i = 0; i < s->n_cand_scopes; i++) {
                const Scope *sc = &s->scopes[s->cand_scopes[i]];
                const char *rest, *oname;
                FileSelectFile f;
                bool dup = false, from_snapshot;
                int r;

                if (!sc->source_dir || !change_scan_filespec_match(sc->filespec, name) || !scope_selects(s, sc, e))
                        continue;
                for (size_t j = 0; j < i && !dup; j++) {
                        const Scope *o = &s->scopes[s->cand_scopes[j]];

                        dup = o->source_dir && streq(o->source_dir, sc->source_dir) && streq(o->dir, sc->dir) &&
                              change_scan_filespec_match(o->filespec, name) && scope_selects(s, o, e);
                }
                if (dup)
                        continue;

                rest = path + (streq(sc->source_dir, "/") ? 1 : strlen(sc->source_dir) + 1);
                r = path_join(&s->aux, &s->aux_size, sc->dir, rest);
                if (r < 0)
                        return r;
                r = split_path(s->aux, &s->aux2, &s->aux2_size, &oname);
                if (r < 0)
                        return r;
                if (excluded_by_writer(s, sc->writer, s->aux2, oname) || skipped(s, s->aux))
                        continue;
                r = source_of(s, path, &s->aux2, &s->aux2_size, &from_snapshot);
                if (r < 0)
                        return r;
                file_from_scope(&f, s, sc, e);
                f.original_path = s->aux;
                f.source_path = s->aux2;
                f.from_snapshot = from_snapshot;
                f.from_alternate_location = true;
                r = report(s, &f);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* One enumerated file at original-namespace path (in s->path). */
static int evaluate(Selector *s, const ChangeScanEntry *e) {
        const char *name;
        const Scope *sc;
        int r;

        if (e->type != DT_REG && e->type != DT_LNK)
                return 0;
        r = split_path(s->path, &s->aux, &s->aux_size, &name);
        if (r < 0)
                return r;
        r = candidates_for(s, s->aux);
        if (r < 0)
                return r;

        if (!skipped(s, s->path) && (sc = decide_plain(s, name, e))) {
                FileSelectFile f;
                bool from_snapshot;

                r = source_of(s, s->path, &s->aux2, &s->aux2_size, &from_snapshot);
                if (r < 0)
                        return r;
                file_from_scope(&f, s, sc, e);
                f.original_path = s->path;
                f.source_path = s->aux2;
                f.from_snapshot = from_snapshot;
                r = report(s, &f);
                if (r < 0)
                        return r;
        }
        return decide_alternates(s, s->path, name, e);
}

/* ------------------------------------------------------------------------------------------ */
/* Stage 2: sources                                                                            */
/* ------------------------------------------------------------------------------------------ */

static bool in_walk_domain(const Selector *s, size_t volume, const char *dir) {
        for (size_t i = 0; i < s->n_domains; i++)
                if (s->domains[i].volume == volume &&
                    dir_in_scope(dir, s->domains[i].dir, s->domains[i].recursive))
                        return true;
        return false;
}

static int walk_callback(const ChangeScanEntry *e, void *userdata) {
        Selector *s = userdata;
        int r;

        r = path_join(&s->path, &s->path_size, s->domain->dir, e->path);
        if (r < 0)
                return r;
        if (e->type == DT_DIR)
                /* A nested volume's mount point: its own snapshot is walked instead. */
                return volume_of(s, s->path) != s->domain->volume ? CHANGE_SCAN_SKIP : 0;
        return evaluate(s, e);
}

static int walk_domain(Selector *s, const Domain *d) {
        ChangeScanFlags flags = 0;
        vss_timestamp since = s->in->previous_backup_time;
        _cleanup_close_ int root_fd = -EBADF;
        const char *rel;
        int r;

        /* Let the walk drop unchanged files itself when nothing in the walk needs them, and
         * skip the statx per file altogether when every walked rule copies whole sets. */
        for (size_t i = 0; i < s->n_scopes; i++) {
                if (!s->scopes[i].walked)
                        continue;
                if (s->scopes[i].rule != RULE_SINCE_OWN)
                        since = 0;
                if (s->scopes[i].rule != RULE_WHOLE)
                        flags |= CHANGE_SCAN_STAT;
        }
        if (d->recursive)
                flags |= CHANGE_SCAN_RECURSIVE;
        for (size_t v = 0; d->recursive && v < s->n_volumes; v++)
                if (v != d->volume && path_below(s->volumes[v].original, d->dir))
                        flags |= CHANGE_SCAN_DIRS;

        if (d->volume == NO_VOLUME) {
                root_fd = AT_FDCWD;
                rel = d->dir;
        } else {
                const Volume *v = &s->volumes[d->volume];

                root_fd = open(v->snapshot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (root_fd < 0) {
                        r = -errno;
                        fail(s, "cannot open the snapshot \"%s\" of volume \"%s\": %s", v->snapshot, v->original,
                             strerror(-r));
                        return r;
                }
                rel = streq(v->original, "/") ? d->dir + 1 : d->dir + strlen(v->original);
                while (*rel == '/')
                        rel++;
                if (!*rel)
                        rel = ".";
        }

        s->domain = d;
        s->from_generation = false;
        r = change_scan_walk(root_fd, rel, NULL, flags, since, walk_callback, s);
        if (root_fd == AT_FDCWD)
                root_fd = -EBADF;
        /* A file set whose directory does not exist (or is a file) has no files. */
        if (r == -ENOENT || r == -ENOTDIR)
                return 0;
        if (r == -ELOOP && !s->error)
                fail(s, "\"%s\" holds a symbolic link or is nested too deep; file sets are never read through links",
                     d->dir);
        return r;
}

static int btrfs_callback(const ChangeScanEntry *e, void *userdata) {
        Selector *s = userdata;
        const Volume *v = &s->volumes[s->scan_volume];
        const char *name;
        int r;

        r = path_join(&s->path, &s->path_size, v->original, e->path);
        if (r < 0)
                return r;
        /* Under a nested volume's mount point (hidden on the live system), or left to a walk. */
        if (volume_of(s, s->path) != s->scan_volume)
                return 0;
        r = split_path(s->path, &s->aux, &s->aux_size, &name);
        if (r < 0)
                return r;
        if (in_walk_domain(s, s->scan_volume, s->aux))
                return 0;
        return evaluate(s, e);
}

static int report_partials(Selector *s) {
        for (size_t i = 0; i < s->n_partials; i++) {
                const Partial *p = &s->partials[i];
                FileSelectFile f = {
                        .type = DT_REG,
                        .writer_instance_id = &s->writers[p->writer].bcd->instance_id,
                        .component = p->component,
                        .explicit_component = p->explicit_component,
                };
                int r;

                if (!p->effective)
                        continue;
                r = source_of(s, p->path, &s->aux, &s->aux_size, &f.from_snapshot);
                if (r < 0)
                        return r;
                f.source_path = s->aux;
                f.original_path = p->path;
                f.reason = FILE_SELECT_PARTIAL;
                f.ranges = p->entry->ranges;
                r = report(s, &f);
                if (r < 0)
                        return r;

                if (!p->ranges_path || p->ranges_reported_elsewhere)
                        continue;
                r = source_of(s, p->ranges_path, &s->aux, &s->aux_size, &f.from_snapshot);
                if (r < 0)
                        return r;
                f.source_path = s->aux;
                f.original_path = p->ranges_path;
                f.reason = FILE_SELECT_RANGES_FILE;
                f.ranges = NULL;
                r = report(s, &f);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Entry point                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static int load_writers(Selector *s) {
        const FileSelectInput *in = s->in;
        const BackupComponents *bcd = in->bcd;

        if (in->n_writers > 0 && !in->writers)
                return -EINVAL;
        s->writers = calloc(MAX(bcd->n_writers, (size_t) 1), sizeof(*s->writers));
        if (!s->writers)
                return -ENOMEM;
        for (size_t i = 0; i < bcd->n_writers; i++) {
                const BcdWriter *bw = &bcd->writers[i];
                const WriterMetadata *m = NULL;

                if (bw->n_components == 0)
                        continue;       /* a writer with nothing selected takes no part */
                for (size_t j = 0; j < in->n_writers && !m; j++)
                        if (in->writers[j] && vss_id_equal(&in->writers[j]->instance_id, &bw->instance_id))
                                m = in->writers[j];
                if (!m) {
                        char id[VSS_ID_STRING_MAX];

                        vss_id_format(&bw->instance_id, id);
                        fail(s, "writer instance %s of the backup components document has no metadata", id);
                        return -EBADMSG;
                }
                s->writers[s->n_writers++] = (WriterState) {
                        .wmd = m,
                        .bcd = bw,
                        .type = effective_type(in->backup_type, m->backup_schema, in),
                };
        }
        return 0;
}

static int run(Selector *s) {
        int r;

        if (!s->in->bcd)
                return -EINVAL;
        r = load_volumes(s);
        if (r < 0)
                return r;
        r = load_writers(s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n_writers; i++) {
                r = build_writer(s, i);
                if (r < 0)
                        return r;
        }
        r = settle_partials(s);
        if (r < 0)
                return r;
        s->cand_scopes = calloc(MAX(s->n_scopes, (size_t) 1), sizeof(*s->cand_scopes));
        s->cand_excludes = calloc(MAX(s->n_excludes, (size_t) 1), sizeof(*s->cand_excludes));
        if (!s->cand_scopes || !s->cand_excludes)
                return -ENOMEM;

        choose_generation_volumes(s);
        r = build_domains(s);
        if (r < 0)
                return r;

        for (size_t i = 0; i < s->n_domains; i++) {
                r = walk_domain(s, &s->domains[i]);
                if (r < 0)
                        return r;
        }
        for (size_t v = 0; v < s->n_volumes; v++) {
                if (!s->volumes[v].use_generation)
                        continue;
                s->scan_volume = v;
                s->from_generation = true;
                if (s->volumes[v].in->have_changed) {
                        r = 0;
                        for (size_t k = 0; r >= 0 && k < s->volumes[v].in->n_changed; k++) {
                                const ChangeScanEntry *e = &s->volumes[v].in->changed[k];

                                if (e->type == DT_REG || e->type == DT_LNK)
                                        r = btrfs_callback(e, s);
                        }
                } else
                        r = change_scan_btrfs_changed(s->volumes[v].snapshot, s->volumes[v].previous_generation,
                                                      btrfs_callback, s);
                s->from_generation = false;
                if (r < 0) {
                        if (!s->error)
                                fail(s, "btrfs scan of \"%s\" failed: %s", s->volumes[v].snapshot, strerror(-r));
                        return r;
                }
        }
        return report_partials(s);
}

int file_select(const FileSelectInput *in, FileSelectCallback callback, void *userdata, char **reterr_message) {
        Selector s = {
                .in = in,
                .callback = callback,
                .userdata = userdata,
        };
        int r;

        if (!in || !callback)
                return -EINVAL;
        r = run(&s);
        if (r < 0 && reterr_message && s.error)
                *reterr_message = TAKE_PTR(s.error);
        selector_done(&s);
        return r;
}
