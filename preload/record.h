/* Reading the record of executed requests that the primary's forwarder keeps in each
 * database (WIRE_RECORD_TABLE), on this node: a statement whose forward may have run on a
 * primary that is gone asks it before running here, on the node now primary. */
#ifndef RECORD_H
#define RECORD_H

#include <stddef.h>
#include <stdint.h>

/* Looks request id up in the record of file (a database in the mount), read on a
 * connection of our own. Returns 1 with *reply (malloc'd, the encoded RESULT the primary
 * answered) of *len bytes, 0 when the record holds no such request (or there is no record
 * yet), or -EIO when it cannot be read. Keeps errno. */
int record_lookup(const char *file, uint64_t id, void **reply, size_t *len);

#endif
