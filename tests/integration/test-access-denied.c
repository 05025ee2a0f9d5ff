/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-access-denied.c: who may talk to vssd. vssd reads the peer's credentials from the
 * socket (SO_PEERCRED / SO_PEERGROUPS): requester calls need uid 0 or group `backup`,
 * subscribing a writer needs uid 0, group `backup`, or a uid given to --allow-writer-uid.
 * The socket is made reachable for everyone here, so what is checked is vssd's own decision,
 * not the file permissions. Processes drop to nobody (65534) with setgroups/setgid/setuid,
 * which needs root: the test exits 77 (skip) otherwise.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"

#define NOBODY 65534

typedef struct Creds {
        bool drop;
        uid_t uid;
        gid_t gid;
        gid_t groups[1];
        size_t n_groups;
} Creds;

typedef struct Fixture {
        Harness *h;
        gid_t backup_gid;
} Fixture;

static int setup_with_allow(void **state, long allow_uid) {
        Fixture *f = calloc(1, sizeof *f);
        HarnessOptions opts = { .allow_writer_uid = allow_uid };
        struct group *g;

        assert_non_null(f);
        assert_ok0(harness_new(&opts, &f->h));
        assert_ok0(harness_make_socket_public(f->h));
        g = getgrnam("backup");
        f->backup_gid = g ? g->gr_gid : 34;
        *state = f;
        return 0;
}

static int setup_plain(void **state) {
        return setup_with_allow(state, -1);
}

static int setup_allow_nobody(void **state) {
        return setup_with_allow(state, NOBODY);
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (f) {
                harness_free(f->h);
                free(f);
        }
        return 0;
}

/* Child: take on the credentials, then try the first requester calls; one report line. */
static int child_requester(int fd, void *userdata) {
        const Creds *c = userdata;
        vss_hr new_hr, init_hr = E_UNEXPECTED, gather_hr = E_UNEXPECTED;
        vss_requester *r = NULL;
        vss_async *a = NULL;
        unsigned count = 0;

        if (c->drop) {
                if (setgroups(c->n_groups, c->groups) < 0 || setgid(c->gid) < 0 || setuid(c->uid) < 0) {
                        report(fd, "result error=setuid");
                        return 2;
                }
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        }

        new_hr = vss_requester_new(&r, NULL);
        if (new_hr == S_OK) {
                init_hr = vss_requester_initialize_for_backup(r, NULL);
                if (init_hr == S_OK) {
                        gather_hr = async_finish(vss_requester_gather_writer_metadata(r, &a), &a);
                        if (gather_hr == VSS_S_ASYNC_FINISHED)
                                (void) vss_requester_get_writer_metadata_count(r, &count);
                }
                vss_requester_release(r);
        }
        report(fd, "result new=%s init=%s gather=%s count=%u", vss_hr_name(new_hr), vss_hr_name(init_hr),
               vss_hr_name(gather_hr), count);
        return 0;
}

typedef struct RequesterResult {
        char new_hr[64], init_hr[64], gather_hr[64];
        unsigned count;
} RequesterResult;

static void run_requester(const Creds *c, RequesterResult *ret) {
        char line[512], count[16];
        pid_t pid;
        int fd;

        assert_ok0(child_start(child_requester, (void *) c, &pid, &fd));
        assert_ok0(child_wait_report(fd, "result ", line, sizeof line, HARNESS_WAIT_MS));
        assert_int_equal(child_reap(pid), 0);
        close(fd);
        assert_ok0(line_field(line, "new", ret->new_hr, sizeof ret->new_hr));
        assert_ok0(line_field(line, "init", ret->init_hr, sizeof ret->init_hr));
        assert_ok0(line_field(line, "gather", ret->gather_hr, sizeof ret->gather_hr));
        assert_ok0(line_field(line, "count", count, sizeof count));
        ret->count = (unsigned) strtoul(count, NULL, 10);
}

/* Denied: either the connection or, at the latest, the first requester call says so. */
static void assert_requester_denied(const RequesterResult *res) {
        if (streq(res->new_hr, "E_ACCESSDENIED"))
                return;
        assert_string_equal(res->new_hr, "S_OK");
        assert_string_equal(res->init_hr, "E_ACCESSDENIED");
}

static void test_unprivileged_denied(void **state) {
        Fixture *f = *state;
        Creds nobody = { .drop = true, .uid = NOBODY, .gid = NOBODY };
        Creds root = { .drop = false };
        RequesterResult res;
        TestWriter *w;

        /* Same socket, root: allowed. So the refusal below is about who is asking. */
        run_requester(&root, &res);
        assert_string_equal(res.new_hr, "S_OK");
        assert_string_equal(res.init_hr, "S_OK");
        assert_string_equal(res.gather_hr, "VSS_S_ASYNC_FINISHED");

        run_requester(&nobody, &res);
        assert_requester_denied(&res);

        /* A writer running as nobody may not subscribe. */
        assert_ok0(harness_spawn_writer(f->h, "nobody-writer", NULL, NOBODY, &w));
        assert_int_equal(writer_wait_subscribed(w), -EACCES);
        assert_true(harness_vssd_alive(f->h));
}

static void test_backup_group_allowed(void **state) {
        Fixture *f = *state;
        Creds member = { .drop = true, .uid = NOBODY, .gid = NOBODY, .n_groups = 1 };
        RequesterResult res;

        member.groups[0] = f->backup_gid;
        run_requester(&member, &res);
        assert_string_equal(res.new_hr, "S_OK");
        assert_string_equal(res.init_hr, "S_OK");
        assert_string_equal(res.gather_hr, "VSS_S_ASYNC_FINISHED");
}

static void test_allowed_writer_uid(void **state) {
        Fixture *f = *state;
        Creds nobody = { .drop = true, .uid = NOBODY, .gid = NOBODY };
        Creds root = { .drop = false };
        RequesterResult res;
        TestWriter *w;

        assert_ok0(harness_spawn_writer(f->h, "nobody-writer", NULL, NOBODY, &w));
        assert_int_equal(writer_wait_subscribed(w), 0);

        /* The allowed writer takes part: a root requester gathers its metadata. */
        run_requester(&root, &res);
        assert_string_equal(res.gather_hr, "VSS_S_ASYNC_FINISHED");
        assert_int_equal(res.count, 1);
        assert_ok0(writer_log_wait(w, "event=Identify", 1));

        /* --allow-writer-uid grants writing, not requesting. */
        run_requester(&nobody, &res);
        assert_requester_denied(&res);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_unprivileged_denied, setup_plain, teardown),
                cmocka_unit_test_setup_teardown(test_backup_group_allowed, setup_plain, teardown),
                cmocka_unit_test_setup_teardown(test_allowed_writer_uid, setup_allow_nobody, teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-access-denied needs root to change uid; skipping\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
