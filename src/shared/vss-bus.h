/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-bus.h: the names of vssd's D-Bus interface and the one mapping between HRESULTs,
 * D-Bus error names and errno. vssd and libvss both include this, so the two ends of the
 * socket can never disagree on a name. The protocol itself is described in docs/dbus-api.md.
 */
#pragma once

#include <systemd/sd-bus.h>

#include "vss/vss-common.h"

#define VSS_BUS_PATH              "/org/vsslinux/VSS1"
#define VSS_BUS_IFACE_REQUESTER   "org.vsslinux.VSS1.Requester"
#define VSS_BUS_IFACE_ADMIN       "org.vsslinux.VSS1.Admin"
#define VSS_BUS_IFACE_WRITER      "org.vsslinux.VSS1.Writer"
#define VSS_BUS_WRITER_PATH       "/org/vsslinux/VSS1/Writer"
#define VSS_BUS_IFACE_EVENTS      "org.vsslinux.VSS1.WriterEvents"
#define VSS_BUS_ERROR_PREFIX      "org.vsslinux.VSS1.Error."
#define VSS_BUS_SENDER            "org.vsslinux.VSS1"

/* D-Bus signatures shared by both ends (docs/dbus-api.md). */
#define VSS_BUS_SIG_SNAPPROP      "(ssisssssssuxu)"
#define VSS_BUS_SIG_WMD           "(ssssiiu(ussub)ua(usssbbbbu)a(ussssbsu)a(ssb)a(sssb)a(sssss))"
#define VSS_BUS_SIG_STATUS        "(sssui)"
#define VSS_BUS_SIG_PROVIDER      "(ssus)"
#define VSS_BUS_SIG_WRITER_INFO   "(sssuis)"
#define VSS_BUS_SIG_EVENT_COMP    "(usssb)"

/*
 * Subscribe's event_flags: the VSS_SM_* bits of the VSS API in the low 16 bits; above them,
 * set by libvss, the events the writer has no callback for. vssd counts such an event as
 * answered "ok" without sending it (docs/dbus-api.md): with 100 writers on 2 cores a round
 * trip per writer and per event is the cost of a DoSnapshotSet. The events that arm or disarm
 * libvss's own Freeze safety net (Freeze, Thaw, Abort, BackupShutdown) and Identify are
 * always sent. VSS_SM_ALL_FLAGS (every bit set) means every event.
 */
#define VSS_BUS_SM_PUBLIC_MASK          0x0000FFFFu
#define VSS_BUS_SM_NO_PREPARE_BACKUP    0x00010000u
#define VSS_BUS_SM_NO_PREPARE_SNAPSHOT  0x00020000u
#define VSS_BUS_SM_NO_POST_SNAPSHOT     0x00040000u
#define VSS_BUS_SM_NO_BACKUP_COMPLETE   0x00080000u
#define VSS_BUS_SM_NO_PRE_RESTORE       0x00100000u
#define VSS_BUS_SM_NO_POST_RESTORE      0x00200000u

/* Hard limits a peer cannot exceed; each refusal names the limit in its message. */
#define VSS_MAX_STRING            4096U   /* any path, name or caption */
#define VSS_MAX_COMPONENTS        1024U   /* per writer's metadata, and per backup */
#define VSS_MAX_FILESETS          4096U   /* per writer's metadata */
#define VSS_MAX_VOLUMES_PER_SET   64U     /* VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED */
#define VSS_MAX_ID_LIST           1024U   /* Enable/Disable writer class/instance lists */

/*
 * vss_hr_to_bus_error: fill *error with the D-Bus error for hr (name from the HRESULT's
 * symbolic name, message from fmt or vss_hr_message). Returns the negative value sd-bus
 * method handlers must return (-EIO family), so a handler can `return vss_hr_to_bus_error(...)`.
 */
int vss_hr_to_bus_error(sd_bus_error *error, vss_hr hr, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * vss_hr_from_bus_error: the HRESULT for an error a call returned. Known VSS names map back
 * exactly; a lost connection (errno ECONNRESET/ENOTCONN/EPIPE, or
 * org.freedesktop.DBus.Error.NoReply/Disconnected) is VSS_E_WRITER_INFRASTRUCTURE; a timeout
 * is VSS_E_UNEXPECTED; anything else VSS_E_UNEXPECTED. r is the call's negative return.
 */
vss_hr vss_hr_from_bus_error(const sd_bus_error *error, int r);

/* vss_hr_from_name: "VSS_E_BAD_STATE" -> value; returns 0 with *ok=false when unknown. */
vss_hr vss_hr_from_name(const char *name, bool *ok);

/*
 * vss_hr_from_errno: the one place errno becomes an HRESULT (syscall edges only).
 * ENOMEM -> E_OUTOFMEMORY, EACCES/EPERM -> E_ACCESSDENIED, EINVAL -> E_INVALIDARG,
 * ENOENT/ENODEV -> VSS_E_OBJECT_NOT_FOUND, ENOSPC/EDQUOT -> VSS_E_INSUFFICIENT_STORAGE,
 * ENOTSUP/EOPNOTSUPP/ENOTTY -> VSS_E_VOLUME_NOT_SUPPORTED, EBUSY -> VSS_E_VOLUME_IN_USE,
 * anything else VSS_E_UNEXPECTED. Accepts errno
 * positive or negative.
 */
vss_hr vss_hr_from_errno(int err);

/* Id helpers for bus strings. vss_id_to_string returns a static-size buffer the caller owns. */
typedef struct { char s[VSS_ID_STRING_MAX]; } vss_id_str;
vss_id_str vss_id_to_str(const vss_id *id);
/* vss_id_from_bus: parse; NULL or "" gives VSS_ID_NULL. Returns S_OK or E_INVALIDARG. */
vss_hr vss_id_from_bus(const char *s, vss_id *ret);

/* Socket path: explicit, else $VSS_SOCKET (secure_getenv), else the built-in default. */
const char *vss_socket_path(const char *explicit_path);

/* How long vss_bus_connect waits for vssd to finish the handshake (the D-Bus call default). */
#define VSS_BUS_CONNECT_USEC (25ULL * 1000000ULL)

/*
 * vss_bus_connect: a client connection to vssd at path (blocking connect, then the
 * authentication handshake, waited for up to VSS_BUS_CONNECT_USEC).
 * Returns 0 or negative errno (-ENOENT/-ECONNREFUSED: not running; -EACCES: the socket's
 * permissions refused us; -EPERM: vssd refused us at the door, docs/security.md;
 * -ECONNRESET: vssd closed the connection, e.g. at a connection limit).
 */
int vss_bus_connect(const char *path, sd_bus **ret);

/* Cleanup helpers for sd-bus types in our _cleanup_ style. */
static inline void sd_bus_error_freep(sd_bus_error *e) { sd_bus_error_free(e); }
