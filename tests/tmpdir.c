/* Temporary directories for the unit tests (see tmpdir.h). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tmpdir.h"

static int tmpdir_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int tmpdir_make(char *buf, size_t len, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(buf, len, "%s/%s.XXXXXX", tmp, name) >= len)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

int tmpdir_remove(const char *dir)
{
	if (!dir[0])
		return 0;
	return nftw(dir, tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
