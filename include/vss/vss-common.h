/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-common.h: the vocabulary shared by every part of the public API.
 *
 * This header holds what a requester and a writer both speak: result codes (HRESULTs with
 * their Windows names and numeric values, so a message in a log can be looked up in
 * Microsoft's documentation unchanged), object ids (16-byte UUIDs made by libuuid), the
 * VSS enumerations with their documented values, and the export/cleanup macros.
 *
 * Conventions of the whole API:
 *   - Every fallible call returns a vss_hr. S_OK (0) is success; negative values are
 *     failures; positive values are informational successes (S_FALSE, VSS_S_*).
 *   - Outputs come through pointers named ret_*, written only on success.
 *   - Strings are UTF-8. A "const char *" handed out by a getter is borrowed: it lives as
 *     long as the object it came from, unless the function's comment says otherwise.
 *   - Objects returned through "**ret" are owned by the caller, who frees them with the
 *     matching *_free / *_release / *_unref function named in the comment.
 */
#ifndef VSS_COMMON_H
#define VSS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VSS_EXTERN __attribute__((visibility("default")))

/* ------------------------------------------------------------------------------------------ */
/* Result codes                                                                               */
/* ------------------------------------------------------------------------------------------ */

/** An HRESULT: 32-bit, negative on failure. */
typedef int32_t vss_hr;

#define VSS_HRESULT(x) ((vss_hr)(int32_t)(uint32_t)(x))
#define VSS_SUCCEEDED(hr) ((hr) >= 0)
#define VSS_FAILED(hr) ((hr) < 0)

/* Windows' generic codes. Guarded so a program that already has them (winelib) still builds. */
#ifndef S_OK
#define S_OK                    VSS_HRESULT(0x00000000u) /* Success */
#define S_FALSE                 VSS_HRESULT(0x00000001u) /* Success, nothing done / negative answer */
#define E_NOTIMPL               VSS_HRESULT(0x80004001u) /* Not implemented */
#define E_FAIL                  VSS_HRESULT(0x80004005u) /* Unspecified failure */
#define E_ABORT                 VSS_HRESULT(0x80004004u) /* Operation aborted */
#define E_UNEXPECTED            VSS_HRESULT(0x8000FFFFu) /* Catastrophic failure (pre-Win7 VSS_E_UNEXPECTED) */
#define E_ACCESSDENIED          VSS_HRESULT(0x80070005u) /* Caller lacks backup privilege */
#define E_OUTOFMEMORY           VSS_HRESULT(0x8007000Eu) /* Out of memory or other system resources */
#define E_INVALIDARG            VSS_HRESULT(0x80070057u) /* An argument is invalid (e.g. NULL out pointer) */
#endif

/* VSS success codes. */
#define VSS_S_ASYNC_PENDING                         VSS_HRESULT(0x00042309u)
#define VSS_S_ASYNC_FINISHED                        VSS_HRESULT(0x0004230Au)
#define VSS_S_ASYNC_CANCELLED                       VSS_HRESULT(0x0004230Bu)
#define VSS_S_SOME_SNAPSHOTS_NOT_IMPORTED           VSS_HRESULT(0x00042321u)

/* VSS failure codes, values as in vss.h / vswriter.h. */
#define VSS_E_BAD_STATE                             VSS_HRESULT(0x80042301u)
#define VSS_E_UNEXPECTED                            VSS_HRESULT(0x80042302u)
#define VSS_E_PROVIDER_ALREADY_REGISTERED           VSS_HRESULT(0x80042303u)
#define VSS_E_PROVIDER_NOT_REGISTERED               VSS_HRESULT(0x80042304u)
#define VSS_E_PROVIDER_VETO                         VSS_HRESULT(0x80042306u)
#define VSS_E_PROVIDER_IN_USE                       VSS_HRESULT(0x80042307u)
#define VSS_E_OBJECT_NOT_FOUND                      VSS_HRESULT(0x80042308u)
#define VSS_E_VOLUME_NOT_SUPPORTED                  VSS_HRESULT(0x8004230Cu)
#define VSS_E_OBJECT_ALREADY_EXISTS                 VSS_HRESULT(0x8004230Du)
#define VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER      VSS_HRESULT(0x8004230Eu)
#define VSS_E_UNEXPECTED_PROVIDER_ERROR             VSS_HRESULT(0x8004230Fu)
#define VSS_E_CORRUPT_XML_DOCUMENT                  VSS_HRESULT(0x80042310u)
#define VSS_E_INVALID_XML_DOCUMENT                  VSS_HRESULT(0x80042311u)
#define VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED     VSS_HRESULT(0x80042312u)
#define VSS_E_FLUSH_WRITES_TIMEOUT                  VSS_HRESULT(0x80042313u)
#define VSS_E_HOLD_WRITES_TIMEOUT                   VSS_HRESULT(0x80042314u)
#define VSS_E_UNEXPECTED_WRITER_ERROR               VSS_HRESULT(0x80042315u)
#define VSS_E_SNAPSHOT_SET_IN_PROGRESS              VSS_HRESULT(0x80042316u)
#define VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED   VSS_HRESULT(0x80042317u)
#define VSS_E_WRITER_INFRASTRUCTURE                 VSS_HRESULT(0x80042318u)
#define VSS_E_WRITER_NOT_RESPONDING                 VSS_HRESULT(0x80042319u)
#define VSS_E_WRITER_ALREADY_SUBSCRIBED             VSS_HRESULT(0x8004231Au)
#define VSS_E_UNSUPPORTED_CONTEXT                   VSS_HRESULT(0x8004231Bu)
#define VSS_E_VOLUME_IN_USE                         VSS_HRESULT(0x8004231Du)
#define VSS_E_MAXIMUM_DIFFAREA_ASSOCIATIONS_REACHED VSS_HRESULT(0x8004231Eu)
#define VSS_E_INSUFFICIENT_STORAGE                  VSS_HRESULT(0x8004231Fu)
#define VSS_E_NO_SNAPSHOTS_IMPORTED                 VSS_HRESULT(0x80042320u)
#define VSS_E_SOME_SNAPSHOTS_NOT_IMPORTED           VSS_HRESULT(0x80042321u)
#define VSS_E_MAXIMUM_NUMBER_OF_REMOTE_MACHINES_REACHED VSS_HRESULT(0x80042322u)
#define VSS_E_REMOTE_SERVER_UNAVAILABLE             VSS_HRESULT(0x80042323u)
#define VSS_E_REMOTE_SERVER_UNSUPPORTED             VSS_HRESULT(0x80042324u)
#define VSS_E_REVERT_IN_PROGRESS                    VSS_HRESULT(0x80042325u)
#define VSS_E_REVERT_VOLUME_LOST                    VSS_HRESULT(0x80042326u)
#define VSS_E_REBOOT_REQUIRED                       VSS_HRESULT(0x80042327u)
#define VSS_E_TRANSACTION_FREEZE_TIMEOUT            VSS_HRESULT(0x80042328u)
#define VSS_E_TRANSACTION_THAW_TIMEOUT              VSS_HRESULT(0x80042329u)
#define VSS_E_UNSELECTED_VOLUME                     VSS_HRESULT(0x8004232Au)
#define VSS_E_SNAPSHOT_NOT_IN_SET                   VSS_HRESULT(0x8004232Bu)
#define VSS_E_NESTED_VOLUME_LIMIT                   VSS_HRESULT(0x8004232Cu)
#define VSS_E_VOLUME_NOT_LOCAL                      VSS_HRESULT(0x8004232Du)
#define VSS_E_CLUSTER_TIMEOUT                       VSS_HRESULT(0x8004232Eu)
#define VSS_E_NOT_SUPPORTED                         VSS_HRESULT(0x8004232Fu)
#define VSS_E_WRITERERROR_PARTIAL_FAILURE           VSS_HRESULT(0x80042336u)
#define VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT      VSS_HRESULT(0x800423F0u)
#define VSS_E_WRITERERROR_OUTOFRESOURCES            VSS_HRESULT(0x800423F1u)
#define VSS_E_WRITERERROR_TIMEOUT                   VSS_HRESULT(0x800423F2u)
#define VSS_E_WRITERERROR_RETRYABLE                 VSS_HRESULT(0x800423F3u)
#define VSS_E_WRITERERROR_NONRETRYABLE              VSS_HRESULT(0x800423F4u)
#define VSS_E_WRITERERROR_RECOVERY_FAILED           VSS_HRESULT(0x800423F5u)
#define VSS_E_BREAK_REVERT_ID_FAILED                VSS_HRESULT(0x800423F6u)
#define VSS_E_LEGACY_PROVIDER                       VSS_HRESULT(0x800423F7u)
#define VSS_E_MISSING_DISK                          VSS_HRESULT(0x800423F8u)
#define VSS_E_MISSING_HIDDEN_VOLUME                 VSS_HRESULT(0x800423F9u)
#define VSS_E_MISSING_VOLUME                        VSS_HRESULT(0x800423FAu)
#define VSS_E_AUTORECOVERY_FAILED                   VSS_HRESULT(0x800423FBu)
#define VSS_E_DYNAMIC_DISK_ERROR                    VSS_HRESULT(0x800423FCu)
#define VSS_E_NONTRANSPORTABLE_BCD                  VSS_HRESULT(0x800423FDu)
#define VSS_E_CANNOT_REVERT_DISKID                  VSS_HRESULT(0x800423FEu)
#define VSS_E_RESYNC_IN_PROGRESS                    VSS_HRESULT(0x800423FFu)
#define VSS_E_CLUSTER_ERROR                         VSS_HRESULT(0x80042400u)
#define VSS_E_WRITER_STATUS_NOT_AVAILABLE           VSS_HRESULT(0x80042409u)

/**
 * vss_hr_name: the symbolic name of a result code, e.g. "VSS_E_BAD_STATE".
 * @return a static string; "UNKNOWN_HRESULT" for codes not in the table. Cannot fail.
 */
VSS_EXTERN const char *vss_hr_name(vss_hr hr);

/**
 * vss_hr_message: one sentence saying what the code means and what to do about it.
 * @return a static string; a generic sentence for unknown codes. Cannot fail.
 */
VSS_EXTERN const char *vss_hr_message(vss_hr hr);

/* ------------------------------------------------------------------------------------------ */
/* Ids                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/** VSS_ID / GUID: 16 bytes in RFC 4122 order (libuuid's uuid_t). */
typedef struct vss_id {
        uint8_t bytes[16];
} vss_id;

#define VSS_ID_NULL ((vss_id) { { 0 } })
/** Size of the buffer vss_id_format needs: 36 characters and the NUL. */
#define VSS_ID_STRING_MAX 37

/** vss_id_generate: a new random id. Cannot fail. */
VSS_EXTERN void vss_id_generate(vss_id *ret);
/**
 * vss_id_parse: parse the 36-character form ("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
 * with or without surrounding braces. @return S_OK, or E_INVALIDARG for NULL or malformed.
 */
VSS_EXTERN vss_hr vss_id_parse(const char *s, vss_id *ret);
/** vss_id_format: lowercase 36-character form into buf (VSS_ID_STRING_MAX bytes). Returns buf. */
VSS_EXTERN char *vss_id_format(const vss_id *id, char *buf);
VSS_EXTERN bool vss_id_is_null(const vss_id *id);
VSS_EXTERN bool vss_id_equal(const vss_id *a, const vss_id *b);

/* ------------------------------------------------------------------------------------------ */
/* Time                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/**
 * VSS_TIMESTAMP / FILETIME: 100-nanosecond intervals since 1601-01-01 UTC, so values
 * exchanged with Windows-originated documents keep their meaning.
 */
typedef int64_t vss_timestamp;
VSS_EXTERN vss_timestamp vss_timestamp_from_unix_ns(int64_t unix_ns);
VSS_EXTERN int64_t vss_timestamp_to_unix_ns(vss_timestamp ts);

/* ------------------------------------------------------------------------------------------ */
/* Enumerations (values exactly as in vss.h / vswriter.h)                                     */
/* ------------------------------------------------------------------------------------------ */

typedef enum vss_backup_type {
        VSS_BT_UNDEFINED = 0,
        VSS_BT_FULL = 1,
        VSS_BT_INCREMENTAL = 2,
        VSS_BT_DIFFERENTIAL = 3,
        VSS_BT_LOG = 4,
        VSS_BT_COPY = 5,
        VSS_BT_OTHER = 6,
} vss_backup_type;

typedef enum vss_usage_type {
        VSS_UT_UNDEFINED = 0,
        VSS_UT_BOOTABLESYSTEMSTATE = 1,
        VSS_UT_SYSTEMSERVICE = 2,
        VSS_UT_USERDATA = 3,
        VSS_UT_OTHER = 4,
} vss_usage_type;

typedef enum vss_source_type {
        VSS_ST_UNDEFINED = 0,
        VSS_ST_TRANSACTEDDB = 1,
        VSS_ST_NONTRANSACTEDDB = 2,
        VSS_ST_OTHER = 3,
} vss_source_type;

/* Freeze order: FRONT_END first, then BACK_END, then SYSTEM; Thaw in reverse. */
typedef enum vss_application_level {
        VSS_APP_AUTO = -1,
        VSS_APP_UNKNOWN = 0,
        VSS_APP_SYSTEM = 1,
        VSS_APP_BACK_END = 2,
        VSS_APP_FRONT_END = 3,
        VSS_APP_SYSTEM_RM = 4,
} vss_application_level;

typedef enum vss_writer_state {
        VSS_WS_UNKNOWN = 0,
        VSS_WS_STABLE = 1,
        VSS_WS_WAITING_FOR_FREEZE = 2,
        VSS_WS_WAITING_FOR_THAW = 3,
        VSS_WS_WAITING_FOR_POST_SNAPSHOT = 4,
        VSS_WS_WAITING_FOR_BACKUP_COMPLETE = 5,
        VSS_WS_FAILED_AT_IDENTIFY = 6,
        VSS_WS_FAILED_AT_PREPARE_BACKUP = 7,
        VSS_WS_FAILED_AT_PREPARE_SNAPSHOT = 8,
        VSS_WS_FAILED_AT_FREEZE = 9,
        VSS_WS_FAILED_AT_THAW = 10,
        VSS_WS_FAILED_AT_POST_SNAPSHOT = 11,
        VSS_WS_FAILED_AT_BACKUP_COMPLETE = 12,
        VSS_WS_FAILED_AT_PRE_RESTORE = 13,
        VSS_WS_FAILED_AT_POST_RESTORE = 14,
        VSS_WS_FAILED_AT_BACKUPSHUTDOWN = 15,
        VSS_WS_COUNT = 16,
} vss_writer_state;

/* _VSS_SNAPSHOT_CONTEXT. Plain defines: VSS_CTX_ALL does not fit a C enum portably. */
typedef uint32_t vss_snapshot_context;
#define VSS_CTX_BACKUP                    0x00000000u
#define VSS_CTX_FILE_SHARE_BACKUP         0x00000010u
#define VSS_CTX_NAS_ROLLBACK              0x00000019u
#define VSS_CTX_APP_ROLLBACK              0x00000009u
#define VSS_CTX_CLIENT_ACCESSIBLE         0x0000001Du
#define VSS_CTX_CLIENT_ACCESSIBLE_WRITERS 0x0000000Du
#define VSS_CTX_ALL                       0xFFFFFFFFu

/* _VSS_VOLUME_SNAPSHOT_ATTRIBUTES */
#define VSS_VOLSNAP_ATTR_PERSISTENT           0x00000001u
#define VSS_VOLSNAP_ATTR_NO_AUTORECOVERY      0x00000002u
#define VSS_VOLSNAP_ATTR_CLIENT_ACCESSIBLE    0x00000004u
#define VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE      0x00000008u
#define VSS_VOLSNAP_ATTR_NO_WRITERS           0x00000010u
#define VSS_VOLSNAP_ATTR_TRANSPORTABLE        0x00000020u
#define VSS_VOLSNAP_ATTR_NOT_SURFACED         0x00000040u
#define VSS_VOLSNAP_ATTR_NOT_TRANSACTED       0x00000080u
#define VSS_VOLSNAP_ATTR_HARDWARE_ASSISTED    0x00010000u
#define VSS_VOLSNAP_ATTR_DIFFERENTIAL         0x00020000u
#define VSS_VOLSNAP_ATTR_PLEX                 0x00040000u
#define VSS_VOLSNAP_ATTR_IMPORTED             0x00080000u
#define VSS_VOLSNAP_ATTR_EXPOSED_LOCALLY      0x00100000u
#define VSS_VOLSNAP_ATTR_EXPOSED_REMOTELY     0x00200000u
#define VSS_VOLSNAP_ATTR_AUTORECOVER          0x00400000u
#define VSS_VOLSNAP_ATTR_ROLLBACK_RECOVERY    0x00800000u
#define VSS_VOLSNAP_ATTR_DELAYED_POSTSNAPSHOT 0x01000000u
#define VSS_VOLSNAP_ATTR_TXF_RECOVERY         0x02000000u
#define VSS_VOLSNAP_ATTR_FILE_SHARE           0x04000000u

typedef enum vss_component_type {
        VSS_CT_UNDEFINED = 0,
        VSS_CT_DATABASE = 1,
        VSS_CT_FILEGROUP = 2,
} vss_component_type;

/* VSS_COMPONENT_FLAGS */
#define VSS_CF_BACKUP_RECOVERY       0x1u
#define VSS_CF_APP_ROLLBACK_RECOVERY 0x2u
#define VSS_CF_NOT_SYSTEM_STATE      0x4u

typedef enum vss_restore_method {
        VSS_RME_UNDEFINED = 0,
        VSS_RME_RESTORE_IF_NOT_THERE = 1,
        VSS_RME_RESTORE_IF_CAN_REPLACE = 2,
        VSS_RME_STOP_RESTORE_START = 3,
        VSS_RME_RESTORE_TO_ALTERNATE_LOCATION = 4,
        VSS_RME_RESTORE_AT_REBOOT = 5,
        VSS_RME_RESTORE_AT_REBOOT_IF_CANNOT_REPLACE = 6,
        VSS_RME_CUSTOM = 7,
        VSS_RME_RESTORE_STOP_START = 8,
} vss_restore_method;

typedef enum vss_writer_restore {
        VSS_WRE_UNDEFINED = 0,
        VSS_WRE_NEVER = 1,
        VSS_WRE_IF_REPLACE_FAILS = 2,
        VSS_WRE_ALWAYS = 3,
} vss_writer_restore;

/* VSS_BACKUP_SCHEMA (bit mask) */
#define VSS_BS_UNDEFINED                          0x0000u
#define VSS_BS_DIFFERENTIAL                       0x0001u
#define VSS_BS_INCREMENTAL                        0x0002u
#define VSS_BS_EXCLUSIVE_INCREMENTAL_DIFFERENTIAL 0x0004u
#define VSS_BS_LOG                                0x0008u
#define VSS_BS_COPY                               0x0010u
#define VSS_BS_TIMESTAMPED                        0x0020u
#define VSS_BS_LAST_MODIFY                        0x0040u
#define VSS_BS_LSN                                0x0080u
#define VSS_BS_WRITER_SUPPORTS_NEW_TARGET         0x0100u
#define VSS_BS_WRITER_SUPPORTS_RESTORE_WITH_MOVE  0x0200u
#define VSS_BS_INDEPENDENT_SYSTEM_STATE           0x0400u
#define VSS_BS_ROLLFORWARD_RESTORE                0x1000u
#define VSS_BS_RESTORE_RENAME                     0x2000u
#define VSS_BS_AUTHORITATIVE_RESTORE              0x4000u
#define VSS_BS_WRITER_SUPPORTS_PARALLEL_RESTORES  0x8000u

/* VSS_FILE_SPEC_BACKUP_TYPE (bit mask) */
#define VSS_FSBT_FULL_BACKUP_REQUIRED           0x00001u
#define VSS_FSBT_DIFFERENTIAL_BACKUP_REQUIRED   0x00002u
#define VSS_FSBT_INCREMENTAL_BACKUP_REQUIRED    0x00004u
#define VSS_FSBT_LOG_BACKUP_REQUIRED            0x00008u
#define VSS_FSBT_ALL_BACKUP_REQUIRED            0x0000Fu
#define VSS_FSBT_FULL_SNAPSHOT_REQUIRED         0x00100u
#define VSS_FSBT_DIFFERENTIAL_SNAPSHOT_REQUIRED 0x00200u
#define VSS_FSBT_INCREMENTAL_SNAPSHOT_REQUIRED  0x00400u
#define VSS_FSBT_LOG_SNAPSHOT_REQUIRED          0x00800u
#define VSS_FSBT_ALL_SNAPSHOT_REQUIRED          0x00F00u
#define VSS_FSBT_CREATED_DURING_BACKUP          0x10000u

typedef enum vss_object_type {
        VSS_OBJECT_UNKNOWN = 0,
        VSS_OBJECT_NONE = 1,
        VSS_OBJECT_SNAPSHOT_SET = 2,
        VSS_OBJECT_SNAPSHOT = 3,
        VSS_OBJECT_PROVIDER = 4,
} vss_object_type;

typedef enum vss_snapshot_state {
        VSS_SS_UNKNOWN = 0,
        VSS_SS_PREPARING = 1,
        VSS_SS_PROCESSING_PREPARE = 2,
        VSS_SS_PREPARED = 3,
        VSS_SS_PROCESSING_PRECOMMIT = 4,
        VSS_SS_PRECOMMITTED = 5,
        VSS_SS_PROCESSING_COMMIT = 6,
        VSS_SS_COMMITTED = 7,
        VSS_SS_PROCESSING_POSTCOMMIT = 8,
        VSS_SS_PROCESSING_PREFINALCOMMIT = 9,
        VSS_SS_PREFINALCOMMITTED = 10,
        VSS_SS_PROCESSING_POSTFINALCOMMIT = 11,
        VSS_SS_CREATED = 12,
        VSS_SS_ABORTED = 13,
        VSS_SS_DELETED = 14,
        VSS_SS_POSTCOMMITTED = 15,
} vss_snapshot_state;

typedef enum vss_provider_type {
        VSS_PROV_UNKNOWN = 0,
        VSS_PROV_SYSTEM = 1,
        VSS_PROV_SOFTWARE = 2,
        VSS_PROV_HARDWARE = 3,
        VSS_PROV_FILESHARE = 4,
} vss_provider_type;

/* VSS_SUBSCRIBE_MASK */
#define VSS_SM_POST_SNAPSHOT_FLAG  0x1u
#define VSS_SM_BACKUP_EVENTS_FLAG  0x2u
#define VSS_SM_RESTORE_EVENTS_FLAG 0x4u
#define VSS_SM_IO_THROTTLING_FLAG  0x8u
#define VSS_SM_ALL_FLAGS           0xFFFFFFFFu

/** Infinite wait for vss_async_wait. */
#define VSS_INFINITE 0xFFFFFFFFu

/* Names for logs and tools. Each returns a static string, "unknown" when out of range. */
VSS_EXTERN const char *vss_writer_state_to_string(vss_writer_state s);
VSS_EXTERN const char *vss_backup_type_to_string(vss_backup_type t);
VSS_EXTERN const char *vss_component_type_to_string(vss_component_type t);

#ifdef __cplusplus
}
#endif

#endif /* VSS_COMMON_H */
