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
 * Format: records "<type><path>\0", type 'd', 'f' or 'l', path relative to the volume's top
 * with '/' separators, in walk order. The manifest carries the XXH3-128 of the file, checked
 * before a listing is believed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "safe-path.h"
#include "vssbackup.h"

/* A listing may come from a damaged or hostile backup directory: bound what it can cost. */
#define LISTING_MAX_ENTRIES (50U * 1000U * 1000U)

struct ListingWriter {
        FILE *f;
        XXH3_state_t *xxh;
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
        if (!w->xxh)
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

int listing_writer_add(ListingWriter *w, char type, const char *path) {
        size_t len;

        assert(w && path);

        len = strlen(path) + 1;
        if (fputc(type, w->f) == EOF || fwrite(path, 1, len, w->f) != len)
                return -EIO;
        XXH3_128bits_update(w->xxh, &type, 1);
        XXH3_128bits_update(w->xxh, path, len);
        return 0;
}

int listing_writer_close(ListingWriter *w, char hex[static 33]) {
        int r = 0;

        assert(w && w->f);

        if (fflush(w->f) != 0 || ferror(w->f))
                r = -EIO;
        else if (fsync(fileno(w->f)) < 0)
                r = -errno;
        if (fclose(w->f) != 0 && r == 0)
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
