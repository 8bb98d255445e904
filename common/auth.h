/* Authentication of the messages between the interposer and the forwarder: a trailer
 * after the wire message,
 *
 *   "LFA1" | time (8 bytes, big-endian, milliseconds since the epoch) | HMAC-SHA-256 (32)
 *
 * the HMAC keyed with the cluster's shared secret and computed over everything before it
 * (message, magic and time), by libsodium. A receiver checks the HMAC in constant time,
 * that the time is within its window of its own clock, and (for requests) that the same
 * HMAC was not seen within the window: a message replayed byte for byte is refused. A
 * client that sends a request again seals it anew (a new time, so a new HMAC).
 *
 * The secret comes from LITEFS_FWD_SECRET or the file LITEFS_FWD_SECRET_FILE (its content,
 * without a final newline); at least AUTH_SECRET_MIN bytes. It is never printed. */
#ifndef AUTH_H
#define AUTH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_MAGIC "LFA1"
#define AUTH_MAC_BYTES 32
#define AUTH_TRAILER_BYTES (4 + 8 + AUTH_MAC_BYTES)
#define AUTH_SECRET_MIN 16
#define AUTH_SECRET_MAX 1024
/* Default window: how far a message's time may be from the receiver's clock. */
#define AUTH_DEFAULT_WINDOW_MS 30000

struct auth_key {
	size_t len;                      /* 0: no secret */
	unsigned char bytes[AUTH_SECRET_MAX];
};

/* The wall clock in milliseconds since the epoch: the time messages are sealed at and
 * opened against. */
uint64_t auth_now_ms(void);

/* Loads the secret: secret (the value of LITEFS_FWD_SECRET, NULL or "" for none), else the
 * content of the file secret_file (NULL or "" for none). Returns 0 with k set (k->len 0
 * when neither is given), -EINVAL when the secret is shorter than AUTH_SECRET_MIN or
 * longer than AUTH_SECRET_MAX bytes, or -errno of reading the file. err (errlen bytes)
 * gets a reason that never contains the secret. */
int auth_key_load(struct auth_key *k, const char *secret, const char *secret_file, char *err,
		  size_t errlen);

/* Forgets the secret (overwritten). */
void auth_key_clear(struct auth_key *k);

/* Writes the trailer of msg[0..len) sealed at now_ms into out (AUTH_TRAILER_BYTES).
 * Returns 0, or -EIO when libsodium cannot be initialised. */
int auth_seal(const struct auth_key *k, const void *msg, size_t len, uint64_t now_ms,
	      unsigned char out[AUTH_TRAILER_BYTES]);

/* Checks the trailer of the sealed message msg[0..len). Returns 0 with *body_len (the
 * length of the message without its trailer), *sent_ms and mac (may be NULL: the HMAC,
 * for auth_replay_check()) set; -EBADMSG when there is no trailer; -EPERM when the HMAC
 * is wrong (another secret, or altered bytes); -ETIME when the time is more than window_ms
 * away from now_ms; -EIO when libsodium cannot be initialised. */
int auth_open(const struct auth_key *k, const void *msg, size_t len, uint64_t now_ms,
	      int window_ms, size_t *body_len, uint64_t *sent_ms,
	      unsigned char mac[AUTH_MAC_BYTES]);

/* The HMACs of the requests accepted within the window, to refuse replays: two hash sets,
 * the current one and the one before, swapped every window, so that an HMAC is remembered
 * for at least a window (messages older than that are refused by their time anyway). An
 * HMAC is kept as its first 8 bytes: nobody without the secret can choose them, and two
 * accepted messages sharing them by chance is a 2^-64 event per pair. */
struct auth_replay {
	pthread_mutex_t mu;
	size_t cap;                 /* slots per set, a power of two */
	size_t count[2];
	uint64_t *set[2];           /* 0: an empty slot */
	int cur;                    /* the set new HMACs go to */
	uint64_t cur_since_ms;      /* when it became the current one */
};

/* Prepares r to remember up to max_per_window messages per window. Returns 0 or -ENOMEM. */
int auth_replay_init(struct auth_replay *r, size_t max_per_window);
void auth_replay_destroy(struct auth_replay *r);

/* Remembers mac, accepted at now_ms. Returns 0 when it was not seen within the window,
 * -EALREADY when it was (a replay), -ENOSPC when more than max_per_window messages came
 * within one window (refused: a replay could not be ruled out). Thread-safe. */
int auth_replay_check(struct auth_replay *r, const unsigned char mac[AUTH_MAC_BYTES],
		      uint64_t now_ms, int window_ms);

#endif
