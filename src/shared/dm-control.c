/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dm-control.c: DM_DEV_SUSPEND and DM_DEV_STATUS on one device, by number (dm-control.h).
 *
 * The kernel's interface directly rather than libdevmapper: three ioctls on a structure
 * without payload, and the callers must stay async-signal-safe (a crash handler, a watch
 * thread that may not allocate), which libdevmapper's task objects are not. A device is
 * named by its number alone (no name, no uuid): the kernel then finds it by dev, so a
 * rename by LVM between our calls cannot make us resume another device.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/dm-ioctl.h>

#include "dm-control.h"

int dm_control_open(void) {
        int fd = open(DM_CONTROL_PATH, O_RDWR | O_CLOEXEC | O_NOCTTY);

        return fd < 0 ? -errno : fd;
}

/* One ioctl on dev with flags; the flags the kernel answers with in *ret_flags. */
static int dm_call(int control, unsigned long cmd, dev_t dev, uint32_t flags, uint32_t *ret_flags) {
        struct dm_ioctl io;

        memset(&io, 0, sizeof(io));
        /* Any 4.x kernel interface takes version 4.0.0. */
        io.version[0] = DM_VERSION_MAJOR;
        io.data_size = sizeof(io);
        io.data_start = sizeof(io);
        io.flags = flags;
        /* glibc's dev_t encoding is the kernel's huge_encode_dev for every real major/minor. */
        io.dev = (uint64_t) dev;
        if (ioctl(control, cmd, &io) < 0)
                return -errno;
        if (ret_flags)
                *ret_flags = io.flags;
        return 0;
}

int dm_device_suspended(int control, dev_t dev) {
        uint32_t flags = 0;
        int r;

        if (dev == 0)
                return -ENXIO;
        r = dm_call(control, DM_DEV_STATUS, dev, 0, &flags);
        if (r < 0)
                return r;
        return (flags & DM_SUSPEND_FLAG) ? 1 : 0;
}

int dm_device_suspend(int control, dev_t dev) {
        if (dev == 0)
                return -ENXIO;
        /* No DM_SKIP_LOCKFS_FLAG: the filesystem is frozen; no DM_NOFLUSH_FLAG: I/O in flight
         * completes before the call returns. */
        return dm_call(control, DM_DEV_SUSPEND, dev, DM_SUSPEND_FLAG, NULL);
}

int dm_device_resume(int control, dev_t dev) {
        int r = dm_device_suspended(control, dev);

        if (r <= 0)
                return r;
        r = dm_call(control, DM_DEV_SUSPEND, dev, 0, NULL);
        return r < 0 ? r : 1;
}
