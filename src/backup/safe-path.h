/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * safe-path.h: relative paths taken from untrusted input (archive entries, documents) and
 * resolved beneath a directory file descriptor without ever leaving it: no absolute paths, no
 * '..', no symlinks followed on the way, directories created one component at a time.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define SAFE_PATH_MAX 4096U   /* whole relative path, bytes, without the NUL */
#define SAFE_NAME_MAX 255U    /* one component */

/*
 * safe_path_check: is path a clean relative path: non-empty, not absolute, no empty, '.' or
 * '..' component, no trailing '/', at most SAFE_PATH_MAX bytes and SAFE_NAME_MAX per component,
 * and, unless allow_control_chars, no byte below 0x20 or 0x7f (a newline in a name breaks
 * every line-based tool that later lists the restore)?
 * Returns 0 when clean, -EINVAL otherwise with *ret_reason (may be NULL) set to a static
 * string saying why. ret_reason is untouched on success.
 */
int safe_path_check(const char *path, bool allow_control_chars, const char **ret_reason);

/*
 * safe_path_open_dir: open the directory at relpath beneath rootfd (O_RDONLY|O_DIRECTORY|
 * O_CLOEXEC) without following any symlink, magic link or '..'. relpath must have passed
 * safe_path_check, or be "" / "." for rootfd itself. With create, missing components are made
 * with mkdirat(mode) one at a time. Uses openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
 * RESOLVE_NO_MAGICLINKS) where the kernel has it and walks component by component otherwise.
 * Returns 0 and the new fd in *ret_fd (caller closes); -ELOOP when a component is a symlink,
 * -ENOTDIR when it is something else that is not a directory, -EXDEV when the kernel saw an
 * escape, -EINVAL for a path that is not clean, other negative errno from the syscalls.
 */
int safe_path_open_dir(int rootfd, const char *relpath, bool create, mode_t mode, int *ret_fd);

/*
 * safe_path_open_parent: like safe_path_open_dir for every component of relpath but the last.
 * Returns 0, the parent directory's fd in *ret_fd (caller closes) and a pointer to the last
 * component inside relpath in *ret_name (borrowed from relpath). Errors as safe_path_open_dir.
 */
int safe_path_open_parent(int rootfd, const char *relpath, bool create, mode_t mode, int *ret_fd,
                          const char **ret_name);
