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
 * vss-bacula is configured from the shipped samples (examples/bacula/bacula-dir.conf and
 * bacula-fd.conf): their FileSet, JobDefs with the RunScript pair, backup and restore jobs and
 * the Snapshot Command line, with only the names, paths and the program's private options
 * (vssd's socket, the host's run and state directories) replaced. An observer writer
 * (vss-test-writer) on each host, whose component is the host's files/, logs every event with
 * its backup type and each component's backup-succeeded flag.
 *
 * What it proves, each test case asserting what could fail:
 *   test_plain_full_incremental  Bacula's plain FileSet (no snapshot: the live files) on
 *                                both hosts at once, Full then Incremental: both end OK,
 *                                the catalog lists the volume's paths, the Incremental only
 *                                what changed.
 *   test_plain_restore           each host's Full + Incremental restored into a new
 *                                directory gives back every file's bytes.
 *   test_vss_full_incremental    through vss-bacula, Full then Incremental on both hosts at
 *                                once: every job ends OK; each host's writers (SQLite and the
 *                                observer) were frozen once per job of their host and never
 *                                for the other's; BackupComplete with success and the backup
 *                                type of the level (FULL, INCREMENTAL); the catalog holds the
 *                                original paths only (no snapshot path); nothing is left.
 *   test_vss_restore_elsewhere   each host's Full + Incremental restored into a new
 *                                directory (a restore job without the RunScript pair): no
 *                                writer event; the database passes integrity_check, holds
 *                                whole transactions 1..N, every transaction acknowledged
 *                                before the Incremental's Freeze and none begun after it;
 *                                host1's PostgreSQL starts on its copy, passes pg_amcheck and
 *                                holds every commit acknowledged before Freeze.
 *   test_vss_restore_in_place    the application stopped and a file damaged, the sample's
 *                                restore job (where=/) gives the writers PreRestore and
 *                                PostRestore, puts back the file's bytes and the same
 *                                database as the restore elsewhere; the application runs on.
 *   test_vss_restore_in_place_pg host1 in place with PostgreSQL (server stopped, data
 *                                directory emptied): the PostgreSQL writer's PostRestore puts
 *                                the backup label in place, the server recovers from it and
 *                                holds every commit acknowledged before Freeze.
 *   test_vss_same_host_together  two jobs of one host started together both end OK, one
 *                                Freeze and one successful BackupComplete each.
 *   test_vss_cancel              a job cancelled mid-copy (bandwidth-limited): status A, the
 *                                writers get BackupComplete with backup-succeeded false, the
 *                                volume and the database take writes at once, no mount and
 *                                no shadow copy left.
 *   test_vss_fd_killed           the File Daemon SIGKILLed mid-copy: the job fails, the
 *                                writers get BackupShutdown (and no successful outcome),
 *                                nothing is frozen, vssd keeps no shadow copy.
 *   test_job_times               the same Full and Incremental jobs, one at a time, plain
 *                                and through vss-bacula (a table; nothing asserted on time).
 *
 * Needs root (loop devices, mount) and Debian's bacula-director, bacula-sd, bacula-fd and
 * bacula-console: exits 77 when not root. VSSD, VSS_WRITER_SQLITE and SQLITE_LOAD name the
 * programs (meson sets them); BACULA_SBINDIR the Bacula daemons' directory (/usr/sbin).
 * TEST_BACULA_ONLY=PATTERN runs only the matching tests; TEST_BACULA_RUNS=N repeats the
 * job times' round N times (the figures in docs/bacula.md); BACULA_DEBUG=N[,TAGS] passes -d to
 * every daemon. VSS_TEST_KEEP=1 leaves the site's directory (configurations, logs, bconsole transcripts)
 * in place for a look after a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "alloc-util.h"
#include "bacula-harness.h"
#include "json-check.h"
#ifdef TEST_BACULA_PG
#include "pg-cluster.h"
#endif
#include "macro.h"
#include "root-harness.h"
#include "vb-harness.h"
#include "writers-harness.h"

#define N_HOSTS 2
#define IMAGE_SIZE (UINT64_C(1) << 30)
#define BULK_FILES 16
#define BULK_FILE_SIZE (UINT64_C(1) << 20)
#define MAX_RUNS 10
#define MAX_TIMINGS (MAX_RUNS * N_HOSTS * 4)
#define OBSERVER_CLASS "5f0e3c1a-8b2d-4c6e-9f7a-3d5b1e9c2a40"
/* The slow jobs' rate (bytes/s): the copy of a host's volume then takes seconds. */
#define SLOW_RATE "2 mb/s"
#define CLEANUP_WAIT_MS 60000U
#define WRITE_BOUND_MS 10000U

typedef struct Host {
        const char *name;      /* "host1": its File Daemon is "host1-fd" */
        size_t index;          /* in the site's File Daemons */
        LoopBtrfs fs;
        char *vol;             /* <mnt>/data: what every FileSet of the host backs up */
        char *files;           /* <vol>/files: static files whose bytes a restore must give back */
        char *db;              /* <vol>/app/app.db: the application's database */
        char *acks;            /* outside the volume: sqlite-load's acknowledged commits */
        pid_t load;
        pid_t sqlite_writer;
        char *sqlite_writer_log;
        char *vss_run;         /* vss-bacula's agents' sockets (/run/vss/bacula on a host) */
        char *vss_state;       /* its kept documents (/var/lib/vss/bacula on a host) */
        pid_t observer;        /* vss-test-writer: its component is files/; it logs every event */
        char *observer_log;
        unsigned changes;      /* files added since the last backup (files/changed-N) */
#ifdef TEST_BACULA_PG
        /* host1 also runs PostgreSQL: its data directory on the volume (<vol>/pg) */
        PgCluster pg;
        char *pg_acks;         /* outside the volume: pg-load's acknowledged commits */
        pid_t pg_load;
        pid_t pg_writer;
        char *pg_writer_log;
#endif
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
        unsigned vss_full[N_HOSTS], vss_incr[N_HOSTS];
        unsigned vss_incr_lock[N_HOSTS]; /* the Incremental's "lock held" line in the SQLite writer's log */
        char *vss_where[N_HOSTS];        /* where the Incremental was restored (another directory) */
        unsigned vss_incr_pg_freeze;     /* host1's Incremental: its PostgreSQL writer's freeze line */
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

/* Whether vss-bacula is there to test (meson names it when it is built). */
static bool have_vss(void) {
        const char *e = getenv("VSS_BACULA");

        return e && *e && getenv("VSS_TEST_WRITER") && getenv("VSSADMIN");
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

/* Starts the application's load; it has committed once on return. */
static int host_start_load(Host *h) {
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
        return 0;
}

/* Starts the application's load and its writer. */
static int host_start_app(Fixture *f, Host *h) {
        int r;

        r = host_start_load(h);
        if (r < 0)
                return r;
        r = spawn_logged((char *const[]) { getenv("VSS_WRITER_SQLITE"), (char *) "--db", h->db, (char *) "--socket",
                                           f->vssd.socket, (char *) "--lock-timeout", (char *) "5000",
                                           (char *) "--freeze-timeout", (char *) "20000", NULL },
                         h->sqlite_writer_log, &h->sqlite_writer);
        if (r < 0)
                return r;
        return log_wait(h->sqlite_writer_log, "lock budget", 1, WH_WAIT_MS);
}

/*
 * The observer: a writer whose component is the host's files/ directory and that writes
 * down every event with what it carried (backup type, each component's backup-succeeded
 * flag, the previous backup's stamp), so the test sees what the writers were told.
 */
static int host_start_observer(Fixture *f, Host *h) {
        _cleanup_free_ char *name = xasprintf("bacula observer %s", h->name);
        _cleanup_free_ char *stamp = xasprintf("stamp-%s", h->name);
        int r;

        r = spawn_logged((char *const[]) { getenv("VSS_TEST_WRITER"), (char *) "--name", name, (char *) "--class",
                                           (char *) OBSERVER_CLASS, (char *) "--instance", (char *) h->name,
                                           (char *) "--component", (char *) "observer:files", (char *) "--file",
                                           h->files, (char *) "--stamp", stamp, (char *) "--writer-restore",
                                           (char *) "always", (char *) "--log", h->observer_log, NULL },
                         h->observer_log, &h->observer);
        if (r < 0)
                return r;
        return log_wait(h->observer_log, "subscribed", 1, WH_WAIT_MS);
}

#ifdef TEST_BACULA_PG
#define PG_PORT 5432U
#define PG_RESTORED_PORT 5433U

/* Whether the host runs PostgreSQL too (host1, when the server and the writer are built). */
static bool host_has_pg(const Host *h) {
        return h->index == 0 && getenv("PG_BINDIR") && getenv("PG_LOAD") && getenv("VSS_WRITER_POSTGRESQL");
}

static char *pg_sock_dir(const Fixture *f) {
        return path_join(f->dir, "pg-sock");
}

/*
 * A PostgreSQL cluster on the host's volume (it runs as postgres, so the directories on the
 * way are opened to it), its witness client pg-load committing one row at a time, and
 * vss-writer-postgresql, whose label sets live off the volume.
 */
static int host_start_pg(Fixture *f, Host *h) {
        _cleanup_free_ char *sock = pg_sock_dir(f), *data = path_join(h->vol, "pg");
        _cleanup_free_ char *log = xasprintf("%s/%s-postgres.log", f->dir, h->name);
        _cleanup_free_ char *labels = xasprintf("%s/%s-pg-labels", f->dir, h->name);
        char line[64];
        int out = -EBADF, r;

        if (chmod(f->dir, 0755) < 0 || chmod(h->fs.dir, 0755) < 0 || chmod(h->fs.mnt, 0755) < 0 ||
            chmod(h->vol, 0755) < 0 || mkdir(sock, 0755) < 0 || mkdir(labels, 0700) < 0)
                return -errno;
        r = pg_chown_postgres(sock, 0755);
        if (r < 0)
                return r;
        r = pg_cluster_describe(data, sock, PG_PORT, log, &h->pg);
        if (r >= 0)
                r = pg_cluster_init(&h->pg);
        if (r >= 0)
                r = pg_cluster_start(&h->pg);
        if (r < 0) {
                fprintf(stderr, "cannot start PostgreSQL on %s (log %s)\n", data, log);
                return r;
        }

        h->pg_acks = xasprintf("%s/%s-pg-acks.txt", f->dir, h->name);
        r = process_spawn((char *const[]) { getenv("PG_LOAD"), (char *) "--conninfo", h->pg.conninfo,
                                            (char *) "--acks", h->pg_acks, (char *) "--seconds", (char *) "900",
                                            NULL },
                          &h->pg_load, &out);
        if (r < 0)
                return r;
        r = read_line_timeout(out, line, sizeof(line), WH_WAIT_MS);
        (void) close(out);
        if (r < 0 || strcmp(line, "READY") != 0)
                return r < 0 ? r : -EPROTO;

        h->pg_writer_log = xasprintf("%s/%s-writer-postgresql.log", f->dir, h->name);
        r = spawn_logged((char *const[]) { getenv("VSS_WRITER_POSTGRESQL"), (char *) "--conninfo", h->pg.conninfo,
                                           (char *) "--label-dir", labels, (char *) "--socket", f->vssd.socket,
                                           (char *) "--lock-timeout", (char *) "5000", (char *) "--freeze-timeout",
                                           (char *) "20000", NULL },
                         h->pg_writer_log, &h->pg_writer);
        if (r < 0)
                return r;
        return log_wait(h->pg_writer_log, "subscribed", 1, WH_WAIT_MS);
}

static void host_stop_pg(Host *h) {
        if (h->pg_load > 0)
                (void) process_stop(h->pg_load, 5000);
        if (h->pg_writer > 0)
                (void) process_stop(h->pg_writer, 5000);
        pg_cluster_done(&h->pg);
        free(h->pg_acks);
        free(h->pg_writer_log);
}

/* The PostgreSQL writer's freezes so far. */
static unsigned pg_freezes(const Host *h) {
        return host_has_pg(h) ? log_count(h->pg_writer_log, "freeze: backup active") : 0;
}
#else
static bool host_has_pg(const Host *h) {
        return false;
}

static unsigned pg_freezes(const Host *h) {
        return 0;
}
#endif

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
        /* A directory of the mounted filesystem, as most FileSets name: the File Daemon
         * snapshots the filesystems of its mount table (an unmounted nested subvolume has a
         * device of its own that the File Daemon only knows of through the backend's
         * "subvolumes" answer). */
        h->vol = path_join(h->fs.mnt, "data");
        if (mkdir(h->vol, 0755) < 0)
                return -errno;
        h->files = path_join(h->vol, "files");
        app = path_join(h->vol, "app");
        h->db = path_join(app, "app.db");
        h->acks = xasprintf("%s/%s-acks.txt", f->dir, name);
        h->sqlite_writer_log = xasprintf("%s/%s-writer-sqlite.log", f->dir, name);
        h->vss_run = xasprintf("%s/%s-vss-run", f->dir, name);
        h->vss_state = xasprintf("%s/%s-vss-state", f->dir, name);
        if (mkdir(h->vss_run, 0700) < 0 || mkdir(h->vss_state, 0700) < 0)
                return -errno;
        if (mkdir(h->files, 0755) < 0 || mkdir(app, 0755) < 0)
                return -errno;
        for (unsigned i = 0; i < BULK_FILES; i++) {
                _cleanup_free_ char *p = xasprintf("%s/bulk-%02u", h->files, i);

                r = make_file(p, BULK_FILE_SIZE, (unsigned) index * 1000 + i);
                if (r < 0)
                        return r;
        }
        r = host_start_app(f, h);
        if (r < 0)
                return r;
#ifdef TEST_BACULA_PG
        if (host_has_pg(h)) {
                r = host_start_pg(f, h);
                if (r < 0)
                        return r;
        }
#endif
        if (!have_vss())
                return 0;
        h->observer_log = xasprintf("%s/%s-observer.log", f->dir, name);
        return host_start_observer(f, h);
}

static void host_teardown(Host *h) {
#ifdef TEST_BACULA_PG
        if (host_has_pg(h))
                host_stop_pg(h);
#endif
        if (h->load > 0)
                (void) process_stop(h->load, 5000);
        if (h->sqlite_writer > 0)
                (void) process_stop(h->sqlite_writer, 5000);
        if (h->observer > 0)
                (void) process_stop(h->observer, 5000);
        if (getenv("VSS_TEST_KEEP"))
                fprintf(stderr, "keeping %s (mounted at %s)\n", h->fs.dir, h->fs.mnt);
        else
                (void) loop_btrfs_teardown(&h->fs);
        free(h->vol);
        free(h->files);
        free(h->db);
        free(h->acks);
        free(h->sqlite_writer_log);
        free(h->observer_log);
        free(h->vss_run);
        free(h->vss_state);
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

/* ------------------------------------------------------------------------------------------ */
/* The shipped sample configuration, made the test's own                                       */
/* ------------------------------------------------------------------------------------------ */

/* examples/bacula/<name> from the source tree, whole. */
static char *sample_read(const char *name) {
        const char *src = getenv("VSS_TEST_SRCDIR");
        _cleanup_free_ char *path = xasprintf("%s/examples/bacula/%s", src ? src : ".", name);
        char *text = NULL;

        if (read_file_full(path, &text, NULL) < 0) {
                fprintf(stderr, "cannot read the sample %s\n", path);
                return NULL;
        }
        return text;
}

/* Whether the resource block b (from its "Type {" line) has Name = name, quoted or not. */
static bool block_named(const char *b, size_t len, const char *name) {
        _cleanup_free_ char *quoted = xasprintf("Name = \"%s\"\n", name), *bare = xasprintf("Name = %s\n", name);

        return memmem(b, len, quoted, strlen(quoted)) || memmem(b, len, bare, strlen(bare));
}

/* The resource "type { ... }" named name in a sample, from its first line to its closing
 * brace (nested blocks included), malloc'd; NULL when there is none. */
static char *sample_resource(const char *text, const char *type, const char *name) {
        _cleanup_free_ char *head = xasprintf("%s {\n", type);

        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                const char *q;
                int depth = 0;

                if (strncmp(p, head, strlen(head)) != 0)
                        continue;
                for (q = p; *q; q++) {
                        if (*q == '#')  /* a comment to the end of its line */
                                q += strcspn(q, "\n") - 1;
                        else if (*q == '{')
                                depth++;
                        else if (*q == '}' && --depth == 0)
                                break;
                }
                if (*q && block_named(p, (size_t) (q - p), name))
                        return xasprintf("%.*s}\n", (int) (q - p), p);
        }
        return NULL;
}

/* s with every occurrence of from replaced by to (s is freed). */
static char *replace_all(char *s, const char *from, const char *to) {
        _cleanup_free_ char *in = s;
        char *out = xasprintf("%s", ""), *more;
        const char *p = in, *hit;

        while ((hit = strstr(p, from))) {
                more = xasprintf("%s%.*s%s", out, (int) (hit - p), p, to);
                free(out);
                out = more;
                p = hit + strlen(from);
        }
        more = xasprintf("%s%s", out, p);
        free(out);
        return more;
}

/*
 * Each line of block b whose directive is key ("  Key = value", any indentation) becomes
 * "Key = value" (value NULL: the line goes); with once, only the first one is kept. b is
 * freed.
 */
static char *set_directive(char *b, const char *key, const char *value, bool once) {
        _cleanup_free_ char *in = b;
        char *out = xasprintf("%s", "");
        bool done = false;

        for (const char *p = in; *p;) {
                size_t n = strcspn(p, "\n"), ws = strspn(p, " \t");
                char *more;

                if (strncmp(p + ws, key, strlen(key)) == 0 && strncmp(p + ws + strlen(key), " = ", 3) == 0) {
                        if (value && !(once && done))
                                more = xasprintf("%s%.*s%s = %s\n", out, (int) ws, p, key, value);
                        else
                                more = xasprintf("%s", out);
                        done = true;
                } else
                        more = xasprintf("%s%.*s\n", out, (int) n, p);
                free(out);
                out = more;
                p += n;
                if (*p == '\n')
                        p++;
        }
        return out;
}

/* Block b with line (indented, without '\n') added before its closing brace. b is freed. */
static char *add_directive(char *b, const char *line) {
        _cleanup_free_ char *in = b;
        char *close = strrchr(in, '}');

        return xasprintf("%.*s  %s\n}\n", (int) (close - in), in, line);
}

/* vss-bacula as the samples name it, and as this test runs it: the built program, with
 * this site's vssd and the host's own directories (each host of a fleet has its own). */
#define SAMPLE_PROGRAM "/usr/libexec/vss/vss-bacula"

static char *vss_command(const Fixture *f, const Host *h) {
        return xasprintf("%s --socket %s --run-dir %s --state-dir %s", getenv("VSS_BACULA"), f->vssd.socket,
                         h->vss_run, h->vss_state);
}

/*
 * The Director's side of host h, from examples/bacula/bacula-dir.conf: its FileSet
 * ("web1-vss" → vss-<host>, the File lines → the host's volume), its JobDefs ("vss-linux",
 * with the RunScript pair), the backup Job ("web1-backup" → vss-<host>), the same at
 * SLOW_RATE (vss-slow-<host>, for acting mid-copy) and the restore job
 * ("web1-restore-in-place" → restore-in-place-<host>). Names of the site's storage, pool
 * and messages replace the sample's; nothing else is changed.
 */
static char *vss_resources(const Fixture *f, const Host *h) {
        _cleanup_free_ char *text = sample_read("bacula-dir.conf"), *cmd = vss_command(f, h);
        _cleanup_free_ char *fileset_name = xasprintf("\"vss-%s\"", h->name), *file = xasprintf("\"%s\"", h->vol);
        _cleanup_free_ char *jobdefs_name = xasprintf("\"vss-linux-%s\"", h->name);
        _cleanup_free_ char *job_name = xasprintf("\"vss-%s\"", h->name), *client = xasprintf("%s-fd", h->name);
        _cleanup_free_ char *slow_name = xasprintf("\"vss-slow-%s\"", h->name);
        _cleanup_free_ char *restore_name = xasprintf("\"restore-in-place-%s\"", h->name);
        char *fileset, *jobdefs, *job, *slow, *restore, *all;

        if (!text)
                return NULL;
        fileset = sample_resource(text, "FileSet", "web1-vss");
        jobdefs = sample_resource(text, "JobDefs", "vss-linux");
        job = sample_resource(text, "Job", "web1-backup");
        restore = sample_resource(text, "Job", "web1-restore-in-place");
        if (!fileset || !jobdefs || !job || !restore) {
                fprintf(stderr, "examples/bacula/bacula-dir.conf lacks a resource the test uses\n");
                free(fileset), free(jobdefs), free(job), free(restore);
                return NULL;
        }

        fileset = set_directive(fileset, "Name", fileset_name, false);
        fileset = set_directive(fileset, "File", file, true);

        jobdefs = set_directive(jobdefs, "Name", jobdefs_name, false);
        jobdefs = set_directive(jobdefs, "Storage", "storage", false);
        jobdefs = set_directive(jobdefs, "Pool", "pool", false);
        jobdefs = set_directive(jobdefs, "Messages", "standard", false);
        jobdefs = replace_all(jobdefs, SAMPLE_PROGRAM, cmd);

        job = set_directive(job, "JobDefs", jobdefs_name, false);
        job = set_directive(job, "Client", client, false);
        job = set_directive(job, "FileSet", fileset_name, false);
        job = set_directive(job, "Schedule", NULL, false);
        slow = set_directive(xasprintf("%s", job), "Name", slow_name, false);
        slow = add_directive(slow, "Maximum Bandwidth = " SLOW_RATE);
        job = set_directive(job, "Name", job_name, false);

        restore = set_directive(restore, "Name", restore_name, false);
        restore = set_directive(restore, "Client", client, false);
        restore = set_directive(restore, "FileSet", fileset_name, false);
        restore = set_directive(restore, "Storage", "storage", false);
        restore = set_directive(restore, "Pool", "pool", false);
        restore = set_directive(restore, "Messages", "standard", false);
        restore = replace_all(restore, SAMPLE_PROGRAM, cmd);

        all = xasprintf("%s%s%s%s%s", fileset, jobdefs, job, slow, restore);
        free(fileset), free(jobdefs), free(job), free(slow), free(restore);
        return all;
}

/* The File Daemon's side, from examples/bacula/bacula-fd.conf: its Snapshot Command line. */
static char *vss_fd_directives(const Fixture *f, const Host *h) {
        _cleanup_free_ char *text = sample_read("bacula-fd.conf"), *cmd = vss_command(f, h), *line = NULL;
        const char *p;

        p = text ? strstr(text, "Snapshot Command = ") : NULL;
        if (!p)
                return NULL;
        line = xasprintf("  %.*s\n", (int) strcspn(p, "\n"), p);
        return replace_all(TAKE_PTR(line), SAMPLE_PROGRAM, cmd);
}

/* The test's FileSets and Jobs: for each host, "plain-<host>" backs up the live volume;
 * with vss-bacula, "vss-<host>" backs up the same through a snapshot set. */
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
                if (have_vss()) {
                        _cleanup_free_ char *vss = vss_resources(f, h);

                        if (!vss)
                                return NULL;
                        more = xasprintf("%s%s", text, vss);
                        free(text);
                        text = more;
                }
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
        for (size_t i = 0; i < N_HOSTS; i++)
                free(f->vss_where[i]);
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
        /* Every program the test starts (writers, vssadmin, the File Daemons and what they
         * run) finds this vssd. */
        if (setenv("VSS_SOCKET", f->vssd.socket, 1) < 0)
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
        if (have_vss())
                for (size_t i = 0; i < N_HOSTS; i++) {
                        f->site.fds[i].directives = vss_fd_directives(f, &f->hosts[i]);
                        if (!f->site.fds[i].directives)
                                goto fail;
                }
        resources = site_resources(f);
        if (!resources)
                goto fail;
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
        char *changed[N_HOSTS] = {}; /* freed at the end: a cleanup attribute would free [0] only */

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
                _cleanup_free_ char *wal = xasprintf("%s-wal", f->hosts[i].db);

                assert_job_ends(f, f->plain_incr[i], 'T');
                assert_int_equal(job_level(f, f->plain_incr[i]), 'I');
                assert_ok(bacula_list_files(&f->site, f->plain_incr[i], &list));
                /* What changed (the new file, the database's WAL under load), not what did
                 * not. */
                assert_true(bacula_list_has(list, changed[i]));
                assert_true(bacula_list_has(list, wal));
                assert_false(bacula_list_has(list, bulk));
        }
        for (size_t i = 0; i < N_HOSTS; i++)
                free(changed[i]);
}

static void test_plain_restore(void **state) {
        Fixture *f = *state;
        unsigned restore[N_HOSTS];
        char *where[N_HOSTS] = {};

        assert_true(f->plain_full[0] > 0 && f->plain_incr[0] > 0);
        for (size_t i = 0; i < N_HOSTS; i++) {
                _cleanup_free_ char *jobids = xasprintf("%u,%u", f->plain_full[i], f->plain_incr[i]);

                where[i] = xasprintf("%s/restore-plain-%s", f->dir, f->hosts[i].name);
                assert_ok(bacula_restore(&f->site, f->site.fds[i].name, jobids, where[i], NULL, &restore[i]));
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
/* Checks of what the writers were told and of what is left                                  */
/* ------------------------------------------------------------------------------------------ */

/* Lines of the host's observer log for event (e.g. "Freeze"). */
static unsigned observed(const Host *h, const char *event) {
        _cleanup_free_ char *needle = xasprintf("event=%s ", event);

        return log_count(h->observer_log, needle);
}

/* Waits until the observer logged event n times in all. */
static void assert_observed(const Host *h, const char *event, unsigned n) {
        _cleanup_free_ char *needle = xasprintf("event=%s ", event);

        if (log_wait(h->observer_log, needle, n, CLEANUP_WAIT_MS) < 0) {
                print_error("%s: the observer saw %s %u time(s), expected %u (%s)\n", h->name, event,
                            observed(h, event), n, h->observer_log);
                fail();
        }
}

/* The observer's index-th (0-based) line for event, which must exist. */
static char *observed_line(const Host *h, const char *event, unsigned index) {
        _cleanup_free_ char *needle = xasprintf("event=%s ", event);
        char *line = log_line(h->observer_log, needle, index);

        if (!line) {
                print_error("%s: no %s #%u in %s\n", h->name, event, index, h->observer_log);
                fail();
        }
        return line;
}

/* The SQLite writer's freezes so far ("lock held" lines). */
static unsigned sqlite_freezes(const Host *h) {
        return log_count(h->sqlite_writer_log, "lock held");
}

/*
 * Runs fn(arg) in a child and waits at most ms for it: 0 when it returned 0 in time, -EIO
 * when it failed, -ETIMEDOUT when it did not finish (a child stuck on a frozen filesystem is
 * left behind: SIGKILL waits for the thaw). *ret_ms: how long it took.
 */
static int within(unsigned ms, int (*fn)(const void *arg), const void *arg, double *ret_ms) {
        uint64_t t0 = now_usec(), deadline = t0 + (uint64_t) ms * USEC_PER_MSEC;
        pid_t pid = fork();
        int status;

        if (pid < 0)
                return -errno;
        if (pid == 0)
                _exit(fn(arg) == 0 ? 0 : 1);
        while (now_usec() < deadline) {
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        *ret_ms = (double) (now_usec() - t0) / 1e3;
                        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
                }
                (void) usleep(5000);
        }
        (void) kill(pid, SIGKILL);
        *ret_ms = (double) ms;
        return -ETIMEDOUT;
}

/* A new file on the volume, written and synced. */
static int write_volume(const void *arg) {
        const Host *h = arg;
        _cleanup_free_ char *p = xasprintf("%s/probe-%d", h->vol, (int) getpid());
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || write(fd, "x", 1) != 1 || fsync(fd) < 0)
                return -1;
        (void) close(fd);
        return unlink(p);
}

/* One commit into the application's database, with no more than a second of busy wait. */
static int commit_db(const void *arg) {
        const Host *h = arg;
        sqlite3 *db = NULL;
        int rc;

        if (sqlite3_open(h->db, &db) != SQLITE_OK)
                return -1;
        (void) sqlite3_busy_timeout(db, 5000);
        rc = sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS probe (x INTEGER); INSERT INTO probe VALUES (1)", NULL, NULL,
                          NULL);
        sqlite3_close(db);
        return rc == SQLITE_OK ? 0 : -1;
}

/* Runs argv to its end; its stdout in *ret (malloc'd). */
static int run_capture(char *const argv[], char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, size = 0;
        int out = -EBADF, status, r;
        pid_t pid;

        r = process_spawn(argv, &pid, &out);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t k;

                r = GREEDY_REALLOC(buf, size, n + 4096);
                if (r < 0)
                        break;
                k = read(out, buf + n, size - n - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        (void) close(out);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (r < 0)
                return r;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EPROTO;
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

/* The shadow copies vssd still has, of any set. */
static int shadows_left(unsigned *ret) {
        _cleanup_free_ char *out = NULL;
        int r;

        r = run_capture((char *const[]) { getenv("VSSADMIN"), (char *) "list", (char *) "shadows", (char *) "--json",
                                          NULL },
                        &out);
        if (r < 0)
                return r;
        if (!json_valid(out))
                return -EBADMSG;
        *ret = json_array_length(out);
        return 0;
}

/* Mounts below the host's directory other than its volume itself (an exposed snapshot). */
static unsigned mounts_below(const Host *h) {
        _cleanup_free_ char *text = NULL;
        size_t len = strlen(h->fs.dir);
        unsigned n = 0;

        if (read_file_full("/proc/self/mountinfo", &text, NULL) < 0)
                return UINT_MAX;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                char mnt[PATH_MAX];

                /* "id parent major:minor root mountpoint ..." */
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
                        continue;
                if (strncmp(mnt, h->fs.dir, len) == 0 && strcmp(mnt, h->fs.mnt) != 0)
                        n++;
        }
        return n;
}

/*
 * Nothing of the job is left on the host: the volume and the database take writes at once,
 * no mount is left below the volume, and vssd's catalog holds no shadow copy (after vssd's
 * own cleanup, waited for).
 */
static void assert_nothing_left(Fixture *f, const Host *h) {
        uint64_t deadline = now_usec() + (uint64_t) CLEANUP_WAIT_MS * USEC_PER_MSEC;
        unsigned left = UINT_MAX;

        double ms = 0;
        int r;

        /* A hold left behind lasts until a freeze timeout (20 s here); a write under this
         * machine's load takes well under the bound. */
        r = within(WRITE_BOUND_MS, write_volume, h, &ms);
        if (r < 0) {
                print_error("%s: a write to the volume %s after %.0f ms\n", h->name,
                            r == -ETIMEDOUT ? "did not finish" : "failed", ms);
                fail();
        }
        r = within(WRITE_BOUND_MS, commit_db, h, &ms);
        if (r < 0) {
                print_error("%s: a commit into %s %s after %.0f ms\n", h->name, h->db,
                            r == -ETIMEDOUT ? "did not finish" : "failed", ms);
                fail();
        }
        assert_int_equal(mounts_below(h), 0);
        for (;;) {
                assert_ok(shadows_left(&left));
                if (left == 0 || now_usec() > deadline)
                        break;
                (void) usleep(100000);
        }
        if (left != 0) {
                print_error("%s: %u shadow copies left (vssadmin list shadows)\n", h->name, left);
                fail();
        }
}

/* Waits until a slow job copies: the observer saw its set taken and the client sent bytes. */
static void wait_copying(Fixture *f, const Host *h, unsigned jobid, unsigned post_snapshots) {
        uint64_t deadline = now_usec() + (uint64_t) CLEANUP_WAIT_MS * USEC_PER_MSEC;
        uint64_t bytes = 0;

        assert_observed(h, "PostSnapshot", post_snapshots);
        for (;;) {
                int r = bacula_client_running(&f->site, f->site.fds[h->index].name, jobid, &bytes);

                assert_ok(r);
                if (r > 0 && bytes > 0)
                        break;
                if (now_usec() > deadline) {
                        print_error("%s: job %u never copied (running %d, %" PRIu64 " bytes)\n", h->name, jobid, r,
                                    bytes);
                        fail();
                }
                (void) usleep(100000);
        }
        print_message("%s: job %u copying (%" PRIu64 " bytes sent)\n", h->name, jobid, bytes);
}

/* Every path of a job's catalog lies on the host's volume, as the application sees it. */
static void assert_original_paths(Fixture *f, const Host *h, unsigned jobid, const char *const *must) {
        _cleanup_free_ char *list = NULL;
        size_t len = strlen(h->vol), n = 0;

        assert_ok(bacula_list_files(&f->site, jobid, &list));
        for (const char *p = list; *p;) {
                size_t k = strcspn(p, "\n");

                /* The volume itself, its parents (as directories) or a path below it. */
                if (!(strncmp(p, h->vol, MIN(k, len)) == 0 && (k <= len || p[len] == '/')) ||
                    memmem(p, k, ".vss", 4)) {
                        print_error("%s: job %u lists %.*s, not a path of %s\n", h->name, jobid, (int) k, p, h->vol);
                        fail();
                }
                n++;
                p += k;
                if (*p == '\n')
                        p++;
        }
        assert_true(n > 0);
        for (size_t i = 0; must[i]; i++)
                if (!bacula_list_has(list, must[i])) {
                        print_error("%s: job %u does not list %s\n", h->name, jobid, must[i]);
                        fail();
                }
}

/*
 * Opens a restored database as the application would (nothing done to it before), checks
 * PRAGMA integrity_check and that it holds whole transactions 1..N. Returns N.
 */
static int64_t check_restored_db(const char *path) {
        sqlite3_stmt *st = NULL;
        int64_t expect = 1;
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *) sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT txn, count(*) FROM t GROUP BY txn ORDER BY txn", -1, &st,
                                            NULL),
                         SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                assert_int_equal(sqlite3_column_int64(st, 0), expect);
                assert_int_equal(sqlite3_column_int(st, 1), 3);
                expect++;
        }
        sqlite3_finalize(st);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
        return expect - 1;
}

/* The monotonic time on the SQLite writer's index-th line holding needle. */
static uint64_t sqlite_marker(const Host *h, const char *needle, unsigned index) {
        _cleanup_free_ char *line = log_line(h->sqlite_writer_log, needle, index);
        uint64_t t = 0;

        if (!line) {
                print_error("%s: no \"%s\" #%u in %s\n", h->name, needle, index, h->sqlite_writer_log);
                fail();
        }
        assert_int_equal(line_u64_after(line, "(monotonic ", &t), 0);
        return t;
}

/* ------------------------------------------------------------------------------------------ */
/* Through vss-bacula                                                                          */
/* ------------------------------------------------------------------------------------------ */

/*
 * Checks one host's job at level ("Full": type 1, "Incremental": type 2) after it ended:
 * one more Freeze for its writers, none for the other host's, BackupComplete with success
 * and the backup type, the catalog under the original paths.
 */
static void check_vss_job(Fixture *f, size_t i, unsigned jobid, const char *level, unsigned freezes_before,
                          unsigned sqlite_before, unsigned pg_before, const char *changed) {
        const Host *h = &f->hosts[i];
        _cleanup_free_ char *bulk = xasprintf("%s/bulk-00", h->files), *freeze = NULL, *complete = NULL;
        _cleanup_free_ char *type = xasprintf("backup_type=%d", strcmp(level, "Full") == 0 ? 1 : 2);
        const char *must[] = { h->db, strcmp(level, "Full") == 0 ? bulk : changed, NULL };

        assert_job_ends(f, jobid, 'T');
        assert_int_equal(job_level(f, jobid), level[0]);
        assert_observed(h, "BackupComplete", freezes_before + 1);
        assert_int_equal(observed(h, "Freeze"), freezes_before + 1);
        assert_int_equal(sqlite_freezes(h), sqlite_before + 1);
        assert_int_equal(pg_freezes(h), pg_before + host_has_pg(h));
        freeze = observed_line(h, "Freeze", freezes_before);
        complete = observed_line(h, "BackupComplete", freezes_before);
        if (!strstr(freeze, type) || !strstr(complete, type) || !strstr(complete, "observer/files:1")) {
                print_error("%s: job %u (%s): the writers were told\n  %s\n  %s\n", h->name, jobid, level, freeze,
                            complete);
                fail();
        }
        assert_original_paths(f, h, jobid, must);
}

static void test_vss_full_incremental(void **state) {
        Fixture *f = *state;
        unsigned freezes[N_HOSTS], sqlite[N_HOSTS], pg[N_HOSTS];
        char *changed[N_HOSTS] = {}; /* freed at the end: a cleanup attribute would free [0] only */

        for (size_t i = 0; i < N_HOSTS; i++) {
                freezes[i] = observed(&f->hosts[i], "Freeze");
                sqlite[i] = sqlite_freezes(&f->hosts[i]);
                pg[i] = pg_freezes(&f->hosts[i]);
        }
        /* Both hosts at once: neither waits for the other (different volumes, one vssd). */
        run_on_all(f, "vss", "Full", f->vss_full);
        for (size_t i = 0; i < N_HOSTS; i++)
                check_vss_job(f, i, f->vss_full[i], "Full", freezes[i], sqlite[i], pg[i], NULL);

        for (size_t i = 0; i < N_HOSTS; i++) {
                changed[i] = host_change(&f->hosts[i]);
                assert_non_null(changed[i]);
                freezes[i] = observed(&f->hosts[i], "Freeze");
                sqlite[i] = sqlite_freezes(&f->hosts[i]);
                pg[i] = pg_freezes(&f->hosts[i]);
        }
        f->vss_incr_pg_freeze = pg[0];
        run_on_all(f, "vss", "Incremental", f->vss_incr);
        for (size_t i = 0; i < N_HOSTS; i++) {
                _cleanup_free_ char *list = NULL, *bulk = xasprintf("%s/bulk-00", f->hosts[i].files);

                check_vss_job(f, i, f->vss_incr[i], "Incremental", freezes[i], sqlite[i], pg[i], changed[i]);
                /* Only what changed since the Full. */
                assert_ok(bacula_list_files(&f->site, f->vss_incr[i], &list));
                assert_false(bacula_list_has(list, bulk));
                f->vss_incr_lock[i] = sqlite[i];
                assert_nothing_left(f, &f->hosts[i]);
        }
        for (size_t i = 0; i < N_HOSTS; i++)
                free(changed[i]);
}

#ifdef TEST_BACULA_PG
static long long pg_i64(const char *conninfo, const char *sql) {
        long long v = -1;

        assert_ok(pg_sql_i64(conninfo, sql, &v));
        return v;
}

/*
 * The witness in a restored cluster (conninfo): a gapless prefix 1..max holding every
 * transaction acknowledged before t_freeze (the Incremental's Freeze).
 */
static void check_pg_witness(const Host *h, const char *conninfo, uint64_t t_freeze, const char *what) {
        _cleanup_free_ VbAck *acks = NULL;
        long long present, max_k;
        size_t n = 0, before = 0;

        present = pg_i64(conninfo, "SELECT count(*) FROM acks_t");
        max_k = pg_i64(conninfo, "SELECT coalesce(max(k), 0) FROM acks_t");
        assert_int_equal(present, max_k);
        assert_int_equal(pg_i64(conninfo, "SELECT count(*) FROM acks_t WHERE payload <> k * 7"), 0);
        assert_ok(vb_acks_read(h->pg_acks, &acks, &n));
        for (size_t k = 0; k < n; k++) {
                if (acks[k].ack < t_freeze && acks[k].k > max_k) {
                        print_error("%s: PostgreSQL txn %" PRId64 " acknowledged before Freeze is missing (max %lld)\n",
                                    h->name, acks[k].k, max_k);
                        fail();
                }
                before += acks[k].ack < t_freeze;
        }
        assert_true(before >= 20);
        print_message("%s: PostgreSQL %s holds witness txns 1..%lld (%zu acknowledged before Freeze)\n", h->name,
                      what, max_k, before);
}

/*
 * host1's PostgreSQL data directory as restored under where: the server starts on it (crash
 * recovery from the snapshot, as from any atomic snapshot of a running cluster), pg_amcheck
 * finds every table and index sound, and the witness holds a gapless prefix with every
 * transaction acknowledged before the Incremental's Freeze.
 */
static void check_restored_pg(Fixture *f, const Host *h, const char *where) {
        _cleanup_free_ char *data = xasprintf("%s%s/pg", where, h->vol), *pid_file = NULL, *sock = pg_sock_dir(f);
        _cleanup_free_ char *log = xasprintf("%s/%s-postgres-restored.log", f->dir, h->name);
        _cleanup_free_ char *amcheck = pg_program("pg_amcheck"), *port = xasprintf("%u", PG_RESTORED_PORT);
        _cleanup_free_ char *amcheck_log = xasprintf("%s/%s-amcheck.log", f->dir, h->name);
        _cleanup_free_ char *line = log_line(h->pg_writer_log, "freeze: backup active", f->vss_incr_pg_freeze);
        PgCluster restored = {};
        uint64_t t_freeze = 0;

        assert_non_null(line);
        assert_int_equal(line_u64_after(line, "(monotonic ", &t_freeze), 0);
        /* The live server's lock file came with the snapshot; its pid is alive here. */
        pid_file = path_join(data, "postmaster.pid");
        (void) unlink(pid_file);

        assert_ok(pg_cluster_describe(data, sock, PG_RESTORED_PORT, log, &restored));
        if (pg_cluster_start(&restored) < 0) {
                print_error("%s: PostgreSQL does not start on the restored %s (log %s)\n", h->name, data, log);
                pg_cluster_done(&restored);
                fail();
        }
        assert_non_null(amcheck);
        if (process_run_logged((char *const[]) { amcheck, (char *) "-h", sock, (char *) "-p", port, (char *) "-U",
                                                 (char *) "postgres", (char *) "--install-missing",
                                                 (char *) "--heapallindexed", (char *) "postgres", NULL },
                               amcheck_log) < 0) {
                print_error("%s: pg_amcheck finds the restored cluster damaged (log %s)\n", h->name, amcheck_log);
                pg_cluster_done(&restored);
                fail();
        }
        check_pg_witness(h, restored.conninfo, t_freeze, "restored elsewhere");
        pg_cluster_done(&restored);
}
#endif

static void test_vss_restore_elsewhere(void **state) {
        Fixture *f = *state;
        unsigned restore[N_HOSTS], pre[N_HOSTS];

        assert_true(f->vss_full[0] > 0 && f->vss_incr[0] > 0);
        for (size_t i = 0; i < N_HOSTS; i++) {
                _cleanup_free_ char *jobids = xasprintf("%u,%u", f->vss_full[i], f->vss_incr[i]);

                pre[i] = observed(&f->hosts[i], "PreRestore");
                f->vss_where[i] = xasprintf("%s/restore-vss-%s", f->dir, f->hosts[i].name);
                /* Into another directory: a restore job without the RunScript pair, as the
                 * sample says. */
                assert_ok(bacula_restore(&f->site, f->site.fds[i].name, jobids, f->vss_where[i], NULL, &restore[i]));
        }
        for (size_t i = 0; i < N_HOSTS; i++) {
                const Host *h = &f->hosts[i];
                _cleanup_free_ char *db = xasprintf("%s%s", f->vss_where[i], h->db);
                _cleanup_free_ VbAck *acks = NULL;
                size_t n = 0, before = 0;
                uint64_t t_locked, t_released;
                int64_t restored;

                assert_job_ends(f, restore[i], 'T');
                /* Another directory: nothing asked of the writers. */
                assert_int_equal(observed(h, "PreRestore"), pre[i]);
                for (unsigned k = 0; k < BULK_FILES; k++) {
                        _cleanup_free_ char *orig = xasprintf("%s/bulk-%02u", h->files, k);
                        _cleanup_free_ char *back = xasprintf("%s%s", f->vss_where[i], orig);

                        assert_true(same_bytes(orig, back));
                }

                /* The database as of the Incremental's snapshot: whole, and holding every
                 * transaction acknowledged before its writer took the lock, none begun after. */
                restored = check_restored_db(db);
                t_locked = sqlite_marker(h, "lock held", f->vss_incr_lock[i]);
                t_released = sqlite_marker(h, "lock released", f->vss_incr_lock[i]);
                assert_true(t_locked <= t_released);
                assert_ok(vb_acks_read(h->acks, &acks, &n));
                for (size_t k = 0; k < n; k++) {
                        const VbAck *a = &acks[k];

                        if (a->ack < t_locked && a->k > restored) {
                                print_error("%s: txn %" PRId64 " acknowledged before Freeze is missing from the "
                                            "restore (N=%" PRId64 ")\n",
                                            h->name, a->k, restored);
                                fail();
                        }
                        if (a->begin > t_locked && a->k <= restored) {
                                print_error("%s: txn %" PRId64 " begun after Freeze is in the restore (N=%" PRId64
                                            ")\n",
                                            h->name, a->k, restored);
                                fail();
                        }
                        before += a->ack < t_locked;
                }
                assert_true(before >= 50);
                print_message("%s: restore holds txns 1..%" PRId64 " (%zu acknowledged before Freeze)\n", h->name,
                              restored, before);
#ifdef TEST_BACULA_PG
                if (host_has_pg(h))
                        check_restored_pg(f, h, f->vss_where[i]);
#endif
        }
}

#ifdef TEST_BACULA_PG
/*
 * host1 restored in place, PostgreSQL included: its server and the applications stopped and
 * the data directory emptied (as before any restore of a cluster), the sample's restore job
 * runs the writers' PreRestore and PostRestore; the PostgreSQL writer's PostRestore puts the
 * backup label in place, the server recovers from it ("starting backup recovery") and holds
 * every commit acknowledged before the Incremental's Freeze.
 */
static void test_vss_restore_in_place_pg(void **state) {
        Fixture *f = *state;
        Host *h = &f->hosts[0];
        _cleanup_free_ char *jobids = xasprintf("%u,%u", f->vss_full[0], f->vss_incr[0]);
        _cleanup_free_ char *data = path_join(h->vol, "pg"), *label = path_join(data, "backup_label");
        _cleanup_free_ char *freeze_line = log_line(h->pg_writer_log, "freeze: backup active", f->vss_incr_pg_freeze);
        _cleanup_free_ char *old_acks = NULL, *old_pg_acks = NULL;
        unsigned pre = observed(h, "PreRestore"), post = observed(h, "PostRestore");
        unsigned prepared = log_count(h->pg_writer_log, "will recover from the backup label");
        unsigned recoveries = log_count(h->pg.log, "starting backup recovery"), jobid;
        uint64_t t_freeze = 0;
        char line[64];
        int out = -EBADF;

        if (!host_has_pg(h))
                skip();
        assert_non_null(freeze_line);
        assert_int_equal(line_u64_after(freeze_line, "(monotonic ", &t_freeze), 0);
        assert_ok(process_stop(h->pg_load, 5000));
        h->pg_load = 0;
        assert_ok(process_stop(h->load, 5000));
        h->load = 0;
        assert_ok(pg_cluster_stop(&h->pg));
        assert_ok(rm_rf_physical(data));

        assert_ok(bacula_restore(&f->site, f->site.fds[0].name, jobids, "/", "restore-in-place-host1", &jobid));
        assert_job_ends(f, jobid, 'T');
        assert_observed(h, "PreRestore", pre + 1);
        assert_observed(h, "PostRestore", post + 1);
        assert_ok(log_wait(h->pg_writer_log, "will recover from the backup label", prepared + 1, WH_WAIT_MS));
        assert_int_equal(access(label, F_OK), 0);

        assert_ok(pg_cluster_start(&h->pg));
        assert_true(log_count(h->pg.log, "starting backup recovery") > recoveries);
        check_pg_witness(h, h->pg.conninfo, t_freeze, "restored in place");

        /* The applications run on (new acknowledgement files: their sequences continue from
         * the restored transactions). */
        old_acks = h->acks;
        h->acks = xasprintf("%s.after-restore", old_acks);
        assert_ok(host_start_load(h));
        old_pg_acks = h->pg_acks;
        h->pg_acks = xasprintf("%s.after-restore", old_pg_acks);
        assert_ok(process_spawn((char *const[]) { getenv("PG_LOAD"), (char *) "--conninfo", h->pg.conninfo,
                                                  (char *) "--acks", h->pg_acks, (char *) "--seconds", (char *) "900",
                                                  NULL },
                                &h->pg_load, &out));
        assert_ok(read_line_timeout(out, line, sizeof(line), WH_WAIT_MS));
        (void) close(out);
        assert_string_equal(line, "READY");
}
#endif

static void test_vss_same_host_together(void **state) {
        Fixture *f = *state;
        Host *h = &f->hosts[0];
        unsigned freezes = observed(h, "Freeze"), sqlite = sqlite_freezes(h), jobs[2];

        /* Two jobs of one host at once: the second waits for the first's set, then runs. */
        assert_ok(bacula_run(&f->site, "vss-host1", "Full", &jobs[0]));
        assert_ok(bacula_run(&f->site, "vss-host1", "Full", &jobs[1]));
        for (size_t k = 0; k < 2; k++)
                assert_job_ends(f, jobs[k], 'T');
        assert_observed(h, "BackupComplete", freezes + 2);
        assert_int_equal(observed(h, "Freeze"), freezes + 2);
        assert_int_equal(sqlite_freezes(h), sqlite + 2);
        for (unsigned k = 0; k < 2; k++) {
                _cleanup_free_ char *line = observed_line(h, "BackupComplete", freezes + k);

                assert_non_null(strstr(line, "observer/files:1"));
        }
        assert_nothing_left(f, h);
}

static void test_vss_cancel(void **state) {
        Fixture *f = *state;
        Host *h = &f->hosts[0];
        unsigned completes = observed(h, "BackupComplete"), jobid;
        _cleanup_free_ char *line = NULL;

        assert_ok(bacula_run(&f->site, "vss-slow-host1", "Full", &jobid));
        wait_copying(f, h, jobid, observed(h, "PostSnapshot") + 1);
        assert_ok(bacula_cancel(&f->site, jobid));
        assert_job_ends(f, jobid, 'A');

        /* The writers hear that this backup did not succeed. */
        assert_observed(h, "BackupComplete", completes + 1);
        line = observed_line(h, "BackupComplete", completes);
        if (!strstr(line, "observer/files:0")) {
                print_error("%s: a cancelled job's writers were told: %s\n", h->name, line);
                fail();
        }
        assert_nothing_left(f, h);
}

static void test_vss_fd_killed(void **state) {
        Fixture *f = *state;
        Host *h = &f->hosts[1];
        unsigned shutdowns = observed(h, "BackupShutdown"), completes = observed(h, "BackupComplete"), jobid;
        char status = '?';

        assert_ok(bacula_run(&f->site, "vss-slow-host2", "Full", &jobid));
        wait_copying(f, h, jobid, observed(h, "PostSnapshot") + 1);
        assert_int_equal(process_kill_wait(f->site.fds[h->index].pid, SIGKILL) & 0x7f, SIGKILL);
        f->site.fds[h->index].pid = 0;

        assert_ok(bacula_wait(&f->site, jobid, &status));
        assert_true(status != 'T');
        /* Released: BackupShutdown; if the writers heard an outcome, it was a failure. */
        assert_observed(h, "BackupShutdown", shutdowns + 1);
        if (observed(h, "BackupComplete") > completes) {
                _cleanup_free_ char *line = observed_line(h, "BackupComplete", completes);

                assert_non_null(strstr(line, "observer/files:0"));
        }
        assert_nothing_left(f, h);
        print_message("%s: job %u ended %c after its File Daemon was killed\n", h->name, jobid, status);

        /* The host's File Daemon again, for what follows. */
        assert_ok(bacula_fd_start(&f->site, h->index));
}

static void test_vss_restore_in_place(void **state) {
        Fixture *f = *state;
        Host *h = &f->hosts[1];
        _cleanup_free_ char *jobids = xasprintf("%u,%u", f->vss_full[1], f->vss_incr[1]);
        _cleanup_free_ char *bulk = xasprintf("%s/bulk-03", h->files), *restored_copy = NULL, *old_acks = NULL;
        unsigned pre = observed(h, "PreRestore"), post = observed(h, "PostRestore"), jobid;
        int64_t n_elsewhere, n_in_place;

        assert_non_null(f->vss_where[1]);
        restored_copy = xasprintf("%s%s", f->vss_where[1], bulk);
        /* The application stops, as before any restore over its files; a file is damaged. */
        assert_ok(process_stop(h->load, 5000));
        h->load = 0;
        assert_ok(make_file(bulk, 4096, 424242));
        assert_false(same_bytes(bulk, restored_copy));

        assert_ok(bacula_restore(&f->site, f->site.fds[1].name, jobids, "/", "restore-in-place-host2", &jobid));
        assert_job_ends(f, jobid, 'T');

        /* The writers of the restored components were told, before and after. */
        assert_observed(h, "PreRestore", pre + 1);
        assert_observed(h, "PostRestore", post + 1);
        assert_true(same_bytes(bulk, restored_copy));
        n_in_place = check_restored_db(h->db);
        {
                _cleanup_free_ char *db = xasprintf("%s%s", f->vss_where[1], h->db);

                n_elsewhere = check_restored_db(db);
        }
        assert_int_equal(n_in_place, n_elsewhere);

        /* The application runs again on its restored database (a new acknowledgement file:
         * the sequence continues from the restored transactions). */
        old_acks = h->acks;
        h->acks = xasprintf("%s.after-restore", old_acks);
        assert_ok(host_start_load(h));
}

/* ------------------------------------------------------------------------------------------ */
/* Job times                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Runs job at level alone, waits, asserts it ended OK and records its time: from `run` to
 * the catalog showing the job ended (asked every 50 ms). */
static void timed_job(Fixture *f, const char *fileset, const char *level, Host *h) {
        _cleanup_free_ char *job = xasprintf("%s-%s", fileset, h->name), *changed = NULL;
        char status = '?';
        unsigned jobid;
        uint64_t t0, t;

        if (strcmp(level, "Incremental") == 0) {
                changed = host_change(h);
                assert_non_null(changed);
        }
        t0 = now_usec();
        assert_ok(bacula_run(&f->site, job, level, &jobid));
        assert_ok(bacula_wait_end(&f->site, jobid, 50, &status));
        t = now_usec() - t0;
        assert_job_ends(f, jobid, 'T');
        record_timing(f, fileset, level, h, jobid, t);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/*
 * The job times table: each host's Full then Incremental, with the plain FileSet and through
 * vss-bacula, one job at a time; TEST_BACULA_RUNS=N (default 1, at most MAX_RUNS) repeats the
 * round and prints the median and the smallest of each row. Times are printed, not asserted.
 */
static void test_job_times(void **state) {
        static const char *const filesets[] = { "plain", "vss" };
        static const char *const levels[] = { "Full", "Incremental" };
        const char *e = getenv("TEST_BACULA_RUNS");
        unsigned runs = e ? (unsigned) atoi(e) : 1;
        Fixture *f = *state;

        runs = runs < 1 ? 1 : MIN(runs, (unsigned) MAX_RUNS);
        for (unsigned r = 0; r < runs; r++)
                for (size_t i = 0; i < N_HOSTS; i++)
                        for (size_t k = 0; k < (have_vss() ? 2 : 1); k++)
                                for (size_t l = 0; l < ELEMENTSOF(levels); l++)
                                        timed_job(f, filesets[k], levels[l], &f->hosts[i]);

        print_message("job times, %u run(s) (each job alone; from `run` until the catalog shows it ended):\n", runs);
        print_message("%-6s %-7s %-12s %10s %8s %8s %12s\n", "host", "fileset", "level", "median ms", "min ms",
                      "files", "bytes");
        for (size_t i = 0; i < N_HOSTS; i++)
                for (size_t k = 0; k < (have_vss() ? 2 : 1); k++)
                        for (size_t l = 0; l < ELEMENTSOF(levels); l++) {
                                uint64_t t[MAX_RUNS];
                                const Timing *last = NULL;
                                size_t n = 0;

                                for (size_t j = 0; j < f->n_timings; j++) {
                                        const Timing *x = &f->timings[j];

                                        if (streq(x->host, f->hosts[i].name) && streq(x->fileset, filesets[k]) &&
                                            streq(x->level, levels[l])) {
                                                t[n++] = x->usec;
                                                last = x;
                                        }
                                }
                                assert_non_null(last);
                                qsort(t, n, sizeof(t[0]), cmp_u64);
                                print_message("%-6s %-7s %-12s %10.0f %8.0f %8s %12s\n", last->host, last->fileset,
                                              last->level, (double) t[n / 2] / 1e3, (double) t[0] / 1e3, last->files,
                                              last->bytes);
                        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_full_incremental),
                cmocka_unit_test(test_plain_restore),
                cmocka_unit_test(test_vss_full_incremental),
                cmocka_unit_test(test_vss_restore_elsewhere),
                cmocka_unit_test(test_vss_restore_in_place),
#ifdef TEST_BACULA_PG
                cmocka_unit_test(test_vss_restore_in_place_pg),
#endif
                cmocka_unit_test(test_vss_same_host_together),
                cmocka_unit_test(test_vss_cancel),
                cmocka_unit_test(test_vss_fd_killed),
                cmocka_unit_test(test_job_times),
        };
        const struct CMUnitTest plain_tests[] = {
                cmocka_unit_test(test_plain_full_incremental),
                cmocka_unit_test(test_plain_restore),
                cmocka_unit_test(test_job_times),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-bacula needs root (loop devices, mount, Bacula's daemons); skipping\n");
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        /* TEST_BACULA_ONLY=PATTERN runs the matching tests only (by hand, while debugging). */
        if (getenv("TEST_BACULA_ONLY"))
                cmocka_set_test_filter(getenv("TEST_BACULA_ONLY"));
        if (!have_vss())
                return cmocka_run_group_tests(plain_tests, group_setup, group_teardown);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
