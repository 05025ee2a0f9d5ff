/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * enum-strings.c: readable names of the public enumerations, for logs and tools.
 *
 * Names are the enum constants without their prefix, lowercase with dashes
 * (VSS_WS_WAITING_FOR_FREEZE -> "waiting-for-freeze"), so they read well in a log line and
 * still map back to the constant at a glance.
 */
#include "macro.h"
#include "vss/vss-common.h"

static const char *const writer_state_names[VSS_WS_COUNT] = {
        [VSS_WS_UNKNOWN] = "unknown",
        [VSS_WS_STABLE] = "stable",
        [VSS_WS_WAITING_FOR_FREEZE] = "waiting-for-freeze",
        [VSS_WS_WAITING_FOR_THAW] = "waiting-for-thaw",
        [VSS_WS_WAITING_FOR_POST_SNAPSHOT] = "waiting-for-post-snapshot",
        [VSS_WS_WAITING_FOR_BACKUP_COMPLETE] = "waiting-for-backup-complete",
        [VSS_WS_FAILED_AT_IDENTIFY] = "failed-at-identify",
        [VSS_WS_FAILED_AT_PREPARE_BACKUP] = "failed-at-prepare-backup",
        [VSS_WS_FAILED_AT_PREPARE_SNAPSHOT] = "failed-at-prepare-snapshot",
        [VSS_WS_FAILED_AT_FREEZE] = "failed-at-freeze",
        [VSS_WS_FAILED_AT_THAW] = "failed-at-thaw",
        [VSS_WS_FAILED_AT_POST_SNAPSHOT] = "failed-at-post-snapshot",
        [VSS_WS_FAILED_AT_BACKUP_COMPLETE] = "failed-at-backup-complete",
        [VSS_WS_FAILED_AT_PRE_RESTORE] = "failed-at-pre-restore",
        [VSS_WS_FAILED_AT_POST_RESTORE] = "failed-at-post-restore",
        [VSS_WS_FAILED_AT_BACKUPSHUTDOWN] = "failed-at-backup-shutdown",
};

static const char *const backup_type_names[] = {
        [VSS_BT_UNDEFINED] = "undefined",
        [VSS_BT_FULL] = "full",
        [VSS_BT_INCREMENTAL] = "incremental",
        [VSS_BT_DIFFERENTIAL] = "differential",
        [VSS_BT_LOG] = "log",
        [VSS_BT_COPY] = "copy",
        [VSS_BT_OTHER] = "other",
};

static const char *const component_type_names[] = {
        [VSS_CT_UNDEFINED] = "undefined",
        [VSS_CT_DATABASE] = "database",
        [VSS_CT_FILEGROUP] = "filegroup",
};

static const char *name_from_table(const char *const *table, size_t n, int value) {
        if (value < 0 || (size_t) value >= n || !table[value])
                return "unknown";
        return table[value];
}

VSS_EXTERN const char *vss_writer_state_to_string(vss_writer_state s) {
        return name_from_table(writer_state_names, ELEMENTSOF(writer_state_names), (int) s);
}

VSS_EXTERN const char *vss_backup_type_to_string(vss_backup_type t) {
        return name_from_table(backup_type_names, ELEMENTSOF(backup_type_names), (int) t);
}

VSS_EXTERN const char *vss_component_type_to_string(vss_component_type t) {
        return name_from_table(component_type_names, ELEMENTSOF(component_type_names), (int) t);
}
