/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * catalog.c: the backups of one backup directory and how they chain, and the two commands that
 * only read them: `vssbackup list` (the chain, for people and as JSON) and `vssbackup verify`
 * (every archive read back against its checksums, every listing and document against the
 * manifest's).
 *
 * A backup directory holds one directory per backup, named <UTC time>-<type>-<id8>, made
 * under a hidden temporary name and renamed once its manifest is written, so what the
 * catalog sees is complete. Chains are by name: an incremental names its parent (the last
 * full or incremental before it) and its base (the full at the root); a differential names
 * the full as both.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup-archive.h"
#include "vssbackup.h"

int64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void catalog_done(Catalog *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n_backups; i++)
                manifest_free(c->backups[i]);
        free(c->backups);
        *c = (Catalog) {};
}

static int manifest_compare(const void *a, const void *b) {
        const Manifest *x = *(Manifest *const *) a, *y = *(Manifest *const *) b;

        if (x->created_ns != y->created_ns)
                return x->created_ns < y->created_ns ? -1 : 1;
        return strcmp(x->dir_name, y->dir_name);
}

int catalog_load(int dirfd, Catalog *ret) {
        _cleanup_close_ int fd = -EBADF;
        Catalog c = {};
        struct dirent *de;
        DIR *d;
        int r = 0;

        fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        rewinddir(d);

        while ((errno = 0, de = readdir(d))) {
                _cleanup_free_ char *reason = NULL;
                _cleanup_close_ int bfd = -EBADF;
                Manifest *m = NULL, **grown;

                if (!valid_backup_dir_name(de->d_name))
                        continue;
                bfd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (bfd < 0)
                        continue;       /* not a directory: not a backup */
                r = manifest_read(bfd, &m, &reason);
                if (r == -ENOENT) {
                        r = 0;
                        continue;
                }
                if (r < 0) {
                        fprintf(stderr, "vssbackup: ignoring %s: %s\n", de->d_name,
                                reason ?: strerror(-r));
                        r = 0;
                        continue;
                }
                m->dir_name = strdup(de->d_name);
                if (!m->dir_name || c.n_backups >= VB_MAX_BACKUPS) {
                        r = m->dir_name ? -E2BIG : -ENOMEM;
                        manifest_free(m);
                        break;
                }
                grown = realloc(c.backups, (c.n_backups + 1) * sizeof(*c.backups));
                if (!grown) {
                        manifest_free(m);
                        r = -ENOMEM;
                        break;
                }
                c.backups = grown;
                c.backups[c.n_backups++] = m;
        }
        if (r == 0 && errno != 0)
                r = -errno;
        closedir(d);
        if (r < 0) {
                catalog_done(&c);
                return r;
        }
        if (c.n_backups > 1)
                qsort(c.backups, c.n_backups, sizeof(*c.backups), manifest_compare);
        *ret = c;
        return 0;
}

Manifest *catalog_find(const Catalog *c, const char *dir_name) {
        for (size_t i = 0; i < c->n_backups; i++)
                if (streq(c->backups[i]->dir_name, dir_name))
                        return c->backups[i];
        return NULL;
}

int catalog_chain(const Catalog *c, const Manifest *m, const Manifest ***ret, char **reterr_message) {
        _cleanup_free_ const Manifest **chain = NULL;
        size_t n = 0;

        for (const Manifest *cur = m; cur;) {
                const Manifest **grown;
                Manifest *parent;

                if (n >= VB_MAX_CHAIN)
                        return -ELOOP;
                grown = realloc(chain, (n + 1) * sizeof(*chain));
                if (!grown)
                        return -ENOMEM;
                chain = grown;
                chain[n++] = cur;

                if (cur->type != VSS_BT_INCREMENTAL && cur->type != VSS_BT_DIFFERENTIAL)
                        break;
                parent = catalog_find(c, cur->parent);
                if (!parent) {
                        if (reterr_message &&
                            asprintf(reterr_message, "%s builds on %s, which is not in the backup directory",
                                     strempty(cur->dir_name), cur->parent) < 0)
                                *reterr_message = NULL; /* no message rather than an undefined one */
                        return -ENOENT;
                }
                /* What may precede what; and time must go backwards, which also rules out cycles. */
                if (parent->created_ns >= cur->created_ns ||
                    (cur->type == VSS_BT_DIFFERENTIAL && parent->type != VSS_BT_FULL) ||
                    (parent->type != VSS_BT_FULL && parent->type != VSS_BT_INCREMENTAL)) {
                        if (reterr_message &&
                            asprintf(reterr_message, "%s cannot build on %s (%s)", strempty(cur->dir_name),
                                     parent->dir_name, backup_type_name(parent->type)) < 0)
                                *reterr_message = NULL; /* no message rather than an undefined one */
                        return -ELOOP;
                }
                cur = parent;
        }

        *ret = TAKE_PTR(chain);
        return (int) n;
}

int split_backup_path(const char *path, int *ret_dirfd, char **ret_name) {
        _cleanup_free_ char *copy = NULL, *name = NULL;
        _cleanup_close_ int fd = -EBADF;
        char *slash;
        size_t len;

        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        len = strlen(copy);
        while (len > 1 && copy[len - 1] == '/')
                copy[--len] = 0;

        slash = strrchr(copy, '/');
        if (!slash) {
                name = strdup(copy);
                fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        } else {
                name = strdup(slash + 1);
                *slash = 0;
                fd = open(slash == copy ? "/" : copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (!name)
                return -ENOMEM;
        if (fd < 0)
                return -errno;
        if (!valid_backup_dir_name(name))
                return -EINVAL;

        *ret_dirfd = TAKE_FD(fd);
        *ret_name = TAKE_PTR(name);
        return 0;
}

int remove_flat_dir(int parentfd, const char *name) {
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        DIR *d;

        fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        (void) unlinkat(fd, de->d_name, 0);
        closedir(d);
        TAKE_FD(fd);
        if (unlinkat(parentfd, name, AT_REMOVEDIR) < 0)
                return -errno;
        return 0;
}

int lock_backup_dir(int dirfd, const char *dir, unsigned wait_s) {
        _cleanup_close_ int fd = -EBADF;
        int64_t deadline = now_ns() + (int64_t) wait_s * 1000000000LL;
        bool said = false;

        fd = openat(dirfd, VB_LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                fprintf(stderr, "vssbackup: %s/%s: %s\n", dir, VB_LOCK_NAME, strerror(errno));
                return -errno;
        }
        /* A scheduled backup waits its turn behind another one rather than fail. */
        while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK)
                        return -errno;
                if (now_ns() >= deadline) {
                        fprintf(stderr, "vssbackup: another vssbackup is writing to %s%s; try again when it is "
                                "done%s\n", dir, wait_s ? " and did not finish in time" : "",
                                wait_s ? " or give a longer --wait" : " or give --wait SECONDS");
                        return -EBUSY;
                }
                if (!said)
                        fprintf(stderr, "vssbackup: another vssbackup is writing to %s: waiting up to %us\n", dir,
                                wait_s);
                said = true;
                if (tool_interrupt_sleep_ms(200) < 0)
                        return -EINTR;
        }
        return TAKE_FD(fd);
}

/* ------------------------------------------------------------------------------------------ */
/* list                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static uint64_t manifest_bytes(const Manifest *m) {
        uint64_t b = 0;

        for (size_t i = 0; i < m->n_volumes; i++)
                b += m->volumes[i].bytes;
        return b;
}

static uint64_t manifest_files(const Manifest *m) {
        uint64_t f = m->other_files;

        for (size_t i = 0; i < m->n_volumes; i++)
                f += m->volumes[i].files;
        return f;
}

static void format_time(int64_t ns, char buf[static 32]) {
        time_t t = (time_t) (ns / 1000000000LL);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
                snprintf(buf, 32, "?");
}

static void list_json(const Catalog *c) {
        printf("[");
        for (size_t i = 0; i < c->n_backups; i++) {
                const Manifest *m = c->backups[i];
                char idbuf[VSS_ID_STRING_MAX];

                printf("%s\n  {\"name\": ", i > 0 ? "," : "");
                json_string(m->dir_name);
                printf(", \"id\": \"%s\", \"type\": \"%s\", \"created_ns\": %" PRIi64 ", \"parent\": ",
                       vss_id_format(&m->id, idbuf), backup_type_name(m->type), m->created_ns);
                if (m->parent)
                        json_string(m->parent);
                else
                        printf("null");
                printf(", \"base\": ");
                if (m->base)
                        json_string(m->base);
                else
                        printf("null");
                printf(", \"complete\": %s, \"with_writers\": %s, \"files\": %" PRIu64 ", \"bytes\": %" PRIu64
                       ", \"volumes\": [",
                       m->complete ? "true" : "false", m->with_writers ? "true" : "false", manifest_files(m),
                       manifest_bytes(m));
                for (size_t v = 0; v < m->n_volumes; v++) {
                        printf("%s{\"path\": ", v > 0 ? ", " : "");
                        json_string(m->volumes[v].path);
                        printf(", \"generation\": %" PRIu64 ", \"files\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
                               m->volumes[v].generation, m->volumes[v].files, m->volumes[v].bytes);
                }
                printf("], \"components\": [");
                for (size_t k = 0; k < m->n_components; k++) {
                        const ManifestComponent *comp = &m->components[k];

                        printf("%s{\"writer\": ", k > 0 ? ", " : "");
                        json_string(strempty(comp->writer_name));
                        printf(", \"logical_path\": ");
                        json_string(comp->logical_path);
                        printf(", \"name\": ");
                        json_string(comp->name);
                        printf(", \"succeeded\": %s, \"backup_stamp\": ", comp->succeeded ? "true" : "false");
                        if (comp->backup_stamp)
                                json_string(comp->backup_stamp);
                        else
                                printf("null");
                        printf("}");
                }
                printf("]}");
        }
        printf("%s]\n", c->n_backups > 0 ? "\n" : "");
}

static void list_human(const Catalog *c) {
        if (c->n_backups == 0) {
                printf("No backups.\n");
                return;
        }
        printf("%-44s %-12s %-21s %10s %10s  %s\n", "BACKUP", "TYPE", "CREATED", "FILES", "SIZE", "BUILDS ON");
        for (size_t i = 0; i < c->n_backups; i++) {
                const Manifest *m = c->backups[i];
                char when[32], size[32];

                format_time(m->created_ns, when);
                printf("%-44s %-12s %-21s %10" PRIu64 " %10s  %s%s\n", m->dir_name, backup_type_name(m->type), when,
                       manifest_files(m), format_bytes(manifest_bytes(m), size), m->parent ?: "-",
                       m->complete ? "" : "  (INCOMPLETE: some files could not be copied)");
        }
}

int vb_list(const char *dir, bool json) {
        _cleanup_close_ int fd = -EBADF;
        Catalog c = {};
        int r;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "vssbackup: %s: %s\n", dir, strerror(errno));
                return VB_EXIT_FAILED;
        }
        r = catalog_load(fd, &c);
        if (r < 0) {
                fprintf(stderr, "vssbackup: reading %s: %s\n", dir, strerror(-r));
                return VB_EXIT_FAILED;
        }
        if (json)
                list_json(&c);
        else
                list_human(&c);
        catalog_done(&c);
        return VB_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* verify                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static const char *verify_result_string(ArchiveVerifyResult v) {
        switch (v) {
        case ARCHIVE_VERIFY_OK:
                return "ok";
        case ARCHIVE_VERIFY_NO_CHECKSUM:
                return "no-checksum";
        case ARCHIVE_VERIFY_MISMATCH:
                return "MISMATCH";
        case ARCHIVE_VERIFY_CORRUPT:
                return "CORRUPT";
        }
        return "?";
}

typedef struct VerifyOut {
        FILE *f;                /* where the lines go: stdout, or stderr under --json */
        const char *archive;
} VerifyOut;

static void verify_entry_cb(const char *path, ArchiveVerifyResult result, void *userdata) {
        const VerifyOut *vo = userdata;

        fprintf(vo->f, "%s: %s: %s\n", vo->archive, path, verify_result_string(result));
}

/* Compares a file with its checksum in the manifest; an archive (archive_of: its manifest) in
 * the terms of that manifest's format. */
static bool verify_checksum(FILE *out, const char *bname, int bfd, const char *name, const char *expected,
                            const Manifest *archive_of) {
        char hex[33];
        int r;

        r = archive_of ? archive_checksum(archive_of, bfd, name, hex) : file_xxh128(bfd, name, hex);
        if (r < 0) {
                fprintf(out, "%s/%s: cannot read: %s\n", bname, name, strerror(-r));
                return false;
        }
        if (!streq(hex, expected)) {
                fprintf(out, "%s/%s: checksum MISMATCH (manifest %s, file %s)\n", bname, name, expected, hex);
                return false;
        }
        return true;
}

static bool verify_archive(FILE *out, const char *bname, int bfd, const char *name, bool quiet) {
        _cleanup_free_ char *label = NULL;
        ArchiveVerifyStats stats = {};
        VerifyOut vo = { .f = out };
        char size[32];
        int r;

        if (asprintf(&label, "%s/%s", bname, name) < 0)
                return false;
        vo.archive = label;
        r = archive_verify(bfd, name, verify_entry_cb, &vo, &stats);
        if (r < 0 && r != -EBADMSG) {
                fprintf(out, "%s: cannot read: %s\n", label, strerror(-r));
                return false;
        }
        /* Failed without naming an entry: the stream itself does not decode (from the start). */
        if (r == -EBADMSG && stats.mismatched == 0)
                stats.corrupt = true;
        if (!quiet || r < 0)
                fprintf(out, "%s: %" PRIu64 " entries, %s%s%s\n", label, stats.entries,
                        format_bytes(stats.bytes, size), stats.mismatched > 0 ? ", checksum mismatches" : "",
                        stats.corrupt ? ", CORRUPT (cannot be read past this point)" : "");
        return r == 0;
}

/* Every checksum of the backup dirfd/name: its manifest, archives, listings and documents. */
static bool verify_one(FILE *out, int dirfd, const char *name, bool quiet) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *reason = NULL;
        _cleanup_close_ int bfd = -EBADF;
        bool ok = true;
        int r;

        bfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (bfd < 0) {
                fprintf(out, "%s: %s\n", name, strerror(errno));
                return false;
        }
        r = manifest_read(bfd, &m, &reason);
        if (r < 0) {
                fprintf(out, "%s: manifest: %s\n", name, reason ?: strerror(-r));
                return false;
        }
        if (!quiet)
                fprintf(out, "%s: manifest: %s backup, %zu volume(s), %zu component(s)%s\n", name,
                        backup_type_name(m->type), m->n_volumes, m->n_components,
                        m->complete ? "" : ", INCOMPLETE (some files were not copied)");

        /* Each archive twice: as a file against the manifest (any byte, headers included), and
         * entry by entry against the checksums inside (which also says which file is hit). */
        for (size_t i = 0; i < m->n_volumes; i++) {
                if (m->volumes[i].archive_xxh128)
                        ok = verify_checksum(out, name, bfd, m->volumes[i].archive, m->volumes[i].archive_xxh128, m) && ok;
                ok = verify_archive(out, name, bfd, m->volumes[i].archive, quiet) && ok;
                ok = verify_checksum(out, name, bfd, m->volumes[i].listing, m->volumes[i].listing_xxh128, NULL) && ok;
        }
        if (m->other_archive) {
                if (m->other_archive_xxh128)
                        ok = verify_checksum(out, name, bfd, m->other_archive, m->other_archive_xxh128, m) && ok;
                ok = verify_archive(out, name, bfd, m->other_archive, quiet) && ok;
        }
        for (size_t i = 0; i < m->n_documents; i++)
                ok = verify_checksum(out, name, bfd, m->documents[i].name, m->documents[i].xxh128, NULL) && ok;
        return ok;
}

/*
 * verify: BACKUP, and (unless only) every backup a restore of it reads: an incremental whose
 * full is damaged cannot be restored, so it does not verify either.
 */
int vb_verify(const char *backup, bool only, bool quiet, bool json) {
        _cleanup_free_ const Manifest **chain = NULL;
        _cleanup_free_ char *name = NULL, *why = NULL;
        _cleanup_close_ int dirfd = -EBADF;
        _cleanup_free_ bool *results = NULL;
        FILE *out = json ? stderr : stdout;
        const char *chain_problem = NULL;
        Catalog c = {};
        bool ok;
        int n = 0, r;

        r = split_backup_path(backup, &dirfd, &name);
        if (r < 0) {
                fprintf(stderr, "vssbackup: %s: not a backup directory path: %s\n", backup, strerror(-r));
                return VB_EXIT_USAGE;
        }
        ok = verify_one(out, dirfd, name, quiet);

        if (!only) {
                Manifest *self;

                r = catalog_load(dirfd, &c);
                self = r < 0 ? NULL : catalog_find(&c, name);
                if (r < 0) {
                        fprintf(out, "cannot read the backup directory: %s\n", strerror(-r));
                        chain_problem = "the backup directory cannot be read";
                } else if (self) {
                        n = catalog_chain(&c, self, &chain, &why);
                        if (n < 0) {
                                fprintf(out, "chain: %s\n", why ?: strerror(-n));
                                chain_problem = why ?: "broken chain";
                                n = 0;
                        } else if (!quiet && n > 1)
                                fprintf(out, "chain: %d backup(s) back to the full %s\n", n, chain[n - 1]->dir_name);
                }
                /* A backup the catalog does not know (its manifest failed above) has no chain to check. */
                results = calloc(MAX(n, 1), sizeof(bool));
                if (!results) {
                        catalog_done(&c);
                        return VB_EXIT_FAILED;
                }
                for (int i = 1; i < n; i++) {
                        results[i] = verify_one(out, dirfd, chain[i]->dir_name, quiet);
                        if (!results[i])
                                fprintf(out, "%s: DAMAGED, and %s builds on it: it cannot be restored\n",
                                        chain[i]->dir_name, name);
                }
                for (int i = 1; i < n; i++)
                        ok = ok && results[i];
                ok = ok && !chain_problem;
        }

        if (json) {
                printf("{\"backup\": ");
                json_string(backup);
                printf(", \"ok\": %s, \"only\": %s, \"chain_problem\": ", ok ? "true" : "false", only ? "true" : "false");
                if (chain_problem)
                        json_string(chain_problem);
                else
                        printf("null");
                printf(", \"chain\": [");
                for (int i = 1; i < n; i++) {
                        printf("%s{\"name\": ", i > 1 ? ", " : "");
                        json_string(chain[i]->dir_name);
                        printf(", \"ok\": %s}", results[i] ? "true" : "false");
                }
                printf("]}\n");
        } else
                printf("Verify: %s\n", ok ? "OK" : "FAILED");
        catalog_done(&c);
        return ok ? VB_EXIT_OK : VB_EXIT_FAILED;
}

/* ------------------------------------------------------------------------------------------ */
/* ls                                                                                         */
/* ------------------------------------------------------------------------------------------ */

typedef struct LsEntry {
        char *path;             /* absolute original path */
        char type;
} LsEntry;

typedef struct LsState {
        const char *volume;     /* the volume's path */
        const char *under;      /* absolute: only this path and what is below it; NULL all */
        LsEntry *items;
        size_t n_items;
        int error;
} LsState;

static int ls_collect(const char *path, char type, uint8_t mark, void *userdata) {
        LsState *st = userdata;
        _cleanup_free_ char *full = NULL;
        LsEntry *grown;
        size_t l;

        (void) mark;
        if (asprintf(&full, "%s/%s", streq(st->volume, "/") ? "" : st->volume, path) < 0)
                return (st->error = -ENOMEM);
        if (st->under) {
                l = strlen(st->under);
                if (strncmp(full, st->under, l) != 0 || (full[l] != 0 && full[l] != '/' && !streq(st->under, "/")))
                        return 0;
        }
        grown = realloc(st->items, (st->n_items + 1) * sizeof(LsEntry));
        if (!grown)
                return (st->error = -ENOMEM);
        st->items = grown;
        st->items[st->n_items++] = (LsEntry) { .path = TAKE_PTR(full), .type = type };
        return 0;
}

static int ls_compare(const void *a, const void *b) {
        return strcmp(((const LsEntry *) a)->path, ((const LsEntry *) b)->path);
}

/*
 * ls: the paths a restore of BACKUP writes (its listings: what its snapshot held of the named
 * paths), as absolute original paths, sorted; with PATH only that path and what is below it.
 * A relative PATH is taken below the backup's only volume.
 */
int vb_ls(const char *backup, const char *path, bool json) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *name = NULL, *reason = NULL, *under = NULL;
        _cleanup_close_ int dirfd = -EBADF, bfd = -EBADF;
        _cleanup_(catalog_done) Catalog cat = {};
        _cleanup_free_ const Manifest **chain = NULL;
        _cleanup_free_ char *chain_err = NULL;
        size_t n_chain = 0;
        LsState st = {};
        int r, ret = VB_EXIT_OK;

        r = split_backup_path(backup, &dirfd, &name);
        if (r < 0) {
                fprintf(stderr, "vssbackup: %s: not a backup directory path: %s\n", backup, strerror(-r));
                return VB_EXIT_USAGE;
        }
        bfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (bfd < 0) {
                fprintf(stderr, "vssbackup: %s: %s\n", backup, strerror(errno));
                return VB_EXIT_FAILED;
        }
        r = manifest_read(bfd, &m, &reason);
        if (r < 0) {
                fprintf(stderr, "vssbackup: %s: %s\n", backup,
                        r == -ENOENT ? "no manifest (not a backup, or an unfinished one)" : reason ?: strerror(-r));
                return VB_EXIT_FAILED;
        }
        if (path) {
                size_t l;

                if (path[0] != '/' && m->n_volumes != 1) {
                        fprintf(stderr, "vssbackup ls: %s holds %zu volumes: give PATH as an absolute path\n", backup,
                                m->n_volumes);
                        return VB_EXIT_USAGE;
                }
                if (path[0] == '/')
                        under = strdup(path);
                else if (asprintf(&under, "%s/%s", streq(m->volumes[0].path, "/") ? "" : m->volumes[0].path,
                                  path) < 0)
                        under = NULL;
                if (!under)
                        return VB_EXIT_FAILED;
                l = strlen(under);
                while (l > 1 && under[l - 1] == '/')
                        under[--l] = 0;
        }

        if (!m->dir_name) {
                m->dir_name = strdup(name);
                if (!m->dir_name)
                        return VB_EXIT_FAILED;
        }
        for (size_t i = 0; i < m->n_volumes; i++) {
                _cleanup_(pathset_freep) PathSet *set = NULL;
                const Manifest *self[1] = { m };
                const char *bad = NULL;

                /* A listing of changes only: the chain it builds on says what the rest holds. */
                if (m->volumes[i].listing_delta && !chain) {
                        const Manifest *cm;

                        r = catalog_load(dirfd, &cat);
                        cm = r < 0 ? NULL : catalog_find(&cat, name);
                        r = cm ? catalog_chain(&cat, cm, &chain, &chain_err) : -ENOENT;
                        if (r < 0) {
                                fprintf(stderr, "vssbackup: %s: the backups it builds on: %s\n", backup,
                                        chain_err ?: strerror(-r));
                                return VB_EXIT_FAILED;
                        }
                        n_chain = (size_t) r;
                }
                r = chain ? listing_load_chain(dirfd, chain, n_chain, m->volumes[i].path, &set, &bad) :
                            listing_load_chain(dirfd, self, 1, m->volumes[i].path, &set, &bad);
                if (r < 0) {
                        fprintf(stderr, "vssbackup: the listing of %s in %s is %s\n", m->volumes[i].path,
                                bad ?: backup, r == -EBADMSG ? "damaged (checksum or format)" : strerror(-r));
                        ret = VB_EXIT_FAILED;
                        continue;
                }
                st.volume = m->volumes[i].path;
                st.under = under;
                (void) pathset_foreach(set, ls_collect, &st);
                if (st.error < 0)
                        break;
        }
        if (st.n_items > 1)
                qsort(st.items, st.n_items, sizeof(LsEntry), ls_compare);

        if (json)
                printf("[");
        for (size_t i = 0; i < st.n_items && st.error == 0; i++) {
                const char *t = st.items[i].type == LISTING_DIR ? "dir" : st.items[i].type == LISTING_SYMLINK ?
                                "symlink" : "file";

                if (json) {
                        printf("%s\n  {\"path\": ", i ? "," : "");
                        json_string(st.items[i].path);
                        printf(", \"type\": \"%s\"}", t);
                } else
                        printf("%c %s%s\n", st.items[i].type, st.items[i].path,
                               st.items[i].type == LISTING_DIR && !streq(st.items[i].path, "/") ? "/" : "");
        }
        if (json)
                printf("%s]\n", st.n_items ? "\n" : "");
        for (size_t i = 0; i < st.n_items; i++)
                free(st.items[i].path);
        free(st.items);
        if (st.error < 0) {
                fprintf(stderr, "vssbackup: %s\n", strerror(-st.error));
                return VB_EXIT_FAILED;
        }
        if (path && st.n_items == 0) {
                fprintf(stderr, "vssbackup: %s holds nothing at or below %s\n", backup, under);
                return VB_EXIT_FAILED;
        }
        return ret;
}
