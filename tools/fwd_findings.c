/* The findings of `litefs-fwd doctor` (see fwd_findings.h). */
#include "fwd_findings.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const findings_label[] = {
	[FWD_FINDING_OK] = "ok",
	[FWD_FINDING_NOTE] = "note",
	[FWD_FINDING_WARN] = "warn",
	[FWD_FINDING_FAIL] = "FAIL",
};

void fwd_findings_add(struct fwd_findings *f, enum fwd_finding_level level, const char *fmt, ...)
{
	struct fwd_finding *grown;
	va_list ap;
	char *text;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		f->oom = true;
		return;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;

		grown = realloc(f->v, cap * sizeof(*grown));
		if (!grown) {
			free(text);
			f->oom = true;
			return;
		}
		f->v = grown;
		f->cap = cap;
	}
	f->v[f->n++] = (struct fwd_finding){ .level = level, .text = text, .fix = NULL };
}

void fwd_findings_fix(struct fwd_findings *f, const char *fmt, ...)
{
	struct fwd_finding *last;
	va_list ap;
	int rc;

	if (!f->n)
		return;
	last = &f->v[f->n - 1];
	free(last->fix);
	last->fix = NULL;
	va_start(ap, fmt);
	rc = vasprintf(&last->fix, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		last->fix = NULL;
		f->oom = true;
	}
}

size_t fwd_findings_count(const struct fwd_findings *f, enum fwd_finding_level level)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		n += f->v[i].level == level;
	return n;
}

void fwd_findings_print(const struct fwd_findings *f, size_t first, FILE *out)
{
	for (size_t i = first; i < f->n; i++) {
		fprintf(out, "  %-5s %s\n", findings_label[f->v[i].level], f->v[i].text);
		if (f->v[i].fix)
			fprintf(out, "        fix: %s\n", f->v[i].fix);
	}
}

void fwd_findings_free(struct fwd_findings *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].text);
		free(f->v[i].fix);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}
