/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bacula: the issue-13 proof: fleet backups through Bacula, with vss-linux on every
 * Linux client. A real Director (SQLite catalog), Storage Daemon (File device in a
 * temporary directory) and two File Daemons on their own ports and working directories —
 * two "hosts" — run as children of the test (bacula-harness.h). Each host backs up its own
 * loop-mounted btrfs volume holding a SQLite database under continuous write load
 * (sqlite-load, which writes down each acknowledged commit outside the volume) with
 * vss-writer-sqlite taking part; one vssd serves both hosts, as on one machine.
 *
 * What it proves, each test case asserting what could fail:
 *   test_plain_full_incremental  Bacula's plain FileSet (no snapshot: the live files) on
 *                                both hosts at once, Full then Incremental: both end OK,
 *                                the catalog lists the volume's paths, the Incremental only
 *                                what changed.
 *   test_plain_restore           each host's Full + Incremental restored into a new
 *                                directory through bconsole gives back every file's bytes.
 *   test_job_times               the same Full and Incremental jobs, one at a time, timed
 *                                (a table on the test's output; nothing asserted on time).
 *
 * Needs root (loop devices, mount) and Debian's bacula-director, bacula-sd, bacula-fd and
 * bacula-console: exits 77 when not root. VSSD, VSS_WRITER_SQLITE and SQLITE_LOAD name the
 * programs (meson sets them); BACULA_SBINDIR the Bacula daemons' directory (/usr/sbin).
 * VSS_TEST_KEEP=1 leaves the site's directory (configurations, logs, bconsole transcripts)
 * in place for a look after a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "bacula-harness.h"
#include "macro.h"
#include "root-harness.h"
#include "writers-harness.h"

#define N_HOSTS 2
#define IMAGE_SIZE (UINT64_C(1) << 30)
#define BULK_FILES 16
#define BULK_FILE_SIZE (UINT64_C(1) << 20)
#define MAX_TIMINGS 16

typedef struct Host {
        const char *name;      /* "host1": its File Daemon is "host1-fd" */
        size_t index;          /* in the site's File Daemons */
        LoopBtrfs fs;
        char *vol;             /* <mnt>/vol: the subvolume every FileSet of the host backs up */
        char *files;           /* <vol>/files: static files whose bytes a restore must give back */
        char *db;              /* <vol>/app/app.db: the application's database */
        char *acks;            /* outside the volume: sqlite-load's acknowledged commits */
        pid_t load;
        pid_t sqlite_writer;
        char *sqlite_writer_log;
        unsigned changes;      /* files added since the last backup (files/changed-N) */
} Host;

typedef struct Timing {
        const char *fileset;   /* "plain" or "vss" */
        const char *level;
        const char *host;
        uint64_t usec;         /* run to the end of wait, wall-clock */
        char files[32];        /* JobFiles */
        char bytes[32];        /* JobBytes */
} Timing;

typedef struct Fixture {
        char *dir;             /* the site: configurations, logs, volumes, restores */
        Vssd vssd;
        BaculaSite site;
        Host hosts[N_HOSTS];
        unsigned plain_full[N_HOSTS], plain_incr[N_HOSTS];
        Timing timings[MAX_TIMINGS];
        size_t n_timings;
        unsigned serial;
} Fixture;

#define assert_ok(expr)                                                                            \
        do {                                                                                       \
                int _r = (expr);                                                                   \
                if (_r < 0) {                                                                      \
                        print_error("%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, strerror(-_r)); \
                        fail();                                                                    \
                }                                                                                  \
        } while (0)

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        if (r < 0)
                abort();
        return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Hosts                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* A file of size bytes that no other file repeats (a restore mixing files up shows). */
static int make_file(const char *path, uint64_t size, unsigned seed) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint64_t *buf = malloc(65536);
        uint64_t x = 0x9e3779b97f4a7c15ULL * (seed + 1);

        if (!buf)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        for (uint64_t done = 0; done < size; done += 65536) {
                size_t n = (size_t) MIN(size - done, (uint64_t) 65536);

                for (size_t i = 0; i < 65536 / sizeof(uint64_t); i++) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        buf[i] = x;
                }
                if (write(fd, buf, n) != (ssize_t) n)
                        return -EIO;
        }
        return 0;
}

/* Starts the application's load and its writer; the load has committed once on return. */
static int host_start_app(Fixture *f, Host *h) {
        char line[64];
        int out = -EBADF, r;

        r = process_spawn((char *const[]) { getenv("SQLITE_LOAD"), (char *) "--db", h->db, (char *) "--acks",
                                            h->acks, (char *) "--think-us", (char *) "500", NULL },
                          &h->load, &out);
        if (r < 0)
                return r;
        r = read_line_timeout(out, line, sizeof(line), WH_WAIT_MS);
        (void) close(out);
        if (r < 0 || strcmp(line, "READY") != 0)
                return r < 0 ? r : -EPROTO;

        r = spawn_logged((char *const[]) { getenv("VSS_WRITER_SQLITE"), (char *) "--db", h->db, (char *) "--socket",
                                           f->vssd.socket, (char *) "--lock-timeout", (char *) "5000",
                                           (char *) "--freeze-timeout", (char *) "20000", NULL },
                         h->sqlite_writer_log, &h->sqlite_writer);
        if (r < 0)
                return r;
        return log_wait(h->sqlite_writer_log, "lock budget", 1, WH_WAIT_MS);
}

static int host_setup(Fixture *f, Host *h, size_t index, const char *name) {
        _cleanup_free_ char *app = NULL;
        int r;

        h->name = name;
        h->index = index;
        r = loop_btrfs_setup("/var/tmp/vss-bacula-e2e-vol-XXXXXX", IMAGE_SIZE, &h->fs);
        if (r < 0) {
                fprintf(stderr, "cannot set up %s's btrfs volume: %s\n", name, strerror(-r));
                return r;
        }
        h->vol = path_join(h->fs.mnt, "vol");
        if (btrfs_util_create_subvolume(h->vol, 0, NULL, NULL) != BTRFS_UTIL_OK)
                return -EIO;
        h->files = path_join(h->vol, "files");
        app = path_join(h->vol, "app");
        h->db = path_join(app, "app.db");
        h->acks = xasprintf("%s/%s-acks.txt", f->dir, name);
        h->sqlite_writer_log = xasprintf("%s/%s-writer-sqlite.log", f->dir, name);
        if (mkdir(h->files, 0755) < 0 || mkdir(app, 0755) < 0)
                return -errno;
        for (unsigned i = 0; i < BULK_FILES; i++) {
                _cleanup_free_ char *p = xasprintf("%s/bulk-%02u", h->files, i);

                r = make_file(p, BULK_FILE_SIZE, (unsigned) index * 1000 + i);
                if (r < 0)
                        return r;
        }
        return host_start_app(f, h);
}

static void host_teardown(Host *h) {
        if (h->load > 0)
                (void) process_stop(h->load, 5000);
        if (h->sqlite_writer > 0)
                (void) process_stop(h->sqlite_writer, 5000);
        if (getenv("VSS_TEST_KEEP"))
                fprintf(stderr, "keeping %s (mounted at %s)\n", h->fs.dir, h->fs.mnt);
        else
                (void) loop_btrfs_teardown(&h->fs);
        free(h->vol);
        free(h->files);
        free(h->db);
        free(h->acks);
        free(h->sqlite_writer_log);
        *h = (Host) {};
}

/* A new file on the host's volume: what the next Incremental must carry. */
static char *host_change(Host *h) {
        char *p = xasprintf("%s/changed-%u", h->files, ++h->changes);

        if (make_file(p, 4096, 7000 + h->changes) < 0) {
                free(p);
                return NULL;
        }
        return p;
}

/* ------------------------------------------------------------------------------------------ */
/* The site                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* The test's FileSets and Jobs: for each host, "plain-<host>" backs up the live volume. */
static char *site_resources(const Fixture *f) {
        _cleanup_free_ char *text = strdup("");

        for (size_t i = 0; i < N_HOSTS; i++) {
                const Host *h = &f->hosts[i];
                char *more = xasprintf("%s"
                                       "FileSet {\n"
                                       "  Name = plain-%s\n"
                                       "  Include {\n"
                                       "    Options {\n"
                                       "      signature = MD5\n"
                                       "    }\n"
                                       "    File = \"%s\"\n"
                                       "  }\n"
                                       "}\n"
                                       "Job {\n"
                                       "  Name = plain-%s\n"
                                       "  Type = Backup\n"
                                       "  Level = Full\n"
                                       "  Client = %s-fd\n"
                                       "  FileSet = plain-%s\n"
                                       "  Storage = storage\n"
                                       "  Pool = pool\n"
                                       "  Messages = standard\n"
                                       "  Write Bootstrap = \"%s/%%n-%%i.bsr\"\n"
                                       "}\n",
                                       text, h->name, h->vol, h->name, h->name, h->name, f->site.dir_work);
                free(text);
                text = more;
        }
        return TAKE_PTR(text);
}

static int group_teardown(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
        bacula_site_done(&f->site);
        for (size_t i = 0; i < N_HOSTS; i++)
                host_teardown(&f->hosts[i]);
        vssd_stop(&f->vssd);
        if (f->dir) {
                if (getenv("VSS_TEST_KEEP"))
                        fprintf(stderr, "keeping %s\n", f->dir);
                else
                        (void) rm_rf_physical(f->dir);
        }
        free(f->dir);
        free(f);
        *state = NULL;
        return 0;
}

static int group_setup(void **state) {
        static const char *const names[N_HOSTS] = { "host1", "host2" };
        _cleanup_free_ char *resources = NULL;
        char tmpl[] = "/var/tmp/vss-bacula-e2e-XXXXXX";
        Fixture *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return -1;
        *state = f;
        for (size_t i = 0; i < N_HOSTS; i++)
                f->hosts[i].fs.loop_fd = -EBADF;
        if (!mkdtemp(tmpl))
                goto fail;
        f->dir = strdup(tmpl);
        if (!f->dir)
                goto fail;

        if (vssd_start(f->dir, false, 20000, &f->vssd) < 0)
                goto fail;
        for (size_t i = 0; i < N_HOSTS; i++) {
                r = host_setup(f, &f->hosts[i], i, names[i]);
                if (r < 0) {
                        fprintf(stderr, "cannot set up %s: %s\n", names[i], strerror(-r));
                        goto fail;
                }
        }

        r = bacula_site_init(f->dir, names, N_HOSTS, &f->site);
        if (r < 0)
                goto fail;
        resources = site_resources(f);
        r = bacula_site_start(&f->site, resources);
        if (r < 0) {
                fprintf(stderr, "cannot start the Bacula site in %s: %s\n", f->dir, strerror(-r));
                goto fail;
        }
        fprintf(stderr, "bacula site in %s: director port %u, storage %u, %s %u, %s %u\n", f->dir,
                f->site.dir_port, f->site.sd_port, f->site.fds[0].name, f->site.fds[0].port, f->site.fds[1].name,
                f->site.fds[1].port);
        return 0;

fail:
        (void) group_teardown(state);
        return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Jobs                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Prints the job's messages (its report, its errors) into the test's log. */
static void print_job_log(Fixture *f, unsigned jobid) {
        _cleanup_free_ char *log = NULL;

        if (bacula_job_log(&f->site, jobid, &log) >= 0)
                print_message("--- job %u\n%s---\n", jobid, log);
}

/* Waits for jobid and asserts it ended with status expected, printing its log when not. */
static void assert_job_ends(Fixture *f, unsigned jobid, char expected) {
        char status = '?';

        assert_ok(bacula_wait(&f->site, jobid, &status));
        if (status != expected) {
                print_error("job %u ended with status %c, expected %c\n", jobid, status, expected);
                print_job_log(f, jobid);
                fail();
        }
}

/* The job's level letter in the catalog (F, I, D). */
static char job_level(Fixture *f, unsigned jobid) {
        _cleanup_free_ char *v = NULL;

        assert_ok(bacula_llist(&f->site, jobid, "Level", &v));
        return v[0];
}

static void record_timing(Fixture *f, const char *fileset, const char *level, const Host *h, unsigned jobid,
                          uint64_t usec) {
        _cleanup_free_ char *files = NULL, *bytes = NULL;
        Timing *t;

        assert_true(f->n_timings < MAX_TIMINGS);
        t = &f->timings[f->n_timings++];
        *t = (Timing) { .fileset = fileset, .level = level, .host = h->name, .usec = usec };
        if (bacula_llist(&f->site, jobid, "JobFiles", &files) >= 0)
                (void) snprintf(t->files, sizeof(t->files), "%s", files);
        if (bacula_llist(&f->site, jobid, "JobBytes", &bytes) >= 0)
                (void) snprintf(t->bytes, sizeof(t->bytes), "%s", bytes);
}

/* Runs job at level on every host at once (job is "<prefix>-<host>"); the JobIds in ret. */
static void run_on_all(Fixture *f, const char *prefix, const char *level, unsigned ret[N_HOSTS]) {
        for (size_t i = 0; i < N_HOSTS; i++) {
                _cleanup_free_ char *job = xasprintf("%s-%s", prefix, f->hosts[i].name);

                assert_ok(bacula_run(&f->site, job, level, &ret[i]));
        }
}

/* Compares two files byte for byte. */
static bool same_bytes(const char *a, const char *b) {
        _cleanup_free_ char *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;

        if (read_file_full(a, &x, &nx) < 0 || read_file_full(b, &y, &ny) < 0)
                return false;
        return nx == ny && memcmp(x, y, nx) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Plain FileSet: Bacula alone, on the live files                                              */
/* ------------------------------------------------------------------------------------------ */

static void test_plain_full_incremental(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *changed[N_HOSTS] = {};

        run_on_all(f, "plain", "Full", f->plain_full);
        for (size_t i = 0; i < N_HOSTS; i++) {
                _cleanup_free_ char *list = NULL, *bulk = xasprintf("%s/bulk-00", f->hosts[i].files);

                assert_job_ends(f, f->plain_full[i], 'T');
                assert_int_equal(job_level(f, f->plain_full[i]), 'F');
                /* The catalog names the files where they live. */
                assert_ok(bacula_list_files(&f->site, f->plain_full[i], &list));
                assert_true(bacula_list_has(list, bulk));
                assert_true(bacula_list_has(list, f->hosts[i].db));
                changed[i] = host_change(&f->hosts[i]);
                assert_non_null(changed[i]);
        }

        run_on_all(f, "plain", "Incremental", f->plain_incr);
        for (size_t i = 0; i < N_HOSTS; i++) {
                _cleanup_free_ char *list = NULL, *bulk = xasprintf("%s/bulk-00", f->hosts[i].files);

                assert_job_ends(f, f->plain_incr[i], 'T');
                assert_int_equal(job_level(f, f->plain_incr[i]), 'I');
                assert_ok(bacula_list_files(&f->site, f->plain_incr[i], &list));
                /* What changed (the new file, the database under load), not what did not. */
                assert_true(bacula_list_has(list, changed[i]));
                assert_true(bacula_list_has(list, f->hosts[i].db));
                assert_false(bacula_list_has(list, bulk));
        }
}

static void test_plain_restore(void **state) {
        Fixture *f = *state;
        unsigned restore[N_HOSTS];
        char *where[N_HOSTS] = {};

        assert_true(f->plain_full[0] > 0 && f->plain_incr[0] > 0);
        for (size_t i = 0; i < N_HOSTS; i++) {
                _cleanup_free_ char *jobids = xasprintf("%u,%u", f->plain_full[i], f->plain_incr[i]);

                where[i] = xasprintf("%s/restore-plain-%s", f->dir, f->hosts[i].name);
                assert_ok(bacula_restore(&f->site, f->site.fds[i].name, jobids, where[i], &restore[i]));
        }
        for (size_t i = 0; i < N_HOSTS; i++) {
                const Host *h = &f->hosts[i];

                assert_job_ends(f, restore[i], 'T');
                /* Every static file and the Incremental's new one come back, byte for byte,
                 * under where + the original path. */
                for (unsigned k = 0; k < BULK_FILES; k++) {
                        _cleanup_free_ char *orig = xasprintf("%s/bulk-%02u", h->files, k);
                        _cleanup_free_ char *back = xasprintf("%s%s", where[i], orig);

                        if (!same_bytes(orig, back)) {
                                print_error("%s: %s differs from %s\n", h->name, back, orig);
                                fail();
                        }
                }
                for (unsigned k = 1; k <= h->changes; k++) {
                        _cleanup_free_ char *orig = xasprintf("%s/changed-%u", h->files, k);
                        _cleanup_free_ char *back = xasprintf("%s%s", where[i], orig);

                        assert_true(same_bytes(orig, back));
                }
                free(where[i]);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Job times                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Runs job at level alone, waits, asserts it ended OK and records its time. */
static void timed_job(Fixture *f, const char *fileset, const char *level, Host *h) {
        _cleanup_free_ char *job = xasprintf("%s-%s", fileset, h->name), *changed = NULL;
        unsigned jobid;
        uint64_t t0;

        if (strcmp(level, "Incremental") == 0) {
                changed = host_change(h);
                assert_non_null(changed);
        }
        t0 = now_usec();
        assert_ok(bacula_run(&f->site, job, level, &jobid));
        assert_job_ends(f, jobid, 'T');
        record_timing(f, fileset, level, h, jobid, now_usec() - t0);
}

static void test_job_times(void **state) {
        static const char *const filesets[] = { "plain" };
        Fixture *f = *state;

        for (size_t i = 0; i < N_HOSTS; i++)
                for (size_t k = 0; k < ELEMENTSOF(filesets); k++) {
                        timed_job(f, filesets[k], "Full", &f->hosts[i]);
                        timed_job(f, filesets[k], "Incremental", &f->hosts[i]);
                }

        print_message("job times (each job alone; run to the end of `wait`, wall-clock):\n");
        print_message("%-6s %-7s %-12s %8s %8s %12s\n", "host", "fileset", "level", "ms", "files", "bytes");
        for (size_t i = 0; i < f->n_timings; i++) {
                const Timing *t = &f->timings[i];

                print_message("%-6s %-7s %-12s %8.0f %8s %12s\n", t->host, t->fileset, t->level,
                              (double) t->usec / 1e3, t->files, t->bytes);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_full_incremental),
                cmocka_unit_test(test_plain_restore),
                cmocka_unit_test(test_job_times),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-bacula needs root (loop devices, mount, Bacula's daemons); skipping\n");
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
