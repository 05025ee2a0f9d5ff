/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-util.c: the scratch directory and the recursive removal the file-reading harnesses
 * share (fuzz.h). Kept free of any code under test, so a finding always points at the target.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static char scratch[4096];

static void scratch_remove(void) {
        if (scratch[0])
                (void) fuzz_rm_rf_at(AT_FDCWD, scratch);
}

const char *fuzz_scratch_dir(void) {
        const char *base;
        struct stat st;

        if (scratch[0])
                return scratch;
        base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                                                                 : getenv("TMPDIR");
        if (!base)
                base = "/tmp";
        snprintf(scratch, sizeof(scratch), "%s/vss-fuzz-XXXXXX", base);
        if (!mkdtemp(scratch)) {
                perror("fuzz: mkdtemp");
                abort();
        }
        atexit(scratch_remove);
        return scratch;
}

int fuzz_rm_rf_at(int parentfd, const char *name) {
        struct stat st;
        DIR *d;
        int fd, r = 0;

        if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(parentfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;

        (void) fchmodat(parentfd, name, 0700, 0);
        fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        for (struct dirent *de; (de = readdir(d));) {
                int k;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                k = fuzz_rm_rf_at(dirfd(d), de->d_name);
                if (k < 0 && r == 0)
                        r = k;
        }
        closedir(d);
        if (unlinkat(parentfd, name, AT_REMOVEDIR) < 0 && r == 0)
                r = -errno;
        return r;
}
