/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dm-control.h: suspending and resuming a device-mapper device through /dev/mapper/control.
 *
 * The guardian's second kind of hold (guardian-client.h, Suspend): a dm suspend with the
 * filesystem locked (the kernel freezes the filesystem on the device through freeze_bdev,
 * flushes it and queues new I/O) lasts until a resume, and like FIFREEZE it belongs to no
 * process: whoever suspends must make sure someone resumes. The guardian suspends and
 * resumes; vssd's hold watch resumes in its place should it die. Both use these calls, which
 * name a device by its number (st_dev of a file on it), and which are async-signal-safe (a
 * bare ioctl on a structure on the stack) so that a crash handler or the watch thread may
 * call them.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define DM_CONTROL_PATH "/dev/mapper/control"

/* dm_control_open: opens DM_CONTROL_PATH (O_RDWR, O_CLOEXEC). An fd, or a negative errno. */
int dm_control_open(void);

/*
 * dm_device_suspended: whether the dm device numbered dev is suspended now. 1 suspended,
 * 0 not, -ENXIO when dev is no device-mapper device, another negative errno on failure.
 */
int dm_device_suspended(int control, dev_t dev);

/*
 * dm_device_suspend: suspends dev, flushing it and freezing its filesystem (lockfs). 0, or a
 * negative errno: -EBUSY when the filesystem is frozen already (FIFREEZE; Linux 6.1 refuses
 * to freeze it twice), -ENXIO when dev is no dm device. A device already suspended stays so
 * and counts as success (the kernel's rule): callers check dm_device_suspended first.
 */
int dm_device_suspend(int control, dev_t dev);

/*
 * dm_device_resume: resumes dev (and thaws its filesystem) if it is suspended; a device that
 * is not is left alone, for a resume swaps in an inactive table someone (lvcreate) may be
 * loading. 1 resumed now, 0 was not suspended, or a negative errno.
 */
int dm_device_resume(int control, dev_t dev);
