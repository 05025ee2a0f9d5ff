/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-zfs: what a whole DoSnapshotSet of one ZFS dataset costs against the raw
 * `zfs snapshot` of the same dataset, in the same run, with 0, 1 and 10 writer processes; and
 * of an ext4 filesystem on a zvol against the raw freeze + `zfs snapshot` + thaw of it (what
 * an administrator would do by hand for a consistent copy of it).
 *
 * ZFS needs a kernel this machine does not have, so it runs inside the VM lab, on its first
 * disk:
 *   ninja -C build bench/bench_zfs && \
 *   sudo VSSD=build/src/vssd/vssd CONSISTENCY_WRITER=build/tests/root/consistency-writer \
 *        VSS_TEST_WRITER=build/tests/integration/vss-test-writer VSS_GUARDIAN=build/src/guardian/vss-guardian \
 *        tests/lab/lab-run --zfs --disk 2G -- build/bench/bench_zfs [--runs N]
 * Under a VM the absolute times mean little (and under TCG nothing); the ratio to the raw
 * command in the same run is the figure (docs/benchmarks.md).
 *
 * Each round: the raw row times `zfs snapshot pool/vol@raw-N` (fork, exec, one ioctl), then
 * destroys it untimed; the VSS row times DoSnapshotSet, from the call to the async finishing
 * (PrepareForSnapshot, end-prepare's syncfs, Freeze, lzc_snapshot, Thaw, the hold, PostSnapshot)
 * with a fresh requester that selected every writer's component, then releases it and waits
 * until the snapshot is gone. The writers are consistency-writer in --no-write mode: they
 * take part in every event and hold nothing. Rounds alternate raw and VSS; every filesystem is
 * synced before each timed call. Each row: median, p10-p90, min-max, ratio of medians to raw.
 * The zvol rows do the same on ext4 on a 256 MiB zvol: raw is `fsfreeze -f`, `zfs snapshot`,
 * `fsfreeze -u` (three commands, timed together); DoSnapshotSet adds the guardian's hold
 * around lzc_snapshot and, after Thaw, the read-only mount of the snapshot's device.
 *
 * Exits 77 outside the lab (no /dev/zfs).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "harness.h"
#include "macro.h"

#define POOL "vssbench"
#define MNT "/tmp/vss-bench-zfs"
#define ZVOL_MNT "/tmp/vss-bench-zvol"
#define MAX_WRITERS 10
#define MAX_RUNS 1000

static unsigned arg_runs = 10;

/* DoSnapshotSet to its end: S_OK, or the failure. */
static vss_hr do_snapshot_set(vss_requester *r) {
        vss_async *a = NULL;
        vss_hr hr = vss_requester_do_snapshot_set(r, &a);

        hr = async_finish(hr, &a);
        return hr == VSS_S_ASYNC_FINISHED ? S_OK : hr;
}

static double now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

static int run_argv(char *const argv[]) {
        int status;
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (null >= 0)
                        (void) dup2(null, STDOUT_FILENO);
                execvp(argv[0], argv);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static pid_t writer_spawn(const char *socket, unsigned i) {
        const char *exe = getenv("CONSISTENCY_WRITER");
        char name[32], line[16];
        int pipefd[2];
        pid_t pid;

        if (!exe || pipe2(pipefd, O_CLOEXEC) < 0)
                return -1;
        snprintf(name, sizeof(name), "bench-%u", i);
        pid = fork();
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void) dup2(pipefd[1], STDOUT_FILENO);
                execl(exe, exe, "--socket", socket, "--no-write", "--name", name, (char *) NULL);
                _exit(127);
        }
        close(pipefd[1]);
        if (pid < 0 || read(pipefd[0], line, sizeof(line)) <= 0)
                pid = -1;
        close(pipefd[0]);
        return pid;
}

/* One DoSnapshotSet of volume, timed; the snapshot released and gone before it returns. */
static int vss_round(const char *socket, const char *volume, double *ret_ms) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        char ids[VSS_ID_STRING_MAX], path[512];
        vss_requester *r = NULL;
        vss_snapshot_prop prop = {};
        BackupRun run = {};
        double start;
        vss_hr hr;

        opts.socket_path = socket;
        if (vss_requester_new(&r, &opts) != S_OK)
                return -EIO;
        hr = backup_run_steps(r, volume, STEP_INITIALIZE, STEP_PREPARE, &run);
        if (hr == S_OK) {
                (void) syncfs_path(volume);
                start = now_ms();
                hr = do_snapshot_set(r);
                *ret_ms = now_ms() - start;
        }
        if (hr != S_OK)
                fprintf(stderr, "bench-zfs: %s: %s\n", vss_hr_name(hr), vss_requester_get_error_message(r));
        /* Where it is read (a dataset's .zfs directory, a zvol snapshot's mount): gone once released. */
        if (hr == S_OK && vss_requester_get_snapshot_properties(r, &run.snapshot_id, &prop) == S_OK)
                snprintf(path, sizeof(path), "%s", prop.snapshot_device_object);
        else
                snprintf(path, sizeof(path), "%s/.zfs/snapshot/vss-%s", volume, vss_id_format(&run.snapshot_id, ids));
        vss_snapshot_prop_free(&prop);
        vss_requester_release(r);
        for (int i = 0; i < 1000 && access(path, F_OK) == 0; i++)
                usleep(10000);
        return hr == S_OK ? 0 : -EIO;
}

static int raw_round(const char *volume, unsigned k, double *ret_ms) {
        char snap[128];
        double start;
        int r;

        snprintf(snap, sizeof(snap), POOL "/vol@raw-%u", k);
        (void) syncfs_path(volume);
        start = now_ms();
        r = run_argv((char *const[]) { (char *) "zfs", (char *) "snapshot", snap, NULL });
        *ret_ms = now_ms() - start;
        if (r == 0)
                r = run_argv((char *const[]) { (char *) "zfs", (char *) "destroy", snap, NULL });
        return r;
}

/* The raw way to a consistent copy of a filesystem on a zvol: freeze, snapshot, thaw. */
static int raw_zvol_round(unsigned k, double *ret_ms) {
        char snap[128];
        double start;
        int r, t;

        snprintf(snap, sizeof(snap), POOL "/zv@raw-%u", k);
        (void) syncfs_path(ZVOL_MNT);
        start = now_ms();
        r = run_argv((char *const[]) { (char *) "fsfreeze", (char *) "-f", (char *) ZVOL_MNT, NULL });
        if (r == 0)
                r = run_argv((char *const[]) { (char *) "zfs", (char *) "snapshot", snap, NULL });
        t = run_argv((char *const[]) { (char *) "fsfreeze", (char *) "-u", (char *) ZVOL_MNT, NULL });
        *ret_ms = now_ms() - start;
        if (r == 0)
                r = t;
        if (r == 0)
                r = run_argv((char *const[]) { (char *) "zfs", (char *) "destroy", snap, NULL });
        return r;
}

/* A 256 MiB zvol with ext4 mounted at ZVOL_MNT (its device found by name: no udev here). */
static int zvol_setup(void) {
        if (run_argv((char *const[]) { (char *) "zfs", (char *) "create", (char *) "-V", (char *) "256M",
                                       (char *) POOL "/zv", NULL }) < 0)
                return -EIO;
        if (system("modprobe ext4 2>/dev/null; mkdir -p " ZVOL_MNT " && for d in /sys/block/zd*; do "
                   "[ \"$(/usr/lib/udev/zvol_id /dev/${d##*/})\" = " POOL "/zv ] && mkfs.ext4 -q /dev/${d##*/} && "
                   "mount /dev/${d##*/} " ZVOL_MNT "; done; mountpoint -q " ZVOL_MNT) != 0)
                return -EIO;
        return populate_tree(ZVOL_MNT, 1000);
}

static void row(const char *what, unsigned writers, double *v, unsigned n, double baseline) {
        stats_sort(v, n);
        printf("| %s | %u | %.2f | %.2f–%.2f | %.2f–%.2f | %.2f× |\n", what, writers, stats_median(v, n),
               stats_percentile(v, n, 10), stats_percentile(v, n, 90), v[0], v[n - 1],
               baseline > 0 ? stats_median(v, n) / baseline : 1.0);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "runs", required_argument, NULL, 'r' },
                {}
        };
        static const unsigned writer_counts[] = { 0, 1, 10 };
        const char *disks = getenv("VSS_LAB_DISKS");
        pid_t writers[MAX_WRITERS] = {};
        unsigned n_writers = 0;
        char disk[64], cmd[128];
        Harness *h = NULL;
        int c, rc = 1;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                if (c == 'r') {
                        arg_runs = (unsigned) strtoul(optarg, NULL, 10);
                        if (arg_runs == 0 || arg_runs > MAX_RUNS)
                                return 2;
                } else
                        return 2;

        if (access("/dev/zfs", F_OK) < 0 || !disks || sscanf(disks, "%63s", disk) != 1) {
                fprintf(stderr, "bench-zfs: runs in the VM lab with ZFS loaded (lab-run --zfs --disk 2G); skipping\n");
                return 77;
        }
        /* A partition: on a whole disk zpool labels it and waits for udev, absent in the lab. */
        snprintf(cmd, sizeof(cmd), "echo ',,' | sfdisk -q %s", disk);
        strncat(disk, "1", sizeof(disk) - strlen(disk) - 1);
        if (system(cmd) != 0 ||
            run_argv((char *const[]) { (char *) "zpool", (char *) "create", (char *) "-f", (char *) "-m",
                                       (char *) MNT, (char *) POOL, disk, NULL }) < 0 ||
            run_argv((char *const[]) { (char *) "zfs", (char *) "create", (char *) POOL "/vol", NULL }) < 0 ||
            populate_tree(MNT "/vol", 1000) < 0 || zvol_setup() < 0) {
                fprintf(stderr, "bench-zfs: cannot make the pool on %s\n", disk);
                return 1;
        }
        if (harness_new(NULL, &h) < 0)
                goto finish;

        printf("## ZFS: DoSnapshotSet against `zfs snapshot`, of a dataset and of ext4 on a zvol (ms, %u runs each, "
               "kernel in the VM lab)\n\n", arg_runs);
        printf("| what | writers | median | p10–p90 | min–max | ratio to raw |\n");
        printf("|---|---|---|---|---|---|\n");
        for (size_t w = 0; w < ELEMENTSOF(writer_counts); w++) {
                double raw[MAX_RUNS], vss[MAX_RUNS], zraw[MAX_RUNS], zvss[MAX_RUNS];

                while (n_writers < writer_counts[w]) {
                        writers[n_writers] = writer_spawn(h->socket_path, n_writers);
                        if (writers[n_writers] < 0)
                                goto finish;
                        n_writers++;
                }
                for (unsigned k = 0; k < arg_runs; k++)
                        if (raw_round(MNT "/vol", k, &raw[k]) < 0 || vss_round(h->socket_path, MNT "/vol", &vss[k]) < 0 ||
                            raw_zvol_round(k, &zraw[k]) < 0 || vss_round(h->socket_path, ZVOL_MNT, &zvss[k]) < 0)
                                goto finish;
                stats_sort(raw, arg_runs);
                row("zfs snapshot (raw)", writer_counts[w], raw, arg_runs, stats_median(raw, arg_runs));
                row("DoSnapshotSet", writer_counts[w], vss, arg_runs, stats_median(raw, arg_runs));
                stats_sort(zraw, arg_runs);
                row("ext4 on zvol: fsfreeze + zfs snapshot + thaw (raw)", writer_counts[w], zraw, arg_runs,
                    stats_median(zraw, arg_runs));
                row("ext4 on zvol: DoSnapshotSet", writer_counts[w], zvss, arg_runs, stats_median(zraw, arg_runs));
        }
        rc = 0;

finish:
        for (unsigned i = 0; i < n_writers; i++) {
                (void) kill(writers[i], SIGTERM);
                (void) waitpid(writers[i], NULL, 0);
        }
        harness_free(h);
        (void) run_argv((char *const[]) { (char *) "umount", (char *) ZVOL_MNT, NULL });
        (void) run_argv((char *const[]) { (char *) "zpool", (char *) "destroy", (char *) "-f", (char *) POOL, NULL });
        return rc;
}
