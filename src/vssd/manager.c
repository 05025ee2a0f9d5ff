/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager.c: vssd's top-level object (manager.h): start-up (state directory, providers, the
 * snapshot catalog and its recovery, the "backup" group), the listening socket, and the
 * orderly shutdown that lets every backup send its last events before the loop ends.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "providers/provider-registry.h"
#include "vss-bus.h"
#include "vssd/backup.h"
#include "vssd/client.h"
#include "vssd/log.h"
#include "vssd/manager.h"
#include "vssd/writer-registry.h"

void manager_config_done(ManagerConfig *c) {
        if (!c)
                return;
        free(c->socket_path);
        free(c->state_dir);
        free(c->expose_dir);
        free(c->guardian_path);
        c->socket_path = c->state_dir = c->expose_dir = c->guardian_path = NULL;
}

void manager_config_defaults(ManagerConfig *c) {
        *c = (ManagerConfig) {
                .event_timeout_usec = VSSD_DEFAULT_EVENT_TIMEOUT_MS * USEC_PER_MSEC,
                .max_connections = VSSD_DEFAULT_MAX_CONNECTIONS,
                .max_connections_per_uid = VSSD_DEFAULT_MAX_CONNECTIONS_PER_UID,
                .max_root_connections = VSSD_DEFAULT_MAX_ROOT_CONNECTIONS,
                .max_message_size = VSSD_DEFAULT_MAX_MESSAGE_SIZE,
                .max_pending_per_uid = VSSD_DEFAULT_MAX_PENDING_PER_UID,
                .max_pending = VSSD_DEFAULT_MAX_PENDING,
                .max_queued = VSSD_DEFAULT_MAX_QUEUED,
                .read_timeout_usec = VSSD_DEFAULT_READ_TIMEOUT_MS * USEC_PER_MSEC,
                .max_writers = VSSD_MAX_WRITERS,
        };
}

int manager_config_check(const ManagerConfig *c) {
        /* A message that fits no budget could never be received: say so at start-up rather
         * than closing every connection that sends one. */
        if (c->max_message_size > c->max_pending_per_uid)
                return log_error_errno(-EINVAL, "--max-message-size (%" PRIu64 ") exceeds --max-pending-per-uid (%" PRIu64 ").",
                                       c->max_message_size, c->max_pending_per_uid);
        if (c->max_pending_per_uid > c->max_pending)
                return log_error_errno(-EINVAL, "--max-pending-per-uid (%" PRIu64 ") exceeds --max-pending (%" PRIu64 ").",
                                       c->max_pending_per_uid, c->max_pending);
        if (c->max_connections_per_uid > c->max_connections)
                return log_error_errno(-EINVAL, "--max-connections-per-uid (%u) exceeds --max-connections (%u).",
                                       c->max_connections_per_uid, c->max_connections);
        return 0;
}

uint64_t manager_event_timeout(const Manager *m) {
        return m->config.event_timeout_usec;
}

static int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;

        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int make_absolute(const char *path, char **ret) {
        _cleanup_free_ char *cwd = NULL;
        char *s;

        if (path[0] == '/') {
                s = strdup(path);
        } else {
                cwd = getcwd(NULL, 0);
                if (!cwd)
                        return -errno;
                if (asprintf(&s, "%s/%s", cwd, path) < 0)
                        s = NULL;
        }
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* Each connection takes four descriptors (client-input.c); make room for every connection the
 * limits admit, within the hard limit. */
static void raise_fd_limit(const ManagerConfig *c) {
        uint64_t want = 4ULL * ((uint64_t) c->max_connections + c->max_root_connections) + 256;
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
                return;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
                log_warning("Only %llu file descriptors for %" PRIu64 " needed by the connection limits; "
                            "connections past that fail at accept.",
                            (unsigned long long) rl.rlim_cur, want);
}

int manager_new(ManagerConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        ProviderConfig pc;
        struct group *g;
        vss_hr hr;
        int r;

        assert(config);
        assert(ret);

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        m->listen_fd = -EBADF;
        m->gate_fd = -EBADF;
        m->config = *config;
        *config = (ManagerConfig) {};

        r = manager_config_check(&m->config);
        if (r < 0)
                return r;
        raise_fd_limit(&m->config);

        if (!m->config.state_dir) {
                m->config.state_dir = strdup(VSSD_DEFAULT_STATE_DIR);
                if (!m->config.state_dir)
                        return log_oom();
        }
        if (m->config.state_dir[0] != '/') {
                char *abs = NULL;

                r = make_absolute(m->config.state_dir, &abs);
                if (r < 0)
                        return log_error_errno(r, "Failed to make state directory path absolute: %m");
                free(m->config.state_dir);
                m->config.state_dir = abs;
        }
        r = mkdir_p(m->config.state_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create state directory %s: %m", m->config.state_dir);

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");

        /* getgrnam() is read once: group membership is then checked against peer credentials. */
        errno = 0;
        g = getgrnam("backup");
        if (g) {
                m->backup_gid = g->gr_gid;
                m->have_backup_gid = true;
        } else
                log_info("No group \"backup\": only root may act as requester.");

        pc = (ProviderConfig) {
                .state_dir = m->config.state_dir,
                .guardian_path = m->config.guardian_path,
                .test_hold_delay_ms = m->config.test_provider ? m->config.test_hold_delay_ms : 0,
                .hold_timeout_ms = m->config.hold_timeout_ms,
                .lvm_cow_percent = m->config.lvm_cow_percent,
                .lvm_thin_pool_limit = m->config.lvm_thin_pool_limit,
        };
        hr = provider_registry_init(&pc, m->config.test_provider);
        if (VSS_FAILED(hr))
                log_warning("No snapshot provider is usable (%s); AddToSnapshotSet will fail.", vss_hr_name(hr));

        /* After the providers: recovery asks them to delete what a previous vssd left. */
        r = catalog_open(&m->catalog, m->config.state_dir, m->config.expose_dir, m->config.max_snapshots_per_volume);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        /* Requesters first: their backups may still reference writers. */
        LIST_FOREACH_SAFE(clients, c, next, m->clients)
                if (c->role != CLIENT_ROLE_WRITER)
                        client_free(c);
        LIST_FOREACH_SAFE(backups, b, next, m->backups)
                backup_free_now(b);
        LIST_FOREACH_SAFE(clients, c, next, m->clients)
                client_free(c);

        catalog_done(&m->catalog);
        provider_registry_done(); /* after the catalog: it may still call into providers */

        m->listen_source = sd_event_source_disable_unref(m->listen_source);
        m->exit_timer = sd_event_source_disable_unref(m->exit_timer);
        m->resume_source = sd_event_source_disable_unref(m->resume_source);
        m->gate_source = sd_event_source_disable_unref(m->gate_source);
        if (m->gate_fd >= 0)
                (void) close(m->gate_fd);
        if (m->listen_fd >= 0)
                (void) close(m->listen_fd);
        if (m->unlink_socket && m->socket_path)
                (void) unlink(m->socket_path);
        free(m->socket_path);
        sd_event_unref(m->event);
        manager_config_done(&m->config);
        free(m);
        return NULL;
}

static int bind_socket(Manager *m, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *dir = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char *slash;
        mode_t old;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(-ENAMETOOLONG, "Socket path %s is too long.", path);
        memcpy(sa.sun_path, path, strlen(path) + 1);

        dir = strdup(path);
        if (!dir)
                return log_oom();
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                r = mkdir_p(dir, 0755);
                if (r < 0)
                        return log_error_errno(r, "Failed to create %s: %m", dir);
        }

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to create socket: %m");

        /* A socket left by a previous vssd that died would make bind() fail. */
        (void) unlink(path);

        /* Everyone may connect: each call is checked against the peer's SO_PEERCRED. */
        old = umask(0111);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        (void) umask(old);
        if (r < 0)
                return log_error_errno(-errno, "Failed to bind %s: %m", path);
        if (chmod(path, 0666) < 0)
                return log_error_errno(-errno, "Failed to set the mode of %s: %m", path);

        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(-errno, "Failed to listen on %s: %m", path);

        m->unlink_socket = true;
        m->listen_fd = TAKE_FD(fd);
        return 0;
}

int manager_listen(Manager *m) {
        const char *path;
        int n, r;

        assert(m);

        path = vss_socket_path(m->config.socket_path);
        m->socket_path = strdup(path);
        if (!m->socket_path)
                return log_oom();

        n = sd_listen_fds(1);
        if (n < 0)
                return log_error_errno(n, "Failed to read the sockets passed by systemd: %m");
        if (n > 1)
                return log_error_errno(-EINVAL, "Expected one socket from systemd, got %d.", n);
        if (n == 1) {
                r = sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0);
                if (r <= 0)
                        return log_error_errno(r < 0 ? r : -EINVAL, "The socket passed by systemd is not a listening stream Unix socket.");
                m->listen_fd = SD_LISTEN_FDS_START;
                log_debug("Using the socket passed by systemd.");
        } else {
                r = bind_socket(m, path);
                if (r < 0)
                        return r;
        }

        r = sd_event_add_io(m->event, &m->listen_source, m->listen_fd, EPOLLIN, client_on_connection, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the listening socket: %m");

        log_info("Listening on %s.", n == 1 ? "the socket passed by systemd" : path);
        return 0;
}

static int on_exit_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        log_warning("Writers did not answer the last events in time; exiting anyway.");
        return sd_event_exit(m->event, 0);
}

void manager_check_exit(Manager *m) {
        if (m->exiting && !m->backups)
                (void) sd_event_exit(m->event, 0);
}

void manager_request_exit(Manager *m) {
        int r;

        if (m->exiting)
                return;
        m->exiting = true;
        log_info("Shutting down: releasing every backup.");
        (void) sd_notify(false, "STOPPING=1");

        m->listen_source = sd_event_source_disable_unref(m->listen_source);

        /* Bound the wait: an Abort and a BackupShutdown round, each with the event timeout. */
        r = sd_event_add_time_relative(m->event, &m->exit_timer, CLOCK_MONOTONIC,
                                       2 * m->config.event_timeout_usec + USEC_PER_SEC, 0, on_exit_timeout, m);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the shutdown timer, ignoring: %m");

        /* Closing a requester's connection releases its backup, exactly as its own disconnect
         * would; writers stay connected so the Abort and BackupShutdown events still reach them. */
        LIST_FOREACH_SAFE(clients, c, next, m->clients)
                if (c->role != CLIENT_ROLE_WRITER)
                        client_free(c);

        manager_check_exit(m);
}
