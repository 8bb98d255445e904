/* Replication log of the stand-in: one append-only file per database holding every
 * committed transaction as a record of whole pages (like LiteFS's LTX files), so that any
 * node can bring any other up to date from any position. */
#ifndef SIM_TXLOG_H
#define SIM_TXLOG_H

#include <stddef.h>
#include <stdint.h>

#define SIM_TXLOG_MAGIC 0x5258544cu   /* "LTXR" little-endian */
#define SIM_TXLOG_END 0x21444e45u     /* "END!" */
#define SIM_TXLOG_HDR 48u

/* One committed transaction: the pages it left behind, in the database's page size. */
struct sim_txn {
	uint64_t txid;
	uint64_t checksum;   /* post-apply checksum: chained over every transaction so far */
	int64_t ts_us;       /* commit time on the primary, microseconds since the epoch */
	uint32_t page_size;
	uint32_t commit;     /* database size in pages after the transaction */
	uint32_t npages;
	uint32_t *pgnos;     /* npages page numbers, ascending, each <= commit */
	uint8_t *data;       /* npages * page_size bytes */
};

void sim_txn_free(struct sim_txn *t);

/* Size in bytes of the encoded record of t. */
size_t sim_txn_encoded_size(const struct sim_txn *t);
/* Encodes t into buf (sim_txn_encoded_size bytes). */
void sim_txn_encode(const struct sim_txn *t, uint8_t *buf);
/* Decodes one record from buf[0..len). Returns the record's size, 0 when buf holds only
 * part of a record, or -EINVAL when it is not a valid record. t owns fresh memory on
 * success. */
long sim_txn_decode(const uint8_t *buf, size_t len, struct sim_txn *t);
/* Reads the header fields of a record without its pages: returns the full record size
 * or -EINVAL. */
long sim_txn_peek(const uint8_t *buf, size_t len, uint64_t *txid, uint64_t *checksum);
/* The checksum a transaction gets when it follows one whose checksum is prev. */
uint64_t sim_txn_chain_checksum(uint64_t prev, const struct sim_txn *t);

/* An open log file with an index from TXID to file offset. TXIDs run 1, 2, 3, ... */
struct sim_txlog {
	int fd;
	uint64_t size;        /* bytes of valid records */
	uint64_t *offsets;    /* offsets[i] = offset of the record of TXID i+1 */
	uint64_t count;       /* last TXID in the log */
	uint64_t cap;
	uint64_t last_checksum;
};

/* Opens (creating) path, validates every record and cuts a torn tail. Returns 0 or -errno. */
int sim_txlog_open(struct sim_txlog *l, const char *path);
void sim_txlog_close(struct sim_txlog *l);
/* Appends t, whose txid must be count+1. Returns 0 or -errno (nothing appended). */
int sim_txlog_append(struct sim_txlog *l, const struct sim_txn *t);
/* Reads the encoded record of txid (1..count) into a malloc'd buffer. Returns 0 or -errno. */
int sim_txlog_read(const struct sim_txlog *l, uint64_t txid, uint8_t **buf, size_t *len);
/* Checksum recorded for txid (1..count), 0 for txid 0. */
int sim_txlog_checksum(const struct sim_txlog *l, uint64_t txid, uint64_t *checksum);
/* Writes into fd the database as of the last transaction of the log: the latest version
 * of every page, the file cut to the last transaction's size. A node rebuilds its
 * database files this way when it starts, so that they hold exactly what its log says
 * (a node killed between a commit's write and its record would otherwise keep a
 * transaction no other node has). Returns 0 (nothing written for an empty log) or
 * -errno. */
int sim_txlog_materialize(const struct sim_txlog *l, int fd);

/* Empties the log. Returns 0 or -errno. */
int sim_txlog_reset(struct sim_txlog *l);

#endif
