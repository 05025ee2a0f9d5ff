/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager.h: the Manager, vssd's one top-level object. It owns the event loop, the listening
 * socket, every Client (one per connection), the writer registry, every live Backup (including
 * released ones still sending their last events), the one "snapshot set in creation" slot and
 * the snapshot catalog (SQLite-backed, recovered at start). Everything else hangs off it, so shutting the
 * daemon down is one manager_free().
 */
#pragma once

#include "macro.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "vssd/list.h"
#include "vssd/snapshot-catalog.h"

typedef struct Manager Manager;
typedef struct Client Client;
typedef struct Writer Writer;
typedef struct Backup Backup;
typedef struct UidUsage UidUsage;

#define VSSD_DEFAULT_STATE_DIR "/var/lib/vss"
#define VSSD_DEFAULT_EVENT_TIMEOUT_MS 60000U
/* Admission and resource limits (docs/security.md "Admission and resource limits"). */
#define VSSD_DEFAULT_MAX_CONNECTIONS 256U              /* every uid but root, together */
#define VSSD_DEFAULT_MAX_CONNECTIONS_PER_UID 32U       /* one uid but root */
#define VSSD_DEFAULT_MAX_ROOT_CONNECTIONS 320U         /* root's own, counted apart: every writer and more */
#define VSSD_DEFAULT_MAX_MESSAGE_SIZE (17U << 20)      /* a 16 MiB document and its envelope */
#define VSSD_DEFAULT_MAX_PENDING_PER_UID (48U << 20)   /* arriving bytes of one uid (root too) */
#define VSSD_DEFAULT_MAX_PENDING (128U << 20)          /* arriving bytes of every uid but root */
#define VSSD_DEFAULT_MAX_QUEUED 4U                     /* messages to one peer waiting in vssd */
#define VSSD_DEFAULT_READ_TIMEOUT_MS 10000U            /* to finish a started message */
#define VSSD_MAX_MESSAGE_SIZE_LIMIT (120U << 20)       /* below sd-bus's own 128 MiB */
#define VSSD_MAX_WRITERS 256U
#define VSSD_MAX_ALLOWED_UIDS 64U

typedef struct ManagerConfig {
        char *socket_path;             /* NULL: $VSS_SOCKET, else VSS_DEFAULT_SOCKET */
        char *state_dir;
        uint64_t event_timeout_usec;
        uid_t allow_writer_uids[VSSD_MAX_ALLOWED_UIDS];
        size_t n_allow_writer_uids;
        bool test_provider;            /* register VSS_PROVIDER_TEST_ONLY providers */
        unsigned max_connections;      /* non-root connections, all uids together */
        unsigned max_connections_per_uid;
        unsigned max_root_connections;
        uint64_t max_message_size;
        uint64_t max_pending_per_uid;
        uint64_t max_pending;          /* non-root uids together */
        unsigned max_queued;
        uint64_t read_timeout_usec;
        unsigned max_writers;
        char *expose_dir;              /* NULL: VSSD_DEFAULT_EXPOSE_DIR */
        char *guardian_path;           /* NULL: the providers' default (ProviderConfig) */
        unsigned max_snapshots_per_volume; /* 0: VSSD_DEFAULT_MAX_SNAPSHOTS_PER_VOLUME */
        uint32_t test_hold_delay_ms;   /* test only (needs test_provider): providers keep the hold
                                        * this much longer; 0 in production (ProviderConfig) */
        uint32_t hold_timeout_ms;      /* the flush-and-hold deadline; 0: 10 s (ProviderConfig) */
        unsigned lvm_cow_percent;      /* 1-100; 0: the LVM provider's default (ProviderConfig) */
        unsigned lvm_thin_pool_limit;  /* 1-100; 0: the LVM provider's default (ProviderConfig) */
} ManagerConfig;

struct Manager {
        ManagerConfig config;
        sd_event *event;

        int listen_fd;
        bool unlink_socket;            /* we bound it (not socket activation): remove on exit */
        char *socket_path;             /* resolved */
        sd_event_source *listen_source;

        gid_t backup_gid;              /* group "backup", when it exists */
        bool have_backup_gid;

        Client *clients;
        unsigned n_clients;
        unsigned n_root_clients;
        UidUsage *usage;               /* one per uid with a connection */
        uint64_t pending;              /* UidUsage.pending of every uid but root, summed */
        unsigned n_paused;             /* clients whose input waits for their replies to be read */
        sd_event_source *resume_source;
        int gate_fd;                   /* epoll set of every client's input (client-input.c) */
        sd_event_source *gate_source;  /* EPOLLIN on gate_fd */
        struct epoll_event *gate_batch; /* while on_gate() serves a batch: the connections in it */
        unsigned gate_batch_n;
        uint64_t refused_since;        /* the refusal log's rate limit */
        unsigned n_refused;
        Writer *writers;
        unsigned n_writers;
        Backup *backups;

        Backup *set_owner;             /* the backup whose snapshot set is in creation */
        SnapshotCatalog catalog;

        bool exiting;
        sd_event_source *exit_timer;
};

/* manager_config_defaults: a config with every limit at its default. */
void manager_config_defaults(ManagerConfig *c);

/* manager_config_check: the limits are consistent (a message fits every budget). Negative
 * errno (logged) when not. */
int manager_config_check(const ManagerConfig *c);

/* manager_config_done: frees the strings of a config. */
void manager_config_done(ManagerConfig *c);

/*
 * manager_new: a Manager with config (moved in: the strings become the Manager's, *config is
 * zeroed) on the default sd-event loop; state dir created, providers initialised, the
 * snapshot catalog opened and recovered (snapshot-catalog.h).
 * Returns 0 or negative errno (logged).
 */
int manager_new(ManagerConfig *config, Manager **ret);

/* manager_free: aborts and frees everything (see backup_free_now), closes the socket. NULL ok. */
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/*
 * manager_listen: take the socket from socket activation (sd_listen_fds) or bind the
 * configured path (parent made 0755, stale socket removed, mode 0666: access is decided per
 * call from SO_PEERCRED), and start accepting. Returns 0 or negative errno (logged).
 */
int manager_listen(Manager *m);

/*
 * manager_request_exit: start an orderly shutdown (SIGTERM/SIGINT): stop accepting, release
 * every requester as if its connection closed (Abort where due, BackupShutdown, auto-release
 * snapshots deleted), and leave the loop once no backup is left, or after a bound.
 */
void manager_request_exit(Manager *m);

/* manager_check_exit: called whenever a backup goes away; exits the loop when shutting down
 * and nothing is left. */
void manager_check_exit(Manager *m);

/* manager_event_timeout: the per-event timeout in µs. */
uint64_t manager_event_timeout(const Manager *m);
