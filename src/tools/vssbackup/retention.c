/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * retention.c: which backups `vssbackup prune` keeps. A pure function of the backups' times,
 * completeness and chain links, so the policy is tested without a single file (tests/unit/
 * vssbackup/test-retention.c) and prune.c only reads the catalog and removes directories.
 *
 * The rules are restic's and borg's: --keep-last N keeps the N newest backups; --keep-hourly,
 * -daily, -weekly and -monthly N keep, for each of the N newest hours (days, ISO weeks,
 * months) that hold a backup, the newest backup of it. Periods without a backup do not count.
 * A backup may be kept by several rules. Only complete backups are picked by a rule: an
 * incomplete one lacks files, nothing builds on it, and a rule that picked it would let the
 * complete backup of the same period go.
 *
 * What restic does not have to care about and we do: an incremental or differential is useless
 * without the backups it builds on. So every backup a kept one builds on, up to its full, is
 * kept too (KEEP_CHAIN). A chain is only ever cut below its newest kept backup, never in the
 * middle. Periods are UTC, so the answer does not depend on the machine's time zone.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "vssbackup.h"

typedef enum Period {
        PERIOD_HOUR,
        PERIOD_DAY,
        PERIOD_WEEK,
        PERIOD_MONTH,
} Period;

/* A number naming the period t falls in; equal numbers, same period. */
static int64_t period_key(int64_t created_ns, Period period) {
        time_t t = (time_t) (created_ns / 1000000000LL - (created_ns < 0 && created_ns % 1000000000LL ? 1 : 0));
        struct tm tm;

        if (period == PERIOD_HOUR)
                return (int64_t) (t >= 0 ? t / 3600 : (t - 3599) / 3600);
        if (!gmtime_r(&t, &tm))
                return INT64_MIN;
        if (period == PERIOD_DAY)
                return (int64_t) (tm.tm_year + 1900) * 1000 + tm.tm_yday;
        if (period == PERIOD_MONTH)
                return (int64_t) (tm.tm_year + 1900) * 12 + tm.tm_mon;

        /* ISO 8601 week: the week (Monday first) holding the Thursday of t's week. */
        {
                int wday = (tm.tm_wday + 6) % 7;           /* Monday 0 */
                int64_t days = (int64_t) (t >= 0 ? t / 86400 : (t - 86399) / 86400);
                int64_t monday = days - wday;

                return monday / 7 - (monday < 0 && monday % 7 ? 1 : 0);
        }
}

bool retention_any_rule(const RetentionPolicy *p) {
        return p->keep_last || p->keep_hourly || p->keep_daily || p->keep_weekly || p->keep_monthly;
}

int retention_plan(const RetentionItem *items, size_t n, const RetentionPolicy *p, unsigned *ret_reasons) {
        struct {
                unsigned left;
                Period period;
                KeepReason reason;
                int64_t last;
                bool have_last;
        } rules[] = {
                { p->keep_hourly, PERIOD_HOUR, KEEP_HOURLY },
                { p->keep_daily, PERIOD_DAY, KEEP_DAILY },
                { p->keep_weekly, PERIOD_WEEK, KEEP_WEEKLY },
                { p->keep_monthly, PERIOD_MONTH, KEEP_MONTHLY },
        };
        unsigned last_left = p->keep_last;

        for (size_t i = 0; i < n; i++) {
                ret_reasons[i] = 0;
                if (items[i].parent >= 0 &&
                    ((size_t) items[i].parent >= n || (size_t) items[i].parent >= i))
                        return -EINVAL;
        }

        /* Newest first: each rule takes the newest backup of each new period it meets. */
        for (size_t k = n; k > 0; k--) {
                size_t i = k - 1;

                if (!items[i].complete)
                        continue;
                if (last_left > 0) {
                        ret_reasons[i] |= KEEP_LAST;
                        last_left--;
                }
                for (size_t r = 0; r < ELEMENTSOF(rules); r++) {
                        int64_t key;

                        if (rules[r].left == 0)
                                continue;
                        key = period_key(items[i].created_ns, rules[r].period);
                        if (rules[r].have_last && rules[r].last == key)
                                continue;
                        rules[r].last = key;
                        rules[r].have_last = true;
                        rules[r].left--;
                        ret_reasons[i] |= rules[r].reason;
                }
        }

        /* Whole chains: newest first, so a chain reached from a kept backup is marked before
         * its older links are looked at. Parents are older (checked above): this terminates. */
        for (size_t k = n; k > 0; k--) {
                size_t i = k - 1;

                if (ret_reasons[i] == 0)
                        continue;
                for (ssize_t j = items[i].parent; j >= 0; j = items[j].parent) {
                        if (ret_reasons[j] & KEEP_CHAIN)
                                break;
                        ret_reasons[j] |= KEEP_CHAIN;
                }
        }
        return 0;
}
