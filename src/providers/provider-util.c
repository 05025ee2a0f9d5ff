/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-util.c: mountinfo lookup, the one way snapshots are mounted read-only and
 * unmounted again (by mount id, never by a path alone), and the snapshot-area walk of query,
 * shared by the providers and vssd (see provider-util.h for the contract and why they live in
 * one place).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "guardian-client.h"
#include "macro.h"
#include "path-util.h"
#include "providers/provider-registry.h"
#include "providers/provider-util.h"
#include "vss-bus.h"
#include "time-util.h"

void mount_entry_done(MountEntry *e) {
        free(e->mnt);
        free(e->root);
        free(e->fstype);
        free(e->source);
        *e = (MountEntry) {};
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

/* One line of mountinfo split in place (fields point into line, unescaped). */
typedef struct MountInfoLine {
        uint64_t id;
        char *root, *mnt, *fstype, *source;
} MountInfoLine;

/* Splits line ("id parent maj:min root mount-point options [optional...] - fstype source
 * super"); false for a line that does not parse. */
static bool mountinfo_split(char *line, MountInfoLine *ret) {
        char *id, *sep, *save = NULL, *end = NULL;

        id = strtok_r(line, " ", &save);
        if (!id || !strtok_r(NULL, " ", &save) || !strtok_r(NULL, " ", &save))
                return false;
        ret->root = strtok_r(NULL, " ", &save);
        ret->mnt = ret->root ? strtok_r(NULL, " ", &save) : NULL;
        sep = ret->mnt && save ? strstr(save, " - ") : NULL;
        if (!sep)
                return false;
        ret->fstype = strtok_r(sep + 3, " ", &save);
        ret->source = ret->fstype ? strtok_r(NULL, " ", &save) : NULL;
        if (!ret->source)
                return false;
        errno = 0;
        ret->id = strtoull(id, &end, 10);
        if (errno != 0 || !end || *end)
                return false;
        mountinfo_unescape(ret->root);
        mountinfo_unescape(ret->mnt);
        mountinfo_unescape(ret->source);
        return true;
}

/*
 * Calls fn for each line of /proc/self/mountinfo that parses, until fn returns non-zero; that
 * value (or 0 at the end, -errno when the file cannot be opened) is the result. The strings
 * of *l live only until fn returns.
 */
static int mountinfo_foreach(int (*fn)(const MountInfoLine *l, void *userdata), void *userdata) {
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        FILE *f;
        int r = 0;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        while (r == 0 && getline(&line, &size, f) > 0) {
                MountInfoLine l;

                line[strcspn(line, "\n")] = 0;
                if (mountinfo_split(line, &l))
                        r = fn(&l, userdata);
        }
        fclose(f);
        return r;
}

typedef struct MountFind {
        const char *path, *fstype_filter;
        MountEntry best;
        size_t best_len;
} MountFind;

static int mount_find_one(const MountInfoLine *l, void *userdata) {
        MountFind *m = userdata;
        int r;

        if ((m->fstype_filter && !streq(l->fstype, m->fstype_filter)) || !path_is_under(m->path, l->mnt) ||
            strlen(l->mnt) < m->best_len)
                return 0;
        r = mount_entry_set(&m->best, l->mnt, l->root, l->fstype, l->source);
        if (r < 0)
                return r;
        m->best_len = strlen(l->mnt);
        return 0;
}

int mount_find(const char *path, const char *fstype_filter, MountEntry *ret) {
        MountFind m = { .path = path, .fstype_filter = fstype_filter };
        int r;

        r = mountinfo_foreach(mount_find_one, &m);
        if (r == 0 && !m.best.mnt)
                r = -ENOENT;
        if (r < 0) {
                mount_entry_done(&m.best);
                return r;
        }
        *ret = m.best;
        return 0;
}

void mount_entries_free(MountEntry *entries, size_t n) {
        for (size_t i = 0; entries && i < n; i++)
                mount_entry_done(&entries[i]);
        free(entries);
}

typedef struct MountList {
        MountEntry *list;
        size_t n;
} MountList;

static int mount_list_one(const MountInfoLine *l, void *userdata) {
        MountList *m = userdata;
        MountEntry *grown;

        if (m->n >= MOUNT_LIST_MAX)
                return -E2BIG;
        grown = reallocarray(m->list, m->n + 1, sizeof(*m->list));
        if (!grown)
                return -ENOMEM;
        m->list = grown;
        m->list[m->n] = (MountEntry) {};
        return mount_entry_set(&m->list[m->n++], l->mnt, l->root, l->fstype, l->source);
}

int mount_list(MountEntry **ret, size_t *ret_n) {
        MountList m = {};
        int r;

        r = mountinfo_foreach(mount_list_one, &m);
        if (r < 0) {
                mount_entries_free(m.list, m.n);
                return r;
        }
        *ret = m.list;
        *ret_n = m.n;
        return 0;
}

typedef struct MountPoint {
        uint64_t id;
        char *mnt;
} MountPoint;

static int mount_point_one(const MountInfoLine *l, void *userdata) {
        MountPoint *m = userdata;

        if (l->id != m->id)
                return 0;
        m->mnt = strdup(l->mnt);
        return m->mnt ? 1 : -ENOMEM;
}

/* Where mountinfo lists mount id now: 1 and *ret (malloc'd), 0 when not listed, -errno. */
static int mountinfo_mount_point(uint64_t id, char **ret) {
        MountPoint m = { .id = id };
        int r;

        r = mountinfo_foreach(mount_point_one, &m);
        if (r > 0)
                *ret = m.mnt;
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Mounting and unmounting snapshots (the contract is in provider-util.h)                      */
/* ------------------------------------------------------------------------------------------ */

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U /* Linux 6.8 */
#endif

/* How often mount_locate looks again when renames keep moving the mount under it. */
#define MOUNT_LOCATE_TRIES 4

#define SNAPSHOT_MOUNT_ATTRS \
        (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOATIME)

/* This boot's id, read once; "" if it cannot be read. */
static const char *boot_id(void) {
        static char id[40];
        static bool done;
        FILE *f;

        if (done)
                return id;
        f = fopen("/proc/sys/kernel/random/boot_id", "re");
        if (f) {
                if (!fgets(id, sizeof(id), f))
                        id[0] = 0;
                id[strcspn(id, "\n")] = 0;
                fclose(f);
        }
        done = true;
        return id;
}

bool mount_ref_is_set(const MountRef *ref) {
        return ref && ref->id != 0;
}

int mount_ref_read(int dirfd, const char *name, MountRef *ret) {
        int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (isempty(name) ? AT_EMPTY_PATH : 0);
        MountRef ref = {};
        struct statx sx;

        if (statx(dirfd, strempty(name), flags, STATX_MNT_ID, &sx) < 0)
                return -errno;
        if (!(sx.stx_mask & STATX_MNT_ID))
                return -EOPNOTSUPP; /* Linux < 5.8 */
        if (!(sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) || !(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
                return -EMEDIUMTYPE;
        ref.id = sx.stx_mnt_id;

        /* The unique id shares the field; it needs a second call. */
        if (statx(dirfd, strempty(name), flags, STATX_MNT_ID_UNIQUE, &sx) >= 0 && (sx.stx_mask & STATX_MNT_ID_UNIQUE))
                ref.unique_id = sx.stx_mnt_id;
        snprintf(ref.boot_id, sizeof(ref.boot_id), "%s", boot_id());
        *ret = ref;
        return 0;
}

/* Whether absolute path has only real components: no "." or "..", no empty one (no "//", no
 * trailing '/'), each at most NAME_MAX bytes. */
static bool path_is_clean(const char *path) {
        const char *p = path + 1;

        if (!*p)
                return true; /* "/" */
        for (;;) {
                size_t n = strcspn(p, "/");

                if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                if (!p[n])
                        return true;
                p += n + 1;
        }
}

int path_open_nofollow(const char *path, int flags) {
        /* Not O_NOFOLLOW: with O_PATH it would open a trailing symlink itself; without it,
         * RESOLVE_NO_SYMLINKS refuses a symlink in every component alike, with ELOOP. */
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd;

        if (isempty(path) || path[0] != '/')
                return -EINVAL;
        /* No "." or "..", no empty components: the path means what it says. */
        if (!path_is_clean(path))
                return -EINVAL;
        fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
        if (fd < 0)
                return -errno;
        return (int) fd;
}

int path_open_parent_nofollow(const char *path, int *ret_fd, char **ret_name) {
        _cleanup_free_ char *dir = NULL, *name = NULL;
        const char *slash;
        int fd;

        if (isempty(path) || path[0] != '/' || !path[1])
                return -EINVAL;
        slash = strrchr(path, '/');
        name = strdup(slash + 1);
        dir = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        if (!name || !dir)
                return -ENOMEM;
        if (isempty(name) || streq(name, ".") || streq(name, ".."))
                return -EINVAL;
        fd = path_open_nofollow(dir, O_PATH | O_DIRECTORY);
        if (fd < 0)
                return fd;
        *ret_fd = fd;
        *ret_name = TAKE_PTR(name);
        return 0;
}

/* Sets the fsconfig parameters of options ("flag,key=value,..."). */
static int fs_configure(int fs_fd, const char *source, const char *options) {
        _cleanup_free_ char *copy = NULL;
        char *save = NULL;

        if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "source", source, 0) < 0)
                return -errno;
        if (options) {
                copy = strdup(options);
                if (!copy)
                        return -ENOMEM;
                for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
                        char *eq = strchr(o, '=');
                        int k;

                        if (eq) {
                                *eq = 0;
                                k = fsconfig(fs_fd, FSCONFIG_SET_STRING, o, eq + 1, 0);
                        } else
                                k = fsconfig(fs_fd, FSCONFIG_SET_FLAG, o, NULL, 0);
                        if (k < 0)
                                return -errno;
                }
        }
        /* The superblock itself read-only too: a snapshot is never written through vssd. */
        if (fsconfig(fs_fd, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0)
                return -errno;
        if (fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return -errno;
        return 0;
}

int provider_mount_ro(const char *source, const char *fstype, const char *options, int target_fd, MountRef *ret) {
        _cleanup_close_ int tree = -EBADF, fs_fd = -EBADF;
        int r;

        if (isempty(source) || target_fd < 0)
                return -EINVAL;

        if (!fstype) {
                struct mount_attr attr = {
                        .attr_set = SNAPSHOT_MOUNT_ATTRS,
                        .attr_clr = MOUNT_ATTR__ATIME,
                };

                tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
                if (tree < 0)
                        return -errno;
                if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                        return -errno;
        } else {
                fs_fd = fsopen(fstype, FSOPEN_CLOEXEC);
                if (fs_fd < 0)
                        return -errno;
                r = fs_configure(fs_fd, source, options);
                if (r < 0)
                        return r;
                tree = fsmount(fs_fd, FSMOUNT_CLOEXEC, SNAPSHOT_MOUNT_ATTRS);
                if (tree < 0)
                        return -errno;
        }

        /* A detached mount keeps its id when attached: read it while nobody else can reach it. */
        if (ret) {
                r = mount_ref_read(tree, NULL, ret);
                if (r < 0)
                        return r;
        }
        if (move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return -errno;
        /* Closing tree now matters: an open descriptor of the mount would keep it busy. */
        return 0;
}

vss_hr provider_expose_bind(const ProviderSnapshot *s, int target_fd, const char *target_path) {
        int r;

        if (!s || isempty(s->device) || target_fd < 0)
                return E_INVALIDARG;
        r = provider_mount_ro(s->device, NULL, NULL, target_fd, NULL);
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

int provider_umount_path(const char *path, bool lazy) {
        _cleanup_close_ int parent = -EBADF;
        _cleanup_free_ char *name = NULL;
        char target[64 + NAME_MAX];
        int r;

        r = path_open_parent_nofollow(path, &parent, &name);
        if (r < 0)
                return r;
        snprintf(target, sizeof(target), "/proc/self/fd/%d/%s", parent, name);
        if (umount2(target, UMOUNT_NOFOLLOW | (lazy ? MNT_DETACH : 0)) < 0)
                return errno == EINVAL ? 0 : -errno; /* EINVAL: not (any more) a mount point */
        return 0;
}

void mount_handle_done(MountHandle *h) {
        if (!h)
                return;
        if (h->parent_fd >= 0)
                (void) close(h->parent_fd);
        free(h->name);
        free(h->path);
        free(h->target);
        *h = MOUNT_HANDLE_NULL;
}

/* Is the mount at path (resolved without symlinks) the one ref names? 1 with *ret filled,
 * 0 when another mount or none is there, -ESTALE when a mount there has ref's id but another
 * unique id (the id was reused: ref's mount is gone), -errno when path cannot be resolved. */
static int handle_try(const char *path, const MountRef *ref, bool moved, MountHandle *ret) {
        MountHandle h = MOUNT_HANDLE_NULL;
        MountRef cur;
        int r;

        r = path_open_parent_nofollow(path, &h.parent_fd, &h.name);
        if (r < 0)
                return r;
        r = mount_ref_read(h.parent_fd, h.name, &cur);
        if (r == -EMEDIUMTYPE || r == -ENOENT || (r >= 0 && cur.id != ref->id))
                r = 0;
        else if (r >= 0 && ref->unique_id != 0 && cur.unique_id != 0 && cur.unique_id != ref->unique_id)
                r = -ESTALE;
        else if (r >= 0) {
                h.path = strdup(path);
                if (!h.path || asprintf(&h.target, "/proc/self/fd/%d/%s", h.parent_fd, h.name) < 0) {
                        h.target = NULL;
                        r = -ENOMEM;
                } else
                        r = 1;
        }
        if (r <= 0) {
                mount_handle_done(&h);
                return r;
        }
        h.moved = moved;
        *ret = h;
        return 1;
}

int mount_locate(const char *path, const MountRef *ref, MountHandle *ret) {
        if (!mount_ref_is_set(ref) || !ret)
                return -EINVAL;
        /* Mount ids are per boot; a reboot took every mount of the old one with it. */
        if (ref->boot_id[0] && !streq(ref->boot_id, boot_id()))
                return 0;

        for (unsigned attempt = 0; attempt < MOUNT_LOCATE_TRIES; attempt++) {
                _cleanup_free_ char *where = NULL;
                int r;

                if (!isempty(path)) {
                        r = handle_try(path, ref, false, ret);
                        if (r == 1)
                                return 1;
                        if (r == -ESTALE)
                                return 0;
                        if (r == -ENOMEM)
                                return r;
                }

                r = mountinfo_mount_point(ref->id, &where);
                if (r <= 0)
                        return r; /* not listed: gone */
                r = handle_try(where, ref, isempty(path) || !streq(where, path), ret);
                if (r == 1)
                        return 1;
                if (r == -ESTALE)
                        return 0;
                if (r == -ENOMEM)
                        return r;
                /* A symlink on the way, another mount on top, or a rename between reading
                 * mountinfo and opening: look again, then give up without guessing. */
        }
        return -EUCLEAN;
}

int mount_adopt(const char *path, const char *device, MountRef *ret) {
        _cleanup_close_ int parent = -EBADF;
        _cleanup_free_ char *name = NULL;
        struct statx root, dev;
        MountRef cur;
        int r;

        if (isempty(path) || isempty(device) || !ret)
                return -EINVAL;
        r = path_open_parent_nofollow(path, &parent, &name);
        if (r < 0)
                return r;
        r = mount_ref_read(parent, name, &cur);
        if (r == -EMEDIUMTYPE || r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (statx(parent, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_INO, &root) < 0 ||
            statx(AT_FDCWD, device, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_INO, &dev) < 0)
                return -errno;
        if (root.stx_ino != dev.stx_ino || root.stx_dev_major != dev.stx_dev_major ||
            root.stx_dev_minor != dev.stx_dev_minor)
                return -EPERM;
        *ret = cur;
        return 1;
}

const char *mount_handle_target(const MountHandle *h) {
        return h ? h->target : NULL;
}

int mount_handle_unmount(const MountHandle *h, bool lazy) {
        if (!h || !h->target)
                return -EINVAL;
        if (umount2(h->target, UMOUNT_NOFOLLOW | (lazy ? MNT_DETACH : 0)) < 0) {
                if (errno == EINVAL) /* no longer a mount point */
                        return 0;
                return -errno;
        }
        return 0;
}

int mount_handle_remove_dir(const MountHandle *h) {
        if (!h || h->parent_fd < 0 || isempty(h->name))
                return -EINVAL;
        return unlinkat(h->parent_fd, h->name, AT_REMOVEDIR) < 0 ? -errno : 0;
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

vss_hr provider_hold_init(ProviderHold *h, const char *provider_name, const ProviderConfig *config) {
        const char *p = config ? config->guardian_path : NULL;

        *h = (ProviderHold) { .provider_name = provider_name };
        if (isempty(p))
                p = secure_getenv("VSS_GUARDIAN");
        if (isempty(p))
                p = VSS_LIBEXECDIR "/vss-guardian";

        if (access(p, X_OK) < 0) {
                provider_log(provider_name, "guardian %s is not executable: %s", p, strerror(errno));
                return VSS_E_PROVIDER_NOT_REGISTERED;
        }
        if (config && config->hold_timeout_ms > GUARDIAN_MAX_DEADLINE_MS) {
                provider_log(provider_name, "hold timeout of %u ms is over the guardian's %u ms",
                             config->hold_timeout_ms, GUARDIAN_MAX_DEADLINE_MS);
                return E_INVALIDARG;
        }
        h->deadline_ms = config && config->hold_timeout_ms > 0 ? config->hold_timeout_ms : GUARDIAN_DEFAULT_DEADLINE_MS;
        h->test_delay_ms = config ? config->test_hold_delay_ms : 0;
        h->guardian_exe = strdup(p);
        return h->guardian_exe ? S_OK : E_OUTOFMEMORY;
}

bool provider_hold_usable(const ProviderHold *h) {
        return h && h->guardian_exe;
}

static vss_hr hold_guardian_ensure(ProviderHold *h) {
        int r;

        if (!provider_hold_usable(h))
                return VSS_E_BAD_STATE;
        if (h->guardian)
                return S_OK;
        r = guardian_spawn(h->guardian_exe, &h->guardian);
        if (r < 0) {
                provider_log(h->provider_name, "cannot start the freeze guardian %s: %s", h->guardian_exe,
                             strerror(-r));
                return VSS_E_PROVIDER_VETO;
        }
        return S_OK;
}

vss_hr provider_hold_prepare(ProviderHold *h, char *const *paths, size_t n) {
        vss_hr hr;

        hr = hold_guardian_ensure(h);
        if (VSS_FAILED(hr) || n == 0)
                return hr;
        hr = guardian_freeze(h->guardian, paths, n, h->deadline_ms);
        if (VSS_SUCCEEDED(hr))
                hr = guardian_thaw(h->guardian);
        if (VSS_FAILED(hr))
                provider_log(h->provider_name, "freezing %zu volume(s) before the writers failed: %s", n,
                             vss_hr_name(hr));
        return hr;
}

vss_hr provider_hold_begin(ProviderHold *h, char *const *paths, size_t n) {
        vss_hr hr;

        hr = hold_guardian_ensure(h);
        if (VSS_FAILED(hr))
                return hr;
        h->begin_usec = now_usec();
        return guardian_freeze(h->guardian, paths, n, h->deadline_ms);
}

/* A bare nanosleep: it touches no filesystem. */
static void hold_test_delay(uint32_t ms) {
        struct timespec ts = {
                .tv_sec = ms / 1000,
                .tv_nsec = (long) (ms % 1000) * 1000000L,
        };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

vss_hr provider_hold_end(ProviderHold *h, bool copies_made) {
        vss_hr hr;

        if (copies_made && h->test_delay_ms > 0)
                hold_test_delay(h->test_delay_ms);
        hr = guardian_thaw(h->guardian);
        h->last_usec = now_usec() - h->begin_usec;
        return hr;
}

void provider_hold_done(ProviderHold *h) {
        if (!h)
                return;
        h->guardian = guardian_free(h->guardian);
        free(h->guardian_exe);
        h->guardian_exe = NULL;
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
