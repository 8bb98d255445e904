/* Exit statuses of `litefs-fwd run`: a child's end as a shell reports it. */
#include "fwd_run_status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

int fwd_run_status_exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	/* stopped or continued: not an end; callers only pass ends */
	return 1;
}

int fwd_run_status_exec_code(int err)
{
	return err == ENOENT ? 127 : 126;
}

void fwd_run_status_describe(int wstatus, char *buf, size_t size)
{
	const char *abbrev;
	int sig;

	if (WIFEXITED(wstatus)) {
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(wstatus));
		return;
	}
	if (!WIFSIGNALED(wstatus)) {
		snprintf(buf, size, "changed state (wait status 0x%x)", (unsigned)wstatus);
		return;
	}
	sig = WTERMSIG(wstatus);
	abbrev = sigabbrev_np(sig);
	snprintf(buf, size, "was killed by signal %d (SIG%s)%s", sig, abbrev ? abbrev : "?",
		 WCOREDUMP(wstatus) ? ", core dumped" : "");
}
