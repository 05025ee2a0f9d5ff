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
                        if (reterr_message)
                                (void) asprintf(reterr_message, "%s builds on %s, which is not in the backup directory",
                                                strempty(cur->dir_name), cur->parent);
                        return -ENOENT;
                }
                /* What may precede what; and time must go backwards, which also rules out cycles. */
                if (parent->created_ns >= cur->created_ns ||
                    (cur->type == VSS_BT_DIFFERENTIAL && parent->type != VSS_BT_FULL) ||
                    (parent->type != VSS_BT_FULL && parent->type != VSS_BT_INCREMENTAL)) {
                        if (reterr_message)
                                (void) asprintf(reterr_message, "%s cannot build on %s (%s)", strempty(cur->dir_name),
                                                parent->dir_name, backup_type_name(parent->type));
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

void json_print_string(FILE *f, const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        fputc('"', f);
        while (*p) {
                size_t n = 0;

                if (*p == '"' || *p == '\\') {
                        fprintf(f, "\\%c", *p++);
                        continue;
                }
                if (*p < 0x20 || *p == 0x7f) {
                        fprintf(f, "\\u%04x", *p++);
                        continue;
                }
                if (*p < 0x80) {
                        fputc(*p++, f);
                        continue;
                }
                /* Copy a well-formed UTF-8 sequence; anything else becomes U+FFFD. */
                if ((*p & 0xe0) == 0xc0 && *p >= 0xc2)
                        n = 2;
                else if ((*p & 0xf0) == 0xe0)
                        n = 3;
                else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4)
                        n = 4;
                for (size_t i = 1; i < n; i++)
                        if ((p[i] & 0xc0) != 0x80)
                                n = 0;
                if (n == 0) {
                        fputs("\\ufffd", f);
                        p++;
                        continue;
                }
                fwrite(p, 1, n, f);
                p += n;
        }
        fputc('"', f);
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
                json_print_string(stdout, m->dir_name);
                printf(", \"id\": \"%s\", \"type\": \"%s\", \"created_ns\": %" PRIi64 ", \"parent\": ",
                       vss_id_format(&m->id, idbuf), backup_type_name(m->type), m->created_ns);
                if (m->parent)
                        json_print_string(stdout, m->parent);
                else
                        printf("null");
                printf(", \"base\": ");
                if (m->base)
                        json_print_string(stdout, m->base);
                else
                        printf("null");
                printf(", \"complete\": %s, \"with_writers\": %s, \"files\": %" PRIu64 ", \"bytes\": %" PRIu64
                       ", \"volumes\": [",
                       m->complete ? "true" : "false", m->with_writers ? "true" : "false", manifest_files(m),
                       manifest_bytes(m));
                for (size_t v = 0; v < m->n_volumes; v++) {
                        printf("%s{\"path\": ", v > 0 ? ", " : "");
                        json_print_string(stdout, m->volumes[v].path);
                        printf(", \"generation\": %" PRIu64 ", \"files\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
                               m->volumes[v].generation, m->volumes[v].files, m->volumes[v].bytes);
                }
                printf("], \"components\": [");
                for (size_t k = 0; k < m->n_components; k++) {
                        const ManifestComponent *comp = &m->components[k];

                        printf("%s{\"writer\": ", k > 0 ? ", " : "");
                        json_print_string(stdout, strempty(comp->writer_name));
                        printf(", \"logical_path\": ");
                        json_print_string(stdout, comp->logical_path);
                        printf(", \"name\": ");
                        json_print_string(stdout, comp->name);
                        printf(", \"succeeded\": %s, \"backup_stamp\": ", comp->succeeded ? "true" : "false");
                        if (comp->backup_stamp)
                                json_print_string(stdout, comp->backup_stamp);
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

static void verify_entry_cb(const char *path, ArchiveVerifyResult result, void *userdata) {
        const char *archive = userdata;

        printf("%s: %s: %s\n", archive, path, verify_result_string(result));
}

static bool verify_checksum(int bfd, const char *name, const char *expected) {
        char hex[33];
        int r;

        r = file_xxh128(bfd, name, hex);
        if (r < 0) {
                printf("%s: cannot read: %s\n", name, strerror(-r));
                return false;
        }
        if (!streq(hex, expected)) {
                printf("%s: checksum MISMATCH (manifest %s, file %s)\n", name, expected, hex);
                return false;
        }
        return true;
}

static bool verify_archive(int bfd, const char *name, bool quiet) {
        ArchiveVerifyStats stats = {};
        char size[32];
        int r;

        r = archive_verify(bfd, name, verify_entry_cb, (void *) name, &stats);
        if (r < 0 && r != -EBADMSG) {
                printf("%s: cannot read: %s\n", name, strerror(-r));
                return false;
        }
        /* Failed without naming an entry: the stream itself does not decode (from the start). */
        if (r == -EBADMSG && stats.mismatched == 0)
                stats.corrupt = true;
        if (!quiet || r < 0)
                printf("%s: %" PRIu64 " entries, %s%s%s\n", name, stats.entries, format_bytes(stats.bytes, size),
                       stats.mismatched > 0 ? ", checksum mismatches" : "",
                       stats.corrupt ? ", CORRUPT (cannot be read past this point)" : "");
        return r == 0;
}

int vb_verify(const char *backup, bool quiet) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *name = NULL, *reason = NULL;
        _cleanup_close_ int dirfd = -EBADF, bfd = -EBADF;
        bool ok = true;
        Catalog c = {};
        int r;

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
                printf("%s: manifest: %s\n", backup, reason ?: strerror(-r));
                printf("Verify: FAILED\n");
                return VB_EXIT_FAILED;
        }
        if (!quiet)
                printf("manifest: %s backup, %zu volume(s), %zu component(s)%s\n", backup_type_name(m->type),
                       m->n_volumes, m->n_components, m->complete ? "" : ", INCOMPLETE (some files were not copied)");

        /* Each archive twice: as a file against the manifest (any byte, headers included), and
         * entry by entry against the checksums inside (which also says which file is hit). */
        for (size_t i = 0; i < m->n_volumes; i++) {
                if (m->volumes[i].archive_xxh128)
                        ok = verify_checksum(bfd, m->volumes[i].archive, m->volumes[i].archive_xxh128) && ok;
                ok = verify_archive(bfd, m->volumes[i].archive, quiet) && ok;
                ok = verify_checksum(bfd, m->volumes[i].listing, m->volumes[i].listing_xxh128) && ok;
        }
        if (m->other_archive) {
                if (m->other_archive_xxh128)
                        ok = verify_checksum(bfd, m->other_archive, m->other_archive_xxh128) && ok;
                ok = verify_archive(bfd, m->other_archive, quiet) && ok;
        }
        for (size_t i = 0; i < m->n_documents; i++)
                ok = verify_checksum(bfd, m->documents[i].name, m->documents[i].xxh128) && ok;

        /* The backups a restore of this one needs must be there too (their contents are theirs to verify). */
        if (m->parent) {
                r = catalog_load(dirfd, &c);
                if (r < 0) {
                        printf("cannot read the backup directory: %s\n", strerror(-r));
                        ok = false;
                } else {
                        _cleanup_free_ const Manifest **chain = NULL;
                        Manifest *self = catalog_find(&c, name);
                        _cleanup_free_ char *why = NULL;

                        r = self ? catalog_chain(&c, self, &chain, &why) : -ENOENT;
                        if (r < 0) {
                                printf("chain: %s\n", why ?: strerror(-r));
                                ok = false;
                        } else if (!quiet)
                                printf("chain: %d backup(s) back to the full %s\n", r, chain[r - 1]->dir_name);
                }
                catalog_done(&c);
        }

        printf("Verify: %s\n", ok ? "OK" : "FAILED");
        return ok ? VB_EXIT_OK : VB_EXIT_FAILED;
}
