/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-util.c: mountinfo lookup, read-only bind-mount exposure and the snapshot-area walk
 * of query, shared by the providers (see provider-util.h for why they live in one place).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "macro.h"
#include "providers/provider-registry.h"
#include "providers/provider-util.h"
#include "vss-bus.h"

void mount_entry_done(MountEntry *e) {
        free(e->mnt);
        free(e->root);
        free(e->fstype);
        free(e->source);
        *e = (MountEntry) {};
}

bool path_has_prefix(const char *path, const char *prefix) {
        size_t n = strlen(prefix);

        if (streq(prefix, "/"))
                return path[0] == '/';
        return strncmp(path, prefix, n) == 0 && (path[n] == '/' || path[n] == 0);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo; undo it in place. */
static void mountinfo_unescape(char *s) {
        char *w = s;

        for (char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 3;
                } else
                        *w++ = *r;
        }
        *w = 0;
}

/* Replaces *best with the fields of one parsed line. */
static int mount_entry_set(MountEntry *best, const char *mnt, const char *root, const char *fstype,
                           const char *source) {
        mount_entry_done(best);
        best->mnt = strdup(mnt);
        best->root = strdup(root);
        best->fstype = strdup(fstype);
        best->source = strdup(source);
        return best->mnt && best->root && best->fstype && best->source ? 0 : -ENOMEM;
}

/*
 * Splits one mountinfo line in place: "id parent maj:min root mount-point options [optional...]
 * - fstype source super". Returns false for a line that does not parse. Fields stay escaped.
 */
static bool mountinfo_split(char *line, char **ret_root, char **ret_mnt, char **ret_fstype, char **ret_source) {
        char *root, *mnt, *sep, *fstype, *source, *save = NULL;

        if (!strtok_r(line, " ", &save) || !strtok_r(NULL, " ", &save) || !strtok_r(NULL, " ", &save))
                return false;
        root = strtok_r(NULL, " ", &save);
        mnt = root ? strtok_r(NULL, " ", &save) : NULL;
        sep = mnt && save ? strstr(save, " - ") : NULL;
        if (!sep)
                return false;
        fstype = strtok_r(sep + 3, " ", &save);
        source = fstype ? strtok_r(NULL, " ", &save) : NULL;
        if (!source)
                return false;
        *ret_root = root;
        *ret_mnt = mnt;
        *ret_fstype = fstype;
        *ret_source = source;
        return true;
}

int mount_find(const char *path, const char *fstype_filter, MountEntry *ret) {
        _cleanup_free_ char *line = NULL;
        MountEntry best = {};
        size_t size = 0, best_len = 0;
        FILE *f;
        int r = 0;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;

        while (getline(&line, &size, f) > 0) {
                char *root, *mnt, *fstype, *source;

                if (!mountinfo_split(line, &root, &mnt, &fstype, &source))
                        continue;
                if (fstype_filter && !streq(fstype, fstype_filter))
                        continue;

                mountinfo_unescape(mnt);
                if (!path_has_prefix(path, mnt) || strlen(mnt) < best_len)
                        continue;

                mountinfo_unescape(root);
                mountinfo_unescape(source);
                r = mount_entry_set(&best, mnt, root, fstype, source);
                if (r < 0)
                        break;
                best_len = strlen(mnt);
        }
        fclose(f);

        if (r == 0 && !best.mnt)
                r = -ENOENT;
        if (r < 0) {
                mount_entry_done(&best);
                return r;
        }
        *ret = best;
        return 0;
}

void mount_entries_free(MountEntry *entries, size_t n) {
        for (size_t i = 0; entries && i < n; i++)
                mount_entry_done(&entries[i]);
        free(entries);
}

int mount_list(MountEntry **ret, size_t *ret_n) {
        _cleanup_free_ char *line = NULL;
        MountEntry *list = NULL;
        size_t size = 0, n = 0;
        FILE *f;
        int r = 0;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;

        while (getline(&line, &size, f) > 0) {
                char *root, *mnt, *fstype, *source;
                MountEntry *grown;

                if (!mountinfo_split(line, &root, &mnt, &fstype, &source))
                        continue;
                if (n >= MOUNT_LIST_MAX) {
                        r = -E2BIG;
                        break;
                }
                grown = reallocarray(list, n + 1, sizeof(*list));
                if (!grown) {
                        r = -ENOMEM;
                        break;
                }
                list = grown;
                list[n] = (MountEntry) {};
                mountinfo_unescape(mnt);
                mountinfo_unescape(root);
                mountinfo_unescape(source);
                r = mount_entry_set(&list[n++], mnt, root, fstype, source);
                if (r < 0)
                        break;
        }
        fclose(f);

        if (r < 0) {
                mount_entries_free(list, n);
                return r;
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

static int bind_mount_readonly(const char *what, int target_fd) {
        struct mount_attr attr = {
                .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
                            MOUNT_ATTR_NOATIME,
                .attr_clr = MOUNT_ATTR__ATIME,
        };
        _cleanup_close_ int tree = -EBADF;

        tree = open_tree(AT_FDCWD, what, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (tree < 0)
                return -errno;
        if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                return -errno;
        if (move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return -errno;
        return 0;
}

vss_hr provider_expose_bind(const ProviderSnapshot *s, int target_fd, const char *target_path) {
        int r;

        if (!s || isempty(s->device) || target_fd < 0)
                return E_INVALIDARG;
        r = bind_mount_readonly(s->device, target_fd);
        if (r < 0)
                return vss_hr_from_errno(r);
        return S_OK;
}

vss_hr provider_unexpose_umount(const ProviderSnapshot *s, const char *target) {
        if (isempty(target))
                return E_INVALIDARG;
        if (umount2(target, UMOUNT_NOFOLLOW) < 0) {
                if (errno == EBUSY)
                        return VSS_E_VOLUME_IN_USE;
                if (errno == EINVAL) /* not a mount point: already gone */
                        return S_OK;
                return vss_hr_from_errno(errno);
        }
        return S_OK;
}

vss_hr provider_flush_volumes(const char *provider_name, ProviderSnapshot *const *snaps, size_t n) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_close_ int fd = -EBADF;

                fd = open(snaps[i]->volume, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return vss_hr_from_errno(errno);
                if (syncfs(fd) < 0) {
                        int e = errno;

                        provider_log(provider_name, "flushing %s failed: %s", snaps[i]->volume, strerror(e));
                        return e == ENOSPC || e == EDQUOT ? VSS_E_INSUFFICIENT_STORAGE : VSS_E_PROVIDER_VETO;
                }
        }
        return S_OK;
}

vss_hr provider_area_visible(const char *device, uint32_t fs_magic) {
        _cleanup_free_ char *area = NULL;
        struct statfs sfs;
        struct stat st;
        char *slash;

        if (isempty(device) || device[0] != '/')
                return E_INVALIDARG;
        area = strdup(device);
        if (!area)
                return E_OUTOFMEMORY;
        slash = strrchr(area, '/');
        slash[slash == area ? 1 : 0] = 0;

        if (stat(area, &st) < 0 || !S_ISDIR(st.st_mode))
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        if (fs_magic != 0 && (statfs(area, &sfs) < 0 || (uint32_t) sfs.f_type != fs_magic))
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        return S_OK;
}

int provider_birth_time(int dirfd, const char *name, vss_timestamp *ret) {
        struct statx sx;
        const struct statx_timestamp *t;

        if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BTIME | STATX_MTIME, &sx) < 0)
                return -errno;
        /* Not every filesystem records a birth time; the modification time is the best left. */
        t = (sx.stx_mask & STATX_BTIME) ? &sx.stx_btime : &sx.stx_mtime;
        *ret = vss_timestamp_from_unix_ns(t->tv_sec * INT64_C(1000000000) + (int64_t) t->tv_nsec);
        return 0;
}

bool provider_snapshot_name_parse(const char *name, const char *suffix, vss_id *ret) {
        char buf[VSS_ID_STRING_MAX];
        size_t n, slen = strlen(strempty(suffix));
        vss_id id;

        n = strlen(name);
        if (n != 36 + slen || (slen > 0 && !streq(name + 36, suffix)))
                return false;
        memcpy(buf, name, 36);
        buf[36] = 0;
        if (vss_id_parse(buf, &id) != S_OK || !streq(vss_id_to_str(&id).s, buf))
                return false;
        *ret = id;
        return true;
}

vss_hr provider_area_query(const char *provider_name, const char *area, const char *suffix, ProviderAreaMatch match,
                           void *match_data, ProviderQueryCallback cb, void *userdata) {
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        vss_hr hr = S_OK;
        DIR *d;

        if (!area || !match || !cb)
                return E_INVALIDARG;

        fd = open(area, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT) /* no snapshot was ever made there */
                        return S_OK;
                provider_log(provider_name, "cannot open the snapshot area %s: %s", area, strerror(errno));
                return vss_hr_from_errno(errno);
        }
        d = fdopendir(fd);
        if (!d)
                return vss_hr_from_errno(errno);
        TAKE_FD(fd);

        for (;;) {
                _cleanup_free_ char *path = NULL;
                vss_timestamp created = 0;
                vss_id id;
                int r;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                provider_log(provider_name, "cannot read the snapshot area %s: %s", area,
                                             strerror(errno));
                                hr = vss_hr_from_errno(errno);
                        }
                        break;
                }
                if (!provider_snapshot_name_parse(de->d_name, suffix, &id))
                        continue;
                if (asprintf(&path, "%s/%s", area, de->d_name) < 0) {
                        hr = E_OUTOFMEMORY;
                        break;
                }

                r = match(dirfd(d), de->d_name, path, &id, match_data, &created);
                if (r < 0) {
                        provider_log(provider_name, "cannot tell whose snapshot %s is, leaving it out: %s", path,
                                     strerror(-r));
                        continue;
                }
                if (r == 0)
                        continue;

                hr = cb(&id, path, created, userdata);
                if (hr != S_OK)
                        break;
        }
        closedir(d);
        return hr;
}

void provider_object_name(const vss_id *id, char ret[static PROVIDER_OBJECT_NAME_MAX]) {
        (void) snprintf(ret, PROVIDER_OBJECT_NAME_MAX, PROVIDER_OBJECT_PREFIX "%s", vss_id_to_str(id).s);
}

bool provider_object_name_parse(const char *name, vss_id *ret) {
        if (!name || strncmp(name, PROVIDER_OBJECT_PREFIX, strlen(PROVIDER_OBJECT_PREFIX)) != 0)
                return false;
        return provider_snapshot_name_parse(name + strlen(PROVIDER_OBJECT_PREFIX), NULL, ret);
}
