/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vssd-killed-mid-hold.c: the flush-and-hold window ends whatever happens to vssd or to
 * its guardian (suite root). Issue 3: "the guardian thaws after its deadline and after vssd is
 * killed with SIGKILL mid-hold (the filesystem accepts writes again within 1 s)". Issue 8: "any
 * end of a hold - guardian death, guardian hang, vssd's own deadline - thaws every volume of
 * the set within a second, by whoever is still alive".
 *
 * Layout, under one /var/tmp/vss-killhold-XXXXXX directory:
 *   host/        XFS (reflink) on a loop device, holding vol.img and vol2.img
 *   vol/         vol.img, ext4, loop-mounted: the volume of the set (image provider)
 *   vol2/        vol2.img, XFS, loop-mounted: the second volume of two-volume sets
 *   state/       vssd's state directory; vssd.sock its socket
 *
 * Three processes besides the real vssd (which starts vss-guardian itself):
 *   prober     writes a counter to vol/probe with pwrite + fsync every few milliseconds and
 *              reports the CLOCK_MONOTONIC time each write completed on a pipe. On a frozen
 *              filesystem the pwrite blocks, so its reports stop, and the first report after
 *              the thaw tells when the volume took writes again.
 *   requester  libvss, writer-less context: Initialize, SetContext, SetBackupState,
 *              StartSnapshotSet, AddToSnapshotSet(vol, image provider), DoSnapshotSet; it
 *              reports the snapshot id after AddToSnapshotSet and DoSnapshotSet's result.
 *   this test  watches: the clone file <host>/.vss-snapshots/<snapshot id>.img appears when
 *              the image provider's commit starts (it is created just before the freeze), then
 *              the prober stalls: the hold is on. vssd runs with --test-hold-delay-ms, so the
 *              hold lasts long enough to act inside it.
 *
 * Cases:
 *   killed     vssd is SIGKILLed inside a 5 s hold: the prober's blocked write completes
 *              within 1 s, the orphaned guardian exits (we are its subreaper), the requester
 *              gets a failure, a restarted vssd deletes the half-made clone, and the ext4
 *              unmounts and passes e2fsck.
 *   deadline   vssd holds 3 s past a --hold-timeout-ms of 1 s: the guardian thaws by itself
 *              while vssd is still inside the hold, and DoSnapshotSet fails with
 *              VSS_E_HOLD_WRITES_TIMEOUT, leaving no clone behind.
 *   options    vssd refuses --test-hold-delay-ms without --test-provider, and hold deadlines
 *              outside 1..60000 ms.
 *   guardian_{killed,stopped}_{start,middle,end}_{one,two}
 *              vss-guardian gets SIGKILL or SIGSTOP inside a hold of one volume (ext4) or two
 *              (ext4 + XFS), with vssd's --test-hold-delay-ms of HOLD_DELAY_MS:
 *                start   as soon as the guardian has opened the volumes for its FIFREEZE
 *                        (read from /proc/<pid>/fd): vssd is waiting for Freeze's answer;
 *                middle  half-way through the hold, the volumes seen frozen (and vssd
 *                        holding nothing open on them but the mount points);
 *                end     END_LEAD_MS before vssd's delay is over and it asks for the thaw.
 *              A write to every volume, started right after the signal, completes within
 *              1 s (the correctness bound; the figures are printed); DoSnapshotSet
 *              fails and leaves no clone; a stopped guardian is killed (it must never thaw
 *              a later hold); and the next DoSnapshotSet, with a new guardian, succeeds.
 *   guardian_hung
 *              the guardian's cgroup (v1 freezer, or v2) is frozen mid-hold: it is neither dead
 *              nor stopped, only vssd's own deadline (--hold-timeout-ms + 250 ms) can end
 *              the hold, and does, within 1 s of it. Skipped without a freezer cgroup.
 *
 * Needs root and mkfs.xfs/mkfs.ext4 (exits 77 otherwise). Environment (meson): VSSD,
 * VSS_GUARDIAN_PATH.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "async-wait.h"
#include "loop-fs.h"
#include "macro.h"
#include "root-harness.h"
#include "vss/vss.h"

#define IMAGE_PROVIDER_ID "933ab730-6d9a-41c7-8d8b-2445850a23ef" /* provider-image.c */
#define PROBE_INTERVAL_MS 5u
#define STALL_MS 300u          /* no probe write completing this long, inside commit: frozen */
#define THAW_LIMIT_USEC (1 * USEC_PER_SEC)
#define WAIT_MS 15000u         /* generous bound on anything that should happen much sooner */
#define HOLD_DELAY_MS 1500u    /* how long vssd keeps the hold in the guardian cases */
#define END_LEAD_MS 50u        /* "end": this long before vssd's delay is over */
#define MAX_VOLUMES 2

/* What the requester child reports, in this order. */
enum {
        STEP_SETUP_FAILED = 1, /* hr: the failing call's code */
        STEP_ADDED,            /* hr: S_OK, id: the snapshot id */
        STEP_DONE,             /* hr: DoSnapshotSet's result */
};

typedef struct Report {
        uint32_t step;
        vss_hr hr;
        vss_id id;
} Report;

typedef struct Fixture {
        char dir[64];
        char host_mnt[PATH_MAX], vol_mnt[PATH_MAX], vol2_mnt[PATH_MAX];
        char socket[PATH_MAX], state_dir[PATH_MAX], cgroup[PATH_MAX];
        LoopFs host, vol, vol2;
        size_t n_volumes;      /* in the requester's set: vol, then vol2 */
        pid_t vssd, prober, requester;
        pid_t guardian;        /* a guardian a case signalled: killed at teardown whatever happened */
        int prober_fd, requester_fd;
} Fixture;

static Fixture fx = { .prober_fd = -EBADF, .requester_fd = -EBADF, .n_volumes = 1 };

static void path_join(char *buf, const char *a, const char *b) {
        snprintf(buf, PATH_MAX, "%s/%s", a, b);
}

static bool file_exists(const char *path) {
        struct stat st;

        return lstat(path, &st) == 0;
}

/* Reaps pid, waiting up to timeout_ms. 0 and *ret_status, or -ETIMEDOUT / -errno. */
static int child_wait(pid_t pid, unsigned timeout_ms, int *ret_status) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;
        int status;

        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);

                if (w == pid) {
                        if (ret_status)
                                *ret_status = status;
                        return 0;
                }
                if (w < 0 && errno != EINTR)
                        return -errno;
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                sleep_msec(5);
        }
}

/* SIGKILL and reap; for teardown, where the process may be anywhere. */
static void child_kill(pid_t *pid) {
        if (*pid <= 0)
                return;
        (void) kill(*pid, SIGKILL);
        (void) child_wait(*pid, WAIT_MS, NULL);
        *pid = 0;
}

/* Reads exactly size bytes from fd within timeout_ms. -ETIMEDOUT, -EPIPE at EOF. */
static int read_full_timeout(int fd, void *buf, size_t size, unsigned timeout_ms) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;
        size_t n = 0;

        while (n < size) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = now_usec();
                ssize_t k;
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) ((deadline - now + 999) / 1000));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                k = read(fd, (char *) buf + n, size - n);
                if (k < 0 && errno != EINTR && errno != EAGAIN)
                        return -errno;
                if (k == 0)
                        return -EPIPE;
                if (k > 0)
                        n += (size_t) k;
        }
        return 0;
}

/* True when fd has something to read (or EOF) right now. */
static bool fd_readable(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, 0) > 0;
}

/* -- vssd ------------------------------------------------------------------------------------ */

static int vssd_start(const char *hold_delay_ms, const char *hold_timeout_ms) {
        char *argv[16];
        size_t n = 0;
        int r;

        argv[n++] = getenv("VSSD");
        argv[n++] = (char *) "--socket";
        argv[n++] = fx.socket;
        argv[n++] = (char *) "--state-dir";
        argv[n++] = fx.state_dir;
        argv[n++] = (char *) "--guardian";
        argv[n++] = getenv("VSS_GUARDIAN_PATH");
        argv[n++] = (char *) "--test-provider";
        if (hold_delay_ms) {
                argv[n++] = (char *) "--test-hold-delay-ms";
                argv[n++] = (char *) hold_delay_ms;
        }
        if (hold_timeout_ms) {
                argv[n++] = (char *) "--hold-timeout-ms";
                argv[n++] = (char *) hold_timeout_ms;
        }
        argv[n] = NULL;

        r = process_spawn(argv, &fx.vssd, NULL);
        if (r < 0)
                return r;
        r = unix_socket_wait(fx.socket, fx.vssd, WAIT_MS);
        if (r == -ESRCH)
                fx.vssd = 0; /* it exited and was reaped */
        return r;
}

/* The vss-guardian vssd started (its child of that name), or 0. */
static pid_t guardian_find(pid_t parent) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        pid_t found = 0;

        if (!d)
                return 0;
        while (found == 0 && (de = readdir(d))) {
                char path[PATH_MAX], *buf = NULL, *close_paren;
                long pid, ppid;
                char state;

                pid = strtol(de->d_name, NULL, 10);
                if (pid <= 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
                if (read_file_full(path, &buf, NULL) < 0)
                        continue;
                /* "pid (comm) state ppid ...": comm may hold anything, so parse from the last ')'. */
                close_paren = strrchr(buf, ')');
                if (close_paren && sscanf(close_paren + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent &&
                    strstr(buf, "(vss-guardian)"))
                        found = (pid_t) pid;
                free(buf);
        }
        (void) closedir(d);
        return found;
}

/* -- the prober ------------------------------------------------------------------------------ */

_Noreturn static void prober_run(int out) {
        char path[PATH_MAX];
        int fd;

        path_join(path, fx.vol_mnt, "probe");
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                _exit(EXIT_FAILURE);
        for (uint64_t i = 0;; i++) {
                uint64_t t;

                if (pwrite(fd, &i, sizeof(i), 0) != (ssize_t) sizeof(i) || fsync(fd) < 0)
                        _exit(EXIT_FAILURE);
                t = now_usec();
                if (write(out, &t, sizeof(t)) != (ssize_t) sizeof(t))
                        _exit(EXIT_SUCCESS); /* the test is gone */
                sleep_msec(PROBE_INTERVAL_MS);
        }
}

static void prober_start(void) {
        pid_t parent = getpid();
        uint64_t t;
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        fx.prober = fork();
        assert_true(fx.prober >= 0);
        if (fx.prober == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(EXIT_FAILURE);
                (void) close(p[0]);
                prober_run(p[1]);
        }
        (void) close(p[1]);
        fx.prober_fd = p[0];

        /* The volume takes writes before anything starts. */
        assert_int_equal(read_full_timeout(fx.prober_fd, &t, sizeof(t), WAIT_MS), 0);
}

/*
 * Waits until no probe write completes for STALL_MS; then the prober is blocked. -ECANCELED
 * when DoSnapshotSet ends first (there was no hold long enough to see).
 */
static int prober_wait_stall(unsigned timeout_ms) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;

        for (;;) {
                uint64_t t;
                int r;

                r = read_full_timeout(fx.prober_fd, &t, sizeof(t), STALL_MS);
                if (r == -ETIMEDOUT)
                        return 0;
                if (r < 0)
                        return r;
                if (fd_readable(fx.requester_fd))
                        return -ECANCELED;
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
        }
}

/* The completion time of the first probe write to complete after since (µs, monotonic). */
static int prober_wait_write_after(uint64_t since, unsigned timeout_ms, uint64_t *ret) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;

        for (;;) {
                uint64_t now = now_usec(), t;
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = read_full_timeout(fx.prober_fd, &t, sizeof(t), (unsigned) ((deadline - now) / USEC_PER_MSEC) + 1);
                if (r < 0)
                        return r;
                if (t > since) {
                        *ret = t;
                        return 0;
                }
        }
}

/* -- the requester --------------------------------------------------------------------------- */

static void report_send(int fd, uint32_t step, vss_hr hr, const vss_id *id) {
        Report rep = { .step = step, .hr = hr };

        if (id)
                rep.id = *id;
        if (write(fd, &rep, sizeof(rep)) != (ssize_t) sizeof(rep))
                _exit(EXIT_FAILURE);
}

_Noreturn static void requester_run(int out) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_requester *r = NULL;
        vss_id provider, set, snap;
        vss_async *a = NULL;
        vss_hr hr;

        opts.socket_path = fx.socket;
        hr = vss_id_parse(IMAGE_PROVIDER_ID, &provider);
        if (hr == S_OK)
                hr = vss_requester_new(&r, &opts);
        if (hr == S_OK)
                hr = vss_requester_initialize_for_backup(r, NULL);
        if (hr == S_OK)
                hr = vss_requester_set_context(r, VSS_CTX_FILE_SHARE_BACKUP);
        if (hr == S_OK)
                hr = vss_requester_set_backup_state(r, false, false, VSS_BT_FULL, false);
        if (hr == S_OK)
                hr = vss_requester_start_snapshot_set(r, &set);
        if (hr == S_OK)
                hr = vss_requester_add_to_snapshot_set(r, fx.vol_mnt, &provider, &snap);
        if (hr == S_OK && fx.n_volumes > 1) {
                vss_id second;

                hr = vss_requester_add_to_snapshot_set(r, fx.vol2_mnt, &provider, &second);
        }
        if (hr != S_OK) {
                fprintf(stderr, "requester: set-up failed: %s %s\n", vss_hr_name(hr),
                        r ? vss_requester_get_error_message(r) : "");
                report_send(out, STEP_SETUP_FAILED, hr, NULL);
                _exit(EXIT_FAILURE);
        }
        report_send(out, STEP_ADDED, S_OK, &snap);

        hr = vss_requester_do_snapshot_set(r, &a);
        hr = async_wait_release(hr, a);
        fprintf(stderr, "requester: DoSnapshotSet: %s %s\n", vss_hr_name(hr), vss_requester_get_error_message(r));
        report_send(out, STEP_DONE, hr, NULL);
        vss_requester_release(r);
        _exit(EXIT_SUCCESS);
}

/* Starts the requester and waits for its AddToSnapshotSet; the clone file commit will make. */
static void requester_start(char *ret_clone) {
        pid_t parent = getpid();
        char id[VSS_ID_STRING_MAX];
        Report rep;
        int p[2];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        fx.requester = fork();
        assert_true(fx.requester >= 0);
        if (fx.requester == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(EXIT_FAILURE);
                (void) close(p[0]);
                requester_run(p[1]);
        }
        (void) close(p[1]);
        fx.requester_fd = p[0];

        assert_int_equal(read_full_timeout(fx.requester_fd, &rep, sizeof(rep), WAIT_MS), 0);
        if (rep.step != STEP_ADDED)
                fail_msg("the requester could not set up its snapshot set: %s", vss_hr_name(rep.hr));

        /* The image provider's clone, next to the image: proves which provider was chosen. */
        snprintf(ret_clone, PATH_MAX, "%s/.vss-snapshots/%s.img", fx.host_mnt, vss_id_format(&rep.id, id));
}

/* DoSnapshotSet's result as the requester saw it. */
static vss_hr requester_result(void) {
        Report rep;
        int status;

        assert_int_equal(read_full_timeout(fx.requester_fd, &rep, sizeof(rep), WAIT_MS), 0);
        assert_int_equal(rep.step, STEP_DONE);
        assert_int_equal(child_wait(fx.requester, WAIT_MS, &status), 0);
        fx.requester = 0;
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return rep.hr;
}

/* -- the hold -------------------------------------------------------------------------------- */

/*
 * Waits until the hold is on: commit created the clone file (just before it asks the guardian
 * to freeze), then probe writes stop. Confirms with a FIFREEZE of our own, which fails with
 * EBUSY on a frozen filesystem; by then the guardian's freeze is long under way, so ours cannot
 * get in its way. Returns the time the clone file was seen.
 */
static uint64_t hold_wait(const char *clone) {
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC, seen;
        int r;

        while (!file_exists(clone)) {
                if (now_usec() >= deadline)
                        fail_msg("the image provider never started its commit (no %s)", clone);
                if (fd_readable(fx.requester_fd))
                        fail_msg("DoSnapshotSet ended before the hold started");
                sleep_msec(2);
        }
        seen = now_usec();

        r = prober_wait_stall(WAIT_MS);
        if (r == -ECANCELED)
                fail_msg("DoSnapshotSet ended before the volume was seen frozen: no hold delay?");
        assert_int_equal(r, 0);
        assert_int_equal(fs_is_frozen(fx.vol_mnt), 1);
        /* DoSnapshotSet is still in flight: vssd is inside the hold. */
        assert_false(fd_readable(fx.requester_fd));
        return seen;
}

static void assert_writable(void) {
        char path[PATH_MAX];

        assert_int_equal(fs_is_frozen(fx.vol_mnt), 0);
        path_join(path, fx.vol_mnt, "after");
        assert_int_equal(write_file_sync(path, "written after the hold\n"), 0);
}

/* -- cases ----------------------------------------------------------------------------------- */

static void test_vssd_killed_mid_hold(void **state) {
        char clone[PATH_MAX];
        uint64_t killed, thawed = 0;
        pid_t guardian;
        int status;
        vss_hr hr;

        assert_int_equal(vssd_start("5000", NULL), 0);
        prober_start();
        requester_start(clone);
        (void) hold_wait(clone);

        guardian = guardian_find(fx.vssd);
        assert_true(guardian > 0);

        /* vssd dies inside the hold, with no chance to thaw. */
        assert_int_equal(kill(fx.vssd, SIGKILL), 0);
        killed = now_usec();
        assert_int_equal(child_wait(fx.vssd, WAIT_MS, &status), 0);
        fx.vssd = 0;
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* The blocked write goes through: the guardian thawed on its own. */
        assert_int_equal(prober_wait_write_after(killed, WAIT_MS, &thawed), 0);
        fprintf(stderr, "vssd SIGKILLed mid-hold: the volume took a write %.3f ms later\n",
                (double) (thawed - killed) / USEC_PER_MSEC);
        assert_true(thawed - killed < THAW_LIMIT_USEC);

        /* The orphaned guardian (reparented to us, the subreaper) exits. */
        assert_int_equal(child_wait(guardian, WAIT_MS, &status), 0);
        assert_true(WIFEXITED(status));
        assert_writable();

        /* The requester lost its vssd mid-operation: a failure, not S_OK. */
        hr = requester_result();
        fprintf(stderr, "requester's DoSnapshotSet after the kill: %s\n", vss_hr_name(hr));
        assert_true(VSS_FAILED(hr));

        /* A new vssd on the same state deletes the clone the dead one had started. */
        assert_int_equal(vssd_start(NULL, NULL), 0);
        assert_false(file_exists(clone));
        assert_int_equal(process_stop(fx.vssd, WAIT_MS), 0);
        fx.vssd = 0;

        /* And the volume is sound: it unmounts, and e2fsck finds nothing to fix. */
        child_kill(&fx.prober);
        assert_int_equal(umount2(fx.vol_mnt, 0), 0);
        fx.vol.mounted = false;
        assert_int_equal(run_command((char *[]) { (char *) "e2fsck", (char *) "-f", (char *) "-n", fx.vol.image,
                                                  NULL },
                                     true),
                         0);
}

static void test_hold_deadline(void **state) {
        char clone[PATH_MAX];
        uint64_t started, thawed = 0;
        vss_hr hr;

        /* The guardian's deadline is 1 s; vssd stays in the hold 3 s longer than that. */
        assert_int_equal(vssd_start("3000", "1000"), 0);
        prober_start();
        requester_start(clone);
        started = hold_wait(clone);

        assert_int_equal(prober_wait_write_after(started, WAIT_MS, &thawed), 0);
        fprintf(stderr, "hold deadline 1000 ms: the volume took a write %.3f ms after commit began\n",
                (double) (thawed - started) / USEC_PER_MSEC);
        /* Not early (the deadline counts from the freeze, after the clone file was made)... */
        assert_true(thawed - started >= 1000 * USEC_PER_MSEC);
        /* ...and by the guardian alone: vssd is still in its hold, DoSnapshotSet not over. */
        assert_false(fd_readable(fx.requester_fd));
        assert_int_equal(fs_is_frozen(fx.vol_mnt), 0);

        hr = requester_result();
        assert_int_equal(hr, VSS_E_HOLD_WRITES_TIMEOUT);
        assert_false(file_exists(clone)); /* the failed set left nothing */
        assert_writable();

        /* vssd itself is fine and shuts down cleanly. */
        assert_int_equal(process_stop(fx.vssd, WAIT_MS), 0);
        fx.vssd = 0;
}

static void test_options_refused(void **state) {
        /* The delay stretches a real freeze: a vssd without --test-provider refuses it, as it
         * refuses a hold deadline of 0 or beyond the guardian's maximum. */
        static const char *const bad[][4] = {
                { "--test-hold-delay-ms", "100", NULL },
                { "--hold-timeout-ms", "0", NULL },
                { "--hold-timeout-ms", "60001", NULL },
                { "--test-provider", "--test-hold-delay-ms", "60001", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *argv[16];
                size_t n = 0;
                int status;
                pid_t pid;

                argv[n++] = getenv("VSSD");
                argv[n++] = (char *) "--socket";
                argv[n++] = fx.socket;
                argv[n++] = (char *) "--state-dir";
                argv[n++] = fx.state_dir;
                for (size_t k = 0; bad[i][k]; k++)
                        argv[n++] = (char *) bad[i][k];
                argv[n] = NULL;

                assert_int_equal(process_spawn_flags(argv, SPAWN_NULL_STDOUT, &pid), 0);
                if (child_wait(pid, WAIT_MS, &status) < 0) {
                        (void) kill(pid, SIGKILL);
                        (void) child_wait(pid, WAIT_MS, NULL);
                        fail_msg("vssd accepted %s %s", bad[i][0], strempty(bad[i][1]));
                }
                assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
                assert_false(file_exists(fx.socket));
        }
}

/* -- the guardian lost mid-hold ---------------------------------------------------------------- */

typedef enum Point { POINT_START, POINT_MIDDLE, POINT_END } Point;

static const char *volume_mnt(size_t i) {
        return i == 0 ? fx.vol_mnt : fx.vol2_mnt;
}

/* Does pid hold a descriptor of path (readlink of /proc/<pid>/fd/N)? */
static bool process_has_open(pid_t pid, const char *path) {
        char dir[64];
        struct dirent *de;
        bool found = false;
        DIR *d;

        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) pid);
        d = opendir(dir);
        if (!d)
                return false;
        while (!found && (de = readdir(d))) {
                char link[PATH_MAX + 1];
                ssize_t k = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);

                if (k > 0) {
                        link[k] = 0;
                        found = streq(link, path);
                }
        }
        (void) closedir(d);
        return found;
}

/*
 * Does pid hold a descriptor of anything inside path (below it, not path itself)? vssd's own
 * descriptors of the mount points are its way to thaw; a file below one would be vssd doing
 * file I/O on a frozen filesystem.
 */
static bool process_has_open_below(pid_t pid, const char *path) {
        char dir[64];
        struct dirent *de;
        size_t len = strlen(path);
        bool found = false;
        DIR *d;

        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) pid);
        d = opendir(dir);
        if (!d)
                return false;
        while (!found && (de = readdir(d))) {
                char link[PATH_MAX + 1];
                ssize_t k = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);

                if (k > 0) {
                        link[k] = 0;
                        found = strncmp(link, path, len) == 0 && link[len] == '/';
                        if (found)
                                fprintf(stderr, "pid %d holds %s open\n", (int) pid, link);
                }
        }
        (void) closedir(d);
        return found;
}

/* The process's state letter from /proc/<pid>/stat; 0 when it is gone. */
static char process_state(pid_t pid) {
        char path[64], *buf = NULL, *paren, state = 0;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (read_file_full(path, &buf, NULL) < 0)
                return 0;
        paren = strrchr(buf, ')');
        if (paren && paren[1] == ' ')
                state = paren[2];
        free(buf);
        return state;
}

/* Waits until pid is gone (no /proc entry, or a zombie nobody reaped yet). */
static int process_wait_gone(pid_t pid, unsigned timeout_ms) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;

        for (;;) {
                char st = process_state(pid);

                if (st == 0 || st == 'Z' || st == 'X')
                        return 0;
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                sleep_msec(5);
        }
}

/* Sleeps until the monotonic time t (µs). */
static void sleep_until(uint64_t t) {
        uint64_t now = now_usec();

        if (t > now)
                sleep_msec((unsigned) ((t - now + 999) / 1000));
}

/*
 * Writes and fsyncs a file on every volume of the set, one child per volume so that a frozen
 * one blocks only its own, and returns in ret_usec[i] how long after since each write
 * completed. A write still blocked after WAIT_MS fails the test (teardown thaws).
 */
static void volumes_write(uint64_t since, uint64_t ret_usec[MAX_VOLUMES]) {
        pid_t pids[MAX_VOLUMES];
        int fds[MAX_VOLUMES];

        for (size_t i = 0; i < fx.n_volumes; i++) {
                int p[2];

                assert_int_equal(pipe2(p, O_CLOEXEC), 0);
                pids[i] = fork();
                assert_true(pids[i] >= 0);
                if (pids[i] == 0) {
                        char path[PATH_MAX];
                        uint64_t t;

                        (void) close(p[0]);
                        path_join(path, volume_mnt(i), "after-signal");
                        if (write_file_sync(path, "written after the guardian was lost\n") < 0)
                                _exit(EXIT_FAILURE);
                        t = now_usec();
                        _exit(write(p[1], &t, sizeof(t)) == (ssize_t) sizeof(t) ? EXIT_SUCCESS : EXIT_FAILURE);
                }
                (void) close(p[1]);
                fds[i] = p[0];
        }

        for (size_t i = 0; i < fx.n_volumes; i++) {
                uint64_t t = 0;
                int r = read_full_timeout(fds[i], &t, sizeof(t), WAIT_MS);

                (void) close(fds[i]);
                if (r < 0) {
                        (void) fs_thaw(volume_mnt(i)); /* so the child can be reaped */
                        child_kill(&pids[i]);
                        fail_msg("no write to %s completed within %u ms of the signal", volume_mnt(i), WAIT_MS);
                }
                assert_int_equal(child_wait(pids[i], WAIT_MS, NULL), 0);
                ret_usec[i] = t > since ? t - since : 0;
        }
}

/* Waits until the guardian has opened every volume of the set for its FIFREEZE. */
static void wait_guardian_opened(pid_t guardian) {
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;

        for (;;) {
                size_t n = 0;

                for (size_t i = 0; i < fx.n_volumes; i++)
                        n += process_has_open(guardian, volume_mnt(i));
                if (n == fx.n_volumes)
                        return;
                if (now_usec() >= deadline)
                        fail_msg("the guardian never opened the volumes for the commit's hold");
                if (fd_readable(fx.requester_fd))
                        fail_msg("DoSnapshotSet ended before the hold started");
                sleep_msec(1);
        }
}

/* Waits for the commit's clone file: commit makes it just before it asks for the freeze. */
static uint64_t wait_clone(const char *clone) {
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;

        while (!file_exists(clone)) {
                if (now_usec() >= deadline)
                        fail_msg("the image provider never started its commit (no %s)", clone);
                if (fd_readable(fx.requester_fd))
                        fail_msg("DoSnapshotSet ended before the hold started");
                sleep_msec(1);
        }
        return now_usec();
}

static void guardian_lost(int sig, Point point, size_t n_volumes) {
        static const char *const point_name[] = { "start", "middle", "end" };
        char clone[PATH_MAX], delay[16];
        uint64_t clone_seen, signalled, took[MAX_VOLUMES] = {}, worst = 0;
        pid_t guardian;
        vss_hr hr;

        fx.n_volumes = n_volumes;
        snprintf(delay, sizeof(delay), "%u", HOLD_DELAY_MS);
        assert_int_equal(vssd_start(delay, NULL), 0);
        prober_start();
        requester_start(clone);

        clone_seen = wait_clone(clone);
        guardian = guardian_find(fx.vssd);
        assert_true(guardian > 0);
        fx.guardian = guardian;

        switch (point) {
        case POINT_START:
                wait_guardian_opened(guardian);
                break;
        case POINT_MIDDLE:
                (void) hold_wait(clone);
                /* Inside the hold vssd has nothing open on the frozen volumes but the mount
                 * points themselves (its watch's, to thaw with). */
                for (size_t i = 0; i < n_volumes; i++) {
                        assert_true(process_has_open(fx.vssd, volume_mnt(i)));
                        assert_false(process_has_open_below(fx.vssd, volume_mnt(i)));
                }
                sleep_until(clone_seen + HOLD_DELAY_MS * USEC_PER_MSEC / 2);
                break;
        case POINT_END:
                (void) hold_wait(clone);
                sleep_until(clone_seen + (HOLD_DELAY_MS - END_LEAD_MS) * USEC_PER_MSEC);
                break;
        }
        /* Still inside the hold: DoSnapshotSet has not answered. */
        assert_false(fd_readable(fx.requester_fd));

        assert_int_equal(kill(guardian, sig), 0);
        signalled = now_usec();
        volumes_write(signalled, took);
        for (size_t i = 0; i < n_volumes; i++) {
                fprintf(stderr, "guardian %s at the %s of a hold of %zu volume(s): %s took a write %.3f ms later\n",
                        sig == SIGKILL ? "SIGKILLed" : "SIGSTOPped", point_name[point], n_volumes, volume_mnt(i),
                        (double) took[i] / USEC_PER_MSEC);
                worst = MAX(worst, took[i]);
        }
        /* The correctness bound: writes accepted again within a second. */
        assert_true(worst < THAW_LIMIT_USEC);

        /* The set failed, and left nothing behind. */
        hr = requester_result();
        fprintf(stderr, "DoSnapshotSet: %s\n", vss_hr_name(hr));
        assert_true(VSS_FAILED(hr));
        assert_false(file_exists(clone));
        for (size_t i = 0; i < n_volumes; i++)
                assert_int_equal(fs_is_frozen(volume_mnt(i)), 0);

        /* The guardian is gone; a stopped one was killed, not left to thaw a later hold. */
        assert_int_equal(process_wait_gone(guardian, WAIT_MS), 0);
        fx.guardian = 0;

        /* vssd carries on with a new guardian: the next set is made. */
        child_kill(&fx.prober);
        (void) close(fx.prober_fd);
        fx.prober_fd = -EBADF;
        requester_start(clone);
        hr = requester_result();
        assert_int_equal(hr, S_OK);
        assert_true(guardian_find(fx.vssd) != guardian);

        assert_int_equal(process_stop(fx.vssd, WAIT_MS), 0);
        fx.vssd = 0;
}

#define GUARDIAN_CASE(name, sig, point, n)                   \
        static void test_guardian_##name(void **state) {     \
                guardian_lost(sig, point, n);                \
        }
GUARDIAN_CASE(killed_start_one, SIGKILL, POINT_START, 1)
GUARDIAN_CASE(killed_middle_one, SIGKILL, POINT_MIDDLE, 1)
GUARDIAN_CASE(killed_end_one, SIGKILL, POINT_END, 1)
GUARDIAN_CASE(stopped_start_one, SIGSTOP, POINT_START, 1)
GUARDIAN_CASE(stopped_middle_one, SIGSTOP, POINT_MIDDLE, 1)
GUARDIAN_CASE(stopped_end_one, SIGSTOP, POINT_END, 1)
GUARDIAN_CASE(killed_start_two, SIGKILL, POINT_START, 2)
GUARDIAN_CASE(killed_middle_two, SIGKILL, POINT_MIDDLE, 2)
GUARDIAN_CASE(killed_end_two, SIGKILL, POINT_END, 2)
GUARDIAN_CASE(stopped_start_two, SIGSTOP, POINT_START, 2)
GUARDIAN_CASE(stopped_middle_two, SIGSTOP, POINT_MIDDLE, 2)
GUARDIAN_CASE(stopped_end_two, SIGSTOP, POINT_END, 2)

/*
 * A freezer cgroup of our own, for a guardian that hangs without being stopped: the v1
 * freezer hierarchy where there is one, else cgroup v2 (its root, or the hybrid "unified"
 * mount). Its files: where a pid goes, and how to freeze and thaw.
 */
static struct {
        const char *procs, *freeze, *frozen, *thawed;
} cg;

static int cgroup_make(void) {
        static const struct {
                const char *parent, *probe, *procs, *freeze, *frozen, *thawed;
        } kinds[] = {
                { "/sys/fs/cgroup/freezer", "freezer.state", "tasks", "freezer.state", "FROZEN\n", "THAWED\n" },
                { "/sys/fs/cgroup", "cgroup.controllers", "cgroup.procs", "cgroup.freeze", "1\n", "0\n" },
                { "/sys/fs/cgroup/unified", "cgroup.controllers", "cgroup.procs", "cgroup.freeze", "1\n", "0\n" },
        };

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                char probe[PATH_MAX], freeze[PATH_MAX];

                path_join(probe, kinds[i].parent, kinds[i].probe);
                if (!file_exists(probe))
                        continue;
                snprintf(fx.cgroup, sizeof(fx.cgroup), "%s/vss-killhold-%d", kinds[i].parent, (int) getpid());
                if (mkdir(fx.cgroup, 0755) < 0)
                        continue;
                path_join(freeze, fx.cgroup, kinds[i].freeze);
                if (!file_exists(freeze)) { /* a v2 kernel before 5.2 */
                        (void) rmdir(fx.cgroup);
                        continue;
                }
                cg.procs = kinds[i].procs;
                cg.freeze = kinds[i].freeze;
                cg.frozen = kinds[i].frozen;
                cg.thawed = kinds[i].thawed;
                return 0;
        }
        fx.cgroup[0] = 0;
        return -EOPNOTSUPP;
}

static int cgroup_write(const char *file, const char *value) {
        char path[PATH_MAX];

        path_join(path, fx.cgroup, file);
        return write_file_sync(path, value);
}

static void test_guardian_hung(void **state) {
        char clone[PATH_MAX], pid[32];
        uint64_t clone_seen, thawed = 0;
        pid_t guardian;
        vss_hr hr;

        if (cgroup_make() < 0) {
                fprintf(stderr, "no freezer cgroup to hang the guardian in: skipped\n");
                skip();
        }

        /* vssd holds 3 s; the hold deadline is 1 s; the guardian cannot run its own. */
        fx.n_volumes = 2;
        assert_int_equal(vssd_start("3000", "1000"), 0);
        prober_start();
        requester_start(clone);
        clone_seen = wait_clone(clone);
        guardian = guardian_find(fx.vssd);
        assert_true(guardian > 0);
        fx.guardian = guardian;
        (void) hold_wait(clone);

        snprintf(pid, sizeof(pid), "%d\n", (int) guardian);
        assert_int_equal(cgroup_write(cg.procs, pid), 0);
        assert_int_equal(cgroup_write(cg.freeze, cg.frozen), 0);
        /* Hung, but not stopped: what vssd's watch would notice first otherwise. */
        assert_true(process_state(guardian) != 'T' && process_state(guardian) != 't');

        assert_int_equal(prober_wait_write_after(clone_seen + 1000 * USEC_PER_MSEC, WAIT_MS, &thawed), 0);
        fprintf(stderr, "guardian hung: the volume took a write %.3f ms after commit began (deadline 1000 ms)\n",
                (double) (thawed - clone_seen) / USEC_PER_MSEC);
        assert_true(thawed - clone_seen < 1000 * USEC_PER_MSEC + THAW_LIMIT_USEC);
        /* By vssd alone: the guardian is still hung and DoSnapshotSet not over. */
        assert_false(fd_readable(fx.requester_fd));
        for (size_t i = 0; i < fx.n_volumes; i++)
                assert_int_equal(fs_is_frozen(volume_mnt(i)), 0);

        assert_int_equal(cgroup_write(cg.freeze, cg.thawed), 0);
        hr = requester_result();
        assert_int_equal(hr, VSS_E_HOLD_WRITES_TIMEOUT);
        assert_false(file_exists(clone));
        assert_int_equal(process_stop(fx.vssd, WAIT_MS), 0);
        fx.vssd = 0;
}

/* -- fixture --------------------------------------------------------------------------------- */

static int test_setup(void **state) {
        char image[PATH_MAX];
        int r;

        path_join(image, fx.host_mnt, "vol.img");
        r = loop_fs_make(image, 64 << 20, "ext4", NULL, fx.vol_mnt, &fx.vol);
        if (r < 0) {
                fprintf(stderr, "cannot make the ext4 volume: %s\n", strerror(-r));
                return -1;
        }
        path_join(image, fx.host_mnt, "vol2.img");
        r = loop_fs_make(image, 320 << 20, "xfs", NULL, fx.vol2_mnt, &fx.vol2);
        if (r < 0) {
                fprintf(stderr, "cannot make the XFS volume: %s\n", strerror(-r));
                return -1;
        }
        fx.n_volumes = 1;
        if (mkdir(fx.state_dir, 0755) < 0)
                return -1;
        return 0;
}

/* Whatever a failed case left: nothing frozen, no process, no mount, no state. */
static int test_teardown(void **state) {
        if (fx.cgroup[0]) {
                (void) cgroup_write(cg.freeze, cg.thawed);
                if (fx.guardian > 0)
                        (void) kill(fx.guardian, SIGKILL);
        }
        /* A guardian a case stopped and vssd did not kill: it must not wake up later. */
        if (fx.guardian > 0 && (process_state(fx.guardian) == 'T' || process_state(fx.guardian) == 't'))
                (void) kill(fx.guardian, SIGKILL);
        fx.guardian = 0;
        if (fx.vssd > 0) {
                (void) kill(fx.vssd, SIGKILL);
                (void) child_wait(fx.vssd, WAIT_MS, NULL);
                fx.vssd = 0;
        }
        /* A write blocked on a frozen filesystem ignores SIGKILL until the thaw. */
        if (fx.vol.mounted)
                (void) fs_thaw(fx.vol_mnt);
        if (fx.vol2.mounted)
                (void) fs_thaw(fx.vol2_mnt);
        child_kill(&fx.prober);
        child_kill(&fx.requester);
        if (fx.prober_fd >= 0)
                (void) close(fx.prober_fd);
        if (fx.requester_fd >= 0)
                (void) close(fx.requester_fd);
        fx.prober_fd = fx.requester_fd = -EBADF;

        /* Guardians orphaned to us: they exit once their socket closed. */
        for (uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC; now_usec() < deadline;) {
                pid_t w = waitpid(-1, NULL, WNOHANG);

                if (w < 0)
                        break; /* ECHILD: none left */
                if (w == 0)
                        sleep_msec(10);
        }

        (void) loop_fs_destroy(&fx.vol);
        (void) loop_fs_destroy(&fx.vol2);
        if (fx.cgroup[0]) {
                (void) rmdir(fx.cgroup);
                fx.cgroup[0] = 0;
        }
        {
                char area[PATH_MAX];

                path_join(area, fx.host_mnt, ".vss-snapshots");
                (void) rm_rf_physical(area);
        }
        (void) rm_rf_physical(fx.state_dir);
        (void) unlink(fx.socket);
        return 0;
}

static int group_setup(void **state) {
        int r;

        snprintf(fx.dir, sizeof(fx.dir), "/var/tmp/vss-killhold-XXXXXX");
        if (!mkdtemp(fx.dir))
                return -1;
        path_join(fx.host_mnt, fx.dir, "host");
        path_join(fx.vol_mnt, fx.dir, "vol");
        path_join(fx.vol2_mnt, fx.dir, "vol2");
        path_join(fx.socket, fx.dir, "vssd.sock");
        path_join(fx.state_dir, fx.dir, "state");

        {
                char image[PATH_MAX];

                path_join(image, fx.dir, "host.img");
                r = loop_fs_make(image, 1024 << 20, "xfs", NULL, fx.host_mnt, &fx.host);
                if (r < 0) {
                        fprintf(stderr, "cannot make the XFS host: %s\n", strerror(-r));
                        (void) rmdir(fx.dir);
                        return -1;
                }
        }

        /* vssd's guardian is reparented to us when vssd dies, so we can see it exit. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                return -1;
        return 0;
}

static int group_teardown(void **state) {
        (void) loop_fs_destroy(&fx.host);
        (void) rm_rf_physical(fx.dir);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_vssd_killed_mid_hold, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_hold_deadline, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_options_refused, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_killed_start_one, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_killed_middle_one, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_killed_end_one, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_stopped_start_one, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_stopped_middle_one, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_stopped_end_one, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_killed_start_two, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_killed_middle_two, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_killed_end_two, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_stopped_start_two, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_stopped_middle_two, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_stopped_end_two, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_guardian_hung, test_setup, test_teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-vssd-killed-mid-hold needs root (loop devices, mounts, FIFREEZE): skipped\n");
                return 77;
        }
        if (run_command((char *[]) { (char *) "mkfs.xfs", (char *) "-V", NULL }, false) < 0 ||
            run_command((char *[]) { (char *) "mkfs.ext4", (char *) "-V", NULL }, false) < 0) {
                fprintf(stderr, "mkfs.xfs and mkfs.ext4 are needed (scripts/install-deps.sh): skipped\n");
                return 77;
        }
        if (!getenv("VSSD") || !getenv("VSS_GUARDIAN_PATH")) {
                fprintf(stderr, "VSSD and VSS_GUARDIAN_PATH must name the programs (meson sets them)\n");
                return EXIT_FAILURE;
        }

        /* vssd dies under the requester: its socket must not take us down through SIGPIPE. */
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
