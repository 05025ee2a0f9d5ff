/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-privilege.c: the backup privilege (docs/security.md, "Backup privilege"). Installed,
 * vshadow and vssbackup are root:backup 0750 with the file capability CAP_DAC_READ_SEARCH,
 * the Linux counterpart of Windows' SeBackupPrivilege: a member of group "backup" reads the
 * whole snapshot, whoever owns its files. Only the group can run them; should a copy ever
 * end up runnable by others, the capability is dropped here for anyone outside the group, so
 * nobody outside it gains anything.
 *
 * Raw capget/capset: two calls do not justify a dependency on libcap.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tool.h"

#define BACKUP_GROUP "backup"

typedef struct Caps {
        struct __user_cap_header_struct h;
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
} Caps;

static int caps_get(Caps *c) {
        *c = (Caps) { .h.version = _LINUX_CAPABILITY_VERSION_3 };
        return syscall(SYS_capget, &c->h, c->d) < 0 ? -errno : 0;
}

static int caps_set(Caps *c) {
        c->h = (struct __user_cap_header_struct) { .version = _LINUX_CAPABILITY_VERSION_3 };
        return syscall(SYS_capset, &c->h, c->d) < 0 ? -errno : 0;
}

static bool caps_permit(const Caps *c, int cap) {
        return c->d[CAP_TO_INDEX(cap)].permitted & CAP_TO_MASK(cap);
}

/* Is the real user in group BACKUP_GROUP (primary or supplementary)? */
static bool in_backup_group(void) {
        struct group *g = getgrnam(BACKUP_GROUP);
        _cleanup_free_ gid_t *groups = NULL;
        int n;

        if (!g)
                return false;
        if (getgid() == g->gr_gid)
                return true;
        n = getgroups(0, NULL);
        if (n <= 0)
                return false;
        groups = calloc((size_t) n, sizeof(gid_t));
        if (!groups)
                return false;
        n = getgroups(n, groups);
        for (int i = 0; i < n; i++)
                if (groups[i] == g->gr_gid)
                        return true;
        return false;
}

int tool_backup_privilege_init(void) {
        Caps c;
        int r;

        /* Root needs no capability of ours; without one there is nothing to check. */
        if (getuid() == 0 || caps_get(&c) < 0 || !caps_permit(&c, CAP_DAC_READ_SEARCH))
                return 0;
        if (in_backup_group())
                return 1;

        c = (Caps) {};
        r = caps_set(&c);
        return r < 0 ? r : 0;
}

int tool_backup_privilege_pass_on(void) {
        Caps c;
        int r;

        if (getuid() == 0 || caps_get(&c) < 0 || !caps_permit(&c, CAP_DAC_READ_SEARCH))
                return 0;

        /* A capability enters the ambient set only from the inheritable one; the ambient set is
         * what survives the exec of a program without file capabilities (sh, then tar). */
        c.d[CAP_TO_INDEX(CAP_DAC_READ_SEARCH)].inheritable |= CAP_TO_MASK(CAP_DAC_READ_SEARCH);
        r = caps_set(&c);
        if (r < 0)
                return r;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0) < 0)
                return -errno;
        return 1;
}
