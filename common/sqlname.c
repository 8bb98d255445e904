/* Plain SQL names (see sqlname.h). */
#include "sqlname.h"

#include <stddef.h>

bool sqlname_is_plain(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (i > 0 && s[i] >= '0' && s[i] <= '9')))
			return false;
	return i > 0 && i <= SQLNAME_MAX;
}
