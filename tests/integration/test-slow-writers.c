/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-slow-writers.c: writers that misbehave on the wire cannot hold up anyone else
 * (docs/security.md "Admission and resource limits").
 *
 *  - A writer stops reading altogether (its process is stopped with SIGSTOP) inside the
 *    Freeze round: the round still ends at that writer's freeze timeout, DoSnapshotSet fails
 *    with VSS_E_WRITERERROR_TIMEOUT, the other writer gets Abort, and while the round waits,
 *    root's calls on other connections are answered.
 *  - A subscribed writer floods vssd with signals and calls whose answers it never reads, and
 *    never answers an event: its Identify times out at the event timeout, the other writer's
 *    backup runs to the end, root's calls are answered, and vssd's memory stays bounded.
 *  - A writer is stopped while vssd sends it an event larger than the connection's socket
 *    holds: once it runs again, vssd writes the rest as soon as there is room, and the writer
 *    answers well within the event timeout.
 *
 * Latency bounds are generous correctness bounds, printed with the measured values; they are
 * not speed targets.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "vss-bus.h"

#define NOBODY 65534
#define ROOT_CALL_BOUND_MS 1000.0
/* A round ends at its deadline plus event-loop latency; allow a generous second. */
#define DEADLINE_SLACK_MS 1500.0
#define RSS_BOUND_KB (16U * 1024U)

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static unsigned long vssd_rss_kb(const Harness *h) {
        char path[64], line[256];
        unsigned long kb = 0;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/status", (int) h->vssd_pid);
        f = fopen(path, "re");
        assert_non_null(f);
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

/* The slowest of n root calls, each on a new connection: connect, InitializeForBackup. */
static double root_call_worst_ms(unsigned n) {
        double worst = 0;

        for (unsigned i = 0; i < n; i++) {
                vss_requester *r = NULL;
                double t0 = now_ms(), dt;

                assert_hr(vss_requester_new(&r, NULL), S_OK);
                assert_hr(vss_requester_initialize_for_backup(r, NULL), S_OK);
                dt = now_ms() - t0;
                vss_requester_release(r);
                if (dt > worst)
                        worst = dt;
        }
        return worst;
}

static void test_stops_reading_in_freeze(void **state) {
        const char *front_args[] = { "--level", "front", NULL };
        /* It hangs in OnFreeze long enough for us to stop the whole process there. */
        const char *stopper_args[] = { "--level", "back", "--freeze-timeout", "1500", "--hang", "freeze:5000", NULL };
        _cleanup_free_ char *volume = NULL;
        TestWriter *front, *stopper;
        BackupRun run = {};
        vss_async *a = NULL;
        vss_requester *r;
        double t0, worst, elapsed;
        Harness *h;

        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        assert_ok0(harness_add_writer(h, "front", front_args, &front));
        assert_ok0(harness_add_writer(h, "stopper", stopper_args, &stopper));

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, volume, STEP_INITIALIZE, STEP_PREPARE, &run), S_OK);

        t0 = now_ms();
        assert_hr(vss_requester_do_snapshot_set(r, &a), S_OK);
        assert_ok0(writer_log_wait(stopper, "begin=Freeze", 1));
        assert_int_equal(kill(stopper->pid, SIGSTOP), 0);

        /* While the round waits for a writer that reads nothing, others are served. */
        worst = root_call_worst_ms(10);
        print_message("root's slowest call while a writer stopped reading in Freeze: %.1f ms\n", worst);
        assert_true(worst < ROOT_CALL_BOUND_MS);

        assert_hr(async_finish(S_OK, &a), VSS_E_WRITERERROR_TIMEOUT);
        elapsed = now_ms() - t0;
        print_message("DoSnapshotSet failed after %.0f ms (the writer's freeze timeout: 1500 ms)\n", elapsed);
        assert_true(elapsed < 1500 + DEADLINE_SLACK_MS);

        /* The writer that did its part was told at once, not when the stopped one woke up. */
        assert_ok0(writer_log_wait(front, "event=Abort", 1));
        assert_int_equal(writer_log_count(front, "event=Thaw"), 0);

        assert_int_equal(kill(stopper->pid, SIGCONT), 0);
        assert_hr(vss_requester_abort_backup(r), S_OK);
        vss_requester_release(r);
        assert_ok0(writer_log_wait(front, "event=BackupShutdown", 1));
        assert_nothing_frozen(front);
        assert_true(harness_vssd_alive(h));
        harness_free(h);
}

/* ------------------------------------------------------------------------------------------ */
/* The flooding writer                                                                         */
/* ------------------------------------------------------------------------------------------ */

typedef struct Flooder {
        const char *socket_path;
        bool drop;              /* become nobody (allowed with --allow-writer-uid) */
} Flooder;

static size_t put_u32(uint8_t *b, size_t o, uint32_t v) {
        b[o] = v & 0xff;
        b[o + 1] = (v >> 8) & 0xff;
        b[o + 2] = (v >> 16) & 0xff;
        b[o + 3] = (v >> 24) & 0xff;
        return o + 4;
}

static size_t pad8(uint8_t *b, size_t o) {
        while (o % 8)
                b[o++] = 0;
        return o;
}

static size_t field_string(uint8_t *b, size_t o, uint8_t code, char type, const char *s) {
        size_t n = strlen(s);

        o = pad8(b, o);
        b[o++] = code;
        b[o++] = 1;
        b[o++] = (uint8_t) type;
        b[o++] = 0;
        o = put_u32(b, o, (uint32_t) n);
        memcpy(b + o, s, n + 1);
        return o + n + 1;
}

/* A little-endian message without body: type 1 (call) or 4 (signal). */
static size_t build_message(uint8_t *b, uint8_t type, uint32_t serial, const char *iface, const char *member) {
        size_t o;

        b[0] = 'l';
        b[1] = type;
        b[2] = 0;
        b[3] = 1;
        put_u32(b, 4, 0);
        put_u32(b, 8, serial);
        o = field_string(b, 16, 1, 'o', VSS_BUS_PATH);
        o = field_string(b, o, 2, 's', iface);
        o = field_string(b, o, 3, 's', member);
        put_u32(b, 12, (uint32_t) (o - 16));
        return pad8(b, o);
}

/* Subscribe like a writer, then never process an event: write signals, and every 16th
 * message a call whose answer is never read, as fast as the socket takes them. */
static int flooder_main(int report_fd, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const Flooder *x = userdata;
        sd_bus_message *reply = NULL;
        sd_bus *bus = NULL;
        unsigned long sent = 0;
        vss_id id;
        int fd;

        if (x->drop && (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0))
                return 2;
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (vss_bus_connect(x->socket_path, &bus) < 0)
                return 3;
        vss_id_generate(&id);
        if (sd_bus_call_method(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_WRITER, "Subscribe", &error, &reply, "sssiiiuu",
                               vss_id_to_str(&id).s, "flooder", "", (int) VSS_UT_USERDATA, (int) VSS_ST_OTHER,
                               (int) VSS_APP_FRONT_END, 60000U, (uint32_t) VSS_SM_BACKUP_EVENTS_FLAG) < 0)
                return 4;
        sd_bus_message_unref(reply);
        report(report_fd, "flooding");

        /* sd-bus is idle from here on (nothing queued), so raw writes cannot interleave with it. */
        fd = sd_bus_get_fd(bus);
        (void) fcntl(fd, F_SETFL, O_NONBLOCK);
        for (uint32_t serial = 100;; serial++) {
                uint8_t msg[256];
                bool call = serial % 16 == 0;
                size_t len = call ? build_message(msg, 1, serial, "org.freedesktop.DBus.Peer", "Ping")
                                  : build_message(msg, 4, serial, "org.vsslinux.VSS1.Flood", "Noise");
                size_t done = 0;

                while (done < len) {
                        ssize_t k = send(fd, msg + done, len - done, MSG_NOSIGNAL);

                        if (k < 0 && errno == EAGAIN) {
                                struct pollfd p = { .fd = fd, .events = POLLOUT };

                                (void) poll(&p, 1, 100);
                                continue;
                        }
                        if (k < 0)
                                return 0;       /* vssd closed us: over */
                        done += (size_t) k;
                }
                sent++;
        }
}

static void test_floods_while_subscribed(void **state) {
        HarnessOptions opts = { .event_timeout_ms = 1000, .allow_writer_uid = geteuid() == 0 ? NOBODY : -1 };
        Flooder x = { .drop = geteuid() == 0 };
        _cleanup_free_ char *volume = NULL;
        unsigned long before, during;
        BackupRun run = {};
        TestWriter *honest;
        vss_requester *r;
        char line[64];
        double t0, elapsed, worst;
        Harness *h;
        pid_t pid;
        int fd;

        assert_ok0(harness_new(&opts, &h));
        assert_ok0(harness_make_socket_public(h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        assert_ok0(harness_add_writer(h, "honest", NULL, &honest));
        (void) root_call_worst_ms(2);
        before = vssd_rss_kb(h);

        x.socket_path = h->socket_path;
        assert_ok0(child_start(flooder_main, &x, &pid, &fd));
        assert_ok0(child_wait_report(fd, "flooding", line, sizeof line, HARNESS_WAIT_MS));
        (void) usleep(300 * 1000);      /* let the flood build up */

        worst = root_call_worst_ms(10);
        print_message("root's slowest call while a writer floods: %.1f ms\n", worst);
        assert_true(worst < ROOT_CALL_BOUND_MS);

        /* A whole backup: the flooder is left out at Identify when the event timeout passes,
         * the honest writer sees every event. */
        r = requester_new_checked();
        assert_non_null(r);
        t0 = now_ms();
        assert_hr(backup_run_steps(r, volume, STEP_INITIALIZE, STEP_GATHER, &run), S_OK);
        elapsed = now_ms() - t0;
        print_message("GatherWriterMetadata took %.0f ms with the flooder in it (event timeout: 1000 ms)\n", elapsed);
        assert_true(elapsed < 1000 + DEADLINE_SLACK_MS);
        assert_int_equal(run.n_writers, 1);
        assert_hr(backup_run_steps(r, volume, STEP_ADD_COMPONENTS, STEP_BACKUP_COMPLETE, &run), S_OK);
        vss_requester_release(r);
        assert_ok0(writer_log_wait(honest, "event=BackupShutdown", 1));
        assert_ok0(writer_log_wait(honest, "event=Thaw", 1));

        during = vssd_rss_kb(h);
        print_message("vssd VmRSS: %lu kB before, %lu kB during the flood\n", before, during);
        assert_rss_bound(during <= before + RSS_BOUND_KB);

        kill(pid, SIGKILL);
        (void) child_reap(pid);
        close(fd);
        assert_true(harness_vssd_alive(h));
        harness_free(h);
}

/* ------------------------------------------------------------------------------------------ */
/* An event larger than the socket holds                                                       */
/* ------------------------------------------------------------------------------------------ */

/* 200 components with options of VSS_MAX_STRING bytes each: a PrepareForBackup of about
 * 850 kB, more than the 512 KiB the kernel allows vssd's end of the socket (256 KiB asked in
 * client-dbus.c, doubled by the kernel). */
#define BIG_COMPONENTS 200U
#define EVENT_TIMEOUT_MS 3000U          /* vssd --event-timeout */

/*
 * The first part of the event fills the socket; the rest waits in vssd. A subscribed writer's
 * bus is driven by vssd itself (client-bus.c), which must watch the socket for room: were it
 * not watched, the rest would never go out and the writer would time out.
 */
static void test_event_larger_than_socket(void **state) {
        const char *args[2 * BIG_COMPONENTS + 1];
        char names[BIG_COMPONENTS][16];
        _cleanup_free_ char *options = NULL;
        vss_requester *r;
        vss_async *a = NULL;
        BackupRun run = {};
        TestWriter *w;
        double t0, elapsed;
        Harness *h;
        const HarnessOptions opts = { .event_timeout_ms = EVENT_TIMEOUT_MS, .allow_writer_uid = -1 };

        for (unsigned i = 0; i < BIG_COMPONENTS; i++) {
                snprintf(names[i], sizeof names[i], ":c%u", i);
                args[2 * i] = "--component";
                args[2 * i + 1] = names[i];
        }
        args[2 * BIG_COMPONENTS] = NULL;
        options = malloc(VSS_MAX_STRING + 1);
        assert_non_null(options);
        memset(options, 'o', VSS_MAX_STRING);
        options[VSS_MAX_STRING] = 0;

        assert_ok0(harness_new(&opts, &h));
        assert_ok0(harness_add_writer(h, "big", args, &w));

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(backup_run_steps(r, NULL, STEP_INITIALIZE, STEP_ADD_COMPONENTS, &run), S_OK);
        for (unsigned i = 0; i < BIG_COMPONENTS; i++)
                assert_hr(vss_requester_set_backup_options(r, &w->instance_id, &w->class_id, VSS_CT_FILEGROUP, "",
                                                           names[i] + 1, options),
                          S_OK);

        assert_int_equal(kill(w->pid, SIGSTOP), 0);
        assert_hr(vss_requester_prepare_for_backup(r, &a), S_OK);
        usleep(300 * 1000);     /* vssd has written what the socket takes */
        assert_int_equal(writer_log_count(w, "event=PrepareForBackup"), 0);
        t0 = now_ms();
        assert_int_equal(kill(w->pid, SIGCONT), 0);

        assert_hr(async_finish(S_OK, &a), VSS_S_ASYNC_FINISHED);
        elapsed = now_ms() - t0;
        print_message("PrepareForBackup of %u components answered %.0f ms after the writer ran again\n",
                      BIG_COMPONENTS, elapsed);
        assert_int_equal(writer_log_count(w, "event=PrepareForBackup"), 1);
        assert_true(elapsed < EVENT_TIMEOUT_MS);
        assert_writer_status(r, w, VSS_WS_STABLE, S_OK);

        vss_requester_release(r);
        assert_ok0(writer_log_wait(w, "event=BackupShutdown", 1));
        assert_true(harness_vssd_alive(h));
        harness_free(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stops_reading_in_freeze),
                cmocka_unit_test(test_floods_while_subscribed),
                cmocka_unit_test(test_event_larger_than_socket),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
