/* LiteFS's -pos and .lag files and the databases of a mount (see litefs_files.h). */
#include "litefs_files.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The files SQLite and LiteFS keep beside a database. */
static const char *const litefs_side[] = { "-journal", "-wal", "-shm", "-pos", "-lock" };

/* .lag holds at most a sign, 10 digits and a newline. */
#define LITEFS_LAG_MAX 12

static int litefs_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 16 hex digits at p into *v. Returns 0 or -EBADMSG. */
static int litefs_hex64(const char *p, uint64_t *v)
{
	uint64_t x = 0;

	for (int i = 0; i < 16; i++) {
		int d = litefs_hex(p[i]);

		if (d < 0)
			return -EBADMSG;
		x = x << 4 | (uint64_t)d;
	}
	*v = x;
	return 0;
}

int litefs_pos_parse(const char *buf, size_t len, uint64_t *txid, uint64_t *checksum)
{
	uint64_t t, c;

	if (!buf || len != LITEFS_POS_SIZE || buf[16] != '/' || buf[33] != '\n')
		return -EBADMSG;
	if (litefs_hex64(buf, &t) || litefs_hex64(buf + 17, &c))
		return -EBADMSG;
	if (txid)
		*txid = t;
	if (checksum)
		*checksum = c;
	return 0;
}

int litefs_lag_parse(const char *buf, size_t len, int32_t *lag_ms)
{
	int64_t v = 0;
	size_t i, digits;
	bool neg;

	/* a sign, then digits, then "\n" */
	if (!buf || len < 3 || len > LITEFS_LAG_MAX || (buf[0] != '+' && buf[0] != '-') ||
	    buf[len - 1] != '\n')
		return -EBADMSG;
	neg = buf[0] == '-';
	digits = len - 2;
	for (i = 1; i <= digits; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -EBADMSG;
		v = v * 10 + (buf[i] - '0');
	}
	if (neg)
		v = -v;
	if (v > INT32_MAX || v < INT32_MIN)
		return -EBADMSG;
	*lag_ms = (int32_t)v;
	return 0;
}

bool litefs_is_db_name(const char *name)
{
	size_t len = strlen(name);

	if (!len || len > NAME_MAX || name[0] == '.' || strchr(name, '/'))
		return false;
	for (size_t i = 0; i < sizeof(litefs_side) / sizeof(litefs_side[0]); i++) {
		size_t k = strlen(litefs_side[i]);

		if (len > k && !memcmp(name + len - k, litefs_side[i], k))
			return false;
	}
	return true;
}

/* Reads at most size bytes of path from its start into buf. Returns the count read or
 * -errno. */
static ssize_t litefs_read_head(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = pread(fd, buf, size, 0);
	while (n < 0 && errno == EINTR);
	rc = n < 0 ? -errno : 0;
	close(fd);
	return rc ? rc : n;
}

int litefs_pos_read(const char *mount, const char *db, uint64_t *txid, uint64_t *checksum)
{
	char path[PATH_MAX], buf[LITEFS_POS_SIZE];
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s-pos", mount, db) >= sizeof(path))
		return -ENAMETOOLONG;
	n = litefs_read_head(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	return litefs_pos_parse(buf, (size_t)n, txid, checksum);
}

int litefs_lag_read(const char *mount, int32_t *lag_ms)
{
	char path[PATH_MAX], buf[LITEFS_LAG_MAX];
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/.lag", mount) >= sizeof(path))
		return -ENAMETOOLONG;
	n = litefs_read_head(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	return litefs_lag_parse(buf, (size_t)n, lag_ms);
}

static int litefs_db_cmp(const void *a, const void *b)
{
	return strcmp(((const struct litefs_db *)a)->name, ((const struct litefs_db *)b)->name);
}

/* Whether the entry de of the directory dfd is a regular file (asked with fstatat when
 * the directory does not say). */
static bool litefs_is_regular(int dfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type == DT_REG)
		return true;
	if (de->d_type != DT_UNKNOWN)
		return false;
	return fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

int litefs_dbs_list(const char *mount, size_t max, struct litefs_db **out, size_t *n,
		    bool *truncated)
{
	struct litefs_db *dbs = NULL, *grown;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	*out = NULL;
	*n = 0;
	*truncated = false;
	d = opendir(mount);
	if (!d)
		return -errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			rc = -errno;
			break;
		}
		if (!litefs_is_db_name(de->d_name) || !litefs_is_regular(dirfd(d), de))
			continue;
		if (count == max) {
			*truncated = true;
			break;
		}
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			if (cap > max)
				cap = max;
			grown = realloc(dbs, cap * sizeof(*dbs));
			if (!grown) {
				rc = -ENOMEM;
				goto fail;
			}
			dbs = grown;
		}
		memset(&dbs[count], 0, sizeof(dbs[count]));
		snprintf(dbs[count].name, sizeof(dbs[count].name), "%s", de->d_name);
		count++;
	}
	if (rc)
		goto fail;
	closedir(d);
	if (count)
		qsort(dbs, count, sizeof(*dbs), litefs_db_cmp);
	for (size_t i = 0; i < count; i++)
		dbs[i].pos_rc = litefs_pos_read(mount, dbs[i].name, &dbs[i].txid,
						&dbs[i].checksum);
	*out = dbs;
	*n = count;
	return 0;

fail:
	closedir(d);
	free(dbs);
	return rc;
}

int litefs_primary_read(const char *path, char *host, size_t size)
{
	char buf[256], *start;
	size_t len;
	ssize_t n;
	int fd, rc;

	host[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc)
		return rc;
	len = (size_t)n;
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		len--;
	buf[len] = '\0';
	for (start = buf; isspace((unsigned char)*start); start++)
		;
	snprintf(host, size, "%s", start);
	return 0;
}
