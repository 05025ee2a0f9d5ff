/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-retention.c: `vssbackup prune`'s policy (retention_plan) over a generated 60-day history,
 * table-driven.
 *
 * The history is what a scheduled vssbackup makes: from Monday 2025-01-06 on, every day at
 * 02:00 UTC a full on Mondays, a differential on Thursdays (on the Monday's full), an
 * incremental otherwise, and every day at 14:00 one more incremental. Parents are picked as
 * vssbackup picks them: an incremental builds on the last complete full or incremental, a
 * differential on the last complete full. One backup (day 19, 14:00) is incomplete.
 *
 * Each row gives a policy, the backups its rules must pick (labels "dDDhHH", exactly) and how
 * many are kept in all (the rule picks plus the chains they need). Every row also checks the
 * invariants: a kept backup's parent is kept, a rule never picks an incomplete backup, and
 * only KEEP_CHAIN keeps what no rule picked. The expected sets were worked out by hand from
 * the calendar (January 2025 ends on day 25, February on day 53; ISO weeks start on days
 * 0, 7, ..., 56).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vssbackup.h"

#define DAYS 60
#define PER_DAY 2
#define N_ITEMS (DAYS * PER_DAY)
#define DAY0_NS (INT64_C(1736121600) * 1000000000) /* 2025-01-06T00:00:00Z, a Monday */
#define HOUR_NS (INT64_C(3600) * 1000000000)

typedef enum Kind { FULL, INCREMENTAL, DIFFERENTIAL } Kind;

static RetentionItem items[N_ITEMS];
static Kind kinds[N_ITEMS];
static char labels[N_ITEMS][16];

static void generate(void) {
        ssize_t last_full = -1, last_chain = -1; /* last complete full; last complete full-or-incremental */

        for (size_t i = 0; i < N_ITEMS; i++) {
                unsigned day = (unsigned) (i / PER_DAY), hour = i % PER_DAY ? 14 : 2;
                Kind k = hour == 14 ? INCREMENTAL : day % 7 == 0 ? FULL : day % 7 == 3 ? DIFFERENTIAL : INCREMENTAL;

                kinds[i] = k;
                snprintf(labels[i], sizeof(labels[i]), "d%02uh%02u", day, hour);
                items[i] = (RetentionItem) {
                        .created_ns = DAY0_NS + (int64_t) day * 24 * HOUR_NS + (int64_t) hour * HOUR_NS,
                        .complete = !(day == 19 && hour == 14),
                        .parent = k == FULL ? -1 : k == DIFFERENTIAL ? last_full : last_chain,
                };
                if (!items[i].complete)
                        continue;
                if (k == FULL)
                        last_full = (ssize_t) i;
                if (k != DIFFERENTIAL)
                        last_chain = (ssize_t) i;
        }
}

typedef struct Row {
        const char *name;
        RetentionPolicy policy;
        const char *picked;     /* space-separated labels of what the rules pick */
        size_t kept;            /* in all, chains included */
} Row;

static const Row rows[] = {
        /* The 3 newest; the differential of day 59 builds on day 56's full, the 14:00 incremental
         * of day 59 on day 58's, and so on back to the full: 56h02 56h14 57h02 57h14 58h02. */
        { "keep-last 3", { .keep_last = 3 }, "d59h14 d59h02 d58h14", 8 },
        /* One per hour that has a backup: the 5 newest. */
        { "keep-hourly 5", { .keep_hourly = 5 }, "d59h14 d59h02 d58h14 d58h02 d57h14", 8 },
        /* The 14:00 of each of the last 7 days; their chains hold every backup of days 49..59
         * but the two Thursday differentials (52h02, 59h02), which no incremental builds on. */
        { "keep-daily 7", { .keep_daily = 7 }, "d59h14 d58h14 d57h14 d56h14 d55h14 d54h14 d53h14", 20 },
        /* Sunday 14:00 of each full week, Thursday 14:00 of the current one. */
        { "keep-weekly 4", { .keep_weekly = 4 }, "d59h14 d55h14 d48h14 d41h14", 3 * 13 + 7 },
        /* ISO weeks start on Monday: the newest week is days 56..59 only. */
        { "keep-weekly 1", { .keep_weekly = 1 }, "d59h14", 7 },
        /* March (days 54..59) and February (its last backup: day 53, a Friday: chain 49..53 less 52h02). */
        { "keep-monthly 2", { .keep_monthly = 2 }, "d59h14 d53h14", 7 + 9 },
        /* January's last backup is day 25 (Friday); its chain is days 21..25 less 24h02. */
        { "keep-last 1 + keep-monthly 3", { .keep_last = 1, .keep_monthly = 3 }, "d59h14 d53h14 d25h14", 7 + 9 + 9 },
        /* More days than the history: every day's newest complete backup. Day 19's 14:00 is
         * incomplete, so day 19 keeps its 02:00. Everything is kept but the incomplete one and
         * the nine differentials (days 3, 10, ..., 59: never the newest of a day, never a parent). */
        { "keep-daily 100", { .keep_daily = 100 },
          "d59h14 d58h14 d57h14 d56h14 d55h14 d54h14 d53h14 d52h14 d51h14 d50h14 d49h14 d48h14 d47h14 d46h14 "
          "d45h14 d44h14 d43h14 d42h14 d41h14 d40h14 d39h14 d38h14 d37h14 d36h14 d35h14 d34h14 d33h14 d32h14 "
          "d31h14 d30h14 d29h14 d28h14 d27h14 d26h14 d25h14 d24h14 d23h14 d22h14 d21h14 d20h14 d19h02 d18h14 "
          "d17h14 d16h14 d15h14 d14h14 d13h14 d12h14 d11h14 d10h14 d09h14 d08h14 d07h14 d06h14 d05h14 d04h14 "
          "d03h14 d02h14 d01h14 d00h14",
          N_ITEMS - 1 - 9 },
        /* keep-last counts complete backups only: the incomplete one is skipped, not counted. */
        { "keep-last 200", { .keep_last = 200 }, NULL, N_ITEMS - 1 },
};

static bool label_in(const char *list, const char *label) {
        size_t l = strlen(label);

        for (const char *p = list; p && (p = strstr(p, label)); p += l)
                if ((p == list || p[-1] == ' ') && (p[l] == 0 || p[l] == ' '))
                        return true;
        return false;
}

static void check_row(const Row *row) {
        unsigned reasons[N_ITEMS];
        size_t kept = 0, picked = 0, expected_picked = 0;

        assert_int_equal(retention_plan(items, N_ITEMS, &row->policy, reasons), 0);
        for (size_t i = 0; i < N_ITEMS; i++) {
                bool by_rule = (reasons[i] & ~(unsigned) KEEP_CHAIN) != 0;
                bool expected = row->picked ? label_in(row->picked, labels[i]) : items[i].complete;

                if (by_rule != expected)
                        fail_msg("%s: %s is %s by a rule (reasons 0x%x)", row->name, labels[i],
                                 by_rule ? "picked" : "not picked", reasons[i]);
                if (by_rule)
                        picked++;
                if (expected)
                        expected_picked++;
                /* Invariants: whole chains, complete picks. */
                if (reasons[i] != 0 && items[i].parent >= 0 && reasons[items[i].parent] == 0)
                        fail_msg("%s: %s is kept but its parent %s is not", row->name, labels[i],
                                 labels[items[i].parent]);
                if (by_rule && !items[i].complete)
                        fail_msg("%s: the incomplete %s was picked", row->name, labels[i]);
                if (reasons[i] != 0)
                        kept++;
        }
        assert_int_equal(picked, expected_picked);
        if (kept != row->kept)
                fail_msg("%s: %zu kept, expected %zu", row->name, kept, row->kept);
}

static void test_table(void **state) {
        generate();
        /* The history itself is what the rows assume. */
        assert_int_equal(kinds[0], FULL);
        assert_int_equal(kinds[2 * 3], DIFFERENTIAL);
        assert_int_equal(items[2 * 20].parent, 2 * 19);          /* d20h02 skips the incomplete d19h14 */
        assert_int_equal(items[2 * 59].parent, 2 * 56);          /* a differential builds on the full */
        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                check_row(&rows[i]);
}

/* A chain reached from a pick is kept whole even when the pick is its newest link only. */
static void test_chain_kept_whole(void **state) {
        unsigned reasons[N_ITEMS];
        RetentionPolicy p = { .keep_last = 1 };

        generate();
        assert_int_equal(retention_plan(items, N_ITEMS, &p, reasons), 0);
        /* d59h14 -> d58h14 -> ... -> d56h02 (full): every link kept for the chain. */
        for (size_t i = 2 * 56; i < 2 * 59; i++)
                assert_true(reasons[i] & KEEP_CHAIN);
        assert_int_equal(reasons[2 * 59 + 1], KEEP_LAST);
        assert_int_equal(reasons[2 * 59], 0);           /* the differential: nobody needs it */
        assert_int_equal(reasons[2 * 55 + 1], 0);       /* the previous week: gone */
}

static void test_edges(void **state) {
        RetentionPolicy p = { .keep_daily = 3 };
        RetentionItem bad[2] = { { .created_ns = 1, .complete = true, .parent = 1 },
                                 { .created_ns = 2, .complete = true, .parent = -1 } };
        RetentionItem self[1] = { { .created_ns = 1, .complete = true, .parent = 0 } };
        unsigned reasons[2];
        RetentionPolicy none = {};

        assert_int_equal(retention_plan(NULL, 0, &p, reasons), 0);
        /* A parent must be older than its child (and exist): no cycle can be described. */
        assert_int_equal(retention_plan(bad, 2, &p, reasons), -EINVAL);
        assert_int_equal(retention_plan(self, 1, &p, reasons), -EINVAL);
        assert_false(retention_any_rule(&none));
        assert_true(retention_any_rule(&p));
        /* No rule: nothing kept (prune refuses to run without one). */
        generate();
        {
                unsigned all[N_ITEMS];

                assert_int_equal(retention_plan(items, N_ITEMS, &none, all), 0);
                for (size_t i = 0; i < N_ITEMS; i++)
                        assert_int_equal(all[i], 0);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_chain_kept_whole),
                cmocka_unit_test(test_edges),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
