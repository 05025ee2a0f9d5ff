/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client-input.c: the input gate between a connection and its sd-bus object.
 *
 * sd-bus reads a message into memory as it arrives: the fixed header announces a size (up to
 * 128 MiB), sd-bus allocates it and fills it from the socket for as long as the peer takes.
 * Nothing in its API bounds that size, how long a message may take, or how many bytes all
 * connections of one uid may hold that way; a peer that sends six 120 MiB calls without their
 * last byte grows the daemon by 720 MiB for good. So sd-bus does not read the socket. It reads
 * a pipe, and vssd moves bytes from the socket into that pipe only after checking them:
 *
 *  - the authentication lines up to BEGIN, against the one exchange D-Bus clients use
 *    (AUTH EXTERNAL with the peer's own uid or none, DATA, NEGOTIATE_UNIX_FD, BEGIN; a bare
 *    AUTH first asks for the mechanisms), at most CLIENT_AUTH_LINES_MAX lines of at most
 *    CLIENT_AUTH_MAX bytes. That the lines are this exact exchange is what guarantees that
 *    sd-bus's messages begin right after BEGIN, where ours do;
 *  - every message's fixed header (CLIENT_HEADER_SIZE bytes): its declared size must fit
 *    --max-message-size, and it is reserved against the uid's --max-pending-per-uid and,
 *    but for root, everyone's --max-pending before a byte of the body moves. The header is
 *    peeked into the Client (read, when it arrives in pieces); the message goes from the
 *    socket to the pipe with splice(), exactly as many bytes as the header announced, so
 *    both sides always agree where messages end;
 *  - time: a handshake or message that has started must end within --read-timeout-ms.
 *
 * Output is bounded the same way: the next message is passed on only once sd-bus has taken
 * the previous one out of the pipe and the peer has fewer than --max-queued messages from us
 * unread; a peer that sends calls but never reads the replies stops being read (the kernel's
 * socket buffer then stops it). A paused connection waits on the Manager's post source, which
 * runs after every event-loop iteration that dispatched something.
 *
 * Fairness: one dispatch moves at most one message or FORWARD_CHUNK bytes, then the next
 * ready connection has its turn (on_gate), so a flooding peer takes turns with everyone else.
 *
 * Cost: a message goes header and body in one dispatch, and sd-bus reads and dispatches it
 * at once (dispatch_now); every connection's input is watched through one epoll set of the
 * gate's own, served in batches from one epoll_wait, so many writers answering at once share
 * one turn of the loop (on_gate). A small message costs the gate two system calls (the peek
 * of its header, one splice); that sd-bus has emptied the pipe is known from seeing it
 * dispatch the message (pipe_empty), not asked of the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vssd/client.h"
#include "vssd/log.h"
#include "vssd/writer-registry.h"

/* Bytes moved per dispatch, and the pipe's size: sd-bus reallocates its buffer to the whole
 * message at every read, so a large message should take few reads. */
#define FORWARD_CHUNK (1024U * 1024U)
/* A D-Bus message is at least its fixed header plus one 8-byte header field (sd-bus reads
 * this much before it looks at the announced size). */
#define MESSAGE_MIN_SIZE (CLIENT_HEADER_SIZE + 8U)
/* Ready connections served per turn of vssd's loop (on_gate). */
#define GATE_BATCH 64U

enum {
        AUTH_WANT_NUL,                  /* the credentials byte that opens the stream */
        AUTH_WANT_AUTH,                 /* "AUTH EXTERNAL [hex uid]" */
        AUTH_WANT_DATA,                 /* "DATA [hex uid]" after an AUTH without one */
        AUTH_AUTHENTICATED,             /* "NEGOTIATE_UNIX_FD" once, then "BEGIN" */
        AUTH_NEGOTIATED,                /* "BEGIN" */
};

static int close_fd(int fd) {
        if (fd >= 0)
                (void) close(fd);
        return -EBADF;
}

static uint64_t align8(uint64_t n) {
        return (n + 7) & ~(uint64_t) 7;
}

static bool line_is(const char *line, size_t len, const char *word) {
        return len == strlen(word) && memcmp(line, word, len) == 0;
}

/* The optional " <hex>" after AUTH EXTERNAL or DATA: hex of the decimal uid, which must be the
 * peer's own. Anything else would make sd-bus, which accepts any identity on this pipe, and us
 * disagree on what the line means. */
static int unhex_digit(char ch) {
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

static bool auth_token_ok(const Client *c, const char *p, size_t len) {
        unsigned long long uid = 0;
        size_t n;

        if (len == 0)
                return true;
        if (p[0] != ' ' || len < 3 || (len - 1) % 2 != 0)
                return false;
        n = (len - 1) / 2;
        if (n > 10)
                return false;
        for (size_t i = 0; i < n; i++) {
                int hi = unhex_digit(p[1 + 2 * i]), lo = unhex_digit(p[2 + 2 * i]);
                int ch = hi < 0 || lo < 0 ? -1 : hi * 16 + lo;

                if (ch < '0' || ch > '9' || (i == 0 && ch == '0' && n > 1))
                        return false;
                uid = uid * 10 + (unsigned long long) (ch - '0');
        }
        return uid == c->ucred.uid;
}

/* One complete authentication line (without "\r\n"): 1 for BEGIN, 0 for another good line,
 * -EBADMSG otherwise. */
static int auth_line(Client *c, const char *line, size_t len) {
        static const char auth_ext[] = "AUTH EXTERNAL";
        static const char data[] = "DATA";

        /* The exchange takes four lines, five with GDBus's question; more is not a client. */
        if (++c->auth_lines > CLIENT_AUTH_LINES_MAX)
                return -EBADMSG;

        switch (c->auth_state) {
        case AUTH_WANT_AUTH:
                /* A bare AUTH asks for the mechanisms (GDBus does); sd-bus answers it. */
                if (line_is(line, len, "AUTH"))
                        return 0;
                if (len < strlen(auth_ext) || memcmp(line, auth_ext, strlen(auth_ext)) != 0 ||
                    !auth_token_ok(c, line + strlen(auth_ext), len - strlen(auth_ext)))
                        return -EBADMSG;
                c->auth_state = len == strlen(auth_ext) ? AUTH_WANT_DATA : AUTH_AUTHENTICATED;
                return 0;
        case AUTH_WANT_DATA:
                if (len < strlen(data) || memcmp(line, data, strlen(data)) != 0 ||
                    !auth_token_ok(c, line + strlen(data), len - strlen(data)))
                        return -EBADMSG;
                c->auth_state = AUTH_AUTHENTICATED;
                return 0;
        case AUTH_AUTHENTICATED:
        case AUTH_NEGOTIATED:
                if (c->auth_state == AUTH_AUTHENTICATED && line_is(line, len, "NEGOTIATE_UNIX_FD")) {
                        c->auth_state = AUTH_NEGOTIATED;
                        return 0;
                }
                if (line_is(line, len, "BEGIN"))
                        return 1;
                return -EBADMSG;
        default:
                return -EBADMSG;
        }
}

static int pipe_write_all(Client *c, const void *p, size_t n) {
        ssize_t k;

        /* Only at the handshake, on an empty pipe, at most CLIENT_AUTH_MAX < PIPE_BUF bytes:
         * the write is whole or fails. */
        k = write(c->pipe_fd, p, n);
        if (k < 0)
                return -errno;
        return (size_t) k == n ? 0 : -EIO;
}

static void deadline_arm(Client *c, bool on);

/* The handshake: 1 when BEGIN went through, 0 to wait for more, negative errno to close. */
static int auth_step(Client *c) {
        char peek[CLIENT_AUTH_MAX];
        size_t room = CLIENT_AUTH_MAX - c->auth_len, take, start, done = 0;
        ssize_t n;
        bool begin = false;
        int r;

        /* Peek first, so that nothing past BEGIN is consumed: those bytes are messages. */
        n = recv(c->input_fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0)
                return -ECONNRESET;

        take = (size_t) n;
        start = c->auth_len > 0 ? c->auth_len - 1 : 0;
        memcpy(c->auth + c->auth_len, peek, take);
        for (size_t i = start; i + 1 < c->auth_len + take; i++)
                if (c->auth[i] == '\r' && c->auth[i + 1] == '\n') {
                        /* Is this the end of a BEGIN line? Then stop consuming right after it. */
                        size_t ls = i;

                        while (ls > 0 && c->auth[ls - 1] != '\n' && c->auth[ls - 1] != 0)
                                ls--;
                        if (line_is(c->auth + ls, i - ls, "BEGIN")) {
                                take = i + 2 - c->auth_len;
                                break;
                        }
                }

        n = recv(c->input_fd, peek, take, MSG_DONTWAIT);
        if (n < 0)
                return -errno;
        if ((size_t) n != take)
                return -EIO;
        c->auth_len += take;

        /* Walk the complete lines; done is how far they reach. */
        if (c->auth_state == AUTH_WANT_NUL) {
                if (c->auth[0] != 0)
                        return -EBADMSG;
                c->auth_state = AUTH_WANT_AUTH;
                done = 1;
        }
        for (size_t ls = done, i = done; i + 1 < c->auth_len; i++) {
                if (c->auth[i] != '\r' || c->auth[i + 1] != '\n')
                        continue;
                r = auth_line(c, c->auth + ls, i - ls);
                if (r < 0)
                        return r;
                ls = done = i + 2;
                i++;
                if (r > 0) {
                        begin = true;
                        break;
                }
        }

        if (done > 0) {
                r = pipe_write_all(c, c->auth, done);
                if (r < 0)
                        return r;
                memmove(c->auth, c->auth + done, c->auth_len - done);
                c->auth_len -= done;
        }
        if (begin) {
                assert(c->auth_len == 0);
                c->phase = CLIENT_INPUT_MESSAGES;
                deadline_arm(c, false);
                return 1;
        }
        if (c->auth_len >= CLIENT_AUTH_MAX)
                return -EBADMSG;
        return 0;
}

static void reservation_release(Client *c) {
        Manager *m = c->manager;

        if (c->reserved == 0)
                return;
        assert(c->usage && c->usage->pending >= c->reserved);
        c->usage->pending -= c->reserved;
        if (c->ucred.uid != 0) {
                assert(m->pending >= c->reserved);
                m->pending -= c->reserved;
        }
        c->reserved = 0;
}

/* The fixed header is in: check the announced size and reserve it. 0 or negative errno. */
static int header_accept(Client *c) {
        Manager *m = c->manager;
        const uint8_t *h = c->header;
        uint32_t body, fields;
        uint64_t size;

        if (h[0] == 'l') {
                body = (uint32_t) h[4] | (uint32_t) h[5] << 8 | (uint32_t) h[6] << 16 | (uint32_t) h[7] << 24;
                fields = (uint32_t) h[12] | (uint32_t) h[13] << 8 | (uint32_t) h[14] << 16 | (uint32_t) h[15] << 24;
        } else if (h[0] == 'B') {
                body = (uint32_t) h[7] | (uint32_t) h[6] << 8 | (uint32_t) h[5] << 16 | (uint32_t) h[4] << 24;
                fields = (uint32_t) h[15] | (uint32_t) h[14] << 8 | (uint32_t) h[13] << 16 | (uint32_t) h[12] << 24;
        } else {
                log_warning("Closing the connection of pid %d (uid %u): not a D-Bus message.", (int) c->ucred.pid,
                            (unsigned) c->ucred.uid);
                return -EBADMSG;
        }

        size = CLIENT_HEADER_SIZE + align8(fields) + body;
        if (size < MESSAGE_MIN_SIZE) {
                log_warning("Closing the connection of pid %d (uid %u): a message of %llu bytes is too short.",
                            (int) c->ucred.pid, (unsigned) c->ucred.uid, (unsigned long long) size);
                return -EBADMSG;
        }
        if (size > m->config.max_message_size) {
                log_warning("Closing the connection of pid %d (uid %u): a message of %llu bytes, above --max-message-size=%llu.",
                            (int) c->ucred.pid, (unsigned) c->ucred.uid, (unsigned long long) size,
                            (unsigned long long) m->config.max_message_size);
                return -EMSGSIZE;
        }
        if (c->usage->pending + size > m->config.max_pending_per_uid) {
                log_warning("Closing the connection of pid %d (uid %u): its uid would have %llu bytes arriving, above --max-pending-per-uid=%llu.",
                            (int) c->ucred.pid, (unsigned) c->ucred.uid,
                            (unsigned long long) (c->usage->pending + size),
                            (unsigned long long) m->config.max_pending_per_uid);
                return -ENOBUFS;
        }
        if (c->ucred.uid != 0 && m->pending + size > m->config.max_pending) {
                log_warning("Closing the connection of pid %d (uid %u): %llu bytes would be arriving, above --max-pending=%llu.",
                            (int) c->ucred.pid, (unsigned) c->ucred.uid, (unsigned long long) (m->pending + size),
                            (unsigned long long) m->config.max_pending);
                return -ENOBUFS;
        }

        c->reserved = size;
        c->usage->pending += size;
        if (c->ucred.uid != 0)
                m->pending += size;
        c->message_left = size;
        c->header_unsent = CLIENT_HEADER_SIZE;
        if (size > c->largest_message)
                c->largest_message = size;
        return 0;
}

static uint32_t header_serial(const uint8_t *h) {
        if (h[0] == 'l')
                return (uint32_t) h[8] | (uint32_t) h[9] << 8 | (uint32_t) h[10] << 16 | (uint32_t) h[11] << 24;
        return (uint32_t) h[11] | (uint32_t) h[10] << 8 | (uint32_t) h[9] << 16 | (uint32_t) h[8] << 24;
}

static size_t pipe_unread(const Client *c) {
        int n = 0;

        /* FIONREAD on either end of a pipe: the bytes in it. */
        if (ioctl(c->pipe_fd, FIONREAD, &n) < 0)
                return 0;
        return n > 0 ? (size_t) n : 0;
}

static bool replies_backed_up(const Client *c) {
        uint64_t q = 0;

        return sd_bus_get_n_queued_write(c->bus, &q) >= 0 && q >= c->manager->config.max_queued;
}

/* Is every byte put in the pipe read by sd-bus? Between messages, when sd-bus has dispatched
 * the last message the gate forwarded, yes, without a system call: sd-bus reads a message
 * exactly to its end and dispatches it in the same sd_bus_process(), and the gate forwards a
 * message only into an empty pipe. Otherwise (before the first message, whose handshake lines
 * are not seen dispatched; a message sd-bus took but nobody saw, such as a reply it dropped)
 * the kernel is asked. Seeing the serial dispatched twice changes nothing. */
static bool pipe_empty(const Client *c) {
        if (c->header_len == 0 && c->taken)
                return true;
        return pipe_unread(c) == 0;
}

/* sd-bus seals the messages it makes up itself (timeouts, a closed connection) with this
 * serial; a peer's message with it is never taken as seen. */
#define SERIAL_SYNTHETIC UINT32_MAX

void client_input_note_taken(Client *c, sd_bus_message *m) {
        uint64_t cookie = 0;

        if (!c || c->serial == SERIAL_SYNTHETIC || sd_bus_message_get_cookie(m, &cookie) < 0)
                return;
        if (cookie == c->serial)
                c->taken = true;
}

static int on_bus_filter(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        client_input_note_taken(userdata, m);
        return 0;
}

/* May the gate move bytes now? Not while sd-bus still has some in the pipe (it holds at most
 * one message besides), nor, between messages, while the peer leaves our replies unread. */
static bool may_forward(const Client *c) {
        if (!pipe_empty(c))
                return false;
        if (c->message_left == 0 && c->header_len == 0 && replies_backed_up(c))
                return false;
        return true;
}

/* Puts input_fd in the gate's epoll set or takes it out. */
static void watch_input(Client *c, bool on) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

        if (c->input_watched == on || c->input_fd < 0)
                return;
        if (epoll_ctl(c->manager->gate_fd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, c->input_fd, &ev) < 0) {
                log_warning_errno(-errno, "Cannot %s the input of pid %d: %m", on ? "watch" : "unwatch",
                                  (int) c->ucred.pid);
                return;
        }
        c->input_watched = on;
}

static void pause_input(Client *c) {
        Manager *m = c->manager;

        if (c->paused)
                return;
        c->paused = true;
        m->n_paused++;
        watch_input(c, false);
        (void) sd_event_source_set_enabled(m->resume_source, SD_EVENT_ON);
}

static void resume_input(Client *c) {
        Manager *m = c->manager;

        if (!c->paused)
                return;
        c->paused = false;
        assert(m->n_paused > 0);
        if (--m->n_paused == 0)
                (void) sd_event_source_set_enabled(m->resume_source, SD_EVENT_OFF);
        watch_input(c, true);
}

/*
 * Move message bytes: 2 after a complete message, 1 after a full chunk of a longer one (yield
 * to the loop), 0 to wait for the socket or for sd-bus, -ESHUTDOWN at the peer's end of
 * stream, negative errno to close.
 *
 * The one-message-in-the-pipe rule is checked where a message begins: once its header is
 * accepted, header and body go on in the same dispatch (the pipe holds FORWARD_CHUNK, so a
 * message that fits goes whole). Pausing between header and body cost a round through the
 * loop and a dozen system calls per message, for no bound: the reservation already covers
 * the body. The read deadline is armed only when a started message has to wait for the
 * socket, which is rare for small calls that arrive in one piece.
 */
static int message_step(Client *c) {
        size_t budget = FORWARD_CHUNK;
        ssize_t k;
        int r;

        for (;;) {
                if (c->header_len == 0 && !may_forward(c)) {
                        pause_input(c);
                        return 0;
                }

                if (c->header_len == 0) {
                        /* Peeked whole, the header stays in the socket and goes to the pipe
                         * with the body in one splice (a write of it cost a system call per
                         * message). A header that has not all arrived is consumed as it comes,
                         * below: left in the socket it would keep the socket ready. */
                        k = recv(c->input_fd, c->header, CLIENT_HEADER_SIZE, MSG_DONTWAIT | MSG_PEEK);
                        if (k < 0) {
                                if (errno != EAGAIN && errno != EINTR)
                                        return -errno;
                                deadline_arm(c, false);
                                return 0;
                        }
                        if (k == 0)
                                return -ESHUTDOWN;
                        if (k == CLIENT_HEADER_SIZE) {
                                c->header_len = CLIENT_HEADER_SIZE;
                                r = header_accept(c);
                                if (r < 0)
                                        return r;
                                c->header_unsent = 0;   /* it is still in the socket: message_left holds it */
                                continue;
                        }
                }

                if (c->header_len < CLIENT_HEADER_SIZE) {
                        k = recv(c->input_fd, c->header + c->header_len, CLIENT_HEADER_SIZE - c->header_len,
                                 MSG_DONTWAIT);
                        if (k < 0) {
                                if (errno != EAGAIN && errno != EINTR)
                                        return -errno;
                                deadline_arm(c, c->header_len > 0);
                                return 0;
                        }
                        if (k == 0)
                                return c->header_len == 0 ? -ESHUTDOWN : -ECONNRESET;
                        c->header_len += (size_t) k;
                        if (c->header_len < CLIENT_HEADER_SIZE)
                                continue;
                        r = header_accept(c);
                        if (r < 0)
                                return r;
                }

                if (c->header_unsent > 0) {
                        /* 16 bytes into a pipe sd-bus has emptied: whole or EAGAIN (PIPE_BUF). */
                        k = write(c->pipe_fd, c->header + CLIENT_HEADER_SIZE - c->header_unsent, c->header_unsent);
                        if (k < 0) {
                                if (errno != EAGAIN && errno != EINTR)
                                        return -errno;
                                deadline_arm(c, true);
                                pause_input(c);
                                return 0;
                        }
                        c->header_unsent -= (size_t) k;
                        c->message_left -= (uint64_t) k;
                        continue;
                }

                if (c->message_left > 0) {
                        size_t want = c->message_left < budget ? (size_t) c->message_left : budget;

                        k = splice(c->input_fd, NULL, c->pipe_fd, NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
                        if (k < 0) {
                                int avail = 0;

                                if (errno != EAGAIN && errno != EINTR)
                                        return -errno;
                                deadline_arm(c, true);
                                /* Either the socket is empty or the pipe is full; in the second
                                 * case wait for sd-bus to empty it. */
                                if (ioctl(c->input_fd, FIONREAD, &avail) >= 0 && avail > 0)
                                        pause_input(c);
                                return 0;
                        }
                        if (k == 0)
                                return -ECONNRESET;
                        c->message_left -= (uint64_t) k;
                        budget -= (size_t) k;
                        if (c->message_left > 0) {
                                deadline_arm(c, true);
                                return budget > 0 ? 0 : 1;
                        }
                }

                /* The message is all in the pipe: sd-bus takes over its memory. A reply, even
                 * one sd-bus will drop as late, shows a writer is answering again. */
                if (c->writer && (c->header[1] == 2 || c->header[1] == 3))
                        writer_note_answer(c->writer);
                reservation_release(c);
                c->header_len = 0;
                c->serial = header_serial(c->header);
                c->taken = false;
                deadline_arm(c, false);
                return 2;
        }
}

/*
 * A whole message is in the pipe: let sd-bus read and dispatch it now rather than on a later
 * turn of the loop. Each turn costs vssd an epoll_wait and a pass over every attached
 * connection (sd-bus's prepare callbacks; writers' buses are driven instead, client-bus.c),
 * so with many writers the turn saved per message was most of what a message cost.
 * Whatever the handler does may end the connection (a malformed message makes sd-bus close it
 * and report Disconnected): client_bus_process frees it then. Returns false when c is gone.
 *
 * A subscribed writer's bus is driven from here (client-bus.c): once it is, this is also
 * where sd-bus reads a chunk of a long message and the end of the stream, which an attached
 * bus would read when its pipe became readable.
 */
static bool dispatch_now(Client *c) {
        if (!client_bus_process(c))
                return false;
        if (c->writer && !client_bus_driven(c)) {
                int r = client_bus_drive(c);
                if (r < 0)
                        log_warning_errno(r, "Cannot drive the bus of writer pid %d, leaving it attached: %m",
                                          (int) c->ucred.pid);
        }
        return true;
}

/* The peer closed its side: sd-bus still reads what is in the pipe, then sees the end, and
 * its Disconnected signal ends the Client as before. */
static void input_eof(Client *c) {
        c->phase = CLIENT_INPUT_EOF;
        reservation_release(c);
        deadline_arm(c, false);
        if (c->paused)
                resume_input(c);
        watch_input(c, false);
        c->input_fd = close_fd(c->input_fd);
        c->pipe_fd = close_fd(c->pipe_fd);
}

static void on_input(Client *c) {
        int r;

        if (c->input_fd < 0)
                return;         /* its end of stream came earlier in this batch */

        if (c->phase == CLIENT_INPUT_AUTH) {
                r = auth_step(c);
                if (r <= 0)
                        goto done;
        }
        r = message_step(c);
        if ((r == 2 || (r >= 0 && client_bus_driven(c))) && !dispatch_now(c))
                return;

done:
        if (r == -ESHUTDOWN) {
                input_eof(c);
                if (client_bus_driven(c))
                        (void) dispatch_now(c);
        } else if (r == -ECONNRESET)
                client_free(c);
        else if (r < 0) {
                if (r != -EMSGSIZE && r != -ENOBUFS && r != -EBADMSG)
                        log_warning_errno(r, "Closing the connection of pid %d (uid %u): %m", (int) c->ucred.pid,
                                          (unsigned) c->ucred.uid);
                else if (r == -EBADMSG && c->phase == CLIENT_INPUT_AUTH)
                        log_warning("Closing the connection of pid %d (uid %u): a handshake other than AUTH EXTERNAL with its own uid.",
                                    (int) c->ucred.pid, (unsigned) c->ucred.uid);
                client_free(c);
        }
}

/*
 * The gate's one source in vssd's loop: every connection's input is in one epoll set of the
 * gate's own, and one turn of the loop serves up to GATE_BATCH ready connections, each one
 * message (or chunk) in turn. A turn of vssd's loop costs an epoll_wait and a pass over
 * every attached connection (sd-bus's prepare callbacks); when a hundred writers answer an
 * event at once, a source per connection paid that turn a hundred times. The batch comes
 * from one epoll_wait (taking one event per call cost a system call per message); a
 * connection that a handler frees meanwhile is struck from it (gate_forget), so it is never
 * looked at again. Level triggering puts a connection with more to send behind the others
 * (fairness as before).
 */
static int on_gate(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        struct epoll_event evs[GATE_BATCH];
        int n;

        n = epoll_wait(fd, evs, GATE_BATCH, 0);
        if (n <= 0)
                return 0;

        m->gate_batch = evs;
        m->gate_batch_n = (unsigned) n;
        for (int i = 0; i < n; i++)
                if (evs[i].data.ptr)
                        on_input(evs[i].data.ptr);
        m->gate_batch = NULL;
        m->gate_batch_n = 0;
        return 0;
}

/* c is going away: the rest of a batch being served must not reach it. */
static void gate_forget(Client *c) {
        Manager *m = c->manager;

        for (unsigned i = 0; i < m->gate_batch_n; i++)
                if (m->gate_batch[i].data.ptr == c)
                        m->gate_batch[i].data.ptr = NULL;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Client *c = userdata;

        log_warning("Closing the connection of pid %d (uid %u): its %s did not arrive within --read-timeout-ms=%llu.",
                    (int) c->ucred.pid, (unsigned) c->ucred.uid,
                    c->phase == CLIENT_INPUT_AUTH ? "handshake" : "message",
                    (unsigned long long) (c->manager->config.read_timeout_usec / USEC_PER_MSEC));
        client_free(c);
        return 0;
}

/* Arms the deadline of what has started unless it runs already (a message's deadline counts
 * from its first wait, not from each wait), or disarms it. */
static void deadline_arm(Client *c, bool on) {
        int enabled = SD_EVENT_OFF;
        uint64_t now;

        if (!c->deadline)
                return;
        (void) sd_event_source_get_enabled(c->deadline, &enabled);
        if (!on) {
                if (enabled != SD_EVENT_OFF)
                        (void) sd_event_source_set_enabled(c->deadline, SD_EVENT_OFF);
                return;
        }
        if (enabled != SD_EVENT_OFF)
                return;
        if (sd_event_now(c->manager->event, CLOCK_MONOTONIC, &now) < 0 ||
            sd_event_source_set_time(c->deadline, now + c->manager->config.read_timeout_usec) < 0 ||
            sd_event_source_set_enabled(c->deadline, SD_EVENT_ONESHOT) < 0)
                log_warning("Cannot arm the read deadline of pid %d; relying on the size limits.", (int) c->ucred.pid);
}

int client_input_on_post(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        LIST_FOREACH(clients, c, m->clients)
                if (c->paused && may_forward(c))
                        resume_input(c);
        return 0;
}

static int gate_setup(Manager *m) {
        int r;

        if (m->gate_fd >= 0)
                return 0;
        m->gate_fd = epoll_create1(EPOLL_CLOEXEC);
        if (m->gate_fd < 0)
                return -errno;
        r = sd_event_add_io(m->event, &m->gate_source, m->gate_fd, EPOLLIN, on_gate, m);
        if (r < 0) {
                m->gate_fd = close_fd(m->gate_fd);
                return r;
        }
        return 0;
}

int client_input_start(Client *c, int input_fd, int pipe_fd) {
        Manager *m = c->manager;
        int r;

        c->input_fd = input_fd;
        c->pipe_fd = pipe_fd;
        (void) fcntl(c->pipe_fd, F_SETPIPE_SZ, (int) FORWARD_CHUNK);   /* default 64 KiB otherwise */
        c->phase = CLIENT_INPUT_AUTH;
        c->auth_state = AUTH_WANT_NUL;

        if (!m->resume_source) {
                r = sd_event_add_post(m->event, &m->resume_source, client_input_on_post, m);
                if (r < 0)
                        goto fail;
                (void) sd_event_source_set_enabled(m->resume_source, SD_EVENT_OFF);
        }

        r = gate_setup(m);
        if (r < 0)
                goto fail;
        r = sd_bus_add_filter(c->bus, NULL, on_bus_filter, c);
        if (r < 0)
                goto fail;
        watch_input(c, true);
        if (!c->input_watched) {
                r = -EIO;
                goto fail;
        }
        r = sd_event_add_time(m->event, &c->deadline, CLOCK_MONOTONIC, UINT64_MAX, 0, on_deadline, c);
        if (r < 0)
                goto fail;
        /* Born enabled; off until armed, which is how deadline_arm() tells a running one. */
        (void) sd_event_source_set_enabled(c->deadline, SD_EVENT_OFF);
        deadline_arm(c, true);          /* the handshake's */
        return 0;

fail:
        client_input_stop(c);
        return r;
}

void client_input_stop(Client *c) {
        gate_forget(c);
        if (c->paused)
                resume_input(c);
        reservation_release(c);
        watch_input(c, false);
        c->deadline = sd_event_source_disable_unref(c->deadline);
        c->input_fd = close_fd(c->input_fd);
        c->pipe_fd = close_fd(c->pipe_fd);
}
