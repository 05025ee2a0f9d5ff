/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client.h: one Client per connection to vssd's socket. The connection is the peer's identity
 * (there is no bus daemon): its credentials are read once at accept (SO_PEERCRED,
 * SO_PEERGROUPS), and everything the peer makes is owned by its Client: a requester's Backup
 * or a writer's registration. The Disconnected signal ends the Client, and client_free() is
 * the one path that releases all of it (docs/dbus-api.md "Disconnect").
 *
 * A connection is either a requester or a writer, decided by its first role-specific call.
 *
 * Admission (docs/security.md "Admission and resource limits"): a peer that may neither
 * request nor subscribe is refused at accept, before anything is allocated for it; the others
 * are counted per uid (UidUsage), root in a budget of its own so that no other uid can lock it
 * out. sd-bus does not read the socket itself: the input gate (client-input.c) does, checks
 * the authentication lines and the size of every message before a byte of it reaches sd-bus,
 * and hands sd-bus whole, bounded messages through a pipe.
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

/* The authentication lines a client may send before BEGIN, in bytes (a real one sends ~60). */
#define CLIENT_AUTH_MAX 256U
#define CLIENT_AUTH_LINES_MAX 8U
/* The fixed part of a D-Bus message header: endianness, type, flags, version, body length,
 * serial, header-fields array length. */
#define CLIENT_HEADER_SIZE 16U
/* A client that sent messages this large gives the memory back to the system when it ends. */
#define CLIENT_TRIM_THRESHOLD (1U << 20)

/*
 * UidUsage: what the connections of one uid hold together: how many there are and the
 * declared size of the messages they are sending in this moment. Listed on the Manager while
 * the uid has a connection.
 */
typedef struct UidUsage {
        uid_t uid;
        unsigned n_connections;
        uint64_t pending;               /* bytes reserved by messages still arriving */
        LIST_FIELDS(struct UidUsage, usage);
} UidUsage;

typedef enum ClientInputPhase {
        CLIENT_INPUT_AUTH,              /* the SASL lines, up to BEGIN */
        CLIENT_INPUT_MESSAGES,
        CLIENT_INPUT_EOF,               /* the peer closed its side; sd-bus drains the pipe */
} ClientInputPhase;

struct Client {
        Manager *manager;
        sd_bus *bus;
        struct ucred ucred;
        UidUsage *usage;

        /* The input gate (client-input.c). sd-bus writes to the connection itself and reads
         * from pipe_fd's other end; input_fd is our own descriptor of the connection, for
         * reading (one fd cannot be watched twice in one epoll set). */
        int input_fd;
        int pipe_fd;
        bool input_watched;             /* input_fd is in the Manager's gate_fd (EPOLLIN) */
        sd_event_source *deadline;      /* a started handshake or message must end by then */
        ClientInputPhase phase;
        unsigned auth_state;
        unsigned auth_lines;
        char auth[CLIENT_AUTH_MAX];
        size_t auth_len;
        uint8_t header[CLIENT_HEADER_SIZE];
        size_t header_len;              /* bytes of header[] read */
        size_t header_unsent;           /* bytes of header[] still to write to the pipe */
        uint64_t message_left;          /* bytes of the current message still to forward */
        uint64_t reserved;              /* its declared size, held against the budgets */
        uint64_t largest_message;       /* for malloc_trim() at the end */
        uint32_t serial;                /* the serial of the last message put whole into the pipe */
        bool taken;                     /* sd-bus has dispatched that one (client_input_note_taken) */
        bool paused;                    /* too many replies unread: input stopped */
        bool dispatching;               /* client_bus_process() runs sd_bus_process() on it */
        bool free_requested;            /* client_free() came meanwhile: client_bus_process frees it */

        /* A writer's sd-bus, once driven by vssd instead of attached (client-bus.c): driven
         * exactly while bus_out is set (client_bus_driven). */
        int output_fd;                  /* the bus's socket (the bus owns it) */
        sd_event_source *bus_out;       /* the socket is writable, while sd-bus has output queued */
        sd_event_source *bus_timer;     /* sd-bus's nearest deadline (a call's timeout) */
        sd_event_source *bus_exit;      /* flush at vssd's exit */

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
 * the connection. NULL ok; returns NULL. Called while the input gate dispatches c's message
 * (client-input.c), it only marks c, and the gate frees it once sd-bus has returned.
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
 * client_input_start: the input gate's state for a new connection whose sd-bus reads from the
 * pipe whose write end is pipe_fd (taken), reading from input_fd (taken). 0 or negative errno.
 */
int client_input_start(Client *c, int input_fd, int pipe_fd);

/* client_usage_release: the connection stops counting against its uid. */
void client_usage_release(Client *c);

/* client_input_note_taken: sd-bus has dispatched m, read from c's pipe, to a reply callback
 * (its filter sees every other message). When m is the last message the gate put into the
 * pipe, the gate then knows the pipe empty without asking the kernel. A synthetic message (a
 * timeout, a closed connection) came from no pipe and is ignored. c may be NULL. */
void client_input_note_taken(Client *c, sd_bus_message *m);

/* client_input_stop: release the gate's sources, descriptors and reserved bytes. */
void client_input_stop(Client *c);

/*
 * client_bus_drive: detach a subscribed writer's sd-bus from the event loop and drive it from
 * the gate and two sources of its own (client-bus.c says why). 0, or negative errno with the
 * bus still attached (which works, only slower). Not while sd-bus dispatches on it.
 */
int client_bus_drive(Client *c);

/*
 * client_bus_process: let sd-bus read and dispatch what it has for c now; on a driven bus, also
 * what it then wants done at once, and the socket watch and deadline set for what it wants
 * next. A client_free() from a handler meanwhile only marks c; c is freed here, after sd-bus
 * has returned. Returns false when c is gone.
 */
bool client_bus_process(Client *c);

/* client_bus_changed: vssd queued a message on c's bus outside c's own dispatch: re-read what
 * sd-bus waits for (a reply's deadline, room in the socket). No-op on an attached bus. */
void client_bus_changed(Client *c);

/* client_bus_stop: release the driving sources (client_free). */
void client_bus_stop(Client *c);

/* client_bus_driven: c's bus is driven by vssd (client_bus_drive succeeded), not attached. */
static inline bool client_bus_driven(const Client *c) {
        return c->bus_out;
}

/* client_input_on_post: the Manager's post source, enabled while a client is paused: resumes
 * the input of each paused client whose peer has read its replies. */
int client_input_on_post(sd_event_source *s, void *userdata);

/*
 * client_on_connection: the listening socket's sd-event handler (userdata: Manager). Accepts
 * one connection and makes its Client. A bad client never takes the listener down: every
 * failure is logged as a warning and the handler returns 0.
 */
int client_on_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata);
