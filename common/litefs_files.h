/* The files LiteFS shows in its mount beside the databases (LiteFS v0.5.14):
 *
 *   <db>-pos   "%016x/%016x\n": the database's TXID and post-apply checksum (34 bytes)
 *   .lag       "%+010d\n": milliseconds this node is behind the primary (11 bytes);
 *              "+000000000" on the primary, +2147483647 before a replica's first sync
 *
 * and which names of the mount are databases: a name that does not begin with '.' and is
 * not one of the files beside a database (<db>-journal, -wal, -shm, -pos, and the -lock
 * file of LiteFS's HALT lock). Reads take exactly the bytes of the format, never more:
 * reading past the end makes the kernel ask LiteFS for the file's attributes again. */
#ifndef LITEFS_FILES_H
#define LITEFS_FILES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LITEFS_POS_SIZE 34
#define LITEFS_LAG_SIZE 11
/* statfs()'s f_type of a FUSE file system, which LiteFS's mount is. */
#define LITEFS_FUSE_SUPER_MAGIC 0x65735546
/* What .lag says before a replica's first sync with its primary. */
#define LITEFS_LAG_NEVER INT32_MAX

/* Parses the content of a -pos file, buf[0..len). Returns 0 with *txid and *checksum set
 * (either may be NULL), or -EBADMSG when it is not exactly the format above. */
int litefs_pos_parse(const char *buf, size_t len, uint64_t *txid, uint64_t *checksum);

/* Parses the content of .lag, buf[0..len). Returns 0 with *lag_ms set, or -EBADMSG. */
int litefs_lag_parse(const char *buf, size_t len, int32_t *lag_ms);

/* Whether name (a file name in the mount) is a database by the rule above. */
bool litefs_is_db_name(const char *name);

/* Reads <mount>/<db>-pos. Returns 0, -errno of opening or reading it, or -EBADMSG. */
int litefs_pos_read(const char *mount, const char *db, uint64_t *txid, uint64_t *checksum);

/* Reads <mount>/.lag. Returns 0, -errno of opening or reading it, or -EBADMSG. */
int litefs_lag_read(const char *mount, int32_t *lag_ms);

/* Reads the primary's hostname from path (a replica's .primary: the name and a newline)
 * into host (size bytes, cut to fit), white space around it left out, as the interposer,
 * the forwarder and the tools all read it. Returns 0, or -errno of opening or reading it
 * (-ENOENT: no such file, on the primary or a replica with no primary); host is "" then. */
int litefs_primary_read(const char *path, char *host, size_t size);

struct litefs_db {
	char name[NAME_MAX + 1];
	int pos_rc;          /* 0 when txid and checksum were read from <db>-pos; else as
			      * litefs_pos_read() */
	uint64_t txid, checksum;
};

/* The databases of mount (regular files whose name is a database's), sorted by name, at
 * most max of them, each with its -pos read. Returns 0 with *out (malloc'd, NULL when
 * there is none; free() it) and *n set, *truncated when there were more than max; or
 * -errno of opening or reading the directory, or -ENOMEM. */
int litefs_dbs_list(const char *mount, size_t max, struct litefs_db **out, size_t *n,
		    bool *truncated);

#endif
