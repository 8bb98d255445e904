/* Fault injection for tests (see fault.h). */
#include "fault.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Commits left before the kill; 0: no fault. */
static long fault_commits_left;

int fwd_fault_init(void)
{
	static const char prefix[] = "kill-after-commit:";
	const char *v = getenv("LITEFS_FWD_FAULT");
	char *end;
	long n;

	if (!v || !*v)
		return 0;
	if (strncmp(v, prefix, sizeof(prefix) - 1))
		return -EINVAL;
	n = strtol(v + sizeof(prefix) - 1, &end, 10);
	if (*end || n < 1)
		return -EINVAL;
	fault_commits_left = n;
	fwd_log_warn("fault injection: killed after commit %ld", n);
	return 0;
}

void fwd_fault_after_commit(void)
{
	if (__atomic_load_n(&fault_commits_left, __ATOMIC_RELAXED) &&
	    __atomic_sub_fetch(&fault_commits_left, 1, __ATOMIC_ACQ_REL) == 0)
		raise(SIGKILL);
}
