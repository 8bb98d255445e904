/* Fault injection for tests (see fault.h). */
#include "fault.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Commits left before the fault; 0: no fault. */
static long fault_commits_left;
/* The fault is an I/O error reported for a commit, not a kill. */
static bool fault_ioerr;

int fwd_fault_init(void)
{
	static const char kill[] = "kill-after-commit:", ioerr[] = "ioerr-after-commit:";
	const char *v = getenv("LITEFS_FWD_FAULT"), *n_at;
	char *end;
	long n;

	if (!v || !*v)
		return 0;
	if (!strncmp(v, kill, sizeof(kill) - 1))
		n_at = v + sizeof(kill) - 1;
	else if (!strncmp(v, ioerr, sizeof(ioerr) - 1))
		n_at = v + sizeof(ioerr) - 1;
	else
		return -EINVAL;
	n = strtol(n_at, &end, 10);
	if (*end || n < 1)
		return -EINVAL;
	fault_ioerr = n_at != v + sizeof(kill) - 1;
	fault_commits_left = n;
	fwd_log_warn("fault injection: %s after commit %ld",
		     fault_ioerr ? "an I/O error reported" : "killed", n);
	return 0;
}

/* Whether this commit is the one the fault is for. */
static bool fault_due(void)
{
	return __atomic_load_n(&fault_commits_left, __ATOMIC_RELAXED) &&
	       __atomic_sub_fetch(&fault_commits_left, 1, __ATOMIC_ACQ_REL) == 0;
}

void fwd_fault_after_commit(void)
{
	if (!fault_ioerr && fault_due())
		raise(SIGKILL);
}

bool fwd_fault_fail_commit(void)
{
	return fault_ioerr && fault_due();
}
