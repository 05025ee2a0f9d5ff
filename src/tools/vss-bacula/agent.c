/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * agent.c: the daemon that holds one Bacula job's VSS backup. The File Daemon runs the
 * snapshot backend as a short process per action, but a VSS backup is one requester
 * connection from the first step to BackupComplete (a closed connection is a release), so the
 * job's first call starts this agent and every later one talks to it (client.c).
 *
 * A restore job's agent (agent-restore.c) holds PreRestore to PostRestore the same way, ended
 * by restore-end or by the same watches, the writers then hearing a failed file restore.
 *
 * What ends a backup's agent, each with the outcome the writers hear:
 *   - job-end (the RunScript after the job, once the Storage Daemon has the data): its status;
 *   - the last delete when no job-begin announced a job-end: failed, as nothing says the data
 *     is safe; after a job-begin, the last delete arms the linger clock, and job-end not
 *     coming within it: failed;
 *   - the File Daemon going away (a pidfd on it): failed;
 *   - no call for opt.idle_s before the set was taken, or the whole job past opt.deadline_s,
 *     or SIGTERM/SIGINT: failed.
 * Then the release: BackupShutdown, the auto-release snapshots deleted by vssd.
 *
 * Its socket is bound by the process that started it (client.c), so the job's name is claimed
 * atomically and a caller can connect at once; connections are accepted only from root (the
 * socket's directory is 0700 anyway), at most AGENT_MAX_CONNECTIONS at a time.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "vss-bacula.h"
#include "vss-bus.h"

static int pidfd_open_(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

/* What the writers hear at the end: the backup's outcome, or the restore's file status. */
static void job_end_vss(Job *j, bool succeeded) {
        if (!j->restore)
                job_finish(j, succeeded);
        else
                job_restore_end(j, j->pre_restore_failed ? VSS_RS_NONE : succeeded ? VSS_RS_ALL : VSS_RS_FAILED);
}

void agent_end(Agent *a, bool succeeded, const char *why) {
        if (a->over)
                return;
        a->over = true;
        tool_note("job %s: ending (%s)", strempty(a->job.name), why);
        a->succeeded = succeeded;
        job_end_vss(&a->job, succeeded);
        (void) sd_event_exit(a->event, 0);
}

static int on_idle(sd_event_source *s, uint64_t usec, void *userdata) {
        agent_end(userdata, false, "no call from the File Daemon in time");
        return 0;
}

/*
 * The idle clock guards only an agent nobody may call again: it stops once the File Daemon has
 * created a volume (unmount/delete or job-end will come), once a restore began, and once a
 * failure that job-end must report is recorded.
 */
static bool idle_applies(const Job *j) {
        if (j->set_taken || j->restore_begun || (j->set_error && j->outcome_expected))
                return false;
        for (size_t i = 0; i < j->n_volumes; i++)
                if (j->volumes[i].created)
                        return false;
        return true;
}

void agent_touch(Agent *a) {
        if (!idle_applies(&a->job)) {
                if (a->idle_timer)
                        (void) sd_event_source_set_enabled(a->idle_timer, SD_EVENT_OFF);
                return;
        }
        if (a->idle_timer) {
                (void) sd_event_source_set_time_relative(a->idle_timer, opt.idle_s * USEC_PER_SEC);
                (void) sd_event_source_set_enabled(a->idle_timer, SD_EVENT_ONESHOT);
        }
}

static int on_linger(sd_event_source *s, uint64_t usec, void *userdata) {
        agent_end(userdata, false, "job-end did not come after the last delete");
        return 0;
}

int agent_arm_linger(Agent *a) {
        if (a->linger_timer)
                return 0;
        return sd_event_add_time_relative(a->event, &a->linger_timer, CLOCK_MONOTONIC, opt.linger_s * USEC_PER_SEC,
                                          0, on_linger, a);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        agent_end(userdata, false, "the job's deadline passed");
        return 0;
}

static int on_fd_gone(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        agent_end(userdata, false, "the File Daemon went away");
        return 0;
}

static int on_fd_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Agent *a = userdata;

        if (kill(a->fd_pid, 0) < 0 && errno == ESRCH) {
                agent_end(a, false, "the File Daemon went away");
                return 0;
        }
        (void) sd_event_source_set_time_relative(s, USEC_PER_SEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        agent_end(userdata, false, "stopped by a signal");
        return 0;
}

static int on_disconnect(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Agent *a = userdata;
        sd_bus *bus = sd_bus_message_get_bus(m);

        for (unsigned i = 0; i < a->n_connections; i++)
                if (a->connections[i] == bus) {
                        a->connections[i] = a->connections[--a->n_connections];
                        (void) sd_bus_detach_event(bus);
                        sd_bus_unref(bus);      /* the reference taken at accept */
                        break;
                }
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Agent *a = userdata;
        _cleanup_close_ int conn = -EBADF;
        sd_bus *bus = NULL;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        sd_id128_t id;
        int r;

        conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn < 0)
                return 0;
        if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid() ||
            a->n_connections >= AGENT_MAX_CONNECTIONS || a->over)
                return 0;       /* closed: only our own user, a few at a time */

        r = sd_id128_randomize(&id);
        if (r >= 0)
                r = sd_bus_new(&bus);
        if (r < 0)
                return 0;
        r = sd_bus_set_fd(bus, conn, conn);
        if (r >= 0) {
                TAKE_FD(conn);
                r = sd_bus_set_server(bus, 1, id);
        }
        if (r >= 0)
                r = agent_add_to_bus(a, bus);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Disconnected", on_disconnect, a);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r >= 0)
                r = sd_bus_attach_event(bus, a->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                tool_note("job %s: a connection could not be set up: %s", strempty(a->job.name), strerror(-r));
                sd_bus_flush_close_unref(bus);
                return 0;
        }
        a->connections[a->n_connections++] = bus;
        return 0;
}

int agent_main(const char *job, int listen_fd, int ready_fd, pid_t fd_pid) {
        Agent a = { .listen_fd = listen_fd, .fd_pid = fd_pid, .pidfd = -EBADF };
        sigset_t ss;
        int r;

        if (ready_fd >= 0)
                close(ready_fd);
        a.job.name = strdup(job);
        a.job.backup_type = VSS_BT_COPY;
        if (!a.job.name || agent_socket_path(job, &a.socket_path) < 0)
                return TOOL_EXIT_VSS;

        r = sd_event_new(&a.event);
        if (r < 0)
                goto out;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &ss, NULL);
        r = sd_event_add_signal(a.event, NULL, SIGTERM, on_signal, &a);
        if (r >= 0)
                r = sd_event_add_signal(a.event, NULL, SIGINT, on_signal, &a);
        if (r >= 0)
                r = sd_event_add_signal(a.event, NULL, SIGHUP, on_signal, &a);
        if (r < 0)
                goto out;

        /* The File Daemon: its death is the job's end. A pidfd cannot be fooled by pid reuse; a
         * kernel (or valgrind) without pidfd_open gets a once-a-second kill(pid, 0). */
        a.pidfd = pidfd_open_(fd_pid);
        if (a.pidfd >= 0)
                r = sd_event_add_io(a.event, NULL, a.pidfd, EPOLLIN, on_fd_gone, &a);
        else if (errno == ENOSYS)
                r = sd_event_add_time_relative(a.event, NULL, CLOCK_MONOTONIC, USEC_PER_SEC, 0, on_fd_poll, &a);
        else {
                r = -errno;
                tool_note("job %s: the File Daemon (pid %d) cannot be watched: %s", job, (int) fd_pid, strerror(errno));
                goto out;
        }
        if (r >= 0)
                r = sd_event_add_time_relative(a.event, NULL, CLOCK_MONOTONIC, opt.deadline_s * USEC_PER_SEC, 0,
                                               on_deadline, &a);
        if (r >= 0)
                r = sd_event_add_time_relative(a.event, &a.idle_timer, CLOCK_MONOTONIC, opt.idle_s * USEC_PER_SEC, 0,
                                               on_idle, &a);
        if (r >= 0)
                r = sd_event_add_io(a.event, NULL, listen_fd, EPOLLIN, on_accept, &a);
        if (r < 0)
                goto out;

        tool_note("job %s: agent serving %s for the File Daemon (pid %d)", job, a.socket_path, (int) fd_pid);
        r = sd_event_loop(a.event);
out:
        if (r < 0)
                tool_note("job %s: the agent failed: %s", job, strerror(-r));
        /* Whatever ended the loop, nothing may stay held. */
        if (!a.over)
                job_end_vss(&a.job, false);
        (void) unlink(a.socket_path);
        /* The log stays for a job that failed (RUN_DIR is a tmpfs, emptied at boot). */
        if (a.succeeded) {
                _cleanup_free_ char *log = NULL;

                if (asprintf(&log, "%.*s.log", (int) (strlen(a.socket_path) - strlen(".sock")), a.socket_path) >= 0)
                        (void) unlink(log);
        }
        close(listen_fd);
        if (a.pidfd >= 0)
                close(a.pidfd);
        job_done(&a.job);
        free(a.socket_path);
        /* The connections still open (the caller of the last method) go before the loop. */
        for (unsigned i = 0; i < a.n_connections; i++) {
                (void) sd_bus_detach_event(a.connections[i]);
                sd_bus_flush_close_unref(a.connections[i]);
        }
        sd_event_source_unref(a.idle_timer);
        sd_event_source_unref(a.linger_timer);
        sd_event_unref(a.event);
        return r < 0 ? TOOL_EXIT_VSS : TOOL_EXIT_OK;
}
