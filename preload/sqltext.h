/* Reading SQL text the way SQLite's tokenizer does, as far as the interposer needs: white
 * space and comments between tokens, bare words (keywords and unquoted names), compared
 * without regard to ASCII case. */
#ifndef SQLTEXT_H
#define SQLTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Whether c may be part of a bare word (SQLite: letters, digits, '_', '$', and every byte
 * of a multi-byte UTF-8 character). */
bool sqltext_is_word_char(char c);

/* p past white space (SQLite's: not \v) and comments (-- to the end of the line, and
 * slash-star to star-slash or the end); past ';' as well when semis is set. */
const char *sqltext_skip_blank(const char *p, bool semis);

/* The length of the bare word at p, 0 when p does not start one (a digit or '$' cannot). */
size_t sqltext_word_len(const char *p);

/* Whether s[0..n) is the word w, ignoring ASCII case. */
bool sqltext_word_eq(const char *s, size_t n, const char *w);

#endif
