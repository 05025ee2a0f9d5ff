/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-lvm: what a whole DoSnapshotSet through the LVM provider costs against the raw
 * `lvcreate -s` of the same LV, in one run on the same volume group. Runs inside the VM lab
 * (this machine's kernel has no device-mapper):
 *
 *   tests/lab/lab-run --disk 4G -- build/bench/bench_lvm [--runs N] [--writers 0,1,10]
 *
 * On the first lab disk it makes a VG with a thin pool + thin LV and a classic LV (ext4 on
 * both, a few small files), starts vssd, and prints one markdown table per LV kind:
 *   raw `lvm lvcreate -s` (the baseline; its lvremove is not timed), then DoSnapshotSet with
 *   0, 1 and 10 consistency-writer processes (--no-write: they take part and hold nothing),
 *   each run a fresh requester doing the whole good path (PrepareForSnapshot, end-prepare,
 *   Freeze, commit, Thaw, PostSnapshot, and the provider's read-only mount), then released,
 *   waiting until the auto-release snapshot's LV is gone before the next run.
 * Each row: median, min-max over the runs, and the ratio of medians to the raw row. Under
 * TCG absolute times mean little (10-50x hardware); the ratios are the result.
 * Needs the lab (VSS_LAB=1, root): exits 77 otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "async-wait.h"
#include "bench-util.h"
#include "macro.h"
#include "root-harness.h"
#include "vss/vss.h"

#define VG "vssbench"
#define TOP "/run/vss-bench-lvm"
#define MAX_RUNS 100
#define MAX_WRITERS 16
#define WAIT_MS 60000u

static unsigned opt_runs = 5;
static unsigned writer_counts[8] = { 0, 1, 10 };
static unsigned n_counts = 3;
static const char *socket_path = TOP "/vssd.sock";

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
        _cleanup_free_ char *cmd = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = system(cmd);
        if (r != 0)
                fprintf(stderr, "bench-lvm: \"%s\" failed\n", cmd);
        return r == 0 ? 0 : -EIO;
}

static int vss_lv_count(void) {
        FILE *p = popen("lvm lvs --noheadings -o lv_name " VG " 2>/dev/null | grep -c ' vss-'", "r");
        int n = -1;

        if (!p)
                return -1;
        if (fscanf(p, "%d", &n) != 1)
                n = -1;
        pclose(p);
        return n;
}

static bool wait_no_vss_lv(void) {
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;

        while (now_usec() < deadline) {
                if (vss_lv_count() == 0)
                        return true;
                (void) usleep(50000);
        }
        return false;
}

/* One whole good path on volume; *ret_ms is DoSnapshotSet's time. */
static vss_hr backup_once(const char *volume, double *ret_ms) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_requester *r = NULL;
        vss_id set, id;
        uint64_t t0;
        vss_hr hr;

        opts.socket_path = socket_path;
        hr = vss_requester_new(&r, &opts);
        if (hr == S_OK)
                hr = vss_requester_initialize_for_backup(r, NULL);
        if (hr == S_OK)
                hr = vss_requester_set_backup_state(r, false, false, VSS_BT_FULL, false);
        if (hr == S_OK)
                hr = ASYNC(vss_requester_gather_writer_metadata, r);
        if (hr == S_OK)
                hr = vss_requester_start_snapshot_set(r, &set);
        if (hr == S_OK)
                hr = vss_requester_add_to_snapshot_set(r, volume, NULL, &id);
        if (hr == S_OK)
                hr = ASYNC(vss_requester_prepare_for_backup, r);
        if (hr == S_OK) {
                t0 = now_usec();
                hr = ASYNC(vss_requester_do_snapshot_set, r);
                *ret_ms = (double) (now_usec() - t0) / 1e3;
        }
        if (hr == S_OK)
                hr = ASYNC(vss_requester_backup_complete, r);
        vss_requester_release(r);
        if (hr == S_OK && !wait_no_vss_lv())
                hr = VSS_E_UNEXPECTED;
        return hr;
}

typedef struct Row {
        char label[96];
        double ms[MAX_RUNS];
        unsigned n;
        char error[160];
} Row;

static void row_print(const Row *row, double base_median) {
        double sorted[MAX_RUNS], med;

        if (row->error[0] || row->n == 0) {
                printf("| %s | failed: %s | | |\n", row->label, row->error[0] ? row->error : "no runs");
                return;
        }
        memcpy(sorted, row->ms, sizeof(double) * row->n);
        stats_sort(sorted, row->n);
        med = stats_median(sorted, row->n);
        printf("| %s | %.1f | %.1f–%.1f | %.2f× |\n", row->label, med, sorted[0], sorted[row->n - 1],
               base_median > 0 ? med / base_median : 1.0);
}

static double row_median(const Row *row) {
        double sorted[MAX_RUNS];

        if (row->error[0] || row->n == 0)
                return 0;
        memcpy(sorted, row->ms, sizeof(double) * row->n);
        stats_sort(sorted, row->n);
        return stats_median(sorted, row->n);
}

static void measure_raw(const char *lv, const char *size_arg, Row *row) {
        snprintf(row->label, sizeof(row->label), "raw `lvcreate -s %s` (baseline)", size_arg);
        for (unsigned i = 0; i < opt_runs; i++) {
                uint64_t t0;

                (void) sh("sync");
                t0 = now_usec();
                if (sh("lvm lvcreate -q -s %s -n rawsnap " VG "/%s >/dev/null", size_arg, lv) < 0) {
                        snprintf(row->error, sizeof(row->error), "lvcreate failed");
                        return;
                }
                row->ms[row->n++] = (double) (now_usec() - t0) / 1e3;
                if (sh("lvm lvremove -q -f " VG "/rawsnap >/dev/null") < 0) {
                        snprintf(row->error, sizeof(row->error), "lvremove failed");
                        return;
                }
        }
}

static void measure_vss(const char *mnt, unsigned writers, Row *row) {
        pid_t pids[MAX_WRITERS] = {};
        unsigned started = 0;

        snprintf(row->label, sizeof(row->label), "DoSnapshotSet, %u writer%s", writers, writers == 1 ? "" : "s");
        for (unsigned i = 0; i < writers && i < MAX_WRITERS; i++) {
                char name[32], line[32];
                int out = -1;

                snprintf(name, sizeof(name), "bench-%u", i);
                if (process_spawn((char *const[]) { (char *) getenv("BENCH_WRITER"), (char *) "--socket", (char *) socket_path,
                                                    (char *) "--no-write", (char *) "--name", name, NULL },
                                  &pids[i], &out) < 0 ||
                    read_line_timeout(out, line, sizeof(line), WAIT_MS) < 0) {
                        snprintf(row->error, sizeof(row->error), "writer %u did not start", i);
                        if (out >= 0)
                                close(out);
                        break;
                }
                close(out);
                started++;
        }
        for (unsigned i = 0; !row->error[0] && i < opt_runs; i++) {
                double ms = 0;
                vss_hr hr = backup_once(mnt, &ms);

                if (hr != S_OK) {
                        snprintf(row->error, sizeof(row->error), "%s", vss_hr_name(hr));
                        break;
                }
                row->ms[row->n++] = ms;
        }
        for (unsigned i = 0; i < started; i++)
                (void) process_stop(pids[i], 5000);
}

static void table(const char *title, const char *lv, const char *mnt, const char *size_arg) {
        Row rows[1 + 8] = {};
        double base;

        measure_raw(lv, size_arg, &rows[0]);
        for (unsigned i = 0; i < n_counts; i++)
                measure_vss(mnt, writer_counts[i], &rows[1 + i]);
        base = row_median(&rows[0]);

        printf("\n### %s\n\n| case | median ms | min–max ms | ratio to raw |\n|---|---|---|---|\n", title);
        for (unsigned i = 0; i < 1 + n_counts; i++)
                row_print(&rows[i], base);
        fflush(stdout);
}

static int parse_counts(const char *s) {
        char *copy = strdup(s), *save = NULL;

        if (!copy)
                return -ENOMEM;
        n_counts = 0;
        for (char *t = strtok_r(copy, ",", &save); t && n_counts < ELEMENTSOF(writer_counts); t = strtok_r(NULL, ",", &save)) {
                unsigned long v = strtoul(t, NULL, 10);

                if (v > MAX_WRITERS) {
                        free(copy);
                        return -EINVAL;
                }
                writer_counts[n_counts++] = (unsigned) v;
        }
        free(copy);
        return n_counts > 0 ? 0 : -EINVAL;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "runs", required_argument, NULL, 'r' },
                { "writers", required_argument, NULL, 'w' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *disks = getenv("VSS_LAB_DISKS");
        char disk[64] = "";
        pid_t vssd = 0;
        int c, rc = 1;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'r':
                        opt_runs = (unsigned) strtoul(optarg, NULL, 10);
                        if (opt_runs == 0 || opt_runs > MAX_RUNS)
                                return 2;
                        break;
                case 'w':
                        if (parse_counts(optarg) < 0)
                                return 2;
                        break;
                default:
                        printf("usage: bench_lvm [--runs N] [--writers N,N,...]  (inside tests/lab/lab-run)\n");
                        return c == 'h' ? 0 : 2;
                }
        }
        if (!getenv("VSS_LAB") || isempty(disks) || geteuid() != 0) {
                fprintf(stderr, "bench_lvm: runs inside the VM lab only: tests/lab/lab-run --disk 4G -- %s\n", argv[0]);
                return 77;
        }
        if (!getenv("BENCH_WRITER"))
                setenv("BENCH_WRITER", BENCH_WRITER_PATH, 0);
        setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
        sscanf(disks, "%63s", disk);

        if (sh("modprobe dm-thin-pool && modprobe dm-snapshot && modprobe ext4 && mkdir -p " TOP "/thin " TOP "/plain " TOP "/state && "
               "pvcreate -q %s && vgcreate -q " VG " %s && lvcreate -q -L 1G -T " VG "/pool && "
               "lvcreate -q -V 512M -T " VG "/pool -n thin && lvcreate -q -L 512M -n plain " VG " && "
               "mkfs.ext4 -q /dev/" VG "/thin && mkfs.ext4 -q /dev/" VG "/plain && "
               "mount /dev/" VG "/thin " TOP "/thin && mount /dev/" VG "/plain " TOP "/plain && "
               "for d in thin plain; do for i in $(seq 200); do echo $i > " TOP "/$d/f$i; done; done && sync",
               disk, disk) < 0)
                goto out;
        if (process_spawn_flags((char *const[]) { (char *) BENCH_VSSD_PATH, (char *) "--socket", (char *) socket_path,
                                                  (char *) "--state-dir", (char *) TOP "/state", NULL },
                                SPAWN_NULL_STDERR, &vssd) < 0 ||
            unix_socket_wait(socket_path, vssd, WAIT_MS) < 0)
                goto out;

        printf("## LVM provider: DoSnapshotSet against raw `lvcreate -s` (%u runs each)\n", opt_runs);
        table("Thin LV (ext4, 512 MiB in a 1 GiB pool)", "thin", TOP "/thin", "");
        table("Classic LV (ext4, 512 MiB; COW area 20 % = 103 MiB)", "plain", TOP "/plain", "-L 103m");
        rc = 0;
out:
        if (vssd > 0)
                (void) process_stop(vssd, 5000);
        (void) sh("umount " TOP "/thin " TOP "/plain 2>/dev/null; vgremove -q -f -y " VG " >/dev/null 2>&1; true");
        return rc;
}
