/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-manifest: vssbackup's manifest reader (manifest_read), which restore, verify and list
 * run on backup directories that may come from a damaged disk or from someone else. The
 * input is written as the manifest of a scratch directory and read back the way vssbackup
 * reads it. Oracle: an accepted manifest is written again (manifest_write) and the result
 * reads back to the same manifest, byte for byte when written a second time.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "vssbackup.h"

static int dir_a = -EBADF, dir_b = -EBADF;

static int open_dir(const char *name) {
        _cleanup_free_ char *path = NULL;
        int fd;

        FUZZ_CHECK(asprintf(&path, "%s/%s", fuzz_scratch_dir(), name) > 0);
        FUZZ_CHECK(mkdir(path, 0700) == 0 || errno == EEXIST);
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_CHECK(fd >= 0);
        return fd;
}

static char *slurp_manifest(int dirfd) {
        _cleanup_close_ int fd = openat(dirfd, VB_MANIFEST_NAME, O_RDONLY | O_CLOEXEC);
        char *buf;
        struct stat st;

        FUZZ_CHECK(fd >= 0 && fstat(fd, &st) == 0);
        buf = calloc(1, (size_t) st.st_size + 1);
        FUZZ_CHECK(buf && read(fd, buf, (size_t) st.st_size) == st.st_size);
        return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(manifest_freep) Manifest *m = NULL, *back = NULL;
        _cleanup_free_ char *err = NULL, *err2 = NULL, *first = NULL, *second = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (dir_a < 0) {
                dir_a = open_dir("a");
                dir_b = open_dir("b");
        }

        fd = openat(dir_a, VB_MANIFEST_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t) size);

        r = manifest_read(dir_a, &m, &err);
        if (r < 0) {
                FUZZ_CHECK(!m);
                FUZZ_CHECK(r == -EBADMSG || r == -ENOMEM);
                return 0;
        }
        FUZZ_CHECK(m);

        /* manifest_write refuses to replace a manifest; each round starts with none. */
        (void) unlinkat(dir_b, VB_MANIFEST_NAME, 0);
        FUZZ_CHECK(manifest_write(dir_b, m) == 0);
        first = slurp_manifest(dir_b);
        r = manifest_read(dir_b, &back, &err2);
        if (r < 0)
                fprintf(stderr, "written manifest does not read back: %s\n%s\n", strempty(err2), first);
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(unlinkat(dir_b, VB_MANIFEST_NAME, 0) == 0);
        FUZZ_CHECK(manifest_write(dir_b, back) == 0);
        second = slurp_manifest(dir_b);
        FUZZ_CHECK(streq(first, second));
        return 0;
}
