/* Reading SQL text (see sqltext.h). */
#include "sqltext.h"

static bool sqltext_is_space(char c)
{
	/* SQLite's tokenizer: \v is not white space. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static char sqltext_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool sqltext_is_word_char(char c)
{
	unsigned char u = (unsigned char)c;

	return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
	       u == '_' || u == '$' || u >= 0x80;
}

const char *sqltext_skip_blank(const char *p, bool semis)
{
	for (;;) {
		if (sqltext_is_space(*p) || (semis && *p == ';')) {
			p++;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			p += 2;
			while (*p && !(p[0] == '*' && p[1] == '/'))
				p++;
			if (*p)
				p += 2;
		} else {
			return p;
		}
	}
}

size_t sqltext_word_len(const char *p)
{
	size_t n = 0;

	if (!sqltext_is_word_char(*p) || (*p >= '0' && *p <= '9') || *p == '$')
		return 0;
	while (sqltext_is_word_char(p[n]))
		n++;
	return n;
}

bool sqltext_word_eq(const char *s, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n && w[i]; i++)
		if (sqltext_lower(s[i]) != sqltext_lower(w[i]))
			return false;
	return i == n && !w[i];
}
