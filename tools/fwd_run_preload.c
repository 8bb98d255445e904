/* The interposer for `litefs-fwd run`: where it is, and the LD_PRELOAD that loads it
 * first. A program must never be started without it by mistake, so every candidate is
 * checked before it is used, and a missing one is an error, not a silent fallback. */
#include "fwd_run_preload.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fwd_run_preload_check(const char *path, char *out, size_t size, char *err, size_t errlen)
{
	char real[PATH_MAX], magic[4];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	if (!*path) {
		snprintf(err, errlen, "an empty path");
		return -EINVAL;
	}
	if (!realpath(path, real)) {
		rc = -errno;
		snprintf(err, errlen, "%s", strerror(-rc));
		return rc;
	}
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s", strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st)) {
		rc = -errno;
		snprintf(err, errlen, "%s", strerror(-rc));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "not a regular file");
		goto out_close;
	}
	n = pread(fd, magic, sizeof(magic), 0);
	if (n != (ssize_t)sizeof(magic) || memcmp(magic, "\177ELF", sizeof(magic))) {
		rc = -ENOEXEC;
		snprintf(err, errlen, "not a shared library (no ELF header)");
		goto out_close;
	}
	/* ld.so splits LD_PRELOAD at spaces and colons */
	if (strpbrk(real, " \t:")) {
		rc = -EINVAL;
		snprintf(err, errlen, "its path %s holds a space or ':', which LD_PRELOAD cannot "
			 "carry", real);
		goto out_close;
	}
	if ((size_t)snprintf(out, size, "%s", real) >= size) {
		rc = -ENAMETOOLONG;
		snprintf(err, errlen, "%s", strerror(ENAMETOOLONG));
	}
out_close:
	close(fd);
	return rc;
}

int fwd_run_preload_find(const char *given, const char *given_from, const char *exe,
			 const char *libdir, char *out, size_t size, char *err, size_t errlen)
{
	char cand[3][PATH_MAX + 32], why[PATH_MAX + 128], dir[PATH_MAX];
	size_t n = 0, len = 0, i;
	const char *slash;
	int rc;

	if (given) {
		rc = fwd_run_preload_check(given, out, size, why, sizeof(why));
		if (rc)
			snprintf(err, errlen, "the interposer %s (%s) cannot be used: %s", given,
				 given_from, why);
		return rc;
	}
	slash = exe ? strrchr(exe, '/') : NULL;
	if (slash && (size_t)(slash - exe) < sizeof(dir)) {
		memcpy(dir, exe, (size_t)(slash - exe));
		dir[slash - exe] = '\0';
		snprintf(cand[n++], sizeof(cand[0]), "%s/" FWD_RUN_PRELOAD_NAME, dir);
		snprintf(cand[n++], sizeof(cand[0]), "%s/../lib/" FWD_RUN_PRELOAD_NAME, dir);
	}
	if (libdir && *libdir)
		snprintf(cand[n++], sizeof(cand[0]), "%s/" FWD_RUN_PRELOAD_NAME, libdir);
	for (i = 0; i < n; i++)
		if (!fwd_run_preload_check(cand[i], out, size, why, sizeof(why)))
			return 0;
	len = (size_t)snprintf(err, errlen, "cannot find the interposer " FWD_RUN_PRELOAD_NAME
			       "; looked at");
	for (i = 0; i < n && len < errlen; i++)
		len += (size_t)snprintf(err + len, errlen - len, "%s %s", i ? "," : "", cand[i]);
	if (len < errlen)
		snprintf(err + len, errlen - len, "%sgive its path with --preload or "
			 "LITEFS_FWD_PRELOAD", n ? "; " : " nothing; ");
	return -ENOENT;
}

int fwd_run_preload_value(const char *lib, const char *existing, char **out)
{
	int n;

	if (existing && *existing)
		n = asprintf(out, "%s:%s", lib, existing);
	else
		n = asprintf(out, "%s", lib);
	if (n < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int preload_is_ld_preload(const char *entry)
{
	return !strncmp(entry, "LD_PRELOAD=", 11);
}

int fwd_run_preload_environ(char *const *env, const char *value, char ***out)
{
	size_t count = 0, i, j = 0, vlen = strlen(value);
	char **arr;
	char *entry;

	while (env[count])
		count++;
	/* the array (kept entries, the new one, NULL), then the new entry's text */
	arr = malloc((count + 2) * sizeof(*arr) + 11 + vlen + 1);
	if (!arr)
		return -ENOMEM;
	entry = (char *)(arr + count + 2);
	memcpy(entry, "LD_PRELOAD=", 11);
	memcpy(entry + 11, value, vlen + 1);
	for (i = 0; i < count; i++)
		if (!preload_is_ld_preload(env[i]))
			arr[j++] = env[i];
	arr[j++] = entry;
	arr[j] = NULL;
	*out = arr;
	return 0;
}
