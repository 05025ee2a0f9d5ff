/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * consistency-writer: a writer process whose data makes a snapshot's consistency checkable,
 * used by the root test and by the benchmark.
 *
 * The application appends numbered records ("seq=0000000042\n", 15 bytes) to a data file as
 * fast as a short pause allows; each record is two write() calls, so a snapshot taken at an
 * arbitrary moment can catch a torn record. The writer part is what VSS adds: OnFreeze stops
 * the appender between two records (it takes the lock the appender holds while writing),
 * makes the file durable and writes the last sequence number it made durable into a record
 * file kept OUTSIDE the frozen volume; OnThaw and OnAbort let the appender go on. The test
 * then proves that the snapshot ends exactly at that number while the live file grew.
 *
 * Usage: consistency-writer [--socket PATH] [--data FILE] [--freeze-record FILE]
 *                           [--freeze-log FILE] [--name NAME] [--freeze-timeout MS]
 *                           [--no-write]
 *   --data          the file to append to (truncated at start); also named in Identify
 *   --freeze-record where OnFreeze writes the last durable sequence number
 *   --freeze-log    where the writer notes how long each Thaw/Abort found it frozen (µs, a
 *                   line each); fully buffered, written when the buffer fills and when it
 *                   stops, so that no file I/O lengthens the Thaw it answers (what the
 *                   benchmark times)
 *   --no-write      take part in the backup, hold nothing but the lock (benchmark mode)
 *
 * Prints "READY" on stdout once subscribed, then nothing more there. Stops on SIGTERM or
 * SIGINT; exit status 0 when every write and every event succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "vss/vss.h"
#include "time-util.h"

/* The writer class id: fixed, so requesters (the test) can recognise this writer. */
#define CONSISTENCY_WRITER_CLASS "8e5d2f6a-3c41-4b7e-9f20-6a1d4c8b0e35"
#define RECORD_SIZE 15
#define LOG_BUFFER_SIZE (64 * 1024) /* --freeze-log lines held before a write: thousands */

typedef struct Writer {
        const char *data_path;
        const char *record_path;
        const char *log_path;
        bool write_data;
        int fd;
        FILE *log;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool hold;            /* set by Freeze: the appender must wait */
        bool stop;
        bool failed;          /* a write or an event handler failed */
        uint64_t seq;         /* last record completely written */
        uint64_t frozen_at;   /* CLOCK_MONOTONIC µs of the Freeze that set hold */
} Writer;

static int write_all(int fd, const char *buf, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, buf, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += k;
                n -= (size_t) k;
        }
        return 0;
}

/* One record in two writes: the window between them is what a freeze must never cut. */
static int append_record(Writer *c) {
        char rec[32]; /* room for any uint64_t; records stay 15 bytes below 10^10 */
        int r;

        (void) snprintf(rec, sizeof(rec), "seq=%010" PRIu64 "\n", c->seq + 1);
        r = write_all(c->fd, rec, RECORD_SIZE - 1);
        if (r < 0)
                return r;
        r = write_all(c->fd, rec + RECORD_SIZE - 1, 1);
        if (r < 0)
                return r;
        c->seq++;
        return 0;
}

static void *appender(void *userdata) {
        Writer *c = userdata;

        for (;;) {
                int r;

                pthread_mutex_lock(&c->lock);
                while (c->hold && !c->stop)
                        pthread_cond_wait(&c->cond, &c->lock);
                if (c->stop) {
                        pthread_mutex_unlock(&c->lock);
                        break;
                }
                r = append_record(c);
                if (r < 0) {
                        fprintf(stderr, "consistency-writer: append to %s: %s\n", c->data_path, strerror(-r));
                        c->failed = true;
                        c->stop = true;
                }
                pthread_mutex_unlock(&c->lock);

                /* A short pause keeps the file growing at a modest rate. */
                (void) nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 }, NULL);
        }
        return NULL;
}

/* Writes "N\n" to path atomically (temporary file, fsync, rename). */
static int record_write(const char *path, uint64_t seq) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        char line[32];
        int r, n;

        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        n = snprintf(line, sizeof(line), "%" PRIu64 "\n", seq);
        r = write_all(fd, line, (size_t) n);
        if (r < 0)
                return r;
        if (fsync(fd) < 0 || rename(tmp, path) < 0)
                return -errno;
        return 0;
}

/* Thaw and Abort: let the appender go on and note how long it was held. Repeats are harmless. */
static bool resume(Writer *c) {
        bool ok = true;

        pthread_mutex_lock(&c->lock);
        if (c->hold) {
                uint64_t held = now_usec() - c->frozen_at;

                c->hold = false;
                pthread_cond_broadcast(&c->cond);
                if (c->log && fprintf(c->log, "%" PRIu64 "\n", held) < 0)
                        ok = false;
        }
        pthread_mutex_unlock(&c->lock);
        return ok;
}

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        Writer *c = userdata;
        _cleanup_free_ char *dir = NULL, *base = NULL;

        if (!c->data_path)
                return vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "records",
                                                                "Sequence records", false, false, true, false,
                                                                0) == S_OK;

        dir = strdup(c->data_path);
        base = strdup(c->data_path);
        if (!dir || !base)
                return false;

        return vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "records",
                                                        "Sequence records", false, true, true, false,
                                                        0) == S_OK &&
               vss_create_writer_metadata_add_files_to_file_group(md, NULL, "records", dirname(dir),
                                                                  basename(base), false, NULL,
                                                                  VSS_FSBT_ALL_BACKUP_REQUIRED |
                                                                          VSS_FSBT_ALL_SNAPSHOT_REQUIRED) == S_OK;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        Writer *c = userdata;
        uint64_t durable;
        int r = 0;

        /* Holding the lock means the appender sits between two records. */
        pthread_mutex_lock(&c->lock);
        c->hold = true;
        c->frozen_at = now_usec();
        if (c->write_data && fsync(c->fd) < 0)
                r = -errno;
        durable = c->seq;
        pthread_mutex_unlock(&c->lock);

        if (r >= 0 && c->record_path)
                r = record_write(c->record_path, durable);
        if (r < 0) {
                fprintf(stderr, "consistency-writer: freeze: %s\n", strerror(-r));
                (void) vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_RETRYABLE);
                c->failed = true;
                (void) resume(c);
                return false;
        }
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        Writer *c = userdata;

        if (!resume(c)) {
                c->failed = true;
                return false;
        }
        return true;
}

static bool on_abort(vss_writer *w, void *userdata) {
        (void) resume(userdata);
        return true;
}

typedef struct Args {
        const char *socket_path;
        const char *name;
        uint32_t freeze_timeout_ms;
} Args;

static int parse_args(int argc, char **argv, Writer *c, Args *a) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "data", required_argument, NULL, 'd' },
                { "freeze-record", required_argument, NULL, 'r' },
                { "freeze-log", required_argument, NULL, 'l' },
                { "name", required_argument, NULL, 'n' },
                { "freeze-timeout", required_argument, NULL, 't' },
                { "no-write", no_argument, NULL, 'W' },
                {}
        };
        int opt;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case 's':
                        a->socket_path = optarg;
                        break;
                case 'd':
                        c->data_path = optarg;
                        break;
                case 'r':
                        c->record_path = optarg;
                        break;
                case 'l':
                        c->log_path = optarg;
                        break;
                case 'n':
                        a->name = optarg;
                        break;
                case 't':
                        a->freeze_timeout_ms = (uint32_t) strtoul(optarg, NULL, 10);
                        break;
                case 'W':
                        c->write_data = false;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc || (c->write_data && !c->data_path))
                return -EINVAL;
        return 0;
}

int main(int argc, char **argv) {
        Writer c = {
                .fd = -EBADF,
                .write_data = true,
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .cond = PTHREAD_COND_INITIALIZER,
        };
        Args a = {};
        static const vss_writer_callbacks cb = {
                .version = VSS_WRITER_CALLBACKS_VERSION,
                .on_identify = on_identify,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_abort = on_abort,
        };
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;
        vss_writer *w = NULL;
        pthread_t thread;
        sigset_t mask;
        vss_hr hr;
        int sig;

        if (parse_args(argc, argv, &c, &a) < 0) {
                fprintf(stderr, "Usage: %s [--socket PATH] --data FILE [--freeze-record FILE] "
                                "[--freeze-log FILE] [--name NAME] [--freeze-timeout MS] [--no-write]\n",
                        argv[0]);
                return EXIT_FAILURE;
        }

        /* Signals are taken by sigwait() below; block them before any thread exists. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);

        if (c.write_data) {
                c.fd = open(c.data_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
                if (c.fd < 0) {
                        fprintf(stderr, "consistency-writer: %s: %m\n", c.data_path);
                        return EXIT_FAILURE;
                }
        }

        if (c.log_path) {
                c.log = fopen(c.log_path, "ae");
                if (!c.log || setvbuf(c.log, NULL, _IOFBF, LOG_BUFFER_SIZE) != 0) {
                        fprintf(stderr, "consistency-writer: %s: %m\n", c.log_path);
                        return EXIT_FAILURE;
                }
        }

        (void) vss_id_parse(CONSISTENCY_WRITER_CLASS, &opts.writer_id);
        opts.writer_name = "consistency-writer";
        opts.instance_name = a.name;
        opts.socket_path = a.socket_path;
        if (a.freeze_timeout_ms > 0)
                opts.freeze_timeout_ms = a.freeze_timeout_ms;

        hr = vss_writer_new(&w, &opts, &cb, &c);
        if (VSS_SUCCEEDED(hr))
                hr = vss_writer_subscribe(w, VSS_SM_BACKUP_EVENTS_FLAG | VSS_SM_POST_SNAPSHOT_FLAG);
        if (VSS_FAILED(hr)) {
                fprintf(stderr, "consistency-writer: subscribe: %s\n", vss_hr_name(hr));
                vss_writer_free(w);
                return EXIT_FAILURE;
        }

        if (c.write_data && pthread_create(&thread, NULL, appender, &c) != 0) {
                fprintf(stderr, "consistency-writer: cannot start the appender\n");
                vss_writer_free(w);
                return EXIT_FAILURE;
        }

        printf("READY\n");
        fflush(stdout);

        while (sigwait(&mask, &sig) != 0)
                ;

        /* Unsubscribe first: a writer frozen at this moment is thawed by libvss (on_abort). */
        vss_writer_free(w);

        pthread_mutex_lock(&c.lock);
        c.stop = true;
        pthread_cond_broadcast(&c.cond);
        pthread_mutex_unlock(&c.lock);
        if (c.write_data) {
                (void) pthread_join(thread, NULL);
                (void) close(c.fd);
        }
        if (c.log && fclose(c.log) != 0) {
                fprintf(stderr, "consistency-writer: %s: %m\n", c.log_path);
                c.failed = true;
        }
        return c.failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
