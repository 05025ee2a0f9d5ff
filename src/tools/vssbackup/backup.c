/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup.c: `vssbackup backup`, one backup from start to finish.
 *
 * The VSS sequence (vss-semantics.md §2) with every writer's components added, then the
 * requester's file selection (file-select.[ch], §9) over the snapshots, then the copy into one
 * archive per volume (backup-archive.[ch]), then SetBackupSucceeded per component, true only
 * when every file of it was stored, BackupComplete and the writers' final status.
 *
 * What a volume contributes beyond the writers' file sets: the whole volume is backed up, as
 * the files of a component of our own ("vssbackup volumes", never sent to vssd) that only
 * file_select sees. Its file set is the volume with the schema and FSBT that make incrementals
 * and differentials copy changed files, and it takes every real writer's excludes, so a file
 * a writer excludes is not copied for the volume either. file_select then reports each path
 * once whoever wants it, by times or, on btrfs with the previous generation, by the
 * O(changed) scan.
 *
 * What selection cannot see (docs/file-selection.md "Known limits") the listing covers: every
 * backup stores the list of paths its snapshot held; a path absent from the previous backup's
 * listing is copied whatever its times (a renamed directory, a file moved in with cp -p), and
 * a path absent from this listing was deleted, which a restore honours.
 *
 * Directory layout (docs/vssbackup.md): DIR/<time>-<type>-<id8>/ holding vol-N.tar.zst,
 * vol-N.list, other.tar.zst (writer files outside the snapshotted volumes, read live),
 * backup-components.xml, writer-N.xml and the manifest, written last. The directory is built
 * as DIR/.tmp-<id> and renamed when complete; DIR/.lock keeps two runs apart.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "backup-archive.h"
#include "backup-components.h"
#include "bcd-xml.h"
#include "change-scan.h"
#include "file-select.h"
#include "tool.h"
#include "vssbackup.h"
#include "wmd-xml.h"
#include "writer-metadata.h"
#include "xxhash-util.h"

/* Our own component's identity: fixed, so the same volume is the same component in every backup. */
static const vss_id own_writer_id = { { 0x5b, 0x0e, 0x2a, 0x71, 0x4c, 0x3d, 0x4f, 0x19,
                                        0x9a, 0x61, 0x0d, 0x8e, 0x27, 0xb4, 0xc3, 0x52 } };
static const vss_id own_instance_id = { { 0x5b, 0x0e, 0x2a, 0x71, 0x4c, 0x3d, 0x4f, 0x19,
                                          0x9a, 0x61, 0x0d, 0x8e, 0x27, 0xb4, 0xc3, 0x53 } };
#define OWN_WRITER_NAME "vssbackup volumes"

/* Per-file error messages printed before they are only counted. */
#define MAX_FILE_ERRORS_SHOWN 50U

typedef struct Selected {
        char *source;                   /* absolute path to read (in a snapshot, or live) */
        char *relpath;                  /* the path stored in the archive */
        char type;                      /* LISTING_FILE, LISTING_SYMLINK or LISTING_DIR */
        uint64_t size;
        const vss_id *instance_id;      /* who wanted it: the explicit component's writer ... */
        const BcdComponent *component;  /* ... and component; NULL for the listing's new paths */
} Selected;

typedef struct SelectedList {
        Selected *items;
        size_t n_items;
        size_t n_allocated;
        PathSet *paths;                 /* relpaths in items */
} SelectedList;

/* The snapshot area of the btrfs and image providers at a volume's top: never backed up. */
#define SNAPSHOT_AREA ".vss-snapshots"

/* Files whose reading is started ahead of the one being copied (archive_writer_prefetch). */
#define PREFETCH_FILES 32U

typedef struct VolumeWork {
        char *path;                     /* canonical original path of the volume */
        char **scopes;                  /* the named paths on it, relative to path; "" the whole volume */
        size_t n_scopes;
        vss_id snapshot_id;
        char *snapshot;                 /* where the snapshot can be read */
        uint64_t generation;            /* of this snapshot (btrfs), 0 unknown */
        const ManifestVolume *previous; /* the same volume in the parent backup, or NULL */
        PathSet *previous_listing;      /* its listing, or NULL (walk) */
        PathSet *listed;                /* what this backup lists (all of it after a walk) */
        ListingWriter *listing;
        SelectedList dirs;              /* directories whose metadata is stored, parents first */
        SelectedList files;
        char *filter;                   /* XXH3-128 of what decides what is listed (listing_filter_of) */
        /* By changed directories (relist_changed) instead of a walk: */
        bool delta;
        Listing **previous_chain;       /* the previous state's listings, newest first, down to a whole one */
        size_t n_previous_chain;
        PathSet *groups;                /* directories read whole by this backup */
        PathSet *walked_new;            /* new directories walked whole (nothing below was there before) */
        uint64_t dirs_read;             /* directories whose entries this backup read */
        ChangeScanEntry *changed;       /* the files the same search found changed, for file_select */
        size_t n_changed, n_changed_alloc;
} VolumeWork;

typedef struct Run {
        const BackupOptions *o;
        char **named;                   /* the paths named, canonical */
        size_t n_named;
        vss_requester *r;
        int dirfd;                      /* DIR */
        int tmpfd;                      /* DIR/.tmp-<id> */
        int lockfd;                     /* DIR/.lock, held (flock) until the run is done */
        char *tmp_name;
        Catalog catalog;
        const Manifest *parent;
        Manifest *m;                    /* being built */

        VolumeWork *volumes;
        size_t n_volumes;
        SelectedList other;             /* files read live, outside every volume */

        WriterMetadata **writers;       /* every writer's metadata, then our own last */
        char **writer_xml;
        char **writer_names;
        size_t n_writers;               /* real writers */
        BackupComponents *bcd;          /* vssd's document after DoSnapshotSet, plus our own components */

        PathSet *failed_instances;      /* writers that reported a failure: their components failed */
        PathSet *failed_components;     /* "instance/logical path/name" of components missing a file */
        unsigned file_errors;
        bool prepared;                  /* PrepareForBackup was sent: AbortBackup is legal */
        bool snapshot_done;
        char *stored_name;              /* the backup's final name, once renamed (before BackupComplete) */
        uint64_t total_bytes;           /* of the selection: what a destination must hold at most */
        Progress progress;
} Run;

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* A VSS step's result: false after the tools' one error line for it (tool.h). */
static bool hr_check(Run *run, const char *what, vss_hr hr) {
        if (VSS_SUCCEEDED(hr))
                return true;
        (void) tool_step_failed(run->r, what, hr);
        return false;
}

/* A failed VSS call because of a signal is the interrupt, not the call's failure. */
#define HR_CHECK_OR_INTERRUPTED(run, what, hr) \
        (tool_interrupt_signal() ? -EINTR : hr_check(run, what, hr) ? 0 : -EIO)

static char *component_key(const vss_id *instance, const char *logical_path, const char *name) {
        char buf[VSS_ID_STRING_MAX], *key = NULL;

        if (asprintf(&key, "%s/%s/%s", vss_id_format(instance, buf), strempty(logical_path), strempty(name)) < 0)
                return NULL;
        return key;
}

static int write_file_at(int dirfd, const char *name, const void *data, size_t len) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        for (size_t done = 0; done < len;) {
                ssize_t n = write(fd, (const char *) data + done, len - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) n;
        }
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

static void selected_list_done(SelectedList *l) {
        for (size_t i = 0; i < l->n_items; i++) {
                free(l->items[i].source);
                free(l->items[i].relpath);
        }
        free(l->items);
        pathset_free(l->paths);
        *l = (SelectedList) {};
}

/* Adds relpath once; 1 when added, 0 when it was there. */
static int selected_list_add(SelectedList *l, const char *source, const char *relpath, char type, uint64_t size,
                             const vss_id *instance_id, const BcdComponent *component) {
        Selected *s;
        int r;

        if (!l->paths) {
                l->paths = pathset_new();
                if (!l->paths)
                        return -ENOMEM;
        }
        r = pathset_put(l->paths, relpath, type);
        if (r <= 0)
                return r;
        if (GREEDY_REALLOC(l->items, l->n_allocated, l->n_items + 1) < 0)
                return -ENOMEM;
        s = &l->items[l->n_items];
        *s = (Selected) {
                .source = strdup(source),
                .relpath = strdup(relpath),
                .type = type,
                .size = size,
                .instance_id = instance_id,
                .component = component,
        };
        if (!s->source || !s->relpath) {
                free(s->source);
                free(s->relpath);
                return -ENOMEM;
        }
        l->n_items++;
        return 1;
}

static int selected_compare(const void *a, const void *b) {
        return strcmp(((const Selected *) a)->relpath, ((const Selected *) b)->relpath);
}

static void run_done(Run *run) {
        for (size_t i = 0; i < run->n_volumes; i++) {
                VolumeWork *v = &run->volumes[i];

                free(v->path);
                patterns_free(v->scopes, v->n_scopes);
                free(v->snapshot);
                pathset_free(v->previous_listing);
                pathset_free(v->listed);
                pathset_free(v->groups);
                pathset_free(v->walked_new);
                free(v->filter);
                for (size_t k = 0; k < v->n_previous_chain; k++)
                        listing_free(v->previous_chain[k]);
                free(v->previous_chain);
                for (size_t k = 0; k < v->n_changed; k++)
                        free((char *) v->changed[k].path);
                free(v->changed);
                listing_writer_free(v->listing);
                selected_list_done(&v->dirs);
                selected_list_done(&v->files);
        }
        free(run->volumes);
        patterns_free(run->named, run->n_named);
        free(run->stored_name);
        selected_list_done(&run->other);
        for (size_t i = 0; i < run->n_writers + 1; i++) {
                if (run->writers)
                        writer_metadata_free(run->writers[i]);
                if (run->writer_xml)
                        free(run->writer_xml[i]);
                if (run->writer_names)
                        free(run->writer_names[i]);
        }
        free(run->writers);
        free(run->writer_xml);
        free(run->writer_names);
        backup_components_free(run->bcd);
        pathset_free(run->failed_instances);
        pathset_free(run->failed_components);
        manifest_free(run->m);
        catalog_done(&run->catalog);
        free(run->tmp_name);
        if (run->tmpfd >= 0)
                close(run->tmpfd);
        if (run->dirfd >= 0)
                close(run->dirfd);
        if (run->lockfd >= 0)
                close(run->lockfd);
}

/* ------------------------------------------------------------------------------------------ */
/* Before the snapshot: the backup directory, the chain, the volumes                          */
/* ------------------------------------------------------------------------------------------ */

/* Prints "vssbackup: what: error" and returns the negative errno. */
static int fail_errno(const char *what, const char *what2, int err) {
        fprintf(stderr, "vssbackup: %s%s: %s\n", what, strempty(what2), strerror(err));
        return -err;
}

static int open_backup_dir(Run *run) {
        struct dirent *de;
        DIR *d;
        int fd;

        if (mkdir(run->o->to, 0700) < 0 && errno != EEXIST)
                return fail_errno(run->o->to, NULL, errno);
        run->dirfd = open(run->o->to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (run->dirfd < 0)
                return fail_errno(run->o->to, NULL, errno);

        /* Held until run_done (or the process's end). */
        run->lockfd = lock_backup_dir(run->dirfd, run->o->to, run->o->wait_s);
        if (run->lockfd < 0)
                return run->lockfd;

        /* Under the lock, a temporary directory is what an interrupted run left: remove it. */
        fd = fcntl(run->dirfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d)))
                if (strncmp(de->d_name, VB_TMP_PREFIX, strlen(VB_TMP_PREFIX)) == 0)
                        (void) remove_flat_dir(run->dirfd, de->d_name);
        closedir(d);
        return 0;
}

/* Picks the parent and the chain flags from the catalog. */
static int find_parent(Run *run) {
        vss_backup_type type = run->o->type;
        const Manifest *parent = NULL;

        if (type != VSS_BT_INCREMENTAL && type != VSS_BT_DIFFERENTIAL)
                return 0;

        for (size_t i = run->catalog.n_backups; i > 0; i--) {
                const Manifest *b = run->catalog.backups[i - 1];

                /* An incomplete backup lacks files its successors would take as unchanged. */
                if (!b->complete)
                        continue;
                if (b->type == VSS_BT_FULL || (type == VSS_BT_INCREMENTAL && b->type == VSS_BT_INCREMENTAL)) {
                        parent = b;
                        break;
                }
        }
        if (!parent) {
                fprintf(stderr, "vssbackup: no complete full backup in %s for %s %s backup to build on; "
                        "run a full backup first\n", run->o->to, type == VSS_BT_INCREMENTAL ? "an" : "a",
                        backup_type_name(type));
                return -ENOENT;
        }
        run->parent = parent;
        run->m->parent = strdup(parent->dir_name);
        run->m->base = strdup(parent->type == VSS_BT_FULL ? parent->dir_name : parent->base);
        if (!run->m->parent || !run->m->base)
                return -ENOMEM;

        /* What the chain since the full holds, for writers that forbid mixing the two kinds. */
        for (size_t i = 0; i < run->catalog.n_backups; i++) {
                const Manifest *b = run->catalog.backups[i];

                if (!b->base || !streq(b->base, run->m->base))
                        continue;
                if (b->type == VSS_BT_INCREMENTAL)
                        run->m->chain_has_incremental = true;
                if (b->type == VSS_BT_DIFFERENTIAL)
                        run->m->chain_has_differential = true;
        }
        return 0;
}

/* The named paths, canonical; the volumes they lie on are known once the snapshot set names them. */
static int prepare_named(Run *run) {
        const BackupOptions *o = run->o;

        run->named = calloc(o->n_volumes, sizeof(char *));
        run->volumes = calloc(VB_MAX_VOLUMES, sizeof(VolumeWork));
        if (!run->named || !run->volumes)
                return -ENOMEM;
        for (size_t i = 0; i < o->n_volumes; i++) {
                struct stat st;
                char *path;

                path = realpath(o->volumes[i], NULL);
                if (!path || stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        fprintf(stderr, "vssbackup: %s: not a directory: %s\n", o->volumes[i],
                                strerror(path ? ENOTDIR : errno));
                        free(path);
                        return -EINVAL;
                }
                for (size_t j = 0; j < run->n_named; j++)
                        if (streq(run->named[j], path)) {
                                fprintf(stderr, "vssbackup: %s is given twice\n", path);
                                free(path);
                                return -EINVAL;
                        }
                run->named[run->n_named++] = path;
        }
        return 0;
}

static int strv_push(char ***l, size_t *n, const char *s) {
        char **grown, *copy = strdup(s);

        if (!copy)
                return -ENOMEM;
        grown = realloc(*l, (*n + 1) * sizeof(char *));
        if (!grown) {
                free(copy);
                return -ENOMEM;
        }
        grown[(*n)++] = copy;
        *l = grown;
        return 0;
}

/* The absolute original path of scope k of v (malloc'd), NULL on OOM. */
static char *scope_path(const VolumeWork *v, size_t k) {
        char *p = NULL;

        if (isempty(v->scopes[k]))
                return strdup(v->path);
        if (asprintf(&p, "%s/%s", streq(v->path, "/") ? "" : v->path, v->scopes[k]) < 0)
                return NULL;
        return p;
}

/* Does another scope of v hold scope a (a strictly smaller part of the same tree)? */
static bool scope_covered(const VolumeWork *v, size_t a) {
        const char *x = v->scopes[a];

        for (size_t b = 0; b < v->n_scopes; b++) {
                const char *y = v->scopes[b];
                size_t ly = strlen(y);

                if (b != a && x[0] && (y[0] == 0 || (strncmp(x, y, ly) == 0 && x[ly] == '/')))
                        return true;
        }
        return false;
}

/* path relative to dir when it is dir or below it ("" for dir itself), else NULL. */
static const char *path_below(const char *path, const char *dir) {
        size_t l = streq(dir, "/") ? 0 : strlen(dir);

        if (strncmp(path, dir, l) != 0)
                return NULL;
        if (path[l] == 0)
                return "";
        if (path[l] != '/')
                return NULL;
        return path + l + 1;
}

/*
 * Gives every named path to the deepest snapshotted volume holding it, as a scope of that
 * volume. A scope inside another scope of the same volume adds nothing and is dropped; ""
 * (the volume itself was named) covers all.
 */
static int assign_scopes(Run *run) {
        for (size_t i = 0; i < run->n_named; i++) {
                VolumeWork *best = NULL;
                const char *rel = NULL;

                for (size_t k = 0; k < run->n_volumes; k++) {
                        const char *r = path_below(run->named[i], run->volumes[k].path);

                        if (r && (!best || strlen(run->volumes[k].path) > strlen(best->path))) {
                                best = &run->volumes[k];
                                rel = r;
                        }
                }
                if (!best) {
                        fprintf(stderr, "vssbackup: %s is on no volume of the snapshot set\n", run->named[i]);
                        return -EINVAL;
                }
                if (strv_push(&best->scopes, &best->n_scopes, rel) < 0)
                        return -ENOMEM;
                if (!run->o->quiet && !isempty(rel))
                        fprintf(stderr, "vssbackup: %s lies on volume %s: backing up %s of it\n", run->named[i],
                                best->path, rel);
        }
        for (size_t k = 0; k < run->n_volumes; k++) {
                VolumeWork *v = &run->volumes[k];

                for (size_t a = 0; a < v->n_scopes;) {
                        if (scope_covered(v, a)) {
                                free(v->scopes[a]);
                                v->scopes[a] = v->scopes[--v->n_scopes];
                                continue;
                        }
                        a++;
                }
        }
        return 0;
}

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * What decides which paths a backup of v lists: its scopes, the user's excludes and every
 * writer's excludes, as XXH3-128 hex (sorted, so the writers' order does not matter). Two
 * backups with the same filter list the same paths of the same tree, which is what lets one
 * be compared with the other directory by directory.
 */
static int listing_filter_of(const Run *run, const VolumeWork *v, char **ret) {
        _cleanup_free_ char **items = NULL;
        XXH3_state_t *st;
        XXH128_canonical_t c;
        size_t n = 0, cap = v->n_scopes + run->o->n_excludes;
        char hex[33];
        int r = 0;

        for (size_t w = 0; w < run->n_writers; w++)
                cap += run->writers[w]->n_excludes;
        items = calloc(cap + 1, sizeof(char *));
        if (!items)
                return -ENOMEM;
        for (size_t k = 0; r == 0 && k < v->n_scopes; k++)
                r = asprintf(&items[n++], "s%s", v->scopes[k]) < 0 ? -ENOMEM : 0;
        for (size_t k = 0; r == 0 && k < run->o->n_excludes; k++)
                r = asprintf(&items[n++], "u%s", run->o->excludes[k]) < 0 ? -ENOMEM : 0;
        for (size_t w = 0; r == 0 && w < run->n_writers; w++)
                for (size_t e = 0; r == 0 && e < run->writers[w]->n_excludes; e++) {
                        const WmExclude *x = &run->writers[w]->excludes[e];

                        r = asprintf(&items[n++], "w%s\t%s\t%d", x->path, x->filespec, x->recursive) < 0 ? -ENOMEM : 0;
                }
        if (r == 0) {
                qsort(items, n, sizeof(char *), strcmp_ptr);
                st = XXH3_createState();
                if (!st)
                        r = -ENOMEM;
                else {
                        XXH3_128bits_reset(st);
                        for (size_t i = 0; i < n; i++)
                                XXH3_128bits_update(st, items[i], strlen(items[i]) + 1);
                        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
                        XXH3_freeState(st);
                        for (size_t i = 0; i < sizeof(c.digest); i++)
                                snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);
                        *ret = strdup(hex);
                        if (!*ret)
                                r = -ENOMEM;
                }
        }
        for (size_t i = 0; i < n; i++)
                free(items[i]);
        return r;
}

/*
 * Whether v can be listed by its changed directories (relist_changed) rather than walked: an
 * incremental or differential on btrfs, whose previous backup recorded
 * its generation and listed the same way (same filter, format 2 down to a whole listing of
 * the chain), with the tree-search privilege. Opens the previous state's listings on success;
 * each group read from them is checked on its own, so nothing reads them whole.
 */
static int choose_delta(Run *run, VolumeWork *v, const Manifest **chain, size_t n_chain) {
        _cleanup_free_ Listing **ls = NULL;
        size_t n = 0;
        int r = 0;

        if ((run->o->type != VSS_BT_INCREMENTAL && run->o->type != VSS_BT_DIFFERENTIAL) || !v->previous ||
            v->previous->generation == 0 || !v->previous->listing_filter || !streq(v->previous->listing_filter, v->filter) ||
            change_scan_btrfs_probe(v->snapshot) < 0)
                return 0;
        ls = calloc(n_chain, sizeof(Listing *));
        if (!ls)
                return -ENOMEM;
        for (size_t c = 0; c < n_chain; c++) {
                const ManifestVolume *cv = manifest_find_volume(chain[c], v->path);
                _cleanup_close_ int bfd = -EBADF;

                if (!cv || chain[c]->format == 1) {
                        r = 0;
                        break;
                }
                bfd = openat(run->dirfd, chain[c]->dir_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (bfd < 0) {
                        r = -errno;
                        break;
                }
                r = listing_open(bfd, cv->listing, NULL, &ls[n]);
                if (r < 0)
                        break;
                n++;
                if (!cv->listing_delta) {
                        r = 1;
                        break;
                }
        }
        if (r <= 0) {
                for (size_t i = 0; i < n; i++)
                        listing_free(ls[i]);
                return r;
        }
        v->previous_chain = TAKE_PTR(ls);
        v->n_previous_chain = n;
        v->delta = true;
        v->groups = pathset_new();
        v->walked_new = pathset_new();
        return v->groups && v->walked_new ? 0 : -ENOMEM;
}

/*
 * The same volume in the parent backup and how this one is listed: by changed directories
 * against the previous listings (choose_delta), or by a walk against the previous paths,
 * loaded whole. Called once the snapshot named the volume (a path inside a btrfs subvolume is
 * snapshotted, and backed up, as the subvolume) and the writers' excludes are known.
 */
static int load_previous(Run *run) {
        _cleanup_free_ char *why = NULL;
        _cleanup_free_ const Manifest **chain = NULL;
        ssize_t n_chain = 0;

        for (size_t i = 0; i < run->n_volumes; i++) {
                int r = listing_filter_of(run, &run->volumes[i], &run->volumes[i].filter);

                if (r < 0)
                        return r;
        }
        if (!run->parent)
                return 0;
        n_chain = catalog_chain(&run->catalog, run->parent, &chain, &why);
        if (n_chain < 0) {
                fprintf(stderr, "vssbackup: the backups %s builds on: %s\n", run->parent->dir_name,
                        why ?: strerror((int) -n_chain));
                return (int) n_chain;
        }
        for (size_t i = 0; i < run->n_volumes; i++) {
                VolumeWork *v = &run->volumes[i];
                const char *bad = NULL;
                int r;

                v->previous = manifest_find_volume(run->parent, v->path);
                if (!v->previous)
                        continue;       /* new to the chain: every path of it is new */
                r = choose_delta(run, v, chain, (size_t) n_chain);
                if (r < 0)
                        return r;
                if (v->delta)
                        continue;
                r = listing_load_chain(run->dirfd, chain, (size_t) n_chain, v->path, &v->previous_listing, &bad);
                if (r < 0) {
                        fprintf(stderr, "vssbackup: the listing of %s in %s is unreadable (%s); run a full backup\n",
                                v->path, bad ?: run->parent->dir_name, r == -EBADMSG ? "damaged" : strerror(-r));
                        return r;
                }
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The VSS sequence up to the snapshot                                                        */
/* ------------------------------------------------------------------------------------------ */

static const ManifestComponent *parent_component(const Run *run, const vss_id *writer_id, const char *logical_path,
                                                 const char *name) {
        if (!run->parent)
                return NULL;
        for (size_t i = 0; i < run->parent->n_components; i++) {
                const ManifestComponent *c = &run->parent->components[i];

                if (vss_id_equal(&c->writer_id, writer_id) && streq(c->logical_path, strempty(logical_path)) &&
                    streq(c->name, name))
                        return c;
        }
        return NULL;
}

/* Keeps one writer's metadata (as the XML document and as the model) and adds its components. */
static int take_writer(Run *run, unsigned index) {
        _cleanup_free_ char *reason = NULL;
        vss_examine_writer_metadata *em;
        WriterMetadata *wmd = NULL;
        char *xml = NULL;
        vss_id instance;
        vss_hr hr;

        hr = vss_requester_get_writer_metadata(run->r, index, &instance, &em);
        if (!hr_check(run, "GetWriterMetadata", hr))
                return -EIO;
        hr = vss_examine_writer_metadata_save_as_xml(em, &xml);
        if (!hr_check(run, "IVssExamineWriterMetadata::SaveAsXML", hr))
                return -EIO;
        hr = writer_metadata_from_xml(xml, strlen(xml), &wmd, &reason);
        if (hr != S_OK) {
                fprintf(stderr, "vssbackup: the metadata of writer %u does not load back: %s\n", index,
                        reason ?: vss_hr_name(hr));
                free(xml);
                return -EBADMSG;
        }
        run->writers[run->n_writers] = wmd;
        run->writer_xml[run->n_writers] = xml;
        run->writer_names[run->n_writers] = strdup(wmd->writer_name);
        run->n_writers++;

        for (size_t c = 0; c < wmd->n_components; c++) {
                const WmComponent *comp = &wmd->components[c];
                const ManifestComponent *prev;

                hr = vss_requester_add_component(run->r, &wmd->instance_id, &wmd->writer_id, comp->type,
                                                 comp->logical_path, comp->name);
                if (!hr_check(run, "AddComponent", hr))
                        return -EIO;

                /* The stamp the writer set in the backup this one builds on (§8). */
                prev = parent_component(run, &wmd->writer_id, comp->logical_path, comp->name);
                if (prev && prev->backup_stamp) {
                        hr = vss_requester_set_previous_backup_stamp(run->r, &wmd->instance_id, &wmd->writer_id,
                                                                     comp->type, comp->logical_path, comp->name,
                                                                     prev->backup_stamp);
                        if (!hr_check(run, "SetPreviousBackupStamp", hr))
                                return -EIO;
                }
        }
        return 0;
}

static int gather_writers(Run *run) {
        unsigned n = 0;
        vss_hr hr;
        int r;

        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_metadata, run->r);
        r = HR_CHECK_OR_INTERRUPTED(run, "GatherWriterMetadata", hr);
        if (r < 0)
                return r;
        hr = vss_requester_get_writer_metadata_count(run->r, &n);
        if (!hr_check(run, "GetWriterMetadataCount", hr))
                return -EIO;

        /* One slot more for our own volume component's metadata. */
        run->writers = calloc(n + 1, sizeof(*run->writers));
        run->writer_xml = calloc(n + 1, sizeof(*run->writer_xml));
        run->writer_names = calloc(n + 1, sizeof(*run->writer_names));
        if (!run->writers || !run->writer_xml || !run->writer_names)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                r = take_writer(run, i);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Is path a named path or below one (so the snapshot taken for that one holds it)? */
static bool below_named(const Run *run, const char *path) {
        for (size_t i = 0; i < run->n_named; i++)
                if (path_below(path, run->named[i]))
                        return true;
        return false;
}

/*
 * The volumes the writers' components lie on join the set (a requester's duty, vss-semantics
 * §2): one snapshot set holds the named paths and every component the backup copies. Such a
 * volume is not walked; only its writers' files are copied from it. A file set no provider can
 * snapshot is left to the selection (read live when its writer allows it, an error otherwise).
 */
static int add_writer_volumes(Run *run) {
        for (size_t w = 0; w < run->n_writers; w++)
                for (size_t k = 0; k < run->writers[w]->n_filesets; k++) {
                        const char *path = run->writers[w]->filesets[k].path;
                        vss_id snapshot_id;
                        vss_hr hr;

                        if (isempty(path) || path[0] != '/' || run->n_volumes >= VB_MAX_VOLUMES ||
                            below_named(run, path))
                                continue;
                        hr = vss_requester_add_to_snapshot_set(run->r, path, NULL, &snapshot_id);
                        if (VSS_FAILED(hr))
                                continue;       /* already in the set, or not a volume we can snapshot */
                        run->volumes[run->n_volumes] = (VolumeWork) { .snapshot_id = snapshot_id, .path = strdup(path) };
                        if (!run->volumes[run->n_volumes++].path)
                                return -ENOMEM;
                }
        return 0;
}

static int snapshot_volumes(Run *run) {
        vss_id set_id;
        vss_hr hr;
        int r;

        hr = tool_start_snapshot_set(run->r, run->o->wait_s, run->o->quiet, &set_id);
        if (hr == VSS_E_SNAPSHOT_SET_IN_PROGRESS && !tool_interrupt_signal()) {
                fprintf(stderr, "vssbackup: another snapshot set was still being created after %us: try again later "
                        "or give a longer --wait\n", run->o->wait_s);
                return -EIO;
        }
        r = HR_CHECK_OR_INTERRUPTED(run, "StartSnapshotSet", hr);
        if (r < 0)
                return r;
        /* One snapshot per volume: a second path on a volume already in the set adds nothing. */
        for (size_t i = 0; i < run->n_named; i++) {
                vss_id snapshot_id;

                hr = vss_requester_add_to_snapshot_set(run->r, run->named[i], NULL, &snapshot_id);
                if (hr == VSS_E_OBJECT_ALREADY_EXISTS)
                        continue;
                if (!hr_check(run, "AddToSnapshotSet", hr)) {
                        fprintf(stderr, "vssbackup: (path %s)\n", run->named[i]);
                        return -EIO;
                }
                /* The path named until vssd says which volume it lies on. */
                run->volumes[run->n_volumes] = (VolumeWork) { .snapshot_id = snapshot_id, .path = strdup(run->named[i]) };
                if (!run->volumes[run->n_volumes++].path)
                        return -ENOMEM;
        }
        r = add_writer_volumes(run);
        if (r < 0)
                return r;
        r = tool_interrupt_point("added");
        if (r < 0)
                return r;
        if (!run->o->no_writers) {
                hr = TOOL_RUN_ASYNC(vss_requester_prepare_for_backup, run->r);
                run->prepared = true;
                r = HR_CHECK_OR_INTERRUPTED(run, "PrepareForBackup", hr);
                if (r < 0)
                        return r;
        }
        r = tool_interrupt_point("prepared");
        if (r < 0)
                return r;

        /* The next backup's "changed since": taken just before the snapshot, so nothing written
         * between this moment and the snapshot can be missed (docs/file-selection.md). */
        run->m->snapshot_time = vss_timestamp_from_unix_ns(now_ns());
        hr = TOOL_RUN_ASYNC(vss_requester_do_snapshot_set, run->r);
        run->prepared = true;
        r = HR_CHECK_OR_INTERRUPTED(run, "DoSnapshotSet", hr);
        if (r < 0)
                return r;
        run->snapshot_done = true;

        for (size_t i = 0; i < run->n_volumes; i++) {
                VolumeWork *v = &run->volumes[i];
                vss_snapshot_prop prop = {};

                hr = vss_requester_get_snapshot_properties(run->r, &v->snapshot_id, &prop);
                if (!hr_check(run, "GetSnapshotProperties", hr))
                        return -EIO;
                r = tool_snapshot_dir(run->r, &prop, &v->snapshot);
                if (r < 0) {
                        vss_snapshot_prop_free(&prop);
                        return -EIO;
                }
                if (!isempty(prop.original_volume_name) && prop.original_volume_name[0] == '/') {
                        free(v->path);
                        v->path = strdup(prop.original_volume_name);
                }
                vss_snapshot_prop_free(&prop);
                if (!v->snapshot || !v->path)
                        return -ENOMEM;
                /* Not btrfs (or not a subvolume): 0, and the next incremental walks by times. */
                if (change_scan_btrfs_generation(v->snapshot, &v->generation) < 0)
                        v->generation = 0;
        }
        return assign_scopes(run);
}

/* Writers that failed (without vetoing) up to PostSnapshot: their components did not succeed. */
static int check_writer_status(Run *run, bool final) {
        unsigned n = 0;
        vss_hr hr;

        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_status, run->r);
        if (tool_interrupt_signal())
                return -EINTR;
        if (!hr_check(run, "GatherWriterStatus", hr))
                return -EIO;
        hr = vss_requester_get_writer_status_count(run->r, &n);
        if (!hr_check(run, "GetWriterStatusCount", hr))
                return -EIO;
        for (unsigned i = 0; i < n; i++) {
                const char *name = NULL;
                vss_writer_state state;
                vss_hr failure;
                vss_id instance;
                char buf[VSS_ID_STRING_MAX];
                int r;

                hr = vss_requester_get_writer_status(run->r, i, &instance, NULL, &name, &state, &failure);
                if (!hr_check(run, "GetWriterStatus", hr))
                        return -EIO;
                if (final && !run->o->quiet)
                        fprintf(run->o->json ? stderr : stdout, "writer \"%s\": %s%s%s\n", strempty(name), vss_writer_state_to_string(state),
                               failure == S_OK ? "" : ", ", failure == S_OK ? "" : vss_hr_name(failure));
                if (failure == S_OK && state != VSS_WS_UNKNOWN && state < VSS_WS_FAILED_AT_IDENTIFY)
                        continue;
                if (!final) {
                        fprintf(stderr, "vssbackup: writer \"%s\" reports %s (%s): its components are not "
                                "backed up successfully\n", strempty(name), vss_writer_state_to_string(state),
                                vss_hr_name(failure));
                        r = pathset_put(run->failed_instances, vss_id_format(&instance, buf), 'w');
                        if (r < 0)
                                return r;
                }
        }
        (void) vss_requester_free_writer_status(run->r);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Selection                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Our component of every volume, as writer metadata and BCD entries that only file_select sees. */
static int add_own_component(Run *run) {
        WriterMetadata *own;
        vss_hr hr;

        own = writer_metadata_new();
        if (!own)
                return -ENOMEM;
        run->writers[run->n_writers] = own;
        hr = writer_metadata_set_identity(own, &own_instance_id, &own_writer_id, OWN_WRITER_NAME, "",
                                          VSS_UT_USERDATA, VSS_ST_OTHER, 0);
        /* Each backup type taken as asked (without a kind in the schema, file_select would fall
         * back to FULL for it): the file set below then says what each type copies. */
        if (hr == S_OK)
                hr = writer_metadata_set_backup_schema(own, VSS_BS_INCREMENTAL | VSS_BS_DIFFERENTIAL | VSS_BS_LOG);
        for (size_t i = 0; hr == S_OK && i < run->n_volumes; i++) {
                char name[48];

                snprintf(name, sizeof(name), "volume-%zu", i);
                hr = writer_metadata_add_component(own, VSS_CT_FILEGROUP, NULL, name, run->volumes[i].path, false,
                                                   false, true, true, 0);
                /* Whole in full and copy backups, changed files in incrementals and differentials,
                 * nothing in log backups (those are the writers' business). One file set per
                 * path named on the volume. */
                for (size_t k = 0; hr == S_OK && k < run->volumes[i].n_scopes; k++) {
                        _cleanup_free_ char *path = scope_path(&run->volumes[i], k);

                        hr = path ? writer_metadata_add_fileset(own, FILESET_FILE_GROUP, NULL, name, path, "*", true,
                                                                NULL, VSS_FSBT_FULL_BACKUP_REQUIRED |
                                                                VSS_FSBT_ALL_SNAPSHOT_REQUIRED)
                                  : E_OUTOFMEMORY;
                }
                if (hr == S_OK)
                        hr = backup_components_add_component(run->bcd, &own_instance_id, &own_writer_id,
                                                             VSS_CT_FILEGROUP, NULL, name, NULL);
        }
        /* A file some writer excludes (a lock file, a cache) is not copied for the volume either. */
        for (size_t w = 0; hr == S_OK && w < run->n_writers; w++)
                for (size_t e = 0; e < run->writers[w]->n_excludes; e++) {
                        const WmExclude *x = &run->writers[w]->excludes[e];
                        vss_hr h = writer_metadata_add_exclude(own, x->path, x->filespec, x->recursive);

                        /* One the volume's description cannot take is that writer's alone: say so, go on. */
                        if (h == E_OUTOFMEMORY) {
                                hr = h;
                                break;
                        }
                        if (h != S_OK && h != VSS_E_OBJECT_ALREADY_EXISTS)
                                fprintf(stderr, "vssbackup: warning: the exclude %s/%s of writer \"%s\" applies to "
                                        "its own files only: %s\n", x->path, x->filespec, run->writer_names[w],
                                        vss_hr_name(h));
                }
        if (hr != S_OK) {
                fprintf(stderr, "vssbackup: cannot describe the volumes for selection: %s\n", vss_hr_name(hr));
                return -EINVAL;
        }
        return 0;
}

/* The volume holding path (longest match), or -1. */
static ssize_t volume_of(const Run *run, const char *path, const char **ret_rel) {
        ssize_t best = -1;
        size_t best_len = 0;

        for (size_t i = 0; i < run->n_volumes; i++) {
                const char *v = run->volumes[i].path;
                size_t l = streq(v, "/") ? 0 : strlen(v);

                if (strncmp(path, v, l) == 0 && path[l] == '/' && path[l + 1] && (best < 0 || l > best_len)) {
                        best = (ssize_t) i;
                        best_len = l;
                }
        }
        if (best >= 0)
                *ret_rel = path + best_len + 1;
        return best;
}

static bool not_listed(const Run *run, const VolumeWork *v, const char *relpath, char type);

/*
 * Listed by an older backup of the chain and still there: with a listing by changed
 * directories, a path whose directory was not read again (its entries did not change) and
 * that the walk would have listed.
 */
static bool listed_before(const Run *run, const VolumeWork *v, const char *relpath, char type) {
        _cleanup_free_ char *dir = NULL;
        const char *slash;

        if (!v->delta)
                return false;
        slash = strrchr(relpath, '/');
        dir = slash ? strndup(relpath, (size_t) (slash - relpath)) : strdup("");
        if (!dir || pathset_get(v->groups, dir, NULL))
                return false;
        return !not_listed(run, v, relpath, type);
}

static int on_selected(const FileSelectFile *f, void *userdata) {
        Run *run = userdata;
        const char *rel = NULL;
        char type = f->type == DT_LNK ? LISTING_SYMLINK : LISTING_FILE;
        uint64_t size = f->have_stat ? f->size : 0;
        ssize_t v;
        int r;

        /* Sizes feed the progress total: what will be read, so regular files only. */
        if (type != LISTING_FILE)
                size = 0;
        else if (!f->have_stat) {
                struct stat st;

                if (lstat(f->source_path, &st) == 0)
                        size = (uint64_t) st.st_size;
        }
        if (tool_interrupt_signal())
                return -EINTR;
        v = volume_of(run, f->original_path, &rel);
        /* The volumes' own component takes only what the walk listed: the named paths, less
         * the excludes and the snapshot area. A writer's files are its components' business. */
        if (f->writer_instance_id && vss_id_equal(f->writer_instance_id, &own_instance_id) &&
            (v < 0 || !(pathset_get(run->volumes[v].listed, rel, NULL) || listed_before(run, &run->volumes[v], rel, type))))
                return 0;
        if (v >= 0 && f->from_snapshot)
                r = selected_list_add(&run->volumes[v].files, f->source_path, rel, type, size,
                                      f->writer_instance_id, f->explicit_component);
        else
                /* Read live (a file set the writer lets us copy without a snapshot): kept apart. */
                r = selected_list_add(&run->other, f->source_path, f->original_path + 1, type, size,
                                      f->writer_instance_id, f->explicit_component);
        return r < 0 ? r : 0;
}

typedef struct WalkState {
        Run *run;
        VolumeWork *v;
        const char *scope;              /* the walk's start, relative to the volume; "" its top */
} WalkState;

/*
 * Whether a writer excludes the file at relpath of volume v (its exclude list wins over every
 * file set, vss-semantics §7). Such a file is neither copied (file_select applies the same
 * excludes) nor listed: a restore must not expect what no backup of the chain holds.
 */
static bool excluded_by_writers(const Run *run, const VolumeWork *v, const char *relpath) {
        _cleanup_free_ char *full = NULL;
        const char *slash, *name;
        size_t dirlen;

        if (asprintf(&full, "%s/%s", v->path, relpath) < 0)
                return false;
        slash = strrchr(full, '/');
        name = slash + 1;
        dirlen = (size_t) (slash - full);

        for (size_t w = 0; w < run->n_writers; w++)
                for (size_t e = 0; e < run->writers[w]->n_excludes; e++) {
                        const WmExclude *x = &run->writers[w]->excludes[e];
                        size_t n = strlen(x->path);

                        while (n > 1 && x->path[n - 1] == '/')
                                n--;
                        if (strncmp(full, x->path, n) != 0)
                                continue;
                        /* The file's directory is the exclude's, or below it when recursive. */
                        if (!(dirlen == n || (x->recursive && dirlen > n && full[n] == '/')))
                                continue;
                        if (change_scan_filespec_match(x->filespec, name))
                                return true;
                }
        return false;
}

/* The listing walk: every directory (stored as metadata), every path listed, new paths selected. */
/* Whether the user excluded relpath of volume v (--exclude, --exclude-file), by its absolute path. */
static bool excluded_by_user(const Run *run, const VolumeWork *v, const char *relpath) {
        _cleanup_free_ char *full = NULL;

        if (run->o->n_excludes == 0)
                return false;
        if (asprintf(&full, "%s/%s", streq(v->path, "/") ? "" : v->path, relpath) < 0)
                return false;
        return path_patterns_match(run->o->excludes, run->o->n_excludes, full);
}

/* A directory read whole: its metadata into the archive, its entries a group of the listing. */
static int store_dir(VolumeWork *v, const char *relpath) {
        _cleanup_free_ char *source = NULL;
        int r;

        r = listing_writer_group(v->listing, relpath);
        if (r >= 0 && v->groups)
                r = pathset_put(v->groups, relpath, LISTING_DIR);
        if (r < 0)
                return r;
        v->dirs_read++;
        if (isempty(relpath))
                return 0;       /* the volume's top keeps TARGET's mode and times (docs/vssbackup.md) */
        if (asprintf(&source, "%s/%s", v->snapshot, relpath) < 0)
                return -ENOMEM;
        r = selected_list_add(&v->dirs, source, relpath, LISTING_DIR, 0, NULL, NULL);
        return r < 0 ? r : 0;
}

/* One path into the listing, once; a directory is read whole too (store_dir) unless whole is false. */
static int list_path_as(VolumeWork *v, const char *relpath, char type, bool whole) {
        int r;

        r = pathset_put(v->listed, relpath, type);
        if (r <= 0)
                return r;
        r = listing_writer_add(v->listing, type, relpath);
        if (r < 0)
                return r;
        if (type == LISTING_DIR && whole) {
                r = store_dir(v, relpath);
                if (r < 0)
                        return r;
        }
        return 1;
}

static int list_path(VolumeWork *v, const char *relpath, char type) {
        return list_path_as(v, relpath, type, true);
}

static int on_walk(const ChangeScanEntry *e, void *userdata) {
        WalkState *ws = userdata;
        VolumeWork *v = ws->v;
        _cleanup_free_ char *source = NULL, *joined = NULL;
        const char *relpath = e->path;
        char type, prev_type;
        int r;

        if (tool_interrupt_signal())
                return -EINTR;
        if (!isempty(ws->scope)) {
                if (asprintf(&joined, "%s/%s", ws->scope, e->path) < 0)
                        return -ENOMEM;
                relpath = joined;
        }
        if (e->type == DT_DIR)
                type = LISTING_DIR;
        else if (e->type == DT_REG)
                type = LISTING_FILE;
        else if (e->type == DT_LNK)
                type = LISTING_SYMLINK;
        else
                return 0;       /* devices, FIFOs, sockets: not backed up (docs/vssbackup.md) */
        /* The providers' snapshot area holds other snapshots, never data of this one. */
        if (type == LISTING_DIR && streq(relpath, SNAPSHOT_AREA))
                return CHANGE_SCAN_SKIP;
        if (excluded_by_user(ws->run, v, relpath))
                return type == LISTING_DIR ? CHANGE_SCAN_SKIP : 0;
        if (type != LISTING_DIR && excluded_by_writers(ws->run, v, relpath))
                return 0;

        r = list_path(v, relpath, type);
        if (r <= 0 || type == LISTING_DIR)
                return r < 0 ? r : 0;

        /* New since the previous backup of the chain, whatever its times say. */
        if (ws->run->parent) {
                prev_type = v->previous_listing ? pathset_get(v->previous_listing, relpath, NULL) : 0;
                if (prev_type != type) {
                        struct stat st;

                        if (asprintf(&source, "%s/%s", v->snapshot, relpath) < 0)
                                return -ENOMEM;
                        r = selected_list_add(&v->files, source, relpath, type,
                                              type == LISTING_FILE && lstat(source, &st) == 0 ?
                                              (uint64_t) st.st_size : 0, NULL, NULL);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* A scope's directory and every directory above it, top first: a restore recreates them with their modes. */
static int list_scope_dirs(VolumeWork *v, const char *scope) {
        _cleanup_free_ char *copy = strdup(scope);
        int r;

        if (!copy)
                return -ENOMEM;
        for (char *p = copy;; p++)
                if (*p == '/' || *p == 0) {
                        char c = *p;

                        *p = 0;
                        r = list_path(v, copy, LISTING_DIR);
                        if (r < 0)
                                return r;
                        if (c == 0)
                                return 0;
                        *p = c;
                }
}

/* ------------------------------------------------------------------------------------------ */
/* Listing by changed directories (btrfs): O(changed), not O(files)                           */
/* ------------------------------------------------------------------------------------------ */

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);
#define _cleanup_closedir_ _cleanup_(closedirp)

typedef struct ChangedDirs {
        char **items;
        size_t n, n_alloc;
        VolumeWork *v;                  /* keeps the changed files the search reports on the way */
} ChangedDirs;

static void changed_dirs_done(ChangedDirs *c) {
        for (size_t i = 0; i < c->n; i++)
                free(c->items[i]);
        free(c->items);
}

static int on_changed_dir(const ChangeScanEntry *e, void *userdata) {
        ChangedDirs *c = userdata;

        if (tool_interrupt_signal())
                return -EINTR;
        if (e->type != DT_DIR) {
                VolumeWork *v = c->v;
                ChangeScanEntry *k;
                char *path;

                if (GREEDY_REALLOC(v->changed, v->n_changed_alloc, v->n_changed + 1) < 0)
                        return -ENOMEM;
                path = strdup(e->path);
                if (!path)
                        return -ENOMEM;
                k = &v->changed[v->n_changed++];
                *k = *e;
                k->path = path;
                k->name = path + (e->name - e->path);
                k->dir_fd = -1;
                return 0;
        }
        if (GREEDY_REALLOC(c->items, c->n_alloc, c->n + 1) < 0)
                return -ENOMEM;
        c->items[c->n] = strdup(e->path);
        return c->items[c->n++] ? 0 : -ENOMEM;
}

/* Is relpath, or a directory above it, one this backup walked as new? */
static bool below_walked_new(const VolumeWork *v, const char *relpath) {
        _cleanup_free_ char *copy = strdup(relpath);

        if (!copy)
                return false;
        for (char *p = copy;; p++)
                if (*p == '/' || *p == 0) {
                        char c = *p;
                        bool hit;

                        *p = 0;
                        hit = pathset_get(v->walked_new, copy, NULL) != 0;
                        *p = c;
                        if (hit)
                                return true;
                        if (c == 0)
                                return false;
                }
}

/* Where relpath lies against v's scopes: SCOPE_IN at or below one, SCOPE_ABOVE a directory above one, else SCOPE_OUT. */
enum { SCOPE_OUT, SCOPE_ABOVE, SCOPE_IN };

static int scope_relation(const VolumeWork *v, const char *relpath) {
        size_t l = strlen(relpath);
        int best = SCOPE_OUT;

        for (size_t k = 0; k < v->n_scopes; k++) {
                const char *sc = v->scopes[k];
                size_t ls = strlen(sc);

                if (ls == 0 || (strncmp(relpath, sc, ls) == 0 && (relpath[ls] == 0 || relpath[ls] == '/')))
                        return SCOPE_IN;
                if (l == 0 || (ls > l && strncmp(sc, relpath, l) == 0 && sc[l] == '/'))
                        best = SCOPE_ABOVE;
        }
        return best;
}

/*
 * Whether the walk would leave relpath out: outside the paths named (a directory above one is
 * listed, as the way to it), the snapshot area, the user's and the writers' excludes.
 */
static bool not_listed(const Run *run, const VolumeWork *v, const char *relpath, char type) {
        size_t l = strlen(SNAPSHOT_AREA);
        int rel = scope_relation(v, relpath);

        if (rel == SCOPE_OUT || (rel == SCOPE_ABOVE && type != LISTING_DIR))
                return true;
        if (strncmp(relpath, SNAPSHOT_AREA, l) == 0 && (relpath[l] == 0 || relpath[l] == '/'))
                return true;
        if (excluded_by_user(run, v, relpath))
                return true;
        return type != LISTING_DIR && excluded_by_writers(run, v, relpath);
}

/* A directory that was not there before: listed and walked whole, everything in it new. */
static int walk_new_dir(Run *run, VolumeWork *v, const char *relpath) {
        _cleanup_free_ char *start = NULL;
        WalkState ws = { .run = run, .v = v, .scope = relpath };
        int r;

        r = pathset_put(v->walked_new, relpath, LISTING_DIR);
        if (r < 0)
                return r;
        r = list_path(v, relpath, LISTING_DIR);
        if (r < 0)
                return r;
        if (asprintf(&start, "%s/%s", v->snapshot, relpath) < 0)
                return -ENOMEM;
        r = change_scan_walk(AT_FDCWD, start, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_DIRS, 0, on_walk, &ws);
        if (r < 0 && r != -EINTR)
                fprintf(stderr, "vssbackup: walking the snapshot of %s/%s: %s\n", v->path, relpath, strerror(-r));
        return r;
}

/*
 * A directory above a path named that was not there before (the whole way was made anew): the
 * directories down to each path named below it are listed, as list_scope_dirs does, and each
 * path named is walked whole.
 */
static int new_way_to_scopes(Run *run, VolumeWork *v, const char *relpath) {
        size_t l = strlen(relpath);
        int r;

        r = list_path(v, relpath, LISTING_DIR);
        if (r < 0)
                return r;
        for (size_t k = 0; k < v->n_scopes; k++) {
                _cleanup_free_ char *way = NULL;
                const char *sc = v->scopes[k];

                if (!(strlen(sc) > l && strncmp(sc, relpath, l) == 0 && sc[l] == '/'))
                        continue;
                way = strdup(sc);
                if (!way)
                        return -ENOMEM;
                for (char *p = way + l + 1; *p; p++)
                        if (*p == '/') {
                                *p = 0;
                                r = list_path(v, way, LISTING_DIR);
                                *p = '/';
                                if (r < 0)
                                        return r;
                        }
                r = walk_new_dir(run, v, sc);
                if (r < 0)
                        return r;
        }
        return 0;
}

static char dirent_type(int dfd, const struct dirent *de) {
        unsigned t = de->d_type;
        struct stat st;

        if (t == DT_UNKNOWN && fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                t = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
        return t == DT_DIR ? LISTING_DIR : t == DT_REG ? LISTING_FILE : t == DT_LNK ? LISTING_SYMLINK : 0;
}

/*
 * Reads directory dir of the snapshot again and compares it with its entries at the previous
 * backup (prev): every entry is listed (dir becomes a group of this listing), a new name or
 * a name of another kind is selected whatever its times (a new directory is walked whole),
 * and a name that is gone is simply not in the group, which is how a restore learns it was
 * deleted. Entries that stayed are left to the selection, which copies what changed.
 */
static int relist_dir(Run *run, VolumeWork *v, const char *dir, const ListingGroup *prev) {
        _cleanup_free_ char *path = NULL, *source = NULL;
        _cleanup_free_ const char **idx = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct stat top;
        struct dirent *de;
        int fd, r;

        if (asprintf(&path, "%s%s%s", v->snapshot, dir[0] ? "/" : "", dir) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        if (fd < 0 && errno == EPERM)
                fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &top) < 0) {
                close(fd);
                return -errno;
        }
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        r = store_dir(v, dir);
        if (r < 0)
                return r;
        if (prev) {
                r = listing_group_index(prev, &idx);
                if (r < 0)
                        return r;
        }
        while ((errno = 0, de = readdir(d))) {
                _cleanup_free_ char *relpath = NULL;
                char type, prev_type;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                type = dirent_type(dirfd(d), de);
                if (type == 0)
                        continue;       /* devices, FIFOs, sockets: not backed up */
                if (asprintf(&relpath, "%s%s%s", dir, dir[0] ? "/" : "", de->d_name) < 0)
                        return -ENOMEM;
                if (not_listed(run, v, relpath, type))
                        continue;
                prev_type = prev ? listing_group_find(prev, idx, de->d_name) : 0;
                if (type == LISTING_DIR && type != prev_type) {
                        /* Another file system mounted here is listed, not entered, as the walk would. */
                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev != top.st_dev)
                                r = list_path(v, relpath, LISTING_DIR);
                        else if (scope_relation(v, relpath) == SCOPE_ABOVE)
                                r = new_way_to_scopes(run, v, relpath);
                        else
                                r = walk_new_dir(run, v, relpath);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = list_path_as(v, relpath, type, false);
                if (r < 0)
                        return r;
                if (type == prev_type)
                        continue;
                free(source);
                if (asprintf(&source, "%s/%s", v->snapshot, relpath) < 0)
                        return -ENOMEM;
                r = selected_list_add(&v->files, source, relpath, type,
                                      type == LISTING_FILE && fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 ?
                                      (uint64_t) st.st_size : 0, NULL, NULL);
                if (r < 0)
                        return r;
        }
        return errno != 0 ? -errno : 0;
}

/*
 * The listing of an incremental or differential by changed directories (choose_delta): the
 * directories btrfs rewrote since the previous backup's generation are the only ones whose
 * entries can differ, so only they are read, each compared with its previous entries
 * (listing_chain_group). Nothing else of the tree is opened; unchanged directories keep their
 * groups in the older listings and their metadata in the older archives.
 */
static int relist_changed(Run *run, VolumeWork *v) {
        _cleanup_(changed_dirs_done) ChangedDirs c = { .v = v };
        int r;

        r = change_scan_btrfs_changed_flags(v->snapshot, v->previous->generation, CHANGE_SCAN_DIRS, on_changed_dir, &c);
        if (r < 0) {
                if (r != -EINTR)
                        fprintf(stderr, "vssbackup: the changed directories of %s: %s\n", v->path, strerror(-r));
                return r;
        }
        /* Parents first: a directory found new by its parent is walked whole, and what lies below it skipped. */
        if (c.n > 1)
                qsort(c.items, c.n, sizeof(char *), strcmp_ptr);
        for (size_t i = 0; i < c.n; i++) {
                const char *dir = c.items[i];
                ListingGroup prev;

                if (tool_interrupt_signal())
                        return -EINTR;
                if (below_walked_new(v, dir) || (dir[0] && not_listed(run, v, dir, LISTING_DIR)))
                        continue;
                r = listing_chain_group(v->previous_chain, v->n_previous_chain, dir, &prev);
                if (r < 0) {
                        fprintf(stderr, "vssbackup: the listing of %s in %s is damaged (directory %s); run a full backup\n",
                                v->path, run->parent->dir_name, dir[0] ? dir : "/");
                        return r;
                }
                /* Not in the previous state: a directory made since, whose parent did not change? Walk it. */
                r = r > 0 ? relist_dir(run, v, dir, &prev) : dir[0] ? walk_new_dir(run, v, dir) : relist_dir(run, v, dir, NULL);
                if (r < 0) {
                        if (r != -EINTR)
                                fprintf(stderr, "vssbackup: reading %s/%s of the snapshot: %s\n", v->path, dir, strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int walk_volumes(Run *run) {
        for (size_t i = 0; i < run->n_volumes; i++) {
                VolumeWork *v = &run->volumes[i];
                WalkState ws = { .run = run, .v = v };
                char name[48];
                int r;

                v->listed = pathset_new();
                if (!v->listed)
                        return -ENOMEM;
                snprintf(name, sizeof(name), "vol-%zu.list", i);
                r = listing_writer_open(run->tmpfd, name, &v->listing);
                if (r < 0)
                        return r;
                /* A log backup holds the writers' logs only: no listing of the volume. */
                if (run->o->type == VSS_BT_LOG)
                        continue;
                if (v->delta) {
                        r = relist_changed(run, v);
                        if (r < 0)
                                return r;
                        continue;
                }
                /* The top's group: the paths at the top that are listed (all of them for the whole volume). */
                r = listing_writer_group(v->listing, "");
                if (r < 0)
                        return r;
                v->dirs_read++;
                for (size_t k = 0; k < v->n_scopes; k++) {
                        _cleanup_free_ char *start = NULL;

                        ws.scope = v->scopes[k];
                        if (!isempty(ws.scope)) {
                                r = list_scope_dirs(v, ws.scope);
                                if (r < 0)
                                        return r;
                        }
                        if (asprintf(&start, "%s%s%s", v->snapshot, isempty(ws.scope) ? "" : "/", ws.scope) < 0)
                                return -ENOMEM;
                        r = change_scan_walk(AT_FDCWD, start, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_DIRS, 0,
                                             on_walk, &ws);
                        if (r < 0) {
                                if (r != -EINTR)
                                        fprintf(stderr, "vssbackup: walking the snapshot of %s%s%s: %s\n", v->path,
                                                isempty(ws.scope) ? "" : "/", ws.scope, strerror(-r));
                                return r;
                        }
                }
        }
        return 0;
}

static int select_files(Run *run) {
        _cleanup_free_ FileSelectVolume *vols = NULL;
        _cleanup_free_ char *message = NULL;
        _cleanup_free_ char *xml = NULL, *reason = NULL;
        FileSelectInput in;
        vss_hr hr;
        int r;

        /* The document as vssd holds it after PostSnapshot: differenced and partial files, stamps. */
        hr = vss_requester_save_as_xml(run->r, &xml);
        if (!hr_check(run, "SaveAsXML", hr))
                return -EIO;
        hr = backup_components_from_xml(xml, strlen(xml), &run->bcd, &reason);
        if (hr != S_OK) {
                fprintf(stderr, "vssbackup: vssd's backup components document does not load: %s\n",
                        reason ?: vss_hr_name(hr));
                return -EBADMSG;
        }

        r = add_own_component(run);
        if (r < 0)
                return r;

        vols = calloc(run->n_volumes, sizeof(*vols));
        if (!vols)
                return -ENOMEM;
        for (size_t i = 0; i < run->n_volumes; i++)
                vols[i] = (FileSelectVolume) {
                        .original = run->volumes[i].path,
                        .snapshot = run->volumes[i].snapshot,
                        .previous_generation = run->volumes[i].previous ? run->volumes[i].previous->generation : 0,
                        /* The listing's search of the same generation already found the changed files. */
                        .changed = run->volumes[i].changed,
                        .n_changed = run->volumes[i].n_changed,
                        .have_changed = run->volumes[i].delta,
                };

        in = (FileSelectInput) {
                .backup_type = run->o->type,
                .bcd = run->bcd,
                .writers = (const WriterMetadata *const *) run->writers,
                .n_writers = run->n_writers + 1,
                .previous_backup_time = run->parent ? run->parent->snapshot_time : 0,
                .chain_has_incremental = run->m->chain_has_incremental,
                .chain_has_differential = run->m->chain_has_differential,
                .volumes = vols,
                .n_volumes = run->n_volumes,
        };
        r = file_select(&in, on_selected, run, &message);
        if (r < 0) {
                fprintf(stderr, "vssbackup: selecting the files to copy: %s\n", message ?: strerror(-r));
                return r;
        }

        /* Files a writer named that the walk did not list (alternate locations): listed too. */
        for (size_t i = 0; i < run->n_volumes; i++) {
                VolumeWork *v = &run->volumes[i];

                for (size_t k = 0; k < v->files.n_items; k++) {
                        const Selected *s = &v->files.items[k];

                        if (!pathset_get(v->listed, s->relpath, NULL) && listed_before(run, v, s->relpath, s->type))
                                continue;       /* an older listing of the chain has it */
                        r = pathset_put(v->listed, s->relpath, s->type);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                r = listing_writer_add(v->listing, s->type, s->relpath);
                                if (r < 0)
                                        return r;
                        }
                }
                if (v->files.n_items > 1)
                        qsort(v->files.items, v->files.n_items, sizeof(Selected), selected_compare);
        }
        if (run->other.n_items > 1)
                qsort(run->other.items, run->other.n_items, sizeof(Selected), selected_compare);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Copy                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static int file_failed(Run *run, const Selected *s, int error) {
        int r;

        if (run->file_errors++ < MAX_FILE_ERRORS_SHOWN)
                fprintf(stderr, "%svssbackup: cannot copy %s: %s\n", run->progress.tty ? "\n" : "", s->source,
                        strerror(-error));
        if (s->component && s->instance_id) {
                _cleanup_free_ char *key = component_key(s->instance_id, s->component->logical_path,
                                                         s->component->name);

                if (!key)
                        return -ENOMEM;
                r = pathset_put(run->failed_components, key, 'c');
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Stores dirs then files into dirfd/name; fills the counts and the archive's XXH3-128 (hex).
 * Returns < 0 only when the archive itself failed. */
static int copy_archive(Run *run, const char *name, const SelectedList *dirs, const SelectedList *files,
                        uint64_t *ret_files, uint64_t *ret_bytes, uint64_t *ret_failed, char ret_xxh128[static 33]) {
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        ArchiveWriterOptions opts = {
                .compression_level = run->o->compression_level,
                .threads = run->o->threads > 0 ? run->o->threads : (unsigned) MAX(ncpu, 1L),
                .hardlinks = false,     /* a later backup of the chain may hold only one of the names */
                .xattrs = true,
                .progress = progress_archive_cb,
                .userdata = &run->progress,
        };
        const SelectedList *lists[2] = { dirs, files };
        uint64_t failed = 0;
        int r;

        r = archive_writer_open_full(run->tmpfd, name, &opts, &w);
        if (r < 0) {
                if (r == -ENOSPC || r == -EDQUOT)
                        return r;
                fprintf(stderr, "vssbackup: cannot create %s: %s\n", name, strerror(-r));
                return r;
        }
        for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
                if (!lists[l])
                        continue;
                for (size_t i = 0; i < lists[l]->n_items; i++) {
                        const Selected *s = &lists[l]->items[i];

                        /* Keep PREFETCH_FILES reads in flight ahead of the copy: one small file
                         * after another would leave the disk idle between them. */
                        for (size_t k = i == 0 ? 0 : i + PREFETCH_FILES - 1; k < MIN(i + PREFETCH_FILES, lists[l]->n_items); k++)
                                if (lists[l]->items[k].type == LISTING_FILE)
                                        (void) archive_writer_prefetch(AT_FDCWD, lists[l]->items[k].source);

                        r = tool_interrupt_point(l == 1 && i == 1 ? "copying" : "copy");
                        if (r < 0)
                                return r;
                        r = archive_writer_add_file(w, AT_FDCWD, s->source, s->relpath, NULL);
                        /* A full destination fails every later file too: stop at the first. */
                        if (r == -ENOSPC || r == -EDQUOT)
                                return r;
                        if (r < 0) {
                                failed++;
                                r = file_failed(run, s, r);
                                if (r < 0)
                                        return r;
                        }
                }
        }
        r = archive_writer_close(w);
        if (r < 0) {
                if (r != -ENOSPC && r != -EDQUOT)
                        fprintf(stderr, "vssbackup: cannot finish %s: %s\n", name, strerror(-r));
                return r;
        }
        r = archive_writer_get_checksum(w, ret_xxh128);
        if (r < 0)
                return r;
        archive_writer_get_totals(w, ret_bytes, ret_files);
        *ret_failed = failed;
        progress_next_archive(&run->progress);
        return 0;
}

static int copy_all(Run *run) {
        uint64_t total_bytes = 0, total_files = 0;
        int r;

        for (size_t i = 0; i < run->n_volumes; i++) {
                total_files += run->volumes[i].files.n_items + run->volumes[i].dirs.n_items;
                for (size_t k = 0; k < run->volumes[i].files.n_items; k++)
                        total_bytes += run->volumes[i].files.items[k].size;
        }
        total_files += run->other.n_items;
        for (size_t k = 0; k < run->other.n_items; k++)
                total_bytes += run->other.items[k].size;
        run->total_bytes = total_bytes;

        progress_init(&run->progress, "backup", run->o->quiet, total_bytes, total_files);

        run->m->volumes = calloc(run->n_volumes, sizeof(ManifestVolume));
        if (!run->m->volumes)
                return -ENOMEM;
        for (size_t i = 0; i < run->n_volumes; i++) {
                VolumeWork *v = &run->volumes[i];
                ManifestVolume *mv = &run->m->volumes[i];
                char archive[48], listing[48], hex[33];

                snprintf(archive, sizeof(archive), "vol-%zu.tar.zst", i);
                snprintf(listing, sizeof(listing), "vol-%zu.list", i);
                run->m->n_volumes++;
                mv->path = strdup(v->path);
                mv->archive = strdup(archive);
                mv->listing = strdup(listing);
                mv->generation = v->generation;
                mv->listing_delta = v->delta;
                mv->listing_filter = v->filter ? strdup(v->filter) : NULL;
                if (!mv->path || !mv->archive || !mv->listing || (v->filter && !mv->listing_filter))
                        return -ENOMEM;
                for (size_t k = 0; k < v->n_scopes; k++)
                        if (strv_push(&mv->scopes, &mv->n_scopes, v->scopes[k]) < 0)
                                return -ENOMEM;

                r = copy_archive(run, archive, &v->dirs, &v->files, &mv->files, &mv->bytes, &mv->failed, hex);
                if (r < 0)
                        return r;
                mv->archive_xxh128 = strdup(hex);
                if (!mv->archive_xxh128)
                        return -ENOMEM;
                r = listing_writer_close(v->listing, hex);
                v->listing = listing_writer_free(v->listing);
                if (r < 0)
                        return r;
                mv->listing_xxh128 = strdup(hex);
                if (!mv->listing_xxh128)
                        return -ENOMEM;
                if (mv->failed > 0)
                        run->m->complete = false;
        }
        if (run->other.n_items > 0) {
                uint64_t bytes, failed;
                char hex[33];

                run->m->other_archive = strdup("other.tar.zst");
                if (!run->m->other_archive)
                        return -ENOMEM;
                r = copy_archive(run, run->m->other_archive, NULL, &run->other, &run->m->other_files, &bytes,
                                 &failed, hex);
                if (r < 0)
                        return r;
                run->m->other_archive_xxh128 = strdup(hex);
                if (!run->m->other_archive_xxh128)
                        return -ENOMEM;
                if (failed > 0)
                        run->m->complete = false;
        }
        progress_finish(&run->progress);
        if (run->file_errors > MAX_FILE_ERRORS_SHOWN)
                fprintf(stderr, "vssbackup: %u more files could not be copied\n",
                        run->file_errors - MAX_FILE_ERRORS_SHOWN);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* After the copy: what succeeded, the documents, BackupComplete, the manifest                */
/* ------------------------------------------------------------------------------------------ */

static const char *writer_name_of(const Run *run, const vss_id *instance) {
        for (size_t i = 0; i < run->n_writers; i++)
                if (vss_id_equal(&run->writers[i]->instance_id, instance))
                        return run->writer_names[i];
        return NULL;
}

static int set_succeeded(Run *run) {
        size_t n = 0;

        for (size_t w = 0; w < run->bcd->n_writers; w++)
                n += run->bcd->writers[w].n_components;
        run->m->components = calloc(MAX(n, 1U), sizeof(ManifestComponent));
        if (!run->m->components)
                return -ENOMEM;

        for (size_t w = 0; w < run->bcd->n_writers; w++) {
                const BcdWriter *bw = &run->bcd->writers[w];
                char buf[VSS_ID_STRING_MAX];
                bool writer_failed;

                if (vss_id_equal(&bw->instance_id, &own_instance_id))
                        continue;
                writer_failed = pathset_get(run->failed_instances, vss_id_format(&bw->instance_id, buf), NULL) != 0;
                for (size_t c = 0; c < bw->n_components; c++) {
                        const BcdComponent *bc = bw->components[c];
                        ManifestComponent *mc = &run->m->components[run->m->n_components];
                        _cleanup_free_ char *key = component_key(&bw->instance_id, bc->logical_path, bc->name);
                        const char *stamp = bcd_component_get_string(bc, BCD_STRING_BACKUP_STAMP);
                        const char *wname = writer_name_of(run, &bw->instance_id);
                        vss_hr hr;

                        if (!key)
                                return -ENOMEM;
                        run->m->n_components++;
                        *mc = (ManifestComponent) {
                                .instance_id = bw->instance_id,
                                .writer_id = bw->writer_id,
                                .type = bc->type,
                                .succeeded = !writer_failed && !pathset_get(run->failed_components, key, NULL),
                                .writer_name = wname ? strdup(wname) : NULL,
                                .logical_path = strdup(bc->logical_path),
                                .name = strdup(bc->name),
                                .backup_stamp = stamp ? strdup(stamp) : NULL,
                        };
                        if (!mc->logical_path || !mc->name || (stamp && !mc->backup_stamp))
                                return -ENOMEM;
                        hr = vss_requester_set_backup_succeeded(run->r, &bw->instance_id, &bw->writer_id, bc->type,
                                                                bc->logical_path, bc->name, mc->succeeded);
                        if (!hr_check(run, "SetBackupSucceeded", hr))
                                return -EIO;
                        if (!mc->succeeded)
                                fprintf(stderr, "vssbackup: component %s\\%s of writer \"%s\" was NOT backed up "
                                        "successfully\n", bc->logical_path, bc->name, strempty(wname));
                }
        }
        return 0;
}

static int add_document(Run *run, const char *kind, const char *name, const char *text) {
        ManifestDocument *d, *grown;
        char hex[33];
        int r;

        r = write_file_at(run->tmpfd, name, text, strlen(text));
        if (r < 0)
                return r;
        r = file_xxh128(run->tmpfd, name, hex);
        if (r < 0)
                return r;
        grown = realloc(run->m->documents, (run->m->n_documents + 1) * sizeof(ManifestDocument));
        if (!grown)
                return -ENOMEM;
        run->m->documents = grown;
        d = &run->m->documents[run->m->n_documents++];
        *d = (ManifestDocument) { .kind = strdup(kind), .name = strdup(name), .xxh128 = strdup(hex) };
        if (!d->kind || !d->name || !d->xxh128)
                return -ENOMEM;
        return 0;
}

/* The backup components document as it stands after SetBackupSucceeded, and every writer's metadata. */
static int store_documents(Run *run) {
        _cleanup_free_ char *xml = NULL;
        vss_hr hr;
        int r;

        hr = vss_requester_save_as_xml(run->r, &xml);
        if (!hr_check(run, "SaveAsXML", hr))
                return -EIO;
        r = add_document(run, "bcd", VB_BCD_NAME, xml);
        if (r < 0)
                return r;
        run->m->bcd_source = strdup("vssd");
        if (!run->m->bcd_source)
                return -ENOMEM;
        for (size_t i = 0; i < run->n_writers; i++) {
                char name[48];

                snprintf(name, sizeof(name), "writer-%zu.xml", i);
                r = add_document(run, "wmd", name, run->writer_xml[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int finish_directory(Run *run, char **ret_name) {
        _cleanup_free_ char *name = NULL;
        char when[32], idbuf[VSS_ID_STRING_MAX];
        time_t t = (time_t) (run->m->created_ns / 1000000000LL);
        struct tm tm;
        int r;

        r = manifest_write(run->tmpfd, run->m);
        if (r < 0)
                return r;
        if (!gmtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm) == 0)
                return -EINVAL;
        vss_id_format(&run->m->id, idbuf);
        idbuf[8] = 0;
        if (asprintf(&name, "%s-%s-%s", when, backup_type_name(run->m->type), idbuf) < 0)
                return -ENOMEM;
        if (renameat2(run->dirfd, run->tmp_name, run->dirfd, name, RENAME_NOREPLACE) < 0)
                return -errno;
        free(run->tmp_name);
        run->tmp_name = NULL;
        if (fsync(run->dirfd) < 0)
                return -errno;
        *ret_name = TAKE_PTR(name);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The command                                                                                */
/* ------------------------------------------------------------------------------------------ */

static int run_backup(Run *run) {
        const BackupOptions *o = run->o;
        char idbuf[VSS_ID_STRING_MAX];
        vss_hr hr;
        int r;

        r = prepare_named(run);
        if (r < 0)
                return r;
        r = open_backup_dir(run);
        if (r < 0)
                return r;
        r = tool_interrupt_point("locked");
        if (r < 0)
                return r;
        r = catalog_load(run->dirfd, &run->catalog);
        if (r < 0)
                return r;
        r = find_parent(run);
        if (r < 0)
                return r;

        if (asprintf(&run->tmp_name, VB_TMP_PREFIX "%s", vss_id_format(&run->m->id, idbuf)) < 0)
                return -ENOMEM;
        if (mkdirat(run->dirfd, run->tmp_name, 0700) < 0)
                return -errno;
        run->tmpfd = openat(run->dirfd, run->tmp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (run->tmpfd < 0)
                return -errno;

        r = tool_requester_new(o->socket_path, &run->r);
        if (r < 0)
                return r == -TOOL_EXIT_UNREACHABLE ? -ENOTCONN : -EIO;
        hr = vss_requester_initialize_for_backup(run->r, NULL);
        if (!hr_check(run, "InitializeForBackup", hr))
                return -EIO;
        /* Without writers: a file-share backup context, which no writer takes part in (§4). */
        hr = vss_requester_set_context(run->r, o->no_writers ? VSS_CTX_FILE_SHARE_BACKUP : VSS_CTX_BACKUP);
        if (!hr_check(run, "SetContext", hr))
                return -EIO;
        hr = vss_requester_set_backup_state(run->r, !o->no_writers, false, o->type, false);
        if (!hr_check(run, "SetBackupState", hr))
                return -EIO;
        r = tool_interrupt_point("connected");
        if (r < 0)
                return r;

        if (o->no_writers) {
                run->writers = calloc(1, sizeof(*run->writers));
                run->writer_xml = calloc(1, sizeof(*run->writer_xml));
                run->writer_names = calloc(1, sizeof(*run->writer_names));
                if (!run->writers || !run->writer_xml || !run->writer_names)
                        return -ENOMEM;
        } else {
                r = gather_writers(run);
                if (r < 0)
                        return r;
        }
        r = tool_interrupt_point("gathered");
        if (r < 0)
                return r;

        r = snapshot_volumes(run);
        if (r < 0)
                return r;
        r = load_previous(run);
        if (r < 0)
                return r;
        if (!o->no_writers) {
                r = check_writer_status(run, /* final= */ false);
                if (r < 0)
                        return r;
        }
        if (!o->quiet)
                for (size_t i = 0; i < run->n_volumes; i++)
                        fprintf(stderr, "vssbackup: snapshot of %s at %s\n", run->volumes[i].path,
                                run->volumes[i].snapshot);
        r = tool_interrupt_point("snapshot");
        if (r < 0)
                return r;

        r = walk_volumes(run);
        if (r < 0)
                return r;
        r = tool_interrupt_point("walked");
        if (r < 0)
                return r;
        r = select_files(run);
        if (r < 0)
                return r;
        r = tool_interrupt_point("selected");
        if (r < 0)
                return r;
        r = copy_all(run);
        if (r < 0)
                return r;
        r = tool_interrupt_point("copied");
        if (r < 0)
                return r;

        if (!o->no_writers) {
                r = set_succeeded(run);
                if (r < 0)
                        return r;
        }
        r = store_documents(run);
        if (r < 0)
                return r;
        /* Durable before BackupComplete: a writer may drop its logs once it hears "succeeded". */
        r = finish_directory(run, &run->stored_name);
        if (r < 0)
                return r;
        /* Until BackupComplete the writers have been promised nothing: an interrupt here still
         * aborts, and the stored backup goes with it. */
        r = tool_interrupt_point("stored");
        if (r < 0)
                return r;
        if (!o->no_writers) {
                hr = TOOL_RUN_ASYNC(vss_requester_backup_complete, run->r);
                r = HR_CHECK_OR_INTERRUPTED(run, "BackupComplete", hr);
                if (r < 0)
                        return r;
                r = check_writer_status(run, /* final= */ true);
                if (r < 0)
                        return r;
        }
        return 0;
}

static uint64_t free_bytes(int dirfd) {
        struct statvfs sv;

        if (fstatvfs(dirfd, &sv) < 0)
                return 0;
        return (uint64_t) sv.f_bavail * sv.f_frsize;
}

/* The result as one JSON object (--json): what a scheduler or a monitoring script reads. */
static void print_json_result(const Run *run, const char *result, int exit_status) {
        const Manifest *m = run->m;
        uint64_t files = 0, bytes = 0;
        char idbuf[VSS_ID_STRING_MAX];

        printf("{\"result\": \"%s\", \"exit_status\": %d, \"type\": \"%s\", \"id\": \"%s\", \"backup\": ", result,
               exit_status, backup_type_name(run->o->type), vss_id_format(&m->id, idbuf));
        if (run->stored_name && (streq(result, "ok") || streq(result, "incomplete"))) {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s/%s", run->o->to, run->stored_name) >= 0)
                        json_string(path);
                else
                        printf("null");
        } else
                printf("null");
        printf(", \"parent\": ");
        if (m->parent)
                json_string(m->parent);
        else
                printf("null");
        printf(", \"volumes\": [");
        for (size_t i = 0; i < m->n_volumes; i++) {
                const ManifestVolume *v = &m->volumes[i];

                files += v->files;
                bytes += v->bytes;
                printf("%s{\"path\": ", i ? ", " : "");
                json_string(v->path);
                printf(", \"scopes\": [");
                for (size_t k = 0; k < v->n_scopes; k++) {
                        printf("%s", k ? ", " : "");
                        json_string(v->scopes[k]);
                }
                printf("], \"files\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"failed\": %" PRIu64, v->files,
                       v->bytes, v->failed);
                /* How the listing was made: by a walk of the tree, or by its changed directories only. */
                if (i < run->n_volumes)
                        printf(", \"listing\": \"%s\", \"directories_read\": %" PRIu64,
                               run->o->type == VSS_BT_LOG ? "none" : run->volumes[i].delta ? "changed" : "walk",
                               run->volumes[i].dirs_read);
                printf("}");
        }
        printf("], \"files\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"components\": [", files + m->other_files, bytes);
        for (size_t i = 0; i < m->n_components; i++) {
                const ManifestComponent *c = &m->components[i];

                printf("%s{\"writer\": ", i ? ", " : "");
                json_string(strempty(c->writer_name));
                printf(", \"logical_path\": ");
                json_string(c->logical_path);
                printf(", \"name\": ");
                json_string(c->name);
                printf(", \"succeeded\": %s}", c->succeeded ? "true" : "false");
        }
        printf("]}\n");
}

/* Everything a failed or interrupted run leaves is undone; the line saying what happened. */
static int backup_failed(Run *run, int r) {
        const BackupOptions *o = run->o;
        int sig = tool_interrupt_signal();
        int status = sig ? VB_EXIT_SIGNAL_BASE + sig : r == -ENOTCONN ? VB_EXIT_UNREACHABLE : VB_EXIT_FAILED;
        bool stored_kept = false;

        if (!sig && r != -EIO && r != -EBUSY && r != -ENOENT && r != -EINVAL && r != -EBADMSG && r != -ENOSPC &&
            r != -EDQUOT && r != -ENOTCONN)
                fprintf(stderr, "vssbackup: backup failed: %s\n", strerror(-r));
        /* Writers hear Abort (seed 004) rather than a BackupComplete for a backup that did not happen. */
        if (run->r && (run->prepared || run->snapshot_done))
                (void) vss_requester_abort_backup(run->r);
        if (run->tmp_name && run->dirfd >= 0)
                (void) remove_flat_dir(run->dirfd, run->tmp_name);
        /* Stored but BackupComplete not sent: an interrupt or a full disk takes it away again;
         * a failure of BackupComplete itself leaves it (the writers may have heard it). */
        if (run->stored_name && run->dirfd >= 0) {
                if (sig || r == -ENOSPC || r == -EDQUOT) {
                        _cleanup_free_ char *tmp = NULL;

                        if (asprintf(&tmp, VB_TMP_PREFIX "undo-%s", run->stored_name) >= 0 &&
                            renameat(run->dirfd, run->stored_name, run->dirfd, tmp) == 0)
                                (void) remove_flat_dir(run->dirfd, tmp);
                } else
                        stored_kept = true;
        }
        vss_requester_release(run->r);
        run->r = NULL;

        if (sig)
                fprintf(stderr, "vssbackup: interrupted by %s: the backup was aborted (the writers were told), "
                        "nothing was stored\n", tool_interrupt_name());
        else if (r == -ENOSPC || r == -EDQUOT) {
                char need[32], have[32];

                fprintf(stderr, "vssbackup: destination full: %" PRIu64 " bytes needed, %" PRIu64 " free "
                        "(%s needed at most, uncompressed; %s free in %s); nothing was stored: free space or "
                        "remove old backups (vssbackup prune)\n", run->total_bytes,
                        run->dirfd >= 0 ? free_bytes(run->dirfd) : 0, format_bytes(run->total_bytes, need),
                        format_bytes(run->dirfd >= 0 ? free_bytes(run->dirfd) : 0, have), o->to);
        } else if (stored_kept)
                fprintf(stderr, "vssbackup: the backup %s/%s is stored, but the writers were not told "
                        "it completed\n", o->to, run->stored_name);
        else
                fprintf(stderr, "vssbackup: no backup was stored\n");
        if (o->json)
                print_json_result(run, sig ? "interrupted" : stored_kept ? "incomplete" : "failed", status);
        return status;
}

int vb_backup(const BackupOptions *o) {
        Run run = { .o = o, .dirfd = -EBADF, .tmpfd = -EBADF, .lockfd = -EBADF };
        bool complete;
        int r, status;

        run.m = calloc(1, sizeof(Manifest));
        run.failed_instances = pathset_new();
        run.failed_components = pathset_new();
        if (!run.m || !run.failed_instances || !run.failed_components) {
                run_done(&run);
                return VB_EXIT_FAILED;
        }
        vss_id_generate(&run.m->id);
        run.m->type = o->type;
        run.m->created_ns = now_ns();
        run.m->with_writers = !o->no_writers;
        run.m->complete = true;

        r = run_backup(&run);
        if (r < 0) {
                status = backup_failed(&run, r);
                run_done(&run);
                return status;
        }

        /* Releasing: BackupShutdown to the writers, the auto-release snapshots go. */
        vss_requester_release(run.r);
        run.r = NULL;
        complete = run.m->complete;
        for (size_t i = 0; i < run.m->n_components; i++)
                complete = complete && run.m->components[i].succeeded;
        status = complete ? VB_EXIT_OK : VB_EXIT_PARTIAL;
        if (o->json)
                print_json_result(&run, complete ? "ok" : "incomplete", status);
        else if (!o->quiet || !complete)
                printf("%s backup %s/%s%s\n", backup_type_name(o->type), o->to, run.stored_name,
                       complete ? "" : " stored, but INCOMPLETE: see the messages above");
        run_done(&run);
        return status;
}
