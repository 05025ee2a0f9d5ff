/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-demo: a backup application in one page, driving the whole VSS backup sequence through
 * libvss and proving what it bought: the sample writer's ledger (ledger.h) balances inside
 * the snapshot, while the application kept working outside it.
 *
 * Usage: vss-demo --volume PATH [--socket PATH]    one full backup, with a report
 *        vss-demo --check-ledger FILE              exit 0 if FILE's ledger balances
 *
 * It prints every step with its HRESULT, the writers and their components, the snapshot's
 * properties, the ledger in the snapshot against the live one, and the writers' final
 * status. Exit status 0 only if every step succeeded and the invariant held.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "macro.h"
#include "tool.h"
#include "vss/vss.h"

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* Prints one step's outcome; returns true when it succeeded. */
static bool step(const char *what, vss_hr hr, vss_requester *r) {
        if (VSS_SUCCEEDED(hr)) {
                printf("  %-34s %s\n", what, vss_hr_name(hr));
                return true;
        }
        printf("  %-34s %s: %s\n", what, vss_hr_name(hr), vss_hr_message(hr));
        if (r)
                printf("  %-34s %s\n", "", vss_requester_get_error_message(r));
        return false;
}

static bool list_and_select_writers(vss_requester *r) {
        unsigned n = 0;

        if (!step("GetWriterMetadataCount", vss_requester_get_writer_metadata_count(r, &n), r))
                return false;
        printf("  %u writer(s) answered Identify:\n", n);

        for (unsigned i = 0; i < n; i++) {
                vss_examine_writer_metadata *m;
                vss_id inst, wid;
                const char *name, *instance;
                unsigned nexcl, ncomp;

                if (!step("GetWriterMetadata", vss_requester_get_writer_metadata(r, i, &inst, &m), r) ||
                    !step("GetIdentity", vss_examine_writer_metadata_get_identity(m, &inst, &wid, &name, &instance,
                                                                                   NULL, NULL), r) ||
                    !step("GetFileCounts", vss_examine_writer_metadata_get_file_counts(m, NULL, &nexcl, &ncomp), r))
                        return false;
                printf("    writer \"%s\" (instance \"%s\"), %u component(s)\n", name, instance, ncomp);

                for (unsigned c = 0; c < ncomp; c++) {
                        vss_wm_component *comp;
                        vss_component_info info;

                        if (vss_examine_writer_metadata_get_component(m, c, &comp) != S_OK ||
                            vss_wm_component_get_info(comp, &info) != S_OK)
                                return false;
                        printf("      component \"%s\\%s\" (%s, %u file set(s))\n", info.logical_path,
                               info.component_name, vss_component_type_to_string(info.type), info.file_count);
                        if (!step("AddComponent", vss_requester_add_component(r, &inst, &wid, info.type,
                                                                              info.logical_path,
                                                                              info.component_name), r))
                                return false;
                }
        }
        return true;
}

static bool mark_components_succeeded(vss_requester *r) {
        unsigned n = 0;

        if (vss_requester_get_writer_metadata_count(r, &n) != S_OK)
                return false;
        for (unsigned i = 0; i < n; i++) {
                vss_examine_writer_metadata *m;
                vss_id inst, wid;
                unsigned ncomp;

                if (vss_requester_get_writer_metadata(r, i, &inst, &m) != S_OK ||
                    vss_examine_writer_metadata_get_identity(m, &inst, &wid, NULL, NULL, NULL, NULL) != S_OK ||
                    vss_examine_writer_metadata_get_file_counts(m, NULL, NULL, &ncomp) != S_OK)
                        return false;
                for (unsigned c = 0; c < ncomp; c++) {
                        vss_wm_component *comp;
                        vss_component_info info;

                        if (vss_examine_writer_metadata_get_component(m, c, &comp) != S_OK ||
                            vss_wm_component_get_info(comp, &info) != S_OK ||
                            !step("SetBackupSucceeded", vss_requester_set_backup_succeeded(
                                                                r, &inst, &wid, info.type, info.logical_path,
                                                                info.component_name, true), r))
                                return false;
                }
        }
        return true;
}

static bool print_writer_status(vss_requester *r) {
        unsigned n = 0;
        bool all_ok = true;

        if (!step("GatherWriterStatus", TOOL_RUN_ASYNC(vss_requester_gather_writer_status, r), r) ||
            !step("GetWriterStatusCount", vss_requester_get_writer_status_count(r, &n), r))
                return false;
        for (unsigned i = 0; i < n; i++) {
                const char *name;
                vss_writer_state state;
                vss_hr failure;

                if (vss_requester_get_writer_status(r, i, NULL, NULL, &name, &state, &failure) != S_OK)
                        return false;
                printf("    writer \"%s\": %s, last error %s\n", name, vss_writer_state_to_string(state),
                       vss_hr_name(failure));
                all_ok = all_ok && state == VSS_WS_STABLE && failure == S_OK;
        }
        return all_ok;
}

/* Reads the ledger in the snapshot and live; true when the snapshot's balances. */
static bool check_snapshot(const char *volume, const char *device) {
        _cleanup_free_ char *snap_path = NULL, *live_path = NULL;
        Ledger snap, live;
        int r;

        if (asprintf(&snap_path, "%s/%s", device, LEDGER_FILE_NAME) < 0 ||
            asprintf(&live_path, "%s/%s", volume, LEDGER_FILE_NAME) < 0)
                return false;

        r = ledger_read(snap_path, &snap);
        if (r < 0) {
                printf("  cannot read %s: %s\n", snap_path, strerror(-r));
                return false;
        }
        /* Give the application, thawed a moment ago, time to show it moved on. */
        (void) usleep(100 * 1000);
        r = ledger_read(live_path, &live);
        if (r < 0) {
                printf("  cannot read %s: %s\n", live_path, strerror(-r));
                return false;
        }

        printf("  ledger in the snapshot: %" PRIu64 " transfers, sum %" PRId64 " (expected %lld): %s\n",
               snap.transfers, ledger_sum(&snap), LEDGER_TOTAL,
               ledger_sum(&snap) == LEDGER_TOTAL ? "BALANCED" : "BROKEN");
        printf("  live ledger now:        %" PRIu64 " transfers (the application kept working)\n",
               live.transfers);
        return ledger_sum(&snap) == LEDGER_TOTAL;
}

static int backup(const char *volume, const char *socket_path) {
        _cleanup_free_ char *dir = NULL;
        vss_requester *r = NULL;
        vss_snapshot_prop prop = {};
        vss_id set_id, snap_id;
        char idbuf[VSS_ID_STRING_MAX];
        double t0;
        bool ok = false, balanced = false;
        struct stat st;
        int k;

        printf("Backup of %s\n", volume);
        fflush(stdout);
        k = tool_requester_new(socket_path, &r);
        if (k < 0)
                return -k;
        (void) step("CreateVssBackupComponents", S_OK, r);

        if (!step("InitializeForBackup", vss_requester_initialize_for_backup(r, NULL), r) ||
            !step("SetContext(VSS_CTX_BACKUP)", vss_requester_set_context(r, VSS_CTX_BACKUP), r) ||
            !step("SetBackupState(full, components)",
                  vss_requester_set_backup_state(r, true, false, VSS_BT_FULL, false), r) ||
            !step("GatherWriterMetadata", TOOL_RUN_ASYNC(vss_requester_gather_writer_metadata, r), r) ||
            !list_and_select_writers(r) ||
            !step("StartSnapshotSet", vss_requester_start_snapshot_set(r, &set_id), r) ||
            !step("AddToSnapshotSet", vss_requester_add_to_snapshot_set(r, volume, NULL, &snap_id), r) ||
            !step("PrepareForBackup", TOOL_RUN_ASYNC(vss_requester_prepare_for_backup, r), r))
                goto finish;

        t0 = now_ms();
        if (!step("DoSnapshotSet", TOOL_RUN_ASYNC(vss_requester_do_snapshot_set, r), r)) {
                (void) step("AbortBackup", vss_requester_abort_backup(r), r);
                goto finish;
        }
        printf("  DoSnapshotSet took %.1f ms (PrepareForSnapshot, Freeze, commit, Thaw, PostSnapshot)\n",
               now_ms() - t0);

        if (!step("GetSnapshotProperties", vss_requester_get_snapshot_properties(r, &snap_id, &prop), r))
                goto finish;
        printf("  snapshot set %s\n", vss_id_format(&set_id, idbuf));
        printf("  snapshot     %s of %s\n", vss_id_format(&prop.snapshot_id, idbuf), prop.original_volume_name);
        if (tool_snapshot_dir(r, &prop, &dir) < 0)
                goto finish;
        printf("  readable at  %s\n", dir);

        balanced = check_snapshot(volume, dir);

        if (!mark_components_succeeded(r) ||
            !step("BackupComplete", TOOL_RUN_ASYNC(vss_requester_backup_complete, r), r))
                goto finish;
        ok = print_writer_status(r);

finish:
        printf("Releasing the backup components object (BackupShutdown, auto-release snapshot deleted)\n");
        vss_requester_release(r);
        if (prop.snapshot_device_object) {
                /* vssd deletes auto-release snapshots as it sees the connection close. */
                for (int i = 0; i < 50 && stat(prop.snapshot_device_object, &st) == 0; i++)
                        (void) usleep(20 * 1000);
                printf("  snapshot %s: %s\n", prop.snapshot_device_object,
                       stat(prop.snapshot_device_object, &st) == 0 ? "STILL THERE" : "gone");
                ok = ok && stat(prop.snapshot_device_object, &st) < 0;
        }
        vss_snapshot_prop_free(&prop);

        printf("Result: %s\n", ok && balanced ? "application-consistent backup, invariant held" : "FAILED");
        return ok && balanced ? TOOL_EXIT_OK : TOOL_EXIT_VSS;
}

static int check_ledger(const char *path) {
        Ledger l;
        int r;

        r = ledger_read(path, &l);
        if (r < 0) {
                fprintf(stderr, "vss-demo: %s: %s\n", path, strerror(-r));
                return TOOL_EXIT_VSS;
        }
        return ledger_sum(&l) == LEDGER_TOTAL ? TOOL_EXIT_OK : TOOL_EXIT_VSS;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "volume", required_argument, NULL, 'v' },
                { "socket", required_argument, NULL, 's' },
                { "check-ledger", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        const char *volume = NULL, *socket_path = NULL, *ledger = NULL;
        int c;

        while ((c = getopt_long(argc, argv, "v:s:c:h", options, NULL)) >= 0)
                switch (c) {
                case 'v':
                        volume = optarg;
                        break;
                case 's':
                        socket_path = optarg;
                        break;
                case 'c':
                        ledger = optarg;
                        break;
                case 'h':
                        printf("Usage: vss-demo --volume PATH [--socket PATH]   one full backup, with a report\n"
                               "       vss-demo --check-ledger FILE             exit 0 if FILE's ledger balances\n"
                               "       vss-demo --version\n\n"
                               "Exit status: 0 success, 1 usage error, 2 a step failed or the ledger is broken,\n"
                               "3 vssd is not reachable (docs/exit-codes.md).\n");
                        return TOOL_EXIT_OK;
                case 'V':
                        return tool_version();
                default:
                        return tool_usage_error("unknown option");
                }

        if (optind < argc)
                return tool_usage_error("unexpected argument \"%s\"", argv[optind]);
        if (ledger)
                return check_ledger(ledger);
        if (!volume)
                return tool_usage_error("--volume or --check-ledger is required");
        return backup(volume, socket_path);
}
