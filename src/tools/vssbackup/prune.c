/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * prune.c: `vssbackup prune --to DIR --keep-...`, the retention policy (retention.c) applied to
 * a backup directory.
 *
 * Under DIR's lock, so no backup is being built on a backup that goes. Backups are removed
 * newest first, so a prune that stops half way (a signal, a full disk, a crash) never leaves a
 * backup whose parent is gone while it stays: the ones that build on others go before them.
 * Each is first renamed to a temporary name (which the catalog ignores and the next backup
 * clears away), then emptied: a backup is either listed whole or not at all.
 *
 * Directories whose manifest does not load are not backups to the catalog and are left alone;
 * so are unfinished ones. With --dry-run nothing is changed, the plan is printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vssbackup.h"

static void print_reasons(FILE *f, unsigned reasons, bool json) {
        static const struct {
                KeepReason bit;
                const char *name;
        } names[] = {
                { KEEP_LAST, "last" },     { KEEP_HOURLY, "hourly" },   { KEEP_DAILY, "daily" },
                { KEEP_WEEKLY, "weekly" }, { KEEP_MONTHLY, "monthly" }, { KEEP_CHAIN, "chain" },
        };
        bool first = true;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                if (!(reasons & names[i].bit))
                        continue;
                fprintf(f, json ? "%s\"%s\"" : "%s%s", first ? "" : json ? ", " : ",", names[i].name);
                first = false;
        }
}

int vb_prune(const PruneOptions *o) {
        RetentionPolicy policy = {
                .keep_last = o->keep_last,
                .keep_hourly = o->keep_hourly,
                .keep_daily = o->keep_daily,
                .keep_weekly = o->keep_weekly,
                .keep_monthly = o->keep_monthly,
        };
        _cleanup_free_ RetentionItem *items = NULL;
        _cleanup_free_ unsigned *reasons = NULL;
        _cleanup_free_ bool *removed = NULL;
        _cleanup_close_ int dirfd = -EBADF, lockfd = -EBADF;
        size_t n_keep = 0, n_removed = 0, n_failed = 0;
        Catalog c = {};
        int r;

        if (!retention_any_rule(&policy)) {
                fprintf(stderr, "vssbackup prune: give at least one --keep-last/-hourly/-daily/-weekly/-monthly "
                        "(a prune without one would remove every backup)\n");
                return VB_EXIT_USAGE;
        }
        dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                fprintf(stderr, "vssbackup: %s: %s\n", o->dir, strerror(errno));
                return VB_EXIT_FAILED;
        }
        if (!o->dry_run) {
                lockfd = lock_backup_dir(dirfd, o->dir, o->wait_s);
                if (lockfd == -EINTR) {
                        fprintf(stderr, "vssbackup: interrupted by %s: nothing was removed\n",
                                tool_interrupt_name());
                        return VB_EXIT_SIGNAL_BASE + tool_interrupt_signal();
                }
                if (lockfd < 0)
                        return VB_EXIT_FAILED;
        }
        r = catalog_load(dirfd, &c);
        if (r < 0) {
                fprintf(stderr, "vssbackup: reading %s: %s\n", o->dir, strerror(-r));
                return VB_EXIT_FAILED;
        }

        items = calloc(MAX(c.n_backups, 1U), sizeof(*items));
        reasons = calloc(MAX(c.n_backups, 1U), sizeof(*reasons));
        removed = calloc(MAX(c.n_backups, 1U), sizeof(*removed));
        if (!items || !reasons || !removed) {
                catalog_done(&c);
                return VB_EXIT_FAILED;
        }
        for (size_t i = 0; i < c.n_backups; i++) {
                const Manifest *m = c.backups[i];

                items[i] = (RetentionItem) { .created_ns = m->created_ns, .complete = m->complete, .parent = -1 };
                if (m->parent)
                        for (size_t j = 0; j < i; j++)
                                if (streq(c.backups[j]->dir_name, m->parent))
                                        items[i].parent = (ssize_t) j;
        }
        r = retention_plan(items, c.n_backups, &policy, reasons);
        if (r < 0) {
                fprintf(stderr, "vssbackup: %s: the chains do not form a valid history\n", o->dir);
                catalog_done(&c);
                return VB_EXIT_FAILED;
        }

        /* Newest first: what builds on a backup goes before it. */
        for (size_t k = c.n_backups; k > 0; k--) {
                const Manifest *m = c.backups[k - 1];
                _cleanup_free_ char *tmp = NULL;

                if (reasons[k - 1] != 0) {
                        n_keep++;
                        continue;
                }
                if (o->dry_run || tool_interrupt_signal())
                        continue;
                if (asprintf(&tmp, VB_TMP_PREFIX "prune-%s", m->dir_name) < 0) {
                        n_failed++;
                        continue;
                }
                if (renameat(dirfd, m->dir_name, dirfd, tmp) < 0 || remove_flat_dir(dirfd, tmp) < 0) {
                        fprintf(stderr, "vssbackup: cannot remove %s/%s: %s\n", o->dir, m->dir_name, strerror(errno));
                        n_failed++;
                        continue;
                }
                removed[k - 1] = true;
                n_removed++;
        }
        if (!o->dry_run && fsync(dirfd) < 0)
                fprintf(stderr, "vssbackup: fsync %s: %s\n", o->dir, strerror(errno));

        if (o->json) {
                printf("{\"dir\": ");
                json_string(o->dir);
                printf(", \"dry_run\": %s, \"backups\": [", o->dry_run ? "true" : "false");
                for (size_t i = 0; i < c.n_backups; i++) {
                        printf("%s\n  {\"name\": ", i > 0 ? "," : "");
                        json_string(c.backups[i]->dir_name);
                        printf(", \"type\": \"%s\", \"keep\": %s, \"removed\": %s, \"reasons\": [",
                               backup_type_name(c.backups[i]->type), reasons[i] ? "true" : "false",
                               removed[i] ? "true" : "false");
                        print_reasons(stdout, reasons[i], true);
                        printf("]}");
                }
                printf("%s], \"kept\": %zu, \"removed\": %zu, \"failed\": %zu, \"interrupted\": %s}\n",
                       c.n_backups > 0 ? "\n" : "", n_keep, n_removed, n_failed, tool_interrupt_signal() ? "true" : "false");
        } else {
                for (size_t i = 0; i < c.n_backups; i++) {
                        printf("%-6s %-44s ", reasons[i] ? "keep" : o->dry_run ? "remove" : removed[i] ? "removed" :
                                                                                                  "FAILED",
                               c.backups[i]->dir_name);
                        print_reasons(stdout, reasons[i], false);
                        printf("\n");
                }
                printf("%zu kept, %zu %s%s\n", n_keep, o->dry_run ? c.n_backups - n_keep : n_removed,
                       o->dry_run ? "would be removed (dry run)" : "removed",
                       n_failed ? ", some could not be removed (see above)" : "");
        }
        catalog_done(&c);
        if (tool_interrupt_signal()) {
                fprintf(stderr, "vssbackup: interrupted by %s: the prune stopped; every backup left is whole\n",
                        tool_interrupt_name());
                return VB_EXIT_SIGNAL_BASE + tool_interrupt_signal();
        }
        return n_failed ? VB_EXIT_FAILED : VB_EXIT_OK;
}
