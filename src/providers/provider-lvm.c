/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-lvm.c: the LVM provider: snapshots of filesystems on LVM logical volumes, thin
 * snapshots where the LV is thin, classic copy-on-write snapshots elsewhere.
 *
 * A volume is the mount point of an ext2/3/4 or XFS filesystem whose device is an LVM LV
 * (a device-mapper device whose dm uuid starts with "LVM-"). Its snapshot is an LV named
 * "vss-<snapshot id>", tagged "vss:<snapshot set id>", made with `lvcreate -s`, activated and
 * mounted read-only (ext4 "noload", XFS "norecovery,nouuid": the copy of a frozen filesystem is
 * clean, and the original with the same UUID is mounted) at "<state dir>/lvm/<snapshot id>",
 * which is the snapshot's device path: readable like a btrfs snapshot's directory.
 *
 * Tooling: the `lvm` command, run as a child process, its reports read with
 * `--nameprefixes` (KEY='value' pairs, one LV a line). liblvm2cmd would run LVM inside vssd:
 * LVM's locking, signal handling and mlockall, and above all its dm suspend of the origin,
 * would then belong to vssd's process, so a vssd crash in the middle would leave a suspended
 * device behind with nobody to resume it; a child lvm process finishes its own suspend/resume
 * pair even when vssd dies. libdevmapper alone sits below LVM's metadata and cannot make an LV.
 * The JSON report format would need a JSON parser the project does not otherwise have;
 * --nameprefixes is LVM's other machine-readable format and needs none.
 *
 * Freezing: `lvcreate -s` suspends the origin's dm device, and a dm suspend freezes the
 * filesystem on it (freeze_bdev: flush, block writers) for exactly the time the snapshot takes,
 * then resumes (thaws) it. On Debian 12's kernel (6.1) that suspend FAILS with EBUSY when the
 * filesystem is already frozen (FIFREEZE): freeze_bdev calls freeze_super, which refuses a
 * frozen superblock, and dm aborts the suspend ("Unable to suspend"). So the guardian's
 * FIFREEZE cannot be held around lvcreate. Suspending the origins first (a dm suspend with
 * lockfs, which freezes through freeze_bdev, so that lvcreate's nested suspend is a no-op and
 * its resume ends ours) works for classic snapshots: the snapshot holds the origin as it was
 * when we suspended it. So the classic LVs of a set are held at one instant: the guardian
 * suspends every origin (its Suspend hold: one deadline, resumed when vssd or the guardian
 * dies, guardian-client.h), the lvcreates run, the guardian resumes whatever they left
 * suspended. The same breaks thin snapshots silently (LVM records the snapshot but never
 * sends the pool its create_snap message; measured in the VM lab, docs/providers.md), so thin
 * LVs, and a classic LV whose filesystem lvm itself needs while it runs (/, /usr, /etc/lvm,
 * /run, vssd's state directory: lvm would wait on it and the hold would only end at its
 * deadline), are each frozen by their own lvcreate, one after the other. A set is consistent
 * for every application whose writer froze it either way (the writers stay frozen across all
 * the lvcreates); for data no writer covers, the held LVs share one instant and every other
 * LV has its own, a few lvcreate durations apart (logged as the set's skew).
 *
 * Ownership and recovery: only LVs named "vss-<id>" AND carrying a "vss:" tag are ever
 * touched; query lists them by their origin, delete finds them by name and tag.
 *
 * Policy (vssd.conf, ProviderConfig): lvm-cow-percent, the size of a classic snapshot's COW
 * area as a percentage of its origin (default 20, at least 8 MiB); lvm-thin-pool-limit, the
 * data or metadata fill (percent) of a thin pool at or above which a thin snapshot is
 * refused with VSS_E_INSUFFICIENT_STORAGE before the pool can fill (default 90). A classic
 * snapshot that overflows is invalidated by the kernel: get_properties reports it not present
 * and unmounts it, and expose refuses it, so nobody reads a broken copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "guardian-client.h"
#include "macro.h"
#include "providers/provider-registry.h"
#include "providers/provider-util.h"
#include "vss-bus.h"
#include "time-util.h"

#define LVM_PROVIDER_NAME "lvm"
#define LVM_PROVIDER_ID "8a3d2c61-94f1-4b7e-a0d5-2e6c9f1b7a44"
#define LVM_TAG_PREFIX "vss:"
#define LVM_OUTPUT_MAX (1024 * 1024)
#define COW_MIN_BYTES (UINT64_C(8) << 20)
#define COW_PERCENT_DEFAULT 20U
#define THIN_POOL_LIMIT_DEFAULT 90U

typedef struct LvmProvider {
        VssProvider base;
        char *mount_root;            /* <state dir>/lvm */
        char *state_dir;
        unsigned cow_percent;
        unsigned thin_pool_limit;
        char *guardian_exe;
        uint32_t hold_deadline_ms;
        Guardian *guardian;          /* started when a set first has classic LVs to hold */
} LvmProvider;

typedef struct LvmSnapshot {
        char *vg;
        char *origin;                /* the origin LV's name */
        char *fstype;
        char *mnt;                   /* <mount root>/<snapshot id> */
        bool thin;
        uint64_t cow_bytes;          /* classic only */
        dev_t dev;                   /* the origin's filesystem (st_dev) */
        bool holdable;               /* a plain LV (linear/striped, maybe an origin already) */
        bool held;                   /* snapshotted inside the set's dm hold (end_prepare) */
        bool created;
        bool mounted;
} LvmSnapshot;

static char *mfree(char *s) {
        free(s);
        return NULL;
}

static LvmProvider *lvm_of(VssProvider *self) {
        return (LvmProvider *) self;
}

static LvmSnapshot *lvm_snapshot_free(LvmSnapshot *l) {
        if (!l)
                return NULL;
        free(l->vg);
        free(l->origin);
        free(l->fstype);
        free(l->mnt);
        free(l);
        return NULL;
}

/* ProviderSnapshot.data_free: whoever frees the snapshot frees this provider's data too. */
static void lvm_snapshot_data_free(void *data) {
        lvm_snapshot_free(data);
}

/* ---- Running lvm --------------------------------------------------------------------------- */

static int fd_drain(int fd, char **buf, size_t *len) {
        char tmp[4096];
        ssize_t k = read(fd, tmp, sizeof(tmp));

        if (k <= 0)
                return k < 0 && errno == EINTR ? 1 : 0;
        if (*len + (size_t) k < LVM_OUTPUT_MAX) {
                char *p = realloc(*buf, *len + (size_t) k + 1);

                if (!p)
                        return -ENOMEM;
                memcpy(p + *len, tmp, (size_t) k);
                *len += (size_t) k;
                p[*len] = 0;
                *buf = p;
        }
        return 1;
}

/*
 * Runs `lvm argv...` and waits for it. Its stdout goes to *ret_out (when non-NULL), its
 * stderr to *ret_err (when non-NULL; else to ours). Returns the exit status (>= 0) or a
 * negative errno when it could not run. The child does not die with vssd: an lvcreate
 * interrupted between its suspend and resume would leave the origin suspended.
 */
static int lvm_run(char *const argv[], char **ret_out, char **ret_err) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        size_t out_len = 0, err_len = 0;
        int op[2] = { -1, -1 }, ep[2] = { -1, -1 }, status;
        pid_t pid;

        if (pipe2(op, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(ep, O_CLOEXEC) < 0) {
                int r = -errno;
                close(op[0]);
                close(op[1]);
                return r;
        }

        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(op[0]);
                close(op[1]);
                close(ep[0]);
                close(ep[1]);
                return r;
        }
        if (pid == 0) {
                int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

                if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(op[1], STDOUT_FILENO) < 0 ||
                    dup2(ep[1], STDERR_FILENO) < 0)
                        _exit(127);
                (void) close_range(3, ~0U, 0);
                setenv("LVM_SUPPRESS_FD_WARNINGS", "1", 1);
                /* The usual place first: vssd's PATH may lack the sbin directories. */
                execv("/usr/sbin/lvm", argv);
                execv("/sbin/lvm", argv);
                execvp("lvm", argv);
                _exit(127);
        }
        close(op[1]);
        close(ep[1]);

        struct pollfd pfd[2] = { { .fd = op[0], .events = POLLIN }, { .fd = ep[0], .events = POLLIN } };
        while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
                if (poll(pfd, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                for (int i = 0; i < 2; i++) {
                        if (pfd[i].fd < 0 || !pfd[i].revents)
                                continue;
                        if (fd_drain(pfd[i].fd, i == 0 ? &out : &err, i == 0 ? &out_len : &err_len) <= 0) {
                                close(pfd[i].fd);
                                pfd[i].fd = -1;
                        }
                }
        }
        for (int i = 0; i < 2; i++)
                if (pfd[i].fd >= 0)
                        close(pfd[i].fd);

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;

        if (ret_out)
                *ret_out = out ? TAKE_PTR(out) : strdup("");
        if (ret_err)
                *ret_err = err ? TAKE_PTR(err) : strdup("");
        else if (err)
                fputs(err, stderr);
        if (!WIFEXITED(status))
                return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return WEXITSTATUS(status);
}

/*
 * The value of KEY='value' in one --nameprefixes report line, into buf. false when absent or
 * too long. LVM names and tags never contain a quote, so the first quote after the value's
 * opening one closes it.
 */
static bool report_get(const char *line, const char *key, char *buf, size_t size) {
        size_t klen = strlen(key);
        const char *p = line;

        while ((p = strstr(p, key))) {
                if ((p == line || p[-1] == ' ') && p[klen] == '=' && p[klen + 1] == '\'') {
                        const char *v = p + klen + 2, *end = strchr(v, '\'');

                        if (!end || (size_t) (end - v) >= size)
                                return false;
                        memcpy(buf, v, (size_t) (end - v));
                        buf[end - v] = 0;
                        return true;
                }
                p += klen;
        }
        return false;
}

/* Whether the comma-separated tag list has a tag beginning with LVM_TAG_PREFIX. */
static bool tags_have_vss(const char *tags) {
        for (const char *t = tags; t && *t;) {
                if (strncmp(t, LVM_TAG_PREFIX, strlen(LVM_TAG_PREFIX)) == 0)
                        return true;
                t = strchr(t, ',');
                if (t)
                        t++;
        }
        return false;
}

/* "2026-12-06 20:05:43 +0000" (lv_time) as a vss_timestamp; 0 when it does not parse. */
static vss_timestamp lv_time_parse(const char *s) {
        struct tm tm = {};
        const char *end = strptime(s, "%Y-%m-%d %H:%M:%S %z", &tm);
        long off;
        time_t t;

        if (!end)
                return 0;
        off = tm.tm_gmtoff;
        t = timegm(&tm) - off;
        return vss_timestamp_from_unix_ns((int64_t) t * INT64_C(1000000000));
}

/* One vss-made snapshot LV as lvs reports it. */
typedef struct LvInfo {
        char vg[128];
        char name[128];
        char origin[128];
        char attr[16];
        char time[64];
        char size[32];
} LvInfo;

typedef int (*LvVisit)(const LvInfo *lv, const vss_id *id, void *userdata);

/*
 * Calls visit for every LV named "vss-<id>" with a "vss:" tag, in every VG. Returns 0, the
 * first non-zero visit result, or a negative errno / -EIO when lvs fails.
 */
static int vss_lvs_foreach(LvVisit visit, void *userdata) {
        char *argv[] = { (char *) "lvm", (char *) "lvs", (char *) "--noheadings", (char *) "--nameprefixes",
                         (char *) "--units", (char *) "b", (char *) "--nosuffix",
                         (char *) "-o", (char *) "vg_name,lv_name,origin,lv_attr,lv_time,lv_size,lv_tags", NULL };
        _cleanup_free_ char *out = NULL, *err = NULL;
        char *save = NULL;
        int r;

        r = lvm_run(argv, &out, &err);
        if (r < 0)
                return r;
        if (r != 0) {
                provider_log(LVM_PROVIDER_NAME, "lvs failed: %s", strempty(err));
                return -EIO;
        }
        for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char tags[1024];
                LvInfo lv = {};
                vss_id id;

                if (!report_get(line, "LVM2_LV_NAME", lv.name, sizeof(lv.name)) ||
                    !provider_object_name_parse(lv.name, &id))
                        continue;
                if (!report_get(line, "LVM2_LV_TAGS", tags, sizeof(tags)) || !tags_have_vss(tags))
                        continue;
                if (!report_get(line, "LVM2_VG_NAME", lv.vg, sizeof(lv.vg)))
                        continue;
                (void) report_get(line, "LVM2_ORIGIN", lv.origin, sizeof(lv.origin));
                (void) report_get(line, "LVM2_LV_ATTR", lv.attr, sizeof(lv.attr));
                (void) report_get(line, "LVM2_LV_TIME", lv.time, sizeof(lv.time));
                (void) report_get(line, "LVM2_LV_SIZE", lv.size, sizeof(lv.size));
                r = visit(&lv, &id, userdata);
                if (r != 0)
                        return r;
        }
        return 0;
}

typedef struct FindById {
        const vss_id *id;
        LvInfo found;
        bool ok;
} FindById;

static int find_by_id_visit(const LvInfo *lv, const vss_id *id, void *userdata) {
        FindById *f = userdata;

        if (!vss_id_equal(id, f->id))
                return 0;
        f->found = *lv;
        f->ok = true;
        return 1;
}

/* The vss-made LV of snapshot id: 1 and *ret, 0 when there is none, or negative errno. */
static int vss_lv_find(const vss_id *id, LvInfo *ret) {
        FindById f = { .id = id };
        int r;

        r = vss_lvs_foreach(find_by_id_visit, &f);
        if (r < 0)
                return r;
        if (!f.ok)
                return 0;
        *ret = f.found;
        return 1;
}

/* A classic snapshot the kernel invalidated (its COW area overflowed): attr[4] 'I'. */
static bool lv_attr_invalid(const char *attr) {
        return strlen(attr) > 4 && attr[4] == 'I';
}

/* ---- Volumes ----------------------------------------------------------------------------- */

/* The dm device behind a mount, from sysfs: its dm name, and whether LVM made it. */
static int dm_lookup(dev_t dev, char **ret_name) {
        char path[128], uuid[256] = "", name[256] = "";
        FILE *f;

        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/uuid", major(dev), minor(dev));
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? -ENODEV : -errno;
        if (!fgets(uuid, sizeof(uuid), f))
                uuid[0] = 0;
        fclose(f);
        if (strncmp(uuid, "LVM-", 4) != 0)
                return -ENODEV;

        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/name", major(dev), minor(dev));
        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (!fgets(name, sizeof(name), f))
                name[0] = 0;
        fclose(f);
        name[strcspn(name, "\n")] = 0;
        if (!name[0])
                return -ENODEV;
        if (ret_name) {
                *ret_name = strdup(name);
                if (!*ret_name)
                        return -ENOMEM;
        }
        return 0;
}

static bool fstype_supported(const char *fstype) {
        return streq(fstype, "ext4") || streq(fstype, "ext3") || streq(fstype, "ext2") || streq(fstype, "xfs");
}

/* The mount of volume's filesystem, if it is a whole filesystem on an LVM LV. */
static vss_hr volume_resolve(const char *volume, MountEntry *ret_mount, char **ret_dm_name) {
        _cleanup_free_ char *cur = NULL, *dm_name = NULL;
        MountEntry e = {};
        struct statvfs svfs;
        struct stat st;
        int r;

        cur = realpath(volume, NULL);
        if (!cur)
                return vss_hr_from_errno(errno);
        r = mount_find(cur, NULL, &e);
        if (r < 0)
                return r == -ENOENT ? VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER : vss_hr_from_errno(r);
        if (!streq(e.root, "/") || !fstype_supported(e.fstype) || stat(e.mnt, &st) < 0 ||
            statvfs(e.mnt, &svfs) < 0 || (svfs.f_flag & ST_RDONLY)) {
                mount_entry_done(&e);
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        r = dm_lookup(st.st_dev, &dm_name);
        if (r < 0) {
                mount_entry_done(&e);
                return r == -ENODEV ? VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER : vss_hr_from_errno(r);
        }
        if (ret_mount)
                *ret_mount = e;
        else
                mount_entry_done(&e);
        if (ret_dm_name)
                *ret_dm_name = TAKE_PTR(dm_name);
        return S_OK;
}

static vss_hr lvm_is_volume_supported(VssProvider *self, const char *volume, char **ret_canonical) {
        MountEntry e = {};
        vss_hr hr;

        if (isempty(volume) || volume[0] != '/' || !ret_canonical)
                return E_INVALIDARG;
        hr = volume_resolve(volume, &e, NULL);
        if (VSS_FAILED(hr))
                return hr;
        *ret_canonical = TAKE_PTR(e.mnt);
        mount_entry_done(&e);
        return S_OK;
}

/* What lvs says about one LV (given as a device path or vg/lv), as a report line. */
static int lv_report(const char *what, const char *fields, char **ret_line) {
        char *argv[] = { (char *) "lvm", (char *) "lvs", (char *) "--noheadings", (char *) "--nameprefixes",
                         (char *) "--units", (char *) "b", (char *) "--nosuffix", (char *) "-o", (char *) fields,
                         (char *) what, NULL };
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        r = lvm_run(argv, &out, &err);
        if (r < 0)
                return r;
        if (r != 0) {
                provider_log(LVM_PROVIDER_NAME, "lvs %s failed: %s", what, strempty(err));
                return -ENOENT;
        }
        *ret_line = TAKE_PTR(out);
        return 0;
}

static uint64_t parse_u64(const char *s) {
        return strtoull(s, NULL, 10);
}

static double parse_percent(const char *s) {
        return isempty(s) ? 0.0 : strtod(s, NULL);
}

/* Refuses a thin snapshot when the pool is at or above the limit (data or metadata). */
static vss_hr thin_pool_check(LvmProvider *p, const char *vg, const char *pool) {
        _cleanup_free_ char *line = NULL, *what = NULL;
        char data[32] = "", meta[32] = "";
        double d, m;

        if (asprintf(&what, "%s/%s", vg, pool) < 0)
                return E_OUTOFMEMORY;
        if (lv_report(what, "data_percent,metadata_percent", &line) < 0)
                return VSS_E_PROVIDER_VETO;
        (void) report_get(line, "LVM2_DATA_PERCENT", data, sizeof(data));
        (void) report_get(line, "LVM2_METADATA_PERCENT", meta, sizeof(meta));
        d = parse_percent(data);
        m = parse_percent(meta);
        if (d >= p->thin_pool_limit || m >= p->thin_pool_limit) {
                provider_log(LVM_PROVIDER_NAME,
                             "thin pool %s is %.1f%% full (metadata %.1f%%), at or above the %u%% limit "
                             "(lvm-thin-pool-limit): refusing a snapshot that could fill it; extend the pool",
                             what, d, m, p->thin_pool_limit);
                return VSS_E_INSUFFICIENT_STORAGE;
        }
        return S_OK;
}

static vss_hr lvm_begin_prepare(VssProvider *self, ProviderSnapshot *s) {
        LvmProvider *p = lvm_of(self);
        _cleanup_free_ char *dm_name = NULL, *dev = NULL, *line = NULL;
        char vg[128], lv[128], attr[16], pool[128] = "", size[32] = "", vg_free[32] = "";
        MountEntry e = {};
        LvmSnapshot *l;
        vss_hr hr;

        if (!s || isempty(s->volume))
                return E_INVALIDARG;
        if (s->data)
                return VSS_E_BAD_STATE;

        hr = volume_resolve(s->volume, &e, &dm_name);
        if (VSS_FAILED(hr))
                return hr;
        if (asprintf(&dev, "/dev/mapper/%s", dm_name) < 0) {
                mount_entry_done(&e);
                return E_OUTOFMEMORY;
        }
        if (lv_report(dev, "vg_name,lv_name,lv_attr,pool_lv,lv_size,vg_free", &line) < 0 ||
            !report_get(line, "LVM2_VG_NAME", vg, sizeof(vg)) || !report_get(line, "LVM2_LV_NAME", lv, sizeof(lv)) ||
            !report_get(line, "LVM2_LV_ATTR", attr, sizeof(attr))) {
                mount_entry_done(&e);
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        (void) report_get(line, "LVM2_POOL_LV", pool, sizeof(pool));
        (void) report_get(line, "LVM2_LV_SIZE", size, sizeof(size));
        (void) report_get(line, "LVM2_VG_FREE", vg_free, sizeof(vg_free));

        /* A snapshot of a snapshot (ours, or anyone's classic one) is not a volume we take. */
        if (attr[0] == 's' || attr[0] == 'S' || provider_object_name_parse(lv, &(vss_id) {})) {
                mount_entry_done(&e);
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }

        l = calloc(1, sizeof(*l));
        if (!l) {
                mount_entry_done(&e);
                return E_OUTOFMEMORY;
        }
        l->thin = attr[0] == 'V';
        /* Only what the lab proved: a thin origin suspended first breaks its snapshot and the
         * pool's transaction id (docs/providers.md); RAID, mirror or cache LVs were not tried. */
        l->holdable = attr[0] == '-' || attr[0] == 'o';
        l->vg = strdup(vg);
        l->origin = strdup(lv);
        l->fstype = strdup(e.fstype);
        {
                struct stat st;

                if (stat(e.mnt, &st) == 0)
                        l->dev = st.st_dev;
        }
        mount_entry_done(&e);
        if (!l->vg || !l->origin || !l->fstype ||
            asprintf(&l->mnt, "%s/%s", p->mount_root, vss_id_to_str(&s->snapshot_id).s) < 0) {
                lvm_snapshot_free(l);
                return E_OUTOFMEMORY;
        }

        if (l->thin)
                hr = thin_pool_check(p, vg, pool);
        else {
                uint64_t origin = parse_u64(size);

                /* Whole MiB: LVM wants a multiple of the sector size and rounds to extents anyway. */
                l->cow_bytes = MAX(origin / 100 * p->cow_percent, COW_MIN_BYTES);
                l->cow_bytes = (l->cow_bytes + (UINT64_C(1) << 20) - 1) & ~((UINT64_C(1) << 20) - 1);
                hr = S_OK;
                if (parse_u64(vg_free) < l->cow_bytes) {
                        provider_log(LVM_PROVIDER_NAME,
                                     "volume group %s has %s bytes free, a snapshot of %s needs %" PRIu64
                                     " (lvm-cow-percent = %u of the origin): extend the VG",
                                     vg, vg_free, lv, l->cow_bytes, p->cow_percent);
                        hr = VSS_E_INSUFFICIENT_STORAGE;
                }
        }
        if (VSS_FAILED(hr)) {
                lvm_snapshot_free(l);
                return hr;
        }

        s->data = l;
        s->data_free = lvm_snapshot_data_free;
        return S_OK;
}

static vss_hr check_prepared(ProviderSnapshot *const *snaps, size_t n, bool want_created) {
        if (!snaps && n > 0)
                return E_INVALIDARG;
        for (size_t i = 0; i < n; i++) {
                LvmSnapshot *l = snaps[i] ? snaps[i]->data : NULL;

                if (!l || l->created != want_created)
                        return VSS_E_BAD_STATE;
        }
        return S_OK;
}

/*
 * Whether lvm, run while the origin on dev is suspended, would need that filesystem: its
 * program and libraries (/, /usr), its metadata archive and backup (/etc/lvm), its locks
 * (/run, /run/lock), or vssd's state directory. Such an origin is left out of the hold.
 */
static bool lvm_needs_filesystem(const LvmProvider *p, dev_t dev) {
        const char *const paths[] = { "/", "/usr", "/etc/lvm", "/run", "/run/lock", p->state_dir };

        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                struct stat st;

                if (paths[i] && stat(paths[i], &st) == 0 && st.st_dev == dev)
                        return true;
        }
        return false;
}

/*
 * Marks the snapshots that commit takes inside one dm hold: the classic ones of plain LVs
 * whose filesystem lvm does not need, when there are two or more of them (one alone gains nothing from a hold; its
 * lvcreate freezes it as long as needed). Returns how many.
 */
static size_t hold_plan(const LvmProvider *p, ProviderSnapshot *const *snaps, size_t n) {
        size_t held = 0;

        for (size_t i = 0; i < n; i++) {
                LvmSnapshot *l = snaps[i]->data;

                l->held = l->holdable && l->dev != 0 && !lvm_needs_filesystem(p, l->dev);
                held += l->held;
        }
        if (held < 2)
                for (size_t i = 0; i < n; i++)
                        ((LvmSnapshot *) snaps[i]->data)->held = false;
        return held < 2 ? 0 : held;
}

static vss_hr guardian_ensure(LvmProvider *p) {
        int r;

        if (p->guardian)
                return S_OK;
        if (!p->guardian_exe) {
                provider_log(LVM_PROVIDER_NAME, "no vss-guardian is configured: cannot hold classic LVs together");
                return VSS_E_PROVIDER_VETO;
        }
        r = guardian_spawn(p->guardian_exe, &p->guardian);
        if (r < 0) {
                provider_log(LVM_PROVIDER_NAME, "cannot start the freeze guardian %s: %s", p->guardian_exe,
                             strerror(-r));
                return VSS_E_PROVIDER_VETO;
        }
        return S_OK;
}

static vss_hr lvm_end_prepare(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        vss_hr hr = check_prepared(snaps, n, false);

        if (VSS_FAILED(hr))
                return hr;
        /* The guardian is started now, before the writers freeze, should the set need it. */
        if (hold_plan(lvm_of(self), snaps, n) > 0) {
                hr = guardian_ensure(lvm_of(self));
                if (VSS_FAILED(hr))
                        return hr;
        }
        /* Dirty data goes out now, while writers run: the dm suspend inside lvcreate then has
         * little to flush while the filesystem is frozen. */
        return provider_flush_volumes(LVM_PROVIDER_NAME, snaps, n);
}

static vss_hr lvm_pre_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return check_prepared(snaps, n, false);
}

/* lvremove of a vss-made LV (by vg and snapshot id). 0, -ENOENT when absent, -EIO. */
static int snapshot_lv_remove(const char *vg, const vss_id *id) {
        char name[PROVIDER_OBJECT_NAME_MAX];
        _cleanup_free_ char *what = NULL, *err = NULL;
        int r;

        provider_object_name(id, name);
        if (asprintf(&what, "%s/%s", vg, name) < 0)
                return -ENOMEM;
        char *argv[] = { (char *) "lvm", (char *) "lvremove", (char *) "-f", (char *) "-y", what, NULL };
        r = lvm_run(argv, NULL, &err);
        if (r < 0)
                return r;
        if (r != 0) {
                if (strstr(strempty(err), "not found") || strstr(strempty(err), "Failed to find"))
                        return -ENOENT;
                provider_log(LVM_PROVIDER_NAME, "lvremove %s failed: %s", what, strempty(err));
                return -EIO;
        }
        return 0;
}

/* Takes the read-only mount at mnt away (lazily when a reader still has it open: the LV
 * then stays busy until they go) and removes the directory. */
static int snapshot_umount(const char *mnt) {
        int r;

        r = provider_umount_path(mnt, false);
        if (r == -EBUSY)
                r = provider_umount_path(mnt, true);
        if (r < 0 && r != -ENOENT)
                return r;
        (void) rmdir(mnt);
        return 0;
}

/* Undoes whatever commit and pre_final_commit made of one snapshot. */
static void snapshot_discard(ProviderSnapshot *s) {
        LvmSnapshot *l = s->data;
        int r;

        if (l->mounted) {
                (void) snapshot_umount(l->mnt);
                l->mounted = false;
        }
        if (l->created) {
                r = snapshot_lv_remove(l->vg, &s->snapshot_id);
                if (r < 0 && r != -ENOENT)
                        provider_log(LVM_PROVIDER_NAME, "could not remove the snapshot of %s/%s: %s", l->vg,
                                     l->origin, strerror(-r));
                l->created = false;
        }
}

/*
 * lvcreate -s of one prepared snapshot. The dm suspend inside freezes the origin's filesystem
 * (or, inside the set's dm hold, finds it suspended and resumes it when done). Logs nothing
 * and cleans nothing up, for it may run inside a hold: on failure *ret_err (when not NULL) is
 * lvcreate's message for snapshot_lv_create_failed, which does both once nothing is held.
 */
static vss_hr snapshot_lv_create(ProviderSnapshot *s, uint64_t *ret_start_usec, char **ret_err) {
        LvmSnapshot *l = s->data;
        char name[PROVIDER_OBJECT_NAME_MAX], tag[sizeof(LVM_TAG_PREFIX) + 36], cow[32];
        _cleanup_free_ char *origin = NULL, *err = NULL;
        int r;

        provider_object_name(&s->snapshot_id, name);
        snprintf(tag, sizeof(tag), LVM_TAG_PREFIX "%s", vss_id_to_str(&s->snapshot_set_id).s);
        snprintf(cow, sizeof(cow), "%" PRIu64 "b", l->cow_bytes);
        if (asprintf(&origin, "%s/%s", l->vg, l->origin) < 0)
                return E_OUTOFMEMORY;

        /* Thin snapshots skip activation by default; -kn makes this one activate now (and at
         * boot), since it is mounted for reading. */
        char *thin_argv[] = { (char *) "lvm", (char *) "lvcreate", (char *) "-q", (char *) "-s", (char *) "-kn",
                              (char *) "-n", name, (char *) "--addtag", tag, origin, NULL };
        char *classic_argv[] = { (char *) "lvm", (char *) "lvcreate", (char *) "-q", (char *) "-s", (char *) "-L", cow,
                                 (char *) "-n", name, (char *) "--addtag", tag, origin, NULL };

        *ret_start_usec = now_usec();
        r = lvm_run(l->thin ? thin_argv : classic_argv, NULL, &err);
        if (r < 0)
                return vss_hr_from_errno(r);
        if (r != 0) {
                vss_hr hr = VSS_E_PROVIDER_VETO;

                if (strstr(strempty(err), "nsufficient") || strstr(strempty(err), "free space") ||
                    strstr(strempty(err), "out of space"))
                        hr = VSS_E_INSUFFICIENT_STORAGE;
                if (isempty(err) && r > 128) {
                        /* Killed: lvm_run's 128 + signal. */
                        free(err);
                        if (asprintf(&err, "killed by signal %d", r - 128) < 0)
                                err = NULL;
                }
                if (ret_err)
                        *ret_err = TAKE_PTR(err);
                return hr;
        }
        l->created = true;
        return S_OK;
}

/* After snapshot_lv_create failed with err: says so, and removes what lvcreate may have left
 * in the metadata if that is ours (named and tagged): the name may be someone else's LV, which
 * is why it failed. */
static void snapshot_lv_create_failed(ProviderSnapshot *s, const char *err) {
        LvmSnapshot *l = s->data;
        LvInfo left;

        provider_log(LVM_PROVIDER_NAME, "lvcreate -s %s/%s failed: %s", l->vg, l->origin, strempty(err));
        if (vss_lv_find(&s->snapshot_id, &left) > 0 && streq(left.vg, l->vg))
                (void) snapshot_lv_remove(l->vg, &s->snapshot_id);
}

/* Undoes the snapshots of a commit that fails: no partial commit. */
static void commit_undo(ProviderSnapshot *const *snaps, size_t n) {
        for (size_t i = 0; i < n; i++) {
                LvmSnapshot *l = snaps[i]->data;

                if (l->created)
                        snapshot_discard(snaps[i]);
                snaps[i]->device = mfree(snaps[i]->device);
        }
}

/*
 * lvcreate of each snapshot whose held flag is held; ret_first and ret_last: when the first
 * and the last lvcreate started (unchanged when none ran). Stops at the first failure, which
 * *ret_failed and *ret_err describe for snapshot_lv_create_failed (NULL: it never ran).
 */
static vss_hr create_each(ProviderSnapshot *const *snaps, size_t n, bool held, uint64_t *ret_first,
                          uint64_t *ret_last, ProviderSnapshot **ret_failed, char **ret_err) {
        for (size_t i = 0; i < n; i++) {
                LvmSnapshot *l = snaps[i]->data;
                char *device;
                uint64_t start;
                vss_hr hr;

                if (l->held != held)
                        continue;
                device = strdup(l->mnt);
                hr = device ? snapshot_lv_create(snaps[i], &start, ret_err) : E_OUTOFMEMORY;
                if (VSS_FAILED(hr)) {
                        free(device);
                        *ret_failed = device ? snaps[i] : NULL;
                        return hr;
                }
                if (*ret_first == 0)
                        *ret_first = start;
                *ret_last = start;
                free(snaps[i]->device);
                snaps[i]->device = device;
        }
        return S_OK;
}

/*
 * The held snapshots: the guardian suspends every origin (one instant: each filesystem is
 * frozen by its suspend and stays so until all are), the lvcreates run (each resumes its own
 * origin when its snapshot is in place), and the guardian resumes whatever is left. Should
 * the guardian or vssd die meanwhile, the origins are resumed by whoever survives.
 */
static vss_hr commit_held(LvmProvider *p, ProviderSnapshot *const *snaps, size_t n, size_t n_held) {
        char *volumes[GUARDIAN_MAX_PATHS];
        uint64_t start, suspended, first = 0, last = 0;
        ProviderSnapshot *failed = NULL;
        _cleanup_free_ char *err = NULL;
        size_t k = 0;
        vss_hr hr, thaw_hr;

        for (size_t i = 0; i < n && k < GUARDIAN_MAX_PATHS; i++)
                if (((LvmSnapshot *) snaps[i]->data)->held)
                        volumes[k++] = snaps[i]->volume;

        hr = guardian_ensure(p);
        if (VSS_FAILED(hr))
                return hr;
        start = now_usec();
        hr = guardian_suspend(p->guardian, volumes, k, p->hold_deadline_ms);
        if (VSS_FAILED(hr)) {
                provider_log(LVM_PROVIDER_NAME, "suspending the %zu classic LV(s) of the set failed: %s", k,
                             vss_hr_name(hr));
                return hr;
        }
        suspended = now_usec();
        hr = create_each(snaps, n, true, &first, &last, &failed, &err);
        thaw_hr = guardian_thaw(p->guardian);
        /* Nothing is held any more: now it may log, and run lvm for the clean-up. */
        if (failed)
                snapshot_lv_create_failed(failed, err);
        if (VSS_SUCCEEDED(hr) && VSS_FAILED(thaw_hr)) {
                provider_log(LVM_PROVIDER_NAME, "the hold of %zu classic LV(s) broke (%s): their snapshots are not "
                             "of one instant", k, vss_hr_name(thaw_hr));
                hr = thaw_hr;
        }
        if (VSS_SUCCEEDED(hr))
                provider_log(LVM_PROVIDER_NAME, "%zu classic LVs held at one instant: suspending them took %.1f ms, "
                             "the hold with their lvcreates %.1f ms", n_held, (double) (suspended - start) / 1000.0,
                             (double) (now_usec() - start) / 1000.0);
        return hr;
}

static vss_hr lvm_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        LvmProvider *p = lvm_of(self);
        uint64_t first = 0, last = 0;
        ProviderSnapshot *failed = NULL;
        _cleanup_free_ char *err = NULL;
        size_t n_held;
        vss_hr hr;

        hr = check_prepared(snaps, n, false);
        if (VSS_FAILED(hr))
                return hr;

        n_held = hold_plan(p, snaps, n);
        hr = n_held > 0 ? commit_held(p, snaps, n, n_held) : S_OK;
        if (VSS_SUCCEEDED(hr)) {
                hr = create_each(snaps, n, false, &first, &last, &failed, &err);
                if (failed)
                        snapshot_lv_create_failed(failed, err);
        }
        if (VSS_FAILED(hr)) {
                commit_undo(snaps, n);
                return hr;
        }
        if (n - n_held > 1 || (n_held > 0 && n > n_held))
                provider_log(LVM_PROVIDER_NAME, "%zu LV(s) snapshotted one after the other%s; their points in time "
                             "lie within %.1f ms", n - n_held, n_held > 0 ? ", after the held ones" : "",
                             (double) (last - first) / 1000.0);
        return S_OK;
}

/* How each filesystem's snapshot is mounted: the copy is clean, never replay a journal. */
static const char *mount_options(const char *fstype) {
        if (streq(fstype, "xfs"))
                return "norecovery,nouuid";
        return "noload";
}

static int snapshot_mount(const char *vg, const vss_id *id, const char *fstype, const char *mnt) {
        char name[PROVIDER_OBJECT_NAME_MAX];
        _cleanup_free_ char *dev = NULL, *dir = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        provider_object_name(id, name);
        if (asprintf(&dev, "/dev/%s/%s", vg, name) < 0)
                return -ENOMEM;
        dir = strdup(mnt);
        if (!dir)
                return -ENOMEM;
        *strrchr(dir, '/') = 0;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
                return -errno;
        /* provider-util's one read-only mount: built detached with its flags, attached through
         * the descriptor of a directory opened without following symlinks. */
        fd = path_open_nofollow(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                r = fd;
        else
                r = provider_mount_ro(dev, streq(fstype, "xfs") ? "xfs" : "ext4", mount_options(fstype), fd, NULL);
        if (r < 0)
                (void) rmdir(mnt);
        return r;
}

static vss_hr lvm_post_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return check_prepared(snaps, n, true);
}

/* After Thaw: make each snapshot readable at its device path. */
static vss_hr lvm_pre_final_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        vss_hr hr = check_prepared(snaps, n, true);

        if (VSS_FAILED(hr))
                return hr;
        for (size_t i = 0; i < n; i++) {
                LvmSnapshot *l = snaps[i]->data;
                int r;

                if (l->mounted)
                        continue;
                r = snapshot_mount(l->vg, &snaps[i]->snapshot_id, l->fstype, l->mnt);
                if (r < 0) {
                        provider_log(LVM_PROVIDER_NAME, "cannot mount the snapshot of %s/%s at %s: %s", l->vg,
                                     l->origin, l->mnt, strerror(-r));
                        return VSS_E_PROVIDER_VETO;
                }
                l->mounted = true;
        }
        return S_OK;
}

static vss_hr lvm_post_final_commit(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        return check_prepared(snaps, n, true);
}

static vss_hr lvm_abort(VssProvider *self, ProviderSnapshot *const *snaps, size_t n) {
        for (size_t i = 0; snaps && i < n; i++) {
                ProviderSnapshot *s = snaps[i];

                if (!s || !s->data)
                        continue;
                snapshot_discard(s);
                s->data = lvm_snapshot_free(s->data);
                s->device = mfree(s->device);
        }
        return S_OK;
}

/* The snapshot id a device path "<mount root>/<id>" names. */
static bool device_snapshot_id(const char *device, vss_id *ret) {
        const char *base = device ? strrchr(device, '/') : NULL;

        return base && provider_snapshot_name_parse(base + 1, NULL, ret);
}

static vss_hr lvm_delete_snapshot(VssProvider *self, ProviderSnapshot *s) {
        LvmSnapshot *l;
        LvInfo lv;
        vss_id id;
        int r;

        if (!s)
                return E_INVALIDARG;
        l = s->data;
        if (l && !l->created)
                return VSS_E_OBJECT_NOT_FOUND;
        if (!device_snapshot_id(s->device, &id))
                id = s->snapshot_id;

        if (s->device)
                (void) snapshot_umount(s->device);
        if (l) {
                /* Made by this vssd: its VG is known, and lvremove tells when the LV is gone,
                 * so no lvs first (each lvm command costs a process start and a device scan). */
                r = snapshot_lv_remove(l->vg, &id);
        } else {
                /* Known from the catalog only: found by its id among the vss-tagged LVs. */
                r = vss_lv_find(&id, &lv);
                if (r < 0)
                        return vss_hr_from_errno(r);
                if (r == 0)
                        return VSS_E_OBJECT_NOT_FOUND;
                r = snapshot_lv_remove(lv.vg, &id);
        }
        if (r < 0 && r != -ENOENT)
                return vss_hr_from_errno(r);
        s->data = lvm_snapshot_free(s->data);
        return r == -ENOENT ? VSS_E_OBJECT_NOT_FOUND : S_OK;
}

static vss_hr lvm_device_path(VssProvider *self, const ProviderSnapshot *s, char **ret_path) {
        const LvmSnapshot *l = s ? s->data : NULL;
        char *p;

        if (!l || !ret_path)
                return E_INVALIDARG;
        p = strdup(l->mnt);
        if (!p)
                return E_OUTOFMEMORY;
        *ret_path = p;
        return S_OK;
}

static bool is_mount_point(const char *path) {
        MountEntry e = {};
        bool r;

        if (mount_find(path, NULL, &e) < 0)
                return false;
        r = streq(e.mnt, path);
        mount_entry_done(&e);
        return r;
}

/* The snapshot's LV exists and is valid; mount it at its device path if it is not (after a
 * reboot, or a vssd restart that found it unmounted). */
static vss_hr snapshot_ensure_readable(const ProviderSnapshot *s) {
        MountEntry origin_mount = {};
        LvInfo lv;
        vss_id id;
        int r;

        if (!device_snapshot_id(s->device, &id))
                return E_INVALIDARG;
        r = vss_lv_find(&id, &lv);
        if (r < 0)
                return vss_hr_from_errno(r);
        if (r == 0 || lv_attr_invalid(lv.attr)) {
                (void) snapshot_umount(s->device);
                return VSS_E_OBJECT_NOT_FOUND;
        }
        if (is_mount_point(s->device))
                return S_OK;

        const LvmSnapshot *l = s->data;
        const char *fstype = l ? l->fstype : NULL;
        if (!fstype) {
                /* Known from the catalog only: the origin's filesystem type tells. */
                fstype = "ext4";
                if (s->volume && mount_find(s->volume, NULL, &origin_mount) >= 0 && streq(origin_mount.fstype, "xfs"))
                        fstype = "xfs";
        }
        if (!streq(strempty(lv.attr), "") && lv.attr[4] != 'a') {
                char *what = NULL;

                if (asprintf(&what, "%s/%s", lv.vg, lv.name) >= 0) {
                        char *argv[] = { (char *) "lvm", (char *) "lvchange", (char *) "-ay", (char *) "-K", what, NULL };
                        (void) lvm_run(argv, NULL, NULL);
                        free(what);
                }
        }
        r = snapshot_mount(lv.vg, &id, fstype, s->device);
        mount_entry_done(&origin_mount);
        return r < 0 ? vss_hr_from_errno(r) : S_OK;
}

static vss_hr lvm_expose(VssProvider *self, const ProviderSnapshot *s, int target_fd, const char *target_path) {
        vss_hr hr;

        if (!s || isempty(s->device) || target_fd < 0 || isempty(target_path))
                return E_INVALIDARG;
        hr = snapshot_ensure_readable(s);
        if (VSS_FAILED(hr))
                return hr;
        return provider_expose_bind(s, target_fd, target_path);
}

static vss_hr lvm_unexpose(VssProvider *self, const ProviderSnapshot *s, const char *target) {
        return provider_unexpose_umount(s, target);
}

typedef struct QueryCtx {
        LvmProvider *p;
        const char *vg;
        const char *origin;
        ProviderQueryCallback cb;
        void *userdata;
        vss_hr hr;
} QueryCtx;

static int query_visit(const LvInfo *lv, const vss_id *id, void *userdata) {
        QueryCtx *q = userdata;
        _cleanup_free_ char *device = NULL;

        if (!streq(lv->vg, q->vg) || !streq(lv->origin, q->origin))
                return 0;
        if (asprintf(&device, "%s/%s", q->p->mount_root, vss_id_to_str(id).s) < 0) {
                q->hr = E_OUTOFMEMORY;
                return 1;
        }
        q->hr = q->cb(id, device, lv_time_parse(lv->time), q->userdata);
        return VSS_FAILED(q->hr) ? 1 : 0;
}

static vss_hr lvm_query(VssProvider *self, const char *volume, ProviderQueryCallback cb, void *userdata) {
        _cleanup_free_ char *dm_name = NULL, *dev = NULL, *line = NULL;
        char vg[128], lv[128];
        QueryCtx q;
        vss_hr hr;
        int r;

        if (isempty(volume) || !cb)
                return E_INVALIDARG;
        hr = volume_resolve(volume, NULL, &dm_name);
        if (VSS_FAILED(hr))
                return hr;
        if (asprintf(&dev, "/dev/mapper/%s", dm_name) < 0)
                return E_OUTOFMEMORY;
        if (lv_report(dev, "vg_name,lv_name", &line) < 0 || !report_get(line, "LVM2_VG_NAME", vg, sizeof(vg)) ||
            !report_get(line, "LVM2_LV_NAME", lv, sizeof(lv)))
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;

        q = (QueryCtx) { .p = lvm_of(self), .vg = vg, .origin = lv, .cb = cb, .userdata = userdata, .hr = S_OK };
        r = vss_lvs_foreach(query_visit, &q);
        if (r < 0)
                return vss_hr_from_errno(r);
        return q.hr;
}

static vss_hr lvm_get_properties(VssProvider *self, const ProviderSnapshot *s, ProviderSnapshotProperties *ret) {
        LvInfo lv;
        vss_id id;
        int r;

        if (!s || !ret || !device_snapshot_id(s->device, &id))
                return E_INVALIDARG;
        r = vss_lv_find(&id, &lv);
        if (r < 0)
                return vss_hr_from_errno(r);
        if (r == 0 || lv_attr_invalid(lv.attr)) {
                /* Gone, or overflowed (the kernel invalidated it): lost, and nobody may go on
                 * reading what is mounted of it. */
                if (r > 0)
                        provider_log(LVM_PROVIDER_NAME, "snapshot %s/%s overflowed its COW area and is invalid: "
                                     "reported lost", lv.vg, lv.name);
                (void) snapshot_umount(s->device);
                *ret = (ProviderSnapshotProperties) {};
                return S_OK;
        }
        *ret = (ProviderSnapshotProperties) {
                .present = true,
                .creation_time = lv_time_parse(lv.time),
                .size = parse_u64(lv.size),
        };
        return S_OK;
}

/* The policy and the guardian from vssd's configuration; vssd checked the ranges already. */
static vss_hr lvm_configure(LvmProvider *p, const ProviderConfig *config) {
        const char *state_dir = config && config->state_dir ? config->state_dir : "/var/lib/vss";
        const char *exe = config ? config->guardian_path : NULL;

        if (config && (config->lvm_cow_percent > 100 || config->lvm_thin_pool_limit > 100 ||
                       config->hold_timeout_ms > GUARDIAN_MAX_DEADLINE_MS)) {
                provider_log(LVM_PROVIDER_NAME, "lvm-cow-percent and lvm-thin-pool-limit take 1-100, the hold "
                             "timeout at most %u ms", GUARDIAN_MAX_DEADLINE_MS);
                return E_INVALIDARG;
        }
        p->cow_percent = config && config->lvm_cow_percent ? config->lvm_cow_percent : COW_PERCENT_DEFAULT;
        p->thin_pool_limit = config && config->lvm_thin_pool_limit ? config->lvm_thin_pool_limit
                                                                   : THIN_POOL_LIMIT_DEFAULT;
        p->hold_deadline_ms = config && config->hold_timeout_ms ? config->hold_timeout_ms
                                                                : GUARDIAN_DEFAULT_DEADLINE_MS;
        if (isempty(exe))
                exe = secure_getenv("VSS_GUARDIAN");
        if (isempty(exe))
                exe = VSS_LIBEXECDIR "/vss-guardian";
        /* Without a guardian, classic LVs are snapshotted one by one: the provider still works. */
        if (access(exe, X_OK) == 0) {
                p->guardian_exe = strdup(exe);
                if (!p->guardian_exe)
                        return E_OUTOFMEMORY;
        }
        p->state_dir = strdup(state_dir);
        if (!p->state_dir || asprintf(&p->mount_root, "%s/lvm", state_dir) < 0)
                return E_OUTOFMEMORY;
        return S_OK;
}

static void lvm_free(VssProvider *self) {
        LvmProvider *p = lvm_of(self);

        if (!p)
                return;
        p->guardian = guardian_free(p->guardian);
        free(p->guardian_exe);
        free(p->state_dir);
        free(p->mount_root);
        free(p);
}

static const VssProvider lvm_provider = {
        .version = VSS_PROVIDER_OPS_VERSION,
        .name = LVM_PROVIDER_NAME,
        .id = LVM_PROVIDER_ID,
        .type = VSS_PROV_SOFTWARE,
        .version_string = "1.0",
        .flags = 0,
        .free = lvm_free,
        .is_volume_supported = lvm_is_volume_supported,
        .begin_prepare = lvm_begin_prepare,
        .end_prepare = lvm_end_prepare,
        .pre_commit = lvm_pre_commit,
        .commit = lvm_commit,
        .post_commit = lvm_post_commit,
        .pre_final_commit = lvm_pre_final_commit,
        .post_final_commit = lvm_post_final_commit,
        .abort = lvm_abort,
        .delete_snapshot = lvm_delete_snapshot,
        .device_path = lvm_device_path,
        .expose = lvm_expose,
        .unexpose = lvm_unexpose,
        .query = lvm_query,
        .get_properties = lvm_get_properties,
};

vss_hr provider_lvm_new(const ProviderConfig *config, VssProvider **ret) {
        LvmProvider *p;
        vss_hr hr;

        if (!ret)
                return E_INVALIDARG;
        /* No LVM on this system: nothing to provide for. */
        if (access("/sbin/lvm", X_OK) < 0 && access("/usr/sbin/lvm", X_OK) < 0)
                return VSS_E_PROVIDER_NOT_REGISTERED;
        p = calloc(1, sizeof(*p));
        if (!p)
                return E_OUTOFMEMORY;
        p->base = lvm_provider;
        hr = lvm_configure(p, config);
        if (VSS_FAILED(hr)) {
                lvm_free(&p->base);
                return hr;
        }
        *ret = &p->base;
        return S_OK;
}
