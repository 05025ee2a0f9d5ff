/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-backup-state.c: the requester state machine, table-driven. Each row is a backup
 * position (phase + flags, as a real sequence reaches it) and the expected answer of every
 * requester method there: 'o' S_OK, 'b' VSS_E_BAD_STATE. The table is written out here by
 * hand from seeds 000/001/004, vss-semantics.md §2/§3/§4 and docs/api-map.md, independently of
 * backup-state.c, so a change to the rules has to change both.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "vssd/backup-state.h"

/* Flag shorthands. */
#define W  .writerless = true
#define CX .context_set = true
#define BS .backup_state_set = true
#define SC .select_components = true
#define G  .gathered = true
#define SS .set_started = true
#define SD .snapshot_done = true
#define IF .in_flight = true

typedef struct Row {
        const char *what;
        BackupState state;
        BackupFlags flags;
        /*
         * One letter per method, in BackupMethod order, grouped for reading:
         *   Init SetCtx SetBS Gather | AddComp Enable DisCls DisInst | StartSet AddToSet IsVolSup |
         *   Prepare DoSnap GetProps | SetSucc BackupCompl GatherStatus Abort | Cancel QSnaps QProv Delete |
         *   Expose Unexpose | SetBackupOptions SetPrevStamp SaveAsXML GetWriterComponents |
         *   InitRestore SetRestoreState SetSelected AddRestoreSub | SetRestoreOptions
         *   SetAdditionalRestores AddNewTarget PreRestore | SetFileRestoreStatus PostRestore
         */
        const char *expect;
} Row;

static const Row rows[] = {
        { "new", BACKUP_STATE_NEW, {},
          "obbb bbbb bbb bbb bbbb bbbb bb bbbb obbb bbbb bb" },
        { "new, in flight (impossible, still refused)", BACKUP_STATE_NEW, { IF },
          "obbb bbbb bbb bbb bbbb obbb bb bbbb obbb bbbb bb" },
        { "initialized, nothing else", BACKUP_STATE_INITIALIZED, {},
          "booo booo obo bbb bbbo booo oo bboo bbbb bbbb bb" },
        { "initialized, context set", BACKUP_STATE_INITIALIZED, { CX },
          "bboo booo obo bbb bbbo booo oo bboo bbbb bbbb bb" },
        { "initialized, gathered, no backup state", BACKUP_STATE_INITIALIZED, { G },
          "bbob bbbb obo bbb bboo booo oo bboo bbbb bbbb bb" },
        { "initialized, gathered, component mode", BACKUP_STATE_INITIALIZED, { BS, SC, G },
          "bbob obbb obo obb bboo booo oo oooo bbbb bbbb bb" },
        { "initialized, gathered, non-component mode", BACKUP_STATE_INITIALIZED, { BS, G },
          "bbob bbbb obo obb bboo booo oo bboo bbbb bbbb bb" },
        { "initialized, set started, not gathered", BACKUP_STATE_INITIALIZED, { BS, SC, SS },
          "bboo booo boo bbb bbbo booo oo oooo bbbb bbbb bb" },
        { "initialized, ready to prepare", BACKUP_STATE_INITIALIZED, { CX, BS, SC, G, SS },
          "bbob obbb boo obb bboo booo oo oooo bbbb bbbb bb" },
        { "initialized, Gather in flight", BACKUP_STATE_INITIALIZED, { BS, SC, IF },
          "bbbb bbbb bbo bbb bbbb oooo oo bboo bbbb bbbb bb" },
        { "prepared", BACKUP_STATE_PREPARED, { CX, BS, SC, G, SS },
          "bbbb bbbb boo bob bboo booo oo bboo bbbb bbbb bb" },
        { "prepared, no snapshot set", BACKUP_STATE_PREPARED, { BS, SC, G },
          "bbbb bbbb bbo bbb bboo booo oo bboo bbbb bbbb bb" },
        { "prepared, DoSnapshotSet in flight", BACKUP_STATE_PREPARED, { BS, SC, G, SS, IF },
          "bbbb bbbb bbo bbb bbbb oooo oo bboo bbbb bbbb bb" },
        { "snapshot done, component mode", BACKUP_STATE_SNAPSHOT_DONE, { BS, SC, G, SS, SD },
          "bbbb bbbb bbo bbo oooo booo oo bboo bbbb bbbb bb" },
        { "snapshot done, non-component mode", BACKUP_STATE_SNAPSHOT_DONE, { BS, G, SS, SD },
          "bbbb bbbb bbo bbo booo booo oo bboo bbbb bbbb bb" },
        { "snapshot done, BackupComplete in flight", BACKUP_STATE_SNAPSHOT_DONE, { BS, SC, G, SS, SD, IF },
          "bbbb bbbb bbo bbo bbbb oooo oo bboo bbbb bbbb bb" },
        { "completed", BACKUP_STATE_COMPLETED, { BS, SC, G, SS, SD },
          "bbbb bbbb bbo bbo bboo booo oo bboo bbbb bbbb bb" },
        { "DoSnapshotSet failed", BACKUP_STATE_FAILED, { BS, SC, G, SS },
          "bbbb bbbb bbo bbb bboo booo oo bboo bbbb bbbb bb" },
        { "aborted before PrepareForBackup", BACKUP_STATE_ABORTED, { BS, SC, G, SS },
          "bbbb bbbb bbo bbb bboo booo oo bboo bbbb bbbb bb" },
        { "aborted after the snapshot", BACKUP_STATE_ABORTED, { BS, SC, G, SS, SD },
          "bbbb bbbb bbo bbo bboo booo oo bboo bbbb bbbb bb" },
        { "writer-less, initialized", BACKUP_STATE_INITIALIZED, { W, CX },
          "bboo booo obo bbb bbbo booo oo bboo bbbb bbbb bb" },
        { "writer-less, set started", BACKUP_STATE_INITIALIZED, { W, CX, BS, SC, SS },
          "bboo booo boo bob bbbo booo oo bboo bbbb bbbb bb" },
        { "writer-less, gathered, set started", BACKUP_STATE_INITIALIZED, { W, CX, BS, SC, G, SS },
          "bbob bbbb boo bob bboo booo oo bboo bbbb bbbb bb" },
        { "writer-less, snapshot done", BACKUP_STATE_SNAPSHOT_DONE, { W, CX, BS, SC, SS, SD },
          "bbbb bbbb bbo bbo bbbo booo oo bboo bbbb bbbb bb" },
        { "writer-less, snapshot done, gathered", BACKUP_STATE_SNAPSHOT_DONE, { W, CX, BS, SC, G, SS, SD },
          "bbbb bbbb bbo bbo bboo booo oo bboo bbbb bbbb bb" },
        /* Restore (§3/§4, seed 004): no backup-only call, no AbortBackup, no Query. */
        { "restore initialized", BACKUP_STATE_RESTORE_INITIALIZED, {},
          "bbbo booo bbb bbb bbbb bboo oo bboo bobb ooob bb" },
        { "restore initialized, gathered", BACKUP_STATE_RESTORE_INITIALIZED, { SC, G },
          "bbbb bbbb bbb bbb bbob bboo oo bboo booo oooo bb" },
        { "restore, Gather in flight", BACKUP_STATE_RESTORE_INITIALIZED, { SC, IF },
          "bbbb bbbb bbb bbb bbbb oboo oo bboo bbbb bbbb bb" },
        { "pre-restored", BACKUP_STATE_PRE_RESTORED, { SC, G },
          "bbbb bbbb bbb bbb bbob bboo oo bboo bbbb bbbb oo" },
        { "pre-restored, PostRestore in flight", BACKUP_STATE_PRE_RESTORED, { SC, G, IF },
          "bbbb bbbb bbb bbb bbbb oboo oo bboo bbbb bbbb bb" },
        { "post-restored", BACKUP_STATE_POST_RESTORED, { SC, G },
          "bbbb bbbb bbb bbb bbob bboo oo bboo bbbb bbbb bb" },
};

static vss_hr expected_hr(char c) {
        return c == 'o' ? S_OK : VSS_E_BAD_STATE;
}

static void test_table(void **state) {
        unsigned failures = 0;

        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                const Row *row = &rows[i];
                BackupMethod m = 0;

                for (const char *c = row->expect; *c; c++) {
                        vss_hr want, got;

                        if (*c == ' ')
                                continue;
                        assert_true(*c == 'o' || *c == 'b');
                        assert_true(m < _BACKUP_METHOD_MAX);

                        want = expected_hr(*c);
                        got = backup_state_check(row->state, m, &row->flags);
                        if (got != want) {
                                print_error("row \"%s\": %s returned %s, expected %s\n", row->what,
                                            backup_method_to_string(m), vss_hr_name(got), vss_hr_name(want));
                                failures++;
                        }
                        m++;
                }
                /* Every row covers every method exactly once. */
                assert_int_equal(m, _BACKUP_METHOD_MAX);
        }
        assert_int_equal(failures, 0);
}

/* Every phase × method × in-flight pair answers S_OK or VSS_E_BAD_STATE, nothing else, and
 * while an operation is in flight no second deferred method is ever allowed. */
static void test_every_pair_is_decided(void **state) {
        for (BackupState s = 0; s < _BACKUP_STATE_MAX; s++)
                for (BackupMethod m = 0; m < _BACKUP_METHOD_MAX; m++)
                        for (unsigned bits = 0; bits < 256; bits++) {
                                BackupFlags f = {
                                        .writerless = bits & 1, .context_set = bits & 2,
                                        .backup_state_set = bits & 4, .select_components = bits & 8,
                                        .gathered = bits & 16, .set_started = bits & 32,
                                        .snapshot_done = bits & 64, .in_flight = bits & 128,
                                };
                                vss_hr hr = backup_state_check(s, m, &f);

                                assert_true(hr == S_OK || hr == VSS_E_BAD_STATE);
                                if (f.in_flight && backup_method_is_deferred(m))
                                        assert_int_equal(hr, VSS_E_BAD_STATE);
                                if (!f.in_flight && m == BACKUP_METHOD_CANCEL)
                                        assert_int_equal(hr, VSS_E_BAD_STATE);
                        }
}

static void test_out_of_range(void **state) {
        BackupFlags f = {};

        assert_int_equal(backup_state_check(_BACKUP_STATE_MAX, BACKUP_METHOD_ABORT_BACKUP, &f), VSS_E_BAD_STATE);
        assert_int_equal(backup_state_check(BACKUP_STATE_INITIALIZED, _BACKUP_METHOD_MAX, &f), VSS_E_BAD_STATE);
        assert_int_equal(backup_state_check(BACKUP_STATE_INITIALIZED, BACKUP_METHOD_ABORT_BACKUP, NULL),
                         VSS_E_BAD_STATE);
        assert_string_equal(backup_state_to_string(_BACKUP_STATE_MAX), "unknown");
        assert_string_equal(backup_method_to_string(BACKUP_METHOD_DO_SNAPSHOT_SET), "DoSnapshotSet");
}

typedef struct Transition {
        BackupState from;
        BackupMethod method;
        vss_hr result;
        BackupState to;
} Transition;

static const Transition transitions[] = {
        { BACKUP_STATE_NEW, BACKUP_METHOD_INITIALIZE_FOR_BACKUP, S_OK, BACKUP_STATE_INITIALIZED },
        { BACKUP_STATE_NEW, BACKUP_METHOD_INITIALIZE_FOR_BACKUP, VSS_E_INVALID_XML_DOCUMENT, BACKUP_STATE_NEW },
        { BACKUP_STATE_INITIALIZED, BACKUP_METHOD_GATHER_WRITER_METADATA, S_OK, BACKUP_STATE_INITIALIZED },
        { BACKUP_STATE_INITIALIZED, BACKUP_METHOD_PREPARE_FOR_BACKUP, S_OK, BACKUP_STATE_PREPARED },
        /* Writers got PrepareForBackup even when the requester cancelled: abort rules apply. */
        { BACKUP_STATE_INITIALIZED, BACKUP_METHOD_PREPARE_FOR_BACKUP, VSS_S_ASYNC_CANCELLED, BACKUP_STATE_PREPARED },
        { BACKUP_STATE_PREPARED, BACKUP_METHOD_DO_SNAPSHOT_SET, S_OK, BACKUP_STATE_SNAPSHOT_DONE },
        { BACKUP_STATE_PREPARED, BACKUP_METHOD_DO_SNAPSHOT_SET, VSS_E_WRITERERROR_TIMEOUT, BACKUP_STATE_FAILED },
        { BACKUP_STATE_PREPARED, BACKUP_METHOD_DO_SNAPSHOT_SET, VSS_S_ASYNC_CANCELLED, BACKUP_STATE_FAILED },
        { BACKUP_STATE_INITIALIZED, BACKUP_METHOD_DO_SNAPSHOT_SET, S_OK, BACKUP_STATE_SNAPSHOT_DONE },
        { BACKUP_STATE_SNAPSHOT_DONE, BACKUP_METHOD_BACKUP_COMPLETE, S_OK, BACKUP_STATE_COMPLETED },
        { BACKUP_STATE_SNAPSHOT_DONE, BACKUP_METHOD_BACKUP_COMPLETE, VSS_E_UNEXPECTED_WRITER_ERROR,
          BACKUP_STATE_COMPLETED },
        { BACKUP_STATE_INITIALIZED, BACKUP_METHOD_ABORT_BACKUP, S_OK, BACKUP_STATE_ABORTED },
        { BACKUP_STATE_PREPARED, BACKUP_METHOD_ABORT_BACKUP, S_OK, BACKUP_STATE_ABORTED },
        { BACKUP_STATE_FAILED, BACKUP_METHOD_ABORT_BACKUP, S_OK, BACKUP_STATE_ABORTED },
        { BACKUP_STATE_SNAPSHOT_DONE, BACKUP_METHOD_ABORT_BACKUP, S_OK, BACKUP_STATE_ABORTED },
        { BACKUP_STATE_COMPLETED, BACKUP_METHOD_ABORT_BACKUP, S_OK, BACKUP_STATE_COMPLETED },
        { BACKUP_STATE_PREPARED, BACKUP_METHOD_GATHER_WRITER_STATUS, S_OK, BACKUP_STATE_PREPARED },
        { BACKUP_STATE_SNAPSHOT_DONE, BACKUP_METHOD_SET_BACKUP_SUCCEEDED, S_OK, BACKUP_STATE_SNAPSHOT_DONE },
        { BACKUP_STATE_NEW, BACKUP_METHOD_INITIALIZE_FOR_RESTORE, S_OK, BACKUP_STATE_RESTORE_INITIALIZED },
        { BACKUP_STATE_NEW, BACKUP_METHOD_INITIALIZE_FOR_RESTORE, VSS_E_INVALID_XML_DOCUMENT, BACKUP_STATE_NEW },
        { BACKUP_STATE_RESTORE_INITIALIZED, BACKUP_METHOD_GATHER_WRITER_METADATA, S_OK,
          BACKUP_STATE_RESTORE_INITIALIZED },
        { BACKUP_STATE_RESTORE_INITIALIZED, BACKUP_METHOD_PRE_RESTORE, S_OK, BACKUP_STATE_PRE_RESTORED },
        /* Writers got PreRestore even when the requester cancelled: PostRestore is owed. */
        { BACKUP_STATE_RESTORE_INITIALIZED, BACKUP_METHOD_PRE_RESTORE, VSS_S_ASYNC_CANCELLED,
          BACKUP_STATE_PRE_RESTORED },
        { BACKUP_STATE_PRE_RESTORED, BACKUP_METHOD_SET_FILE_RESTORE_STATUS, S_OK, BACKUP_STATE_PRE_RESTORED },
        { BACKUP_STATE_PRE_RESTORED, BACKUP_METHOD_POST_RESTORE, S_OK, BACKUP_STATE_POST_RESTORED },
        /* Seed 004: a restore cannot be aborted, whatever asks. */
        { BACKUP_STATE_RESTORE_INITIALIZED, BACKUP_METHOD_ABORT_BACKUP, S_OK, BACKUP_STATE_RESTORE_INITIALIZED },
        { BACKUP_STATE_PRE_RESTORED, BACKUP_METHOD_ABORT_BACKUP, S_OK, BACKUP_STATE_PRE_RESTORED },
};

static void test_transitions(void **state) {
        for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++) {
                const Transition *t = &transitions[i];
                BackupState to = backup_state_next(t->from, t->method, t->result);

                if (to != t->to)
                        print_error("%s after %s (%s): got %s, expected %s\n", backup_state_to_string(t->from),
                                    backup_method_to_string(t->method), vss_hr_name(t->result),
                                    backup_state_to_string(to), backup_state_to_string(t->to));
                assert_int_equal(to, t->to);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_every_pair_is_decided),
                cmocka_unit_test(test_out_of_range),
                cmocka_unit_test(test_transitions),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
