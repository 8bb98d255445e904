/* What `litefs-fwd doctor` found: a list of findings, each with its level and, for a
 * problem, how to fix it; printed one to a line for people. */
#ifndef FWD_FINDINGS_H
#define FWD_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum fwd_finding_level {
	FWD_FINDING_OK,   /* as it should be */
	FWD_FINDING_NOTE, /* worth knowing, nothing to do */
	FWD_FINDING_WARN, /* does not block forwarding, but deserves a look */
	FWD_FINDING_FAIL, /* blocks forwarding */
};

struct fwd_finding {
	enum fwd_finding_level level;
	char *text;
	char *fix;  /* NULL when there is nothing to do */
};

struct fwd_findings {
	struct fwd_finding *v;
	size_t n, cap;
	bool oom;   /* a finding could not be recorded: out of memory */
};

/* Records a finding (text from fmt). An allocation failure sets f->oom. */
void fwd_findings_add(struct fwd_findings *f, enum fwd_finding_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets the fix of the finding recorded last. */
void fwd_findings_fix(struct fwd_findings *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* How many findings have level. */
size_t fwd_findings_count(const struct fwd_findings *f, enum fwd_finding_level level);

/* Prints the findings recorded from index first on, each as "  LEVEL  text" and its fix
 * indented below. */
void fwd_findings_print(const struct fwd_findings *f, size_t first, FILE *out);

void fwd_findings_free(struct fwd_findings *f);

#endif
