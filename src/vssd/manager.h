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

#define VSSD_DEFAULT_STATE_DIR "/var/lib/vss"
#define VSSD_DEFAULT_EVENT_TIMEOUT_MS 60000U
#define VSSD_DEFAULT_MAX_CONNECTIONS 256U
#define VSSD_MAX_WRITERS 256U
#define VSSD_MAX_ALLOWED_UIDS 64U

typedef struct ManagerConfig {
        char *socket_path;             /* NULL: $VSS_SOCKET, else VSS_DEFAULT_SOCKET */
        char *state_dir;
        uint64_t event_timeout_usec;
        uid_t allow_writer_uids[VSSD_MAX_ALLOWED_UIDS];
        size_t n_allow_writer_uids;
        bool test_provider;            /* register VSS_PROVIDER_TEST_ONLY providers */
        unsigned max_connections;
        unsigned max_writers;
        char *expose_dir;              /* NULL: VSSD_DEFAULT_EXPOSE_DIR */
        char *guardian_path;           /* NULL: the providers' default (ProviderConfig) */
        unsigned max_snapshots_per_volume; /* 0: VSSD_DEFAULT_MAX_SNAPSHOTS_PER_VOLUME */
        uint32_t test_hold_delay_ms;   /* test only (needs test_provider): providers keep the hold
                                        * this much longer; 0 in production (ProviderConfig) */
        uint32_t hold_timeout_ms;      /* the flush-and-hold deadline; 0: 10 s (ProviderConfig) */
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
        Writer *writers;
        unsigned n_writers;
        Backup *backups;

        Backup *set_owner;             /* the backup whose snapshot set is in creation */
        SnapshotCatalog catalog;

        bool exiting;
        sd_event_source *exit_timer;
};

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
