/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listing.c: the listing of a volume, stored beside each backup's archive: every directory,
 * regular file and symlink the volume's snapshot held, one record each, whether or not this
 * backup copied it. An incremental archive holds only what changed; the listing is what lets a
 * restore tell a file that was not copied because it did not change (take it from an older
 * backup of the chain) from one that was deleted (take it from nowhere), and lets the next
 * backup see paths that are new although their times are old (renamed directories, files
 * moved in with their times kept).
 *
 * Format 1 (manifests "vssbackup-1"): records "<type><path>\0", type 'd', 'f' or 'l', path
 * relative to the volume's top with '/' separators, in walk order.
 *
 * Format 2 (manifests "vssbackup-2"): the same paths grouped by directory, so that one
 * directory's entries can be found without reading the rest (a binary search over the mapped
 * file), which is what lets an incremental on btrfs re-read only the directories that changed
 * and compare each with its previous entries:
 *
 *     "X\0" then "<type><path>\0"...  "E<xxh64>\0"     paths outside every group (first, once)
 *     "D<dir>\0" then "<type><name>\0"... "E<xxh64>\0"  one group per directory, sorted by dir
 *
 * A group holds every entry of that directory ("" is the volume's top); <xxh64> (16 hex digits)
 * is the XXH3-64 of the group's bytes from its 'D' (or 'X') record to the end of its last
 * entry, so a group found alone is checked alone. A complete listing (a full backup, or a
 * backup whose volume was walked) has a group for every directory it lists; a delta listing
 * only for the directories that were read again, and a path's state at that backup is its
 * directory's group in the newest listing of the chain that has one (listing_load_chain).
 * The manifest carries the XXH3-128 of the whole file, checked before a whole listing is
 * believed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "safe-path.h"
#include "vssbackup.h"
#include "xxhash-util.h"

/* A listing may come from a damaged or hostile backup directory: bound what it can cost. */
#define LISTING_MAX_ENTRIES (50U * 1000U * 1000U)

typedef struct ListingItem {
        char *path;             /* malloc'd, type byte in front: [type][path...\0] */
} ListingItem;

struct ListingWriter {
        FILE *f;
        XXH3_state_t *xxh;
        unsigned format;        /* 1: records as added; 2: grouped at close */
        ListingItem *items;     /* format 2: every record, sorted at close */
        size_t n_items, n_alloc;
        PathSet *groups;        /* format 2: the directories whose every entry is listed */
};

static void xxh_hex(XXH3_state_t *st, char hex[static 33]) {
        XXH128_canonical_t c;
        XXH128_hash_t h = XXH3_128bits_digest(st);

        XXH128_canonicalFromHash(&c, h);
        for (size_t i = 0; i < sizeof(c.digest); i++)
                snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);
}

int listing_writer_open(int dirfd, const char *name, ListingWriter **ret) {
        _cleanup_(listing_writer_freep) ListingWriter *w = NULL;
        _cleanup_close_ int fd = -EBADF;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->xxh = XXH3_createState();
        w->groups = pathset_new();
        if (!w->xxh || !w->groups)
                return -ENOMEM;
        XXH3_128bits_reset(w->xxh);

        fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        w->f = fdopen(fd, "w");
        if (!w->f)
                return -errno;
        TAKE_FD(fd);

        *ret = TAKE_PTR(w);
        return 0;
}

static int writer_push(ListingWriter *w, char type, const char *path) {
        size_t len = strlen(path);
        char *rec;

        if (GREEDY_REALLOC(w->items, w->n_alloc, w->n_items + 1) < 0)
                return -ENOMEM;
        rec = malloc(len + 2);
        if (!rec)
                return -ENOMEM;
        rec[0] = type;
        memcpy(rec + 1, path, len + 1);
        w->items[w->n_items++] = (ListingItem) { .path = rec };
        return 0;
}

int listing_writer_add(ListingWriter *w, char type, const char *path) {
        assert(w && path && path[0]);
        return writer_push(w, type, path);
}

int listing_writer_group(ListingWriter *w, const char *dir) {
        int r;

        assert(w && dir);
        r = pathset_put(w->groups, dir, LISTING_DIR);
        if (r <= 0)
                return r;
        return writer_push(w, 'D', dir);
}

/* The directory part of a record's path: its length (0 for a path at the top). */
static size_t dir_len(const char *path) {
        const char *slash = strrchr(path, '/');

        return slash ? (size_t) (slash - path) : 0;
}

/* Sort key of a record once grouped: extras first (by path), then by directory, header first, then by name. */
typedef struct SortItem {
        const char *rec;        /* [type][path] */
        const char *dir;        /* the group's directory (not NUL-terminated at dlen) */
        size_t dlen;
        const char *name;       /* entry name; NULL for a group header */
        bool grouped;
} SortItem;

static int sort_item_compare(const void *x, const void *y) {
        const SortItem *a = x, *b = y;
        int c;

        if (a->grouped != b->grouped)
                return a->grouped ? 1 : -1;
        if (!a->grouped)
                return strcmp(a->rec + 1, b->rec + 1);
        c = memcmp(a->dir, b->dir, MIN(a->dlen, b->dlen));
        if (c != 0)
                return c;
        if (a->dlen != b->dlen)
                return a->dlen < b->dlen ? -1 : 1;
        if (!a->name || !b->name)
                return a->name ? 1 : b->name ? -1 : 0;
        return strcmp(a->name, b->name);
}

static int put_bytes(ListingWriter *w, XXH3_state_t *group, const void *p, size_t len) {
        if (fwrite(p, 1, len, w->f) != len)
                return -EIO;
        XXH3_128bits_update(w->xxh, p, len);
        if (group)
                XXH3_64bits_update(group, p, len);
        return 0;
}

static int put_record(ListingWriter *w, XXH3_state_t *group, char type, const char *text) {
        int r = put_bytes(w, group, &type, 1);

        return r < 0 ? r : put_bytes(w, group, text, strlen(text) + 1);
}

static int put_group_end(ListingWriter *w, XXH3_state_t *group) {
        char hex[17];

        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long) XXH3_64bits_digest(group));
        return put_record(w, NULL, 'E', hex);
}

static int writer_emit(ListingWriter *w) {
        _cleanup_free_ SortItem *items = NULL;
        XXH3_state_t *group = NULL;
        bool open = false;
        int r = 0;

        items = calloc(w->n_items ?: 1, sizeof(SortItem));
        group = XXH3_createState();
        if (!items || !group) {
                XXH3_freeState(group);
                return -ENOMEM;
        }
        for (size_t i = 0; i < w->n_items; i++) {
                const char *rec = w->items[i].path;
                SortItem *it = &items[i];

                it->rec = rec;
                if (rec[0] == 'D') {
                        it->grouped = true;
                        it->dir = rec + 1;
                        it->dlen = strlen(rec + 1);
                        continue;
                }
                it->dlen = dir_len(rec + 1);
                if (it->dlen == 0 && !strchr(rec + 1, '/'))
                        it->grouped = pathset_get(w->groups, "", NULL) != 0;
                else {
                        _cleanup_free_ char *dir = strndup(rec + 1, it->dlen);

                        if (!dir) {
                                XXH3_freeState(group);
                                return -ENOMEM;
                        }
                        it->grouped = pathset_get(w->groups, dir, NULL) != 0;
                }
                it->dir = rec + 1;
                it->name = it->dlen ? rec + 1 + it->dlen + 1 : rec + 1;
        }
        if (w->n_items > 1)
                qsort(items, w->n_items, sizeof(SortItem), sort_item_compare);

        for (size_t i = 0; r >= 0 && i < w->n_items; i++) {
                const SortItem *it = &items[i];

                if (!it->grouped) {
                        if (i == 0) {
                                XXH3_64bits_reset(group);
                                r = put_record(w, group, 'X', "");
                                open = true;
                        }
                        if (r >= 0)
                                r = put_record(w, group, it->rec[0], it->rec + 1);
                        continue;
                }
                if (!it->name) {
                        if (open)
                                r = put_group_end(w, group);
                        XXH3_64bits_reset(group);
                        if (r >= 0)
                                r = put_record(w, group, 'D', it->rec + 1);
                        open = true;
                        continue;
                }
                r = put_record(w, group, it->rec[0], it->name);
        }
        if (r >= 0 && open)
                r = put_group_end(w, group);
        XXH3_freeState(group);
        return r;
}

int listing_writer_close(ListingWriter *w, char hex[static 33]) {
        int r;

        assert(w && w->f);

        r = writer_emit(w);
        if (r >= 0 && (fflush(w->f) != 0 || ferror(w->f)))
                r = -EIO;
        else if (r >= 0 && fsync(fileno(w->f)) < 0)
                r = -errno;
        if (fclose(w->f) != 0 && r >= 0)
                r = -EIO;
        w->f = NULL;
        if (r < 0)
                return r;
        xxh_hex(w->xxh, hex);
        return 0;
}

ListingWriter *listing_writer_free(ListingWriter *w) {
        if (!w)
                return NULL;
        if (w->f)
                fclose(w->f);
        XXH3_freeState(w->xxh);
        for (size_t i = 0; i < w->n_items; i++)
                free(w->items[i].path);
        free(w->items);
        pathset_free(w->groups);
        free(w);
        return NULL;
}

static bool listing_type_valid(char t) {
        return t == LISTING_DIR || t == LISTING_FILE || t == LISTING_SYMLINK;
}

int listing_load(int dirfd, const char *name, const char *expected_xxh128, PathSet **ret) {
        _cleanup_(pathset_freep) PathSet *set = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *line = NULL;
        XXH3_state_t *xxh = NULL;
        size_t size = 0;
        unsigned n = 0;
        FILE *f;
        int r = 0;

        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        if (fd < 0 && errno == EPERM)
                fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        set = pathset_new();
        xxh = XXH3_createState();
        if (!set || !xxh) {
                XXH3_freeState(xxh);
                return -ENOMEM;
        }
        XXH3_128bits_reset(xxh);
        f = fdopen(fd, "r");
        if (!f) {
                XXH3_freeState(xxh);
                return -errno;
        }
        TAKE_FD(fd);

        for (;;) {
                ssize_t len;

                errno = 0;
                len = getdelim(&line, &size, '\0', f);
                if (len < 0) {
                        if (errno != 0 && errno != EINVAL)
                                r = -errno;
                        break;
                }
                XXH3_128bits_update(xxh, line, (size_t) len);
                /* Type byte, a non-empty path, the terminating NUL; no path longer than a restore allows. */
                if (len < 3 || line[len - 1] != '\0' || (size_t) len - 2 > SAFE_PATH_MAX ||
                    !listing_type_valid(line[0]) || ++n > LISTING_MAX_ENTRIES) {
                        r = -EBADMSG;
                        break;
                }
                r = pathset_put(set, line + 1, line[0]);
                if (r < 0)
                        break;
                r = 0;
        }
        if (r == 0 && ferror(f))
                r = -EIO;
        fclose(f);

        if (r == 0 && expected_xxh128) {
                char hex[33];

                xxh_hex(xxh, hex);
                if (!streq(hex, expected_xxh128))
                        r = -EBADMSG;
        }
        XXH3_freeState(xxh);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(set);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Format 2: groups found by directory                                                        */
/* ------------------------------------------------------------------------------------------ */

struct Listing {
        const char *map;        /* the whole file, read-only; NULL when empty */
        size_t size;
};

int listing_open(int dirfd, const char *name, const char *expected_xxh128, Listing **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ Listing *l = NULL;
        struct stat st;

        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        if (fd < 0 && errno == EPERM)
                fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size > (uint64_t) LISTING_MAX_ENTRIES * (SAFE_PATH_MAX + 2))
                return -EBADMSG;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->size = (size_t) st.st_size;
        if (l->size > 0) {
                void *p = mmap(NULL, l->size, PROT_READ, MAP_PRIVATE, fd, 0);

                if (p == MAP_FAILED)
                        return -errno;
                l->map = p;
                /* Every record ends with its NUL: a scan never runs off the end. */
                if (l->map[l->size - 1] != 0) {
                        munmap(p, l->size);
                        return -EBADMSG;
                }
        }
        if (expected_xxh128) {
                XXH128_canonical_t c;
                char hex[33];

                XXH128_canonicalFromHash(&c, XXH3_128bits(l->map ?: "", l->size));
                for (size_t i = 0; i < sizeof(c.digest); i++)
                        snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);
                if (!streq(hex, expected_xxh128)) {
                        if (l->map)
                                munmap((void *) l->map, l->size);
                        return -EBADMSG;
                }
        }
        *ret = TAKE_PTR(l);
        return 0;
}

Listing *listing_free(Listing *l) {
        if (!l)
                return NULL;
        if (l->map)
                munmap((void *) l->map, l->size);
        free(l);
        return NULL;
}

/* The record after the one at pos (the file ends with a NUL, so this stays inside it). */
static size_t next_record(const Listing *l, size_t pos) {
        return pos + strlen(l->map + pos) + 1;
}

/* The first 'D' record starting at or after from and before to, or SIZE_MAX. */
static size_t first_group_at(const Listing *l, size_t from, size_t to) {
        size_t pos = from;

        if (pos > 0 && l->map[pos - 1] != 0) {
                const char *nul = memchr(l->map + pos, 0, l->size - pos);

                pos = (size_t) (nul - l->map) + 1;
        }
        for (; pos < to && pos < l->size; pos = next_record(l, pos))
                if (l->map[pos] == 'D')
                        return pos;
        return SIZE_MAX;
}

/* Checks the group whose header is at pos: its entries, its end record, its checksum. */
static int group_check(const Listing *l, size_t pos, bool extras, ListingGroup *ret) {
        size_t header = pos, first, n = 0;
        const char *last = NULL;
        char hex[17];

        pos = next_record(l, pos);
        first = pos;
        while (pos < l->size && l->map[pos] != 'E') {
                const char *name = l->map + pos + 1;
                size_t len = strlen(name);

                /* Names strictly ascending: listing_group_find searches them by halves. */
                if (!listing_type_valid(l->map[pos]) || len == 0 || len > SAFE_PATH_MAX ||
                    (!extras && (len > NAME_MAX || strchr(name, '/') || streq(name, ".") || streq(name, "..") ||
                                 (last && strcmp(last, name) >= 0))) ||
                    ++n > LISTING_MAX_ENTRIES)
                        return -EBADMSG;
                last = name;
                pos += len + 2;
        }
        if (pos >= l->size || strlen(l->map + pos + 1) != 16)
                return -EBADMSG;
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long) XXH3_64bits(l->map + header, pos - header));
        if (memcmp(hex, l->map + pos + 1, 16) != 0)
                return -EBADMSG;
        *ret = (ListingGroup) { .dir = l->map + header + 1, .entries = l->map + first, .len = pos - first, .n = n };
        return 0;
}

int listing_group(const Listing *l, const char *dir, ListingGroup *ret) {
        size_t lo = 0, hi;

        assert(l && dir && ret);

        hi = l->size;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2, pos;
                int c;

                pos = first_group_at(l, mid, hi);
                if (pos == SIZE_MAX) {
                        hi = mid;
                        continue;
                }
                c = strcmp(dir, l->map + pos + 1);
                if (c == 0)
                        return group_check(l, pos, false, ret) < 0 ? -EBADMSG : 1;
                if (c < 0)
                        hi = mid;
                else
                        lo = next_record(l, pos);
        }
        return 0;
}

int listing_extras(const Listing *l, ListingGroup *ret) {
        if (l->size == 0 || l->map[0] != 'X') {
                *ret = (ListingGroup) {};
                return 0;
        }
        return group_check(l, 0, true, ret) < 0 ? -EBADMSG : 1;
}

const char *listing_group_next(const ListingGroup *g, const char *cur, char *ret_type) {
        const char *p = cur ? cur + strlen(cur) + 1 : g->entries;

        if (p >= g->entries + g->len)
                return NULL;
        *ret_type = p[0];
        return p + 1;
}

int listing_group_index(const ListingGroup *g, const char ***ret) {
        _cleanup_free_ const char **idx = NULL;
        size_t n = 0;
        char type;

        idx = calloc(g->n + 1, sizeof(char *));
        if (!idx)
                return -ENOMEM;
        for (const char *e = listing_group_next(g, NULL, &type); e && n < g->n; e = listing_group_next(g, e, &type))
                idx[n++] = e;
        *ret = TAKE_PTR(idx);
        return 0;
}

static int name_compare(const void *key, const void *item) {
        return strcmp(key, *(const char *const *) item);
}

char listing_group_find(const ListingGroup *g, const char *const *idx, const char *name) {
        const char *const *hit;

        /* Entries are sorted by name (the writer sorts them; group_check counted them). */
        hit = bsearch(name, idx, g->n, sizeof(char *), name_compare);
        return hit ? (*hit)[-1] : 0;
}

int listing_chain_group(Listing *const *chain, size_t n, const char *dir, ListingGroup *ret) {
        for (size_t i = 0; i < n; i++) {
                int r = listing_group(chain[i], dir, ret);

                if (r != 0)
                        return r;
        }
        return 0;
}

int listing_assemble(Listing *const *chain, size_t n, PathSet **ret) {
        _cleanup_(pathset_freep) PathSet *set = NULL;
        char **stack = NULL;
        size_t n_stack = 0, n_alloc = 0;
        ListingGroup g;
        int r;

        assert(chain && n > 0);

        set = pathset_new();
        if (!set)
                return -ENOMEM;
        /* Paths outside every directory read (a writer's files elsewhere): this backup's own. */
        r = listing_extras(chain[0], &g);
        if (r < 0)
                return r;
        if (r > 0) {
                char type;

                for (const char *e = listing_group_next(&g, NULL, &type); e; e = listing_group_next(&g, e, &type)) {
                        r = pathset_put(set, e, type);
                        if (r < 0)
                                return r;
                }
        }

        stack = malloc(sizeof(char *) * 64);
        if (!stack)
                return -ENOMEM;
        n_alloc = 64;
        stack[n_stack++] = strdup("");
        r = stack[0] ? 0 : -ENOMEM;
        while (r >= 0 && n_stack > 0) {
                _cleanup_free_ char *dir = stack[--n_stack];
                char type;

                r = listing_chain_group(chain, n, dir, &g);
                if (r == 0)
                        r = dir[0] ? -EBADMSG : 0;      /* a directory listed with no entries anywhere: damaged */
                if (r <= 0)
                        continue;
                r = 0;
                for (const char *e = listing_group_next(&g, NULL, &type); r >= 0 && e;
                     e = listing_group_next(&g, e, &type)) {
                        _cleanup_free_ char *path = NULL;

                        if (asprintf(&path, "%s%s%s", dir, dir[0] ? "/" : "", e) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        if (strlen(path) > SAFE_PATH_MAX || pathset_size(set) >= LISTING_MAX_ENTRIES) {
                                r = -EBADMSG;
                                break;
                        }
                        r = pathset_put(set, path, type);
                        if (r <= 0 || type != LISTING_DIR)
                                continue;
                        r = GREEDY_REALLOC(stack, n_alloc, n_stack + 1);
                        if (r < 0)
                                break;
                        stack[n_stack++] = TAKE_PTR(path);
                }
        }
        while (n_stack > 0)
                free(stack[--n_stack]);
        free(stack);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(set);
        return 0;
}

int listing_load_chain(int dirfd, const Manifest *const *chain, size_t n_chain, const char *volume_path,
                       PathSet **ret, const char **reterr_name) {
        _cleanup_free_ Listing **ls = NULL;
        size_t n = 0;
        int r = -EBADMSG;

        assert(chain && n_chain > 0 && volume_path && ret);

        *reterr_name = chain[0]->dir_name;
        ls = calloc(n_chain, sizeof(Listing *));
        if (!ls)
                return -ENOMEM;
        for (size_t c = 0; c < n_chain; c++) {
                const ManifestVolume *v = manifest_find_volume(chain[c], volume_path);
                _cleanup_close_ int bfd = -EBADF;

                *reterr_name = chain[c]->dir_name;
                if (!v) {
                        r = -EBADMSG;
                        break;
                }
                bfd = openat(dirfd, chain[c]->dir_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (bfd < 0) {
                        r = -errno;
                        break;
                }
                if (chain[c]->format == 1) {
                        /* A format 1 listing is always whole; nothing written in format 2 builds on one by delta. */
                        r = c == 0 ? listing_load(bfd, v->listing, v->listing_xxh128, ret) : -EBADMSG;
                        break;
                }
                r = listing_open(bfd, v->listing, v->listing_xxh128, &ls[n]);
                if (r < 0)
                        break;
                n++;
                if (!v->listing_delta) {
                        r = listing_assemble(ls, n, ret);
                        break;
                }
                r = -EBADMSG;   /* a delta with nothing whole below it */
        }
        for (size_t i = 0; i < n; i++)
                listing_free(ls[i]);
        if (r >= 0)
                *reterr_name = NULL;
        return r < 0 ? r : 0;
}
