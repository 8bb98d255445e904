/* Request ids: unique across the processes and hosts of a cluster (a forwarder answers a
 * repeated id from its record), and close together for the processes of one host, because
 * they key the forwarder's record of requests: ids far apart put the records of one group
 * commit on as many pages of that table as there are processes. */
#ifndef PRELOAD_REQUEST_ID_H
#define PRELOAD_REQUEST_ID_H

#include <stdint.h>

/* The next request id, never 0. From the sequence shared through fwd_config.id_file when
 * it can be used (a file of this user's, 0600, made on first use with a random start),
 * else from a sequence of this process's (a random start, drawn again in a forked child).
 * Thread-safe; errno is preserved. */
uint64_t request_id_next(void);

/* For tests: forgets the sequence in use, so that the next id opens path ("" for none)
 * afresh. Not thread-safe. */
void request_id_reset(const char *path);

#endif
