/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * safe-path.c: resolving untrusted relative paths beneath a directory fd.
 *
 * A restore takes its paths from an archive, which may have been written by anyone. The rule
 * is that nothing it names may land outside the target directory, whatever the archive or a
 * concurrent writer in the target does. Two layers: the path text is checked first (relative,
 * no '..', no empty components), then resolution never follows a symlink: openat2() with
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS lets the kernel enforce it in one
 * call; where openat2 is missing, or a component must be created, the walk opens one
 * component at a time with O_NOFOLLOW|O_DIRECTORY, so a symlink swapped in mid-walk is seen,
 * not followed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"
#include "safe-path.h"

int safe_path_check(const char *path, bool allow_control_chars, const char **ret_reason) {
        const char *reason = NULL;
        size_t len, comp = 0;

        if (!path || !path[0]) {
                reason = "empty path";
                goto bad;
        }
        if (path[0] == '/') {
                reason = "absolute path";
                goto bad;
        }
        len = strlen(path);
        if (len > SAFE_PATH_MAX) {
                reason = "path too long";
                goto bad;
        }

        for (size_t i = 0; i <= len; i++) {
                unsigned char c = (unsigned char) path[i];

                if (c == '/' || c == 0) {
                        const char *start = path + i - comp;

                        if (comp == 0) {
                                reason = "empty path component";
                                goto bad;
                        }
                        if ((comp == 1 && start[0] == '.') || (comp == 2 && start[0] == '.' && start[1] == '.')) {
                                reason = comp == 1 ? "'.' path component" : "'..' path component";
                                goto bad;
                        }
                        comp = 0;
                        continue;
                }
                if (!allow_control_chars && (c < 0x20 || c == 0x7f)) {
                        reason = "control character in name";
                        goto bad;
                }
                if (++comp > SAFE_NAME_MAX) {
                        reason = "name too long";
                        goto bad;
                }
        }
        return 0;

bad:
        if (ret_reason)
                *ret_reason = reason;
        return -EINVAL;
}

/* Turn a failed O_NOFOLLOW|O_DIRECTORY open of name into the errno that says why. */
static int classify_open_failure(int dirfd, const char *name, int err) {
        struct stat st;

        if (err != ELOOP && err != ENOTDIR)
                return -err;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -err;
        return S_ISLNK(st.st_mode) ? -ELOOP : -ENOTDIR;
}

/* 1 = try openat2, 0 = the kernel said ENOSYS once; never flips back. */
static atomic_int have_openat2 = 1;

static int open_beneath_openat2(int rootfd, const char *relpath, int *ret_fd) {
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd;

        if (!atomic_load(&have_openat2))
                return -ENOSYS;
        fd = syscall(SYS_openat2, rootfd, relpath, &how, sizeof(how));
        if (fd < 0) {
                if (errno == ENOSYS || errno == E2BIG) {
                        atomic_store(&have_openat2, 0);
                        return -ENOSYS;
                }
                return -errno;
        }
        *ret_fd = (int) fd;
        return 0;
}

/* The portable walk: one component at a time, creating as needed, never following. */
static int open_beneath_walk(int rootfd, const char *relpath, bool create, mode_t mode, int *ret_fd) {
        _cleanup_close_ int cur = -EBADF;
        const char *p = relpath;
        char name[SAFE_NAME_MAX + 1];

        cur = rootfd == AT_FDCWD ? open(".", O_PATH | O_DIRECTORY | O_CLOEXEC) : fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -errno;

        while (*p) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t) (slash - p) : strlen(p);
                bool last = !slash;
                int fd, flags;

                if (n == 0 || n > SAFE_NAME_MAX)
                        return -EINVAL;
                memcpy(name, p, n);
                name[n] = 0;

                /* Intermediate components only need to be walked through: O_PATH needs no read
                 * permission. The last one is opened for real so the caller can fchmod it. */
                flags = (last ? O_RDONLY : O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
                fd = openat(cur, name, flags);
                if (fd < 0 && errno == ENOENT && create) {
                        if (mkdirat(cur, name, mode) < 0 && errno != EEXIST)
                                return -errno;
                        fd = openat(cur, name, flags);
                }
                if (fd < 0)
                        return classify_open_failure(cur, name, errno);

                closep(&cur);
                cur = fd;
                p += n;
                if (*p == '/')
                        p++;
        }

        if (p == relpath) {
                /* relpath was empty: hand back a readable fd of the root itself. */
                int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                *ret_fd = fd;
                return 0;
        }

        *ret_fd = TAKE_FD(cur);
        return 0;
}

int safe_path_open_dir(int rootfd, const char *relpath, bool create, mode_t mode, int *ret_fd) {
        int r, fd = -EBADF;

        assert(rootfd >= 0 || rootfd == AT_FDCWD);
        assert(ret_fd);

        if (!relpath || streq(relpath, "."))
                relpath = "";
        if (relpath[0]) {
                r = safe_path_check(relpath, /* allow_control_chars= */ true, NULL);
                if (r < 0)
                        return r;
        }

        r = open_beneath_openat2(rootfd, relpath[0] ? relpath : ".", &fd);
        if (r >= 0) {
                *ret_fd = fd;
                return 0;
        }
        /* ENOENT with create, EAGAIN (a rename raced the lookup) and a kernel without openat2
         * all go the long way; everything else is the answer. The walk classifies ELOOP
         * itself, so a symlink is reported the same on both paths. */
        if (!(r == -ENOSYS || r == -EAGAIN || (r == -ENOENT && create) || r == -ELOOP || r == -ENOTDIR))
                return r;

        r = open_beneath_walk(rootfd, relpath, create, mode, &fd);
        if (r < 0)
                return r;
        *ret_fd = fd;
        return 0;
}

int safe_path_open_parent(int rootfd, const char *relpath, bool create, mode_t mode, int *ret_fd,
                          const char **ret_name) {
        _cleanup_free_ char *dir = NULL;
        const char *slash;
        int r, fd;

        assert(ret_fd);
        assert(ret_name);

        r = safe_path_check(relpath, /* allow_control_chars= */ true, NULL);
        if (r < 0)
                return r;

        slash = strrchr(relpath, '/');
        if (slash) {
                dir = strndup(relpath, (size_t) (slash - relpath));
                if (!dir)
                        return -ENOMEM;
        }

        r = safe_path_open_dir(rootfd, dir ? dir : "", create, mode, &fd);
        if (r < 0)
                return r;

        *ret_fd = fd;
        *ret_name = slash ? slash + 1 : relpath;
        return 0;
}
