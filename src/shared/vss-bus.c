/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-bus.c: the glue both ends of vssd's socket share: HRESULT <-> D-Bus error names, id
 * strings on the wire, the socket path rule and the client connection.
 *
 * A failure crosses the socket as a D-Bus error named VSS_BUS_ERROR_PREFIX + the code's
 * symbolic name ("org.vsslinux.VSS1.Error.VSS_E_BAD_STATE"); a code outside the table travels
 * as "...Error.HR_0x8004DEAD" so no value is ever lost. The client connects the socket itself
 * and hands the fd to sd-bus, instead of an address string, so socket paths that need
 * escaping in a D-Bus address (or are longer than sun_path) still work, and the caller gets
 * connect()'s errno to tell "not running" from "refused".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "config.h"
#include "macro.h"
#include "vss-bus.h"

#define HR_HEX_PREFIX "HR_0x"

int vss_hr_to_bus_error(sd_bus_error *error, vss_hr hr, const char *fmt, ...) {
        char name[sizeof(VSS_BUS_ERROR_PREFIX) + 64];
        _cleanup_free_ char *message = NULL;
        const char *hr_name = vss_hr_name(hr);

        if (streq(hr_name, "UNKNOWN_HRESULT"))
                (void) snprintf(name, sizeof(name), VSS_BUS_ERROR_PREFIX HR_HEX_PREFIX "%08" PRIX32,
                                (uint32_t) hr);
        else
                (void) snprintf(name, sizeof(name), VSS_BUS_ERROR_PREFIX "%s", hr_name);

        if (fmt) {
                va_list ap;
                int k;

                va_start(ap, fmt);
                k = vasprintf(&message, fmt, ap);
                va_end(ap);
                if (k < 0)
                        message = NULL; /* fall back to the table's sentence below */
        }

        /* sd_bus_error_set() returns -EIO for names it has no errno for: exactly what a
         * method handler must return to make sd-bus send the error reply. */
        return sd_bus_error_set(error, name, message ?: vss_hr_message(hr));
}

static vss_hr hr_from_error_name(const char *name, bool *ok) {
        const char *suffix;
        char *end;
        unsigned long v;

        *ok = false;
        if (!name || strncmp(name, VSS_BUS_ERROR_PREFIX, strlen(VSS_BUS_ERROR_PREFIX)) != 0)
                return S_OK;

        suffix = name + strlen(VSS_BUS_ERROR_PREFIX);
        if (strncmp(suffix, HR_HEX_PREFIX, strlen(HR_HEX_PREFIX)) == 0) {
                const char *hex = suffix + strlen(HR_HEX_PREFIX);

                if (strlen(hex) != 8)
                        return S_OK;
                errno = 0;
                v = strtoul(hex, &end, 16);
                if (errno != 0 || *end != 0 || v > UINT32_MAX)
                        return S_OK;
                *ok = true;
                return VSS_HRESULT(v);
        }

        return vss_hr_from_name(suffix, ok);
}

/*
 * The order matters: a VSS error name wins (the peer told us exactly), then a lost
 * connection, then a timeout. sd-bus reports both a timeout and a connection torn down under
 * a pending call as org.freedesktop.DBus.Error.NoReply (and sd_bus_error_get_errno() maps both
 * to ETIMEDOUT), so the message sd-bus writes ("Method call timed out" vs "Connection
 * terminated") is what tells them apart.
 */
vss_hr vss_hr_from_bus_error(const sd_bus_error *error, int r) {
        bool ok;
        vss_hr hr;

        if (error && sd_bus_error_is_set(error)) {
                hr = hr_from_error_name(error->name, &ok);
                if (ok)
                        return hr;
        }

        if (r < 0)
                r = -r;
        if (r == ECONNRESET || r == ENOTCONN || r == EPIPE)
                return VSS_E_WRITER_INFRASTRUCTURE;

        if (error && sd_bus_error_has_name(error, SD_BUS_ERROR_DISCONNECTED))
                return VSS_E_WRITER_INFRASTRUCTURE;

        if (error && sd_bus_error_has_name(error, SD_BUS_ERROR_NO_REPLY)) {
                if (error->message && strstr(error->message, "timed out"))
                        return VSS_E_UNEXPECTED;
                return VSS_E_WRITER_INFRASTRUCTURE;
        }

        /* A timeout, or anything else: the peer did not say what went wrong. */
        return VSS_E_UNEXPECTED;
}

vss_id_str vss_id_to_str(const vss_id *id) {
        vss_id_str s;

        vss_id_format(id, s.s);
        return s;
}

vss_hr vss_id_from_bus(const char *s, vss_id *ret) {
        if (!ret)
                return E_INVALIDARG;
        if (isempty(s)) {
                *ret = VSS_ID_NULL;
                return S_OK;
        }
        return vss_id_parse(s, ret);
}

const char *vss_socket_path(const char *explicit_path) {
        const char *e;

        if (!isempty(explicit_path))
                return explicit_path;

        e = secure_getenv("VSS_SOCKET");
        if (!isempty(e))
                return e;

        return VSS_DEFAULT_SOCKET;
}

/*
 * Connects fd to path. A path longer than sun_path is reached through its directory:
 * connect to "/proc/self/fd/<dirfd>/<basename>", which is short whatever the directory.
 */
static int socket_connect_path(int fd, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int dfd = -EBADF;
        const char *base, *slash;
        size_t n;

        n = strlen(path);
        if (n < sizeof(sa.sun_path)) {
                memcpy(sa.sun_path, path, n + 1);
                if (connect(fd, (struct sockaddr *) &sa, offsetof(struct sockaddr_un, sun_path) + n + 1) < 0)
                        return -errno;
                return 0;
        }

        slash = strrchr(path, '/');
        if (!slash || !slash[1])
                return -ENAMETOOLONG;
        base = slash + 1;

        dir = strndup(path, slash == path ? 1 : (size_t) (slash - path));
        if (!dir)
                return -ENOMEM;

        dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;

        if ((size_t) snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, base) >=
            sizeof(sa.sun_path))
                return -ENAMETOOLONG;

        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

/*
 * vssd refuses a peer that may neither request nor subscribe at accept: it answers sd-bus's
 * pipelined handshake (AUTH EXTERNAL, DATA, NEGOTIATE_UNIX_FD, BEGIN) as the D-Bus spec has a
 * refusing server do, "DATA", "REJECTED EXTERNAL", "ERROR", and closes. sd-bus then fails the
 * handshake with -EPERM. Waiting for the handshake here, instead of at the first call, is what
 * lets the caller tell "refused" (E_ACCESSDENIED) from "not there".
 */
static uint64_t monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000U;
}

static int bus_wait_running(sd_bus *bus) {
        uint64_t deadline = monotonic_usec() + VSS_BUS_CONNECT_USEC;

        for (;;) {
                uint64_t n;
                int r;

                r = sd_bus_is_ready(bus);
                if (r != 0)
                        return r < 0 ? r : 0;
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (sd_bus_is_open(bus) <= 0)
                        return -ECONNRESET;
                n = monotonic_usec();
                if (n >= deadline)
                        return -ETIMEDOUT;
                r = sd_bus_wait(bus, deadline - n);
                if (r < 0)
                        return r;
        }
}

/* The refusal may arrive after vssd's close made our own handshake write fail (EPIPE), before
 * sd-bus read anything: it is still in the socket. */
static bool refused_at_door(int fd) {
        char buf[64];
        ssize_t n;

        n = recv(fd, buf, sizeof(buf) - 1, MSG_PEEK | MSG_DONTWAIT);
        if (n <= 0)
                return false;
        buf[n] = 0;
        return strstr(buf, "\r\nREJECTED") != NULL;
}

int vss_bus_connect(const char *path, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        _cleanup_close_ int fd = -EBADF, peek_fd = -EBADF;
        int r;

        if (isempty(path) || !ret)
                return -EINVAL;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;

        r = socket_connect_path(fd, path);
        if (r < 0)
                return r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;

        (void) sd_bus_set_description(bus, "vssd");

        /* Kept to read vssd's answer should sd-bus fail before it could (see below). */
        peek_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (peek_fd < 0)
                return -errno;

        /* Peer to peer: no Hello, no bus daemon; EXTERNAL auth over AF_UNIX identifies us. */
        r = sd_bus_set_fd(bus, fd, fd);
        if (r < 0)
                return r;
        TAKE_FD(fd);

        r = sd_bus_start(bus);
        if (r >= 0)
                r = bus_wait_running(bus);
        if (r < 0)
                return refused_at_door(peek_fd) ? -EPERM : r;

        *ret = TAKE_PTR(bus);
        return 0;
}
