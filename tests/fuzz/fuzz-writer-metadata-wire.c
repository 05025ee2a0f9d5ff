/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-writer-metadata-wire: the writer-metadata wire decoder (writer_metadata_read), which
 * vssd runs on every writer's Identify reply and libvss on vssd's GatherWriterMetadata reply.
 * The input is the body of a message whose signature is VSS_BUS_SIG_WMD. It is written raw
 * onto a socket whose other end is a real sd-bus server connection, so the decoder gets the
 * message exactly as sd-bus would hand over a hostile peer's. A message sd-bus itself refuses
 * is dropped or ends the connection; the harness then opens a new one.
 * Oracle: an accepted document is encoded again (writer_metadata_append), and that message
 * decodes to a document that encodes to the same XML as the first whenever XML can carry it.
 */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

#include "fuzz.h"
#include "vss-bus.h"
#include "wire.h"
#include "wmd-xml.h"
#include "writer-metadata.h"

static sd_bus *server;
static int raw_fd = -EBADF;
static uint32_t serial;

static void disconnect(void) {
        server = sd_bus_flush_close_unref(server);
        if (raw_fd >= 0)
                close(raw_fd);
        raw_fd = -EBADF;
}

static int connect_pair(void) {
        static const char auth[] = "\0AUTH ANONYMOUS\r\nBEGIN\r\n";
        sd_id128_t id;
        int fds[2], r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                return -errno;
        raw_fd = fds[1];
        r = sd_bus_new(&server);
        if (r >= 0)
                r = sd_id128_randomize(&id);
        if (r >= 0)
                r = sd_bus_set_server(server, 1, id);
        if (r >= 0)
                r = sd_bus_set_anonymous(server, 1);
        if (r >= 0)
                r = sd_bus_set_fd(server, fds[0], fds[0]);
        if (r < 0) {
                close(fds[0]);
                disconnect();
                return r;
        }
        r = sd_bus_start(server);
        if (r < 0) {
                disconnect();
                return r;
        }
        if (write(raw_fd, auth, sizeof(auth) - 1) != (ssize_t) (sizeof(auth) - 1)) {
                disconnect();
                return -EIO;
        }
        return 0;
}

/* Whatever the server wrote to us (its "OK <guid>" line): read and dropped so it never fills up. */
static void drain(void) {
        char buf[4096];

        while (read(raw_fd, buf, sizeof(buf)) > 0)
                ;
}

static int write_all(const uint8_t *p, size_t len) {
        while (len > 0) {
                ssize_t n = write(raw_fd, p, len);

                if (n < 0 && errno == EAGAIN) {
                        /* The server has not read yet: let it, then go on. */
                        if (sd_bus_process(server, NULL) < 0)
                                return -EPIPE;
                        drain();
                        continue;
                }
                if (n <= 0)
                        return -EPIPE;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static int send_call(const char *member, const char *signature, const uint8_t *body, size_t size) {
        _cleanup_free_ uint8_t *msg = NULL;
        size_t len;

        if (++serial == 0)
                serial = 1;
        msg = wire_method_call(serial, member, signature, body, size, &len);
        FUZZ_CHECK(msg);
        return write_all(msg, len);
}

/*
 * Sends the body as call "M", then an empty call "S" as a marker, and returns the "M" message
 * as the server received it once the marker arrived too, or NULL when sd-bus dropped it (only
 * the marker came) or closed the connection.
 */
static sd_bus_message *deliver(const uint8_t *data, size_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *got = NULL;

        if (!server && connect_pair() < 0)
                return NULL;
        if (send_call("M", VSS_BUS_SIG_WMD, data, size) < 0 || send_call("S", NULL, NULL, 0) < 0) {
                disconnect();
                return NULL;
        }
        for (int i = 0; i < 1000; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                int r;

                drain();
                r = sd_bus_process(server, &m);
                if (r < 0) {
                        /* sd-bus refused the message and dropped the connection. */
                        disconnect();
                        return NULL;
                }
                if (m && sd_bus_message_is_method_call(m, NULL, "M"))
                        got = TAKE_PTR(m);
                else if (m && sd_bus_message_is_method_call(m, NULL, "S"))
                        return TAKE_PTR(got);
                else if (r == 0 && sd_bus_wait(server, 100 * 1000) < 0) {
                        disconnect();
                        return NULL;
                }
        }
        /* The marker did not arrive in 1000 rounds: sd-bus is waiting for bytes we did not send. */
        FUZZ_CHECK(!"message not delivered");
        return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *copy = NULL;
        _cleanup_free_ char *xml = NULL, *xml2 = NULL;
        WriterMetadata *md = NULL, *md2 = NULL;
        int r;

        m = deliver(data, size);
        if (!m)
                return 0;
        r = writer_metadata_read(m, &md);
        if (r < 0) {
                FUZZ_CHECK(!md);
                return 0;
        }
        FUZZ_CHECK(md);

        /* Encode again on a message of the same bus, seal it and decode that. */
        FUZZ_CHECK(sd_bus_message_new_method_call(server, &copy, NULL, "/", NULL, "M") >= 0);
        FUZZ_CHECK(writer_metadata_append(copy, md) >= 0);
        FUZZ_CHECK(sd_bus_message_seal(copy, 1, 0) >= 0);
        FUZZ_CHECK(sd_bus_message_rewind(copy, true) >= 0);
        r = writer_metadata_read(copy, &md2);
        if (r < 0)
                fprintf(stderr, "re-encoded document does not decode: %s\n", strerror(-r));
        FUZZ_CHECK(r == 0 && md2);
        if (writer_metadata_to_xml(md, &xml) == S_OK) {
                FUZZ_CHECK(writer_metadata_to_xml(md2, &xml2) == S_OK);
                FUZZ_CHECK(streq(xml, xml2));
        }

        writer_metadata_free(md2);
        writer_metadata_free(md);
        return 0;
}
