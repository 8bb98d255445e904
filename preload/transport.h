/* The interposer's own client for the nanomsg "scalability protocols" (SP) REQ/REP wire
 * protocol, over a plain socket it owns. libnanomsg is not used on this side: it starts
 * threads and a process that has used it cannot use it again after fork(), while the
 * programs the interposer runs in fork (pre-fork servers, Python multiprocessing). The
 * forwarder listens with libnanomsg (NN_REP) and cannot tell this client from NN_REQ.
 *
 * Wire protocol (libnanomsg 1.1.5, RFCs sp-tcp-mapping-01, sp-ipc-mapping-01,
 * sp-request-reply-01):
 *   - right after connect each side sends 8 bytes: 0x00 'S' 'P' 0x00 (version 0), the
 *     protocol id as u16 big-endian (REQ 48, REP 49), two reserved bytes (0, ignored by the
 *     receiver). The REP checks the first 4 bytes and that the id is a REQ; so does this
 *     client, the other way round. A REP drops a connection whose header has not arrived
 *     within one second.
 *   - tcp:// frames each message as u64 big-endian payload length, then the payload;
 *     ipc:// (a unix domain stream socket) as one byte 1 (normal message), u64 big-endian
 *     length, payload.
 *   - a request's payload is the request id (u32 big-endian, top bit set) then the body;
 *     the reply's payload starts with the same 4 bytes. Replies that are not for the
 *     current request (another id, no top bit, shorter than 4 bytes) are skipped, as
 *     libnanomsg's REQ skips them.
 *   - the REP drops the connection (no reply) when a request's payload, body plus the
 *     4-byte id, is over its NN_RCVMAXSIZE (1 MiB by default): the forwarder raises it.
 *
 * Use inside other people's processes: no threads, no signal dispositions changed, no
 * output, errno preserved by every function here, no SIGPIPE (MSG_NOSIGNAL), sockets
 * close-on-exec and non-blocking, waits done with poll() against a monotonic deadline. */
#ifndef TRANSPORT_H
#define TRANSPORT_H

#include <stddef.h>

/* One connection to one endpoint, used by one thread at a time (callers serialize). The
 * connection is made lazily by transport_request() and made again whenever needed:
 *   - after any error (the connection is closed first);
 *   - in a forked child: the child closes its copy of the inherited socket without
 *     shutdown(), so the parent's connection goes on, and connects anew;
 *   - when the stored descriptor is no longer this socket (a program closed it, or put
 *     another file on its number): that descriptor is left alone, never closed or used;
 *   - when the idle connection was closed by the peer (or has unexpected bytes) between
 *     two requests, e.g. because the forwarder restarted. */
struct transport;

/* Parses the endpoint and allocates *t; connects nothing.
 *   tcp://HOST:PORT   HOST an IPv4 literal, an IPv6 literal in brackets ([::1], zone
 *                     allowed: [fe80::1%eth0]), or a name resolved with getaddrinfo() at
 *                     each connect (every address it returns is tried in turn); PORT 1-65535
 *   ipc:///ABS/PATH   unix domain socket at an absolute path (at most 107 bytes)
 * Returns 0, -EINVAL (malformed or unsupported endpoint, NULL argument) or -ENOMEM. */
int transport_open(struct transport **t, const char *endpoint);

/* Closes the connection (only if the descriptor is still this socket, and with shutdown()
 * only in the process that made it) and frees t. NULL is accepted. */
void transport_close(struct transport *t);

/* Sends one request body (req, len bytes; len may be 0) and waits for its reply.
 *
 * On success returns 0 and stores the reply body, without the request id, in *reply (from
 * malloc(), never NULL, even for an empty body: the caller frees it) and its length in
 * *reply_len. On error *reply is NULL and *reply_len 0.
 *
 * timeout_ms bounds the whole call: connecting, the header exchange, sending and waiting
 * for the reply (monotonic clock). A negative value waits without limit. Resolving a host
 * name is not bounded by it (getaddrinfo() has its own timeouts): use a literal address
 * where the bound must hold.
 *
 * max_reply is the largest reply body accepted; a larger one is refused without being
 * allocated or read.
 *
 * *sent (sent may be NULL) is set to 1 once every byte of the request has been written to
 * the socket, else 0. With 0 the forwarder cannot have received the complete request: it
 * is safe to send it again, there or elsewhere. With 1 and an error, the outcome is
 * unknown. The request is written only after the peer's SP header has been received, so
 * a peer that accepts connections but does not speak (a hung process, a wrong port) gives
 * an error with *sent == 0. When an already established connection fails before the whole
 * request was written, the call connects again once and resends, within the same timeout.
 *
 * Returns 0 or one of
 *   -ECONNREFUSED   nothing listens (ipc: no such socket file, or not a socket)
 *   -EHOSTUNREACH   no route to the host, or its name does not resolve
 *   -ENETUNREACH    network unreachable
 *   -ETIMEDOUT      timeout_ms elapsed (connecting, exchanging headers or waiting)
 *   -ECONNRESET     the peer closed or reset the connection
 *   -EPIPE          the connection broke while sending
 *   -EPROTO         the peer is not an SP REP socket (bad header) or broke the framing
 *   -EMSGSIZE       the reply body is over max_reply, or the request is too big to frame
 *   -ENOMEM         out of memory
 *   -EINVAL         NULL t or reply/reply_len, or req NULL with len > 0
 *   -EMFILE/-ENFILE no descriptor for a new socket
 * On any error the connection is closed: the next call connects again. */
int transport_request(struct transport *t, const void *req, size_t len, void **reply,
		      size_t *reply_len, int timeout_ms, size_t max_reply, int *sent);

#endif
