/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client.h: one Client per connection to vssd's socket. The connection is the peer's identity
 * (there is no bus daemon): its credentials are read once at accept (SO_PEERCRED,
 * SO_PEERGROUPS), and everything the peer makes is owned by its Client: a requester's Backup
 * or a writer's registration. The Disconnected signal ends the Client, and client_free() is
 * the one path that releases all of it (docs/dbus-api.md "Disconnect").
 *
 * A connection is either a requester or a writer, decided by its first role-specific call.
 */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "vssd/list.h"
#include "vssd/manager.h"

typedef enum ClientRole {
        CLIENT_ROLE_NONE,
        CLIENT_ROLE_REQUESTER,
        CLIENT_ROLE_WRITER,
} ClientRole;

#define VSSD_MAX_PEER_GROUPS 65536U

struct Client {
        Manager *manager;
        sd_bus *bus;
        sd_event_source *auth_watch;    /* until authentication is done (client-dbus.c) */
        struct ucred ucred;
        gid_t *groups;                  /* supplementary groups (SO_PEERGROUPS) */
        size_t n_groups;
        ClientRole role;
        Backup *backup;                 /* CLIENT_ROLE_REQUESTER, created on the first call */
        Writer *writer;                 /* CLIENT_ROLE_WRITER while subscribed */
        LIST_FIELDS(Client, clients);
};

/*
 * client_new: a Client for the accepted socket fd (taken in all cases): credentials read,
 * sd-bus server connection started on m's event loop, the vtables and the Disconnected match
 * installed, and the Client listed on m. Returns 0 or negative errno (not logged).
 */
int client_new(Manager *m, int fd, Client **ret);

/*
 * client_free: release everything the peer owned (its Backup is released: Abort where due,
 * BackupShutdown, auto-release snapshots; its writer leaves the registry), unlist it and close
 * the connection. NULL ok; returns NULL.
 */
Client *client_free(Client *c);

/* client_in_group: true if gid is the peer's primary or a supplementary group. */
bool client_in_group(const Client *c, gid_t gid);

/* client_may_request: uid 0 or group "backup" (requester methods). */
bool client_may_request(const Client *c);

/* client_may_subscribe: uid 0, group "backup" or a uid given with --allow-writer-uid. */
bool client_may_subscribe(const Client *c);

/*
 * client_check_requester: everything a requester method checks first: access
 * (E_ACCESSDENIED), role (VSS_E_BAD_STATE on a writer connection), and the Backup, created
 * on first use (E_OUTOFMEMORY). Returns 0 with *ret_backup, or the sd-bus error return with
 * error set.
 */
int client_check_requester(Client *c, sd_bus_error *error, Backup **ret_backup);

/* The method tables served on every connection at VSS_BUS_PATH (backup-dbus.c, writer-dbus.c,
 * admin-dbus.c). */
extern const sd_bus_vtable backup_vtable[];
extern const sd_bus_vtable writer_vtable[];
extern const sd_bus_vtable admin_vtable[];
extern const sd_bus_vtable bus_compat_vtable[];   /* bus-compat-dbus.c */

typedef struct SnapshotRecord SnapshotRecord;
/* snapshot_record_append: append rec as one SNAPPROP (docs/dbus-api.md) to m. backup-dbus.c. */
int snapshot_record_append(sd_bus_message *m, const SnapshotRecord *rec);

/*
 * client_on_connection: the listening socket's sd-event handler (userdata: Manager). Accepts
 * one connection and makes its Client. A bad client never takes the listener down: every
 * failure is logged as a warning and the handler returns 0.
 */
int client_on_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata);
