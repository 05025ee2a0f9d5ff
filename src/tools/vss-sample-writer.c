/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-sample-writer: a small application with data worth protecting, and its VSS writer.
 *
 * The application moves money between the accounts of a ledger file (ledger.h) as fast as
 * it can, each transfer being two separate writes; between them the ledger's invariant is
 * broken. The writer part shows what VSS adds over a bare snapshot: on Freeze it lets the
 * transfer in flight finish, makes the ledger durable and holds the application still until
 * Thaw (or Abort), so the snapshot always holds a ledger whose books balance, while the
 * application is stopped only for the few milliseconds of the commit.
 *
 * Usage: vss-sample-writer --dir DIR [--socket PATH] [--freeze-timeout MS]
 * Prints one line per VSS event on stdout. Stops on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"
#include "macro.h"
#include "tool.h"
#include "vss/vss.h"

/* The writer's class id: fixed, so requesters can recognise this application. */
#define SAMPLE_WRITER_CLASS "4f0c3a51-2a8e-4c55-9b7e-5a3e61c0d7a1"

typedef struct App {
        int fd;
        char *path;
        Ledger ledger;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool hold;        /* set by Freeze: the transfer loop must stop at the next boundary */
        bool idle;        /* set by the loop while it is parked at a boundary */
        bool stop;
        uint64_t transfers_at_freeze;
        struct timespec frozen_since;
} App;

static volatile sig_atomic_t quit;

static void on_signal(int sig) {
        quit = 1;
}

static int write_record(App *a, unsigned i) {
        char rec[LEDGER_RECORD_SIZE];
        ssize_t n;

        ledger_format_record(&a->ledger, i, rec);
        n = pwrite(a->fd, rec, sizeof(rec), (off_t) i * LEDGER_RECORD_SIZE);
        if (n < 0)
                return -errno;
        return n == (ssize_t) sizeof(rec) ? 0 : -EIO;
}

static int ledger_create(App *a) {
        int r;

        for (unsigned i = 0; i < LEDGER_ACCOUNTS; i++)
                a->ledger.balance[i] = LEDGER_START_BALANCE;
        a->ledger.transfers = 0;

        for (unsigned i = 0; i <= LEDGER_ACCOUNTS; i++) {
                r = write_record(a, i);
                if (r < 0)
                        return r;
        }
        return fsync(a->fd) < 0 ? -errno : 0;
}

/*
 * One transfer: debit, a little work, credit, count. The short pause between the two
 * writes stands for the application's own processing; it makes the broken window wide
 * enough that crash-consistent snapshots catch it often, which is the point of the demo.
 */
static int transfer(App *a, unsigned from, unsigned to, int64_t amount) {
        int r;

        a->ledger.balance[from] -= amount;
        r = write_record(a, from);
        if (r < 0)
                return r;

        (void) nanosleep(&(struct timespec) { .tv_nsec = 200 * 1000 }, NULL);

        a->ledger.balance[to] += amount;
        r = write_record(a, to);
        if (r < 0)
                return r;

        a->ledger.transfers++;
        return write_record(a, LEDGER_ACCOUNTS);
}

/* Park at a transfer boundary while a Freeze holds us. Called with a->lock held. */
static void wait_while_held(App *a) {
        while (a->hold && !a->stop) {
                a->idle = true;
                pthread_cond_broadcast(&a->cond);
                pthread_cond_wait(&a->cond, &a->lock);
        }
        a->idle = false;
}

static void *transfer_loop(void *userdata) {
        App *a = userdata;
        unsigned seed = (unsigned) getpid();

        pthread_mutex_lock(&a->lock);
        while (!a->stop) {
                unsigned from = (unsigned) rand_r(&seed) % LEDGER_ACCOUNTS;
                unsigned to = (from + 1 + (unsigned) rand_r(&seed) % (LEDGER_ACCOUNTS - 1)) % LEDGER_ACCOUNTS;
                int r;

                wait_while_held(a);
                if (a->stop)
                        break;

                r = transfer(a, from, to, 1 + rand_r(&seed) % 1000);
                if (r < 0) {
                        fprintf(stderr, "vss-sample-writer: transfer failed: %s\n", strerror(-r));
                        a->stop = true;
                        break;
                }

                /* Let Freeze in between transfers. */
                pthread_mutex_unlock(&a->lock);
                pthread_mutex_lock(&a->lock);
        }
        a->idle = true;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
        return NULL;
}

static double ms_since(const struct timespec *t0) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double) (now.tv_sec - t0->tv_sec) * 1e3 + (double) (now.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Releases the hold; shared by Thaw and Abort (VSS lets Abort reuse Thaw's logic). */
static void release_hold(App *a, const char *why) {
        pthread_mutex_lock(&a->lock);
        if (a->hold) {
                a->hold = false;
                pthread_cond_broadcast(&a->cond);
                printf("%s: application resumed after %.1f ms held\n", why, ms_since(&a->frozen_since));
        } else
                printf("%s: nothing held\n", why);
        pthread_mutex_unlock(&a->lock);
}

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        App *a = userdata;
        _cleanup_free_ char *dir = strdup(a->path);
        char *slash;

        if (!dir)
                return false;
        slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';

        return vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "ledger",
                                                        "Sample ledger", false, true, false, false, 0) == S_OK &&
               vss_create_writer_metadata_add_files_to_file_group(md, NULL, "ledger", dir, LEDGER_FILE_NAME,
                                                                  false, NULL,
                                                                  VSS_FSBT_ALL_BACKUP_REQUIRED |
                                                                          VSS_FSBT_ALL_SNAPSHOT_REQUIRED) == S_OK &&
               vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL,
                                                             VSS_WRE_NEVER, false) == S_OK;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        App *a = userdata;

        pthread_mutex_lock(&a->lock);
        a->hold = true;
        clock_gettime(CLOCK_MONOTONIC, &a->frozen_since);
        pthread_cond_broadcast(&a->cond);
        while (!a->idle && !a->stop)
                pthread_cond_wait(&a->cond, &a->lock);
        a->transfers_at_freeze = a->ledger.transfers;
        pthread_mutex_unlock(&a->lock);

        /* Durable before the provider commits: the snapshot must see the bytes on disk. */
        if (fdatasync(a->fd) < 0) {
                (void) vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_RETRYABLE);
                release_hold(a, "freeze failed");
                return false;
        }
        printf("freeze: application quiet after %" PRIu64 " transfers, ledger balances\n",
               a->transfers_at_freeze);
        fflush(stdout);
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        release_hold(userdata, "thaw");
        fflush(stdout);
        return true;
}

static bool on_abort(vss_writer *w, void *userdata) {
        release_hold(userdata, "abort");
        fflush(stdout);
        return true;
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *set_id, void *userdata) {
        char buf[VSS_ID_STRING_MAX];

        printf("backup-shutdown: snapshot set %s\n", vss_id_format(set_id, buf));
        fflush(stdout);
        return true;
}

static int parse_args(int argc, char **argv, const char **dir, const char **socket_path, uint32_t *freeze_ms) {
        static const struct option options[] = {
                { "dir", required_argument, NULL, 'd' },
                { "socket", required_argument, NULL, 's' },
                { "freeze-timeout", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "d:s:t:h", options, NULL)) >= 0)
                switch (c) {
                case 'd':
                        *dir = optarg;
                        break;
                case 's':
                        *socket_path = optarg;
                        break;
                case 't':
                        *freeze_ms = (uint32_t) strtoul(optarg, NULL, 10);
                        break;
                case 'h':
                        printf("Usage: vss-sample-writer --dir DIR [--socket PATH] [--freeze-timeout MS]\n"
                               "       vss-sample-writer --version\n\n"
                               "Exit status: 0 success, 1 usage error, 2 failure, 3 vssd is not reachable\n"
                               "(docs/exit-codes.md).\n");
                        return 0;
                case 'V':
                        (void) tool_version();
                        return 0;
                default:
                        return -tool_usage_error("unknown option");
                }

        if (optind < argc)
                return -tool_usage_error("unexpected argument \"%s\"", argv[optind]);
        if (!*dir)
                return -tool_usage_error("--dir is required");
        return 1;
}

int main(int argc, char **argv) {
        const char *dir = NULL, *socket_path = NULL;
        uint32_t freeze_ms = 10000;
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;
        vss_writer_callbacks cb = {
                .version = VSS_WRITER_CALLBACKS_VERSION,
                .on_identify = on_identify,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_abort = on_abort,
                .on_backup_shutdown = on_backup_shutdown,
        };
        App a = { .fd = -EBADF, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
        _cleanup_free_ char *ledger_path = NULL; /* a.path, freed on every return */
        vss_writer *w = NULL;
        pthread_t loop;
        vss_hr hr;
        int r;

        r = parse_args(argc, argv, &dir, &socket_path, &freeze_ms);
        if (r <= 0)
                return -r;

        if (asprintf(&ledger_path, "%s/%s", dir, LEDGER_FILE_NAME) < 0)
                return TOOL_EXIT_VSS;
        a.path = ledger_path;
        a.fd = open(a.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (a.fd < 0) {
                fprintf(stderr, "vss-sample-writer: cannot open %s: %m\n", a.path);
                return TOOL_EXIT_VSS;
        }
        r = ledger_create(&a);
        if (r < 0) {
                fprintf(stderr, "vss-sample-writer: cannot create the ledger: %s\n", strerror(-r));
                return TOOL_EXIT_VSS;
        }

        (void) vss_id_parse(SAMPLE_WRITER_CLASS, &opts.writer_id);
        opts.writer_name = "Sample Ledger Writer";
        opts.instance_name = dir;
        opts.usage_type = VSS_UT_USERDATA;
        opts.source_type = VSS_ST_NONTRANSACTEDDB;
        opts.freeze_timeout_ms = freeze_ms;
        opts.socket_path = socket_path;

        hr = vss_writer_new(&w, &opts, &cb, &a);
        if (hr == S_OK)
                hr = vss_writer_subscribe(w, VSS_SM_BACKUP_EVENTS_FLAG);
        if (hr != S_OK) {
                vss_writer_free(w);
                if (hr == VSS_E_WRITER_INFRASTRUCTURE)
                        return tool_vssd_unreachable_probe(socket_path);
                return tool_vss_error(hr, "cannot subscribe");
        }

        (void) signal(SIGTERM, on_signal);
        (void) signal(SIGINT, on_signal);

        if (pthread_create(&loop, NULL, transfer_loop, &a) != 0) {
                vss_writer_free(w);
                return TOOL_EXIT_VSS;
        }
        printf("subscribed: ledger %s, transfers running\n", a.path);
        fflush(stdout);

        while (!quit)
                pause();

        pthread_mutex_lock(&a.lock);
        a.stop = true;
        pthread_cond_broadcast(&a.cond);
        pthread_mutex_unlock(&a.lock);
        (void) pthread_join(loop, NULL);

        vss_writer_free(w);
        printf("stopped after %" PRIu64 " transfers\n", a.ledger.transfers);
        close(a.fd);
        return EXIT_SUCCESS;
}
