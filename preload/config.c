/* Settings from the environment. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "endpoint.h"
#include "log.h"
#include "sqlname.h"
#include "trace.h"
#include "wire.h"

struct fwd_config fwd_config;

static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static int config_int(const char *name, int def, int min, int max)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max) {
		log_warn("ignoring %s=%s (expected %d..%d)", name, v, min, max);
		return def;
	}
	return (int)n;
}

static void config_load_once(void)
{
	const char *mount = getenv("LITEFS_FWD_MOUNT");
	const char *ep = getenv("LITEFS_FWD_ENDPOINT");
	const char *eps = getenv("LITEFS_FWD_ENDPOINTS");
	const char *pf = getenv("LITEFS_FWD_PRIMARY_FILE");
	const char *url = getenv("LITEFS_FWD_EVENTS_URL");
	const char *table = getenv("LITEFS_FWD_TABLE");
	const char *id_file = getenv("LITEFS_FWD_ID_FILE");
	struct stat st;

	log_init();
	trace_configure(getenv("LITEFS_FWD_TRACE"));
	if (!mount || !*mount)
		mount = "/litefs";
	if (!realpath(mount, fwd_config.mount))
		snprintf(fwd_config.mount, sizeof(fwd_config.mount), "%s", mount);
	fwd_config.litefs = stat(fwd_config.mount, &st) == 0 && S_ISDIR(st.st_mode);
	if (pf && *pf)
		snprintf(fwd_config.primary_file, sizeof(fwd_config.primary_file), "%s", pf);
	else
		snprintf(fwd_config.primary_file, sizeof(fwd_config.primary_file), "%s/.primary",
			 fwd_config.mount);
	/* set but empty: the stream is off */
	snprintf(fwd_config.events_url, sizeof(fwd_config.events_url), "%s",
		 url ? url : "http://localhost:20202/events");
	if (!table)
		table = "_litefs_fwd_primary";
	if (!*table || sqlname_is_plain(table))
		snprintf(fwd_config.table, sizeof(fwd_config.table), "%s", table);
	else {
		log_warn("ignoring LITEFS_FWD_TABLE=%s (expected a plain SQL name)", table);
		snprintf(fwd_config.table, sizeof(fwd_config.table), "_litefs_fwd_primary");
	}
	/* set but empty: no shared sequence */
	if (id_file)
		snprintf(fwd_config.id_file, sizeof(fwd_config.id_file), "%s", id_file);
	else
		snprintf(fwd_config.id_file, sizeof(fwd_config.id_file), "/dev/shm/litefs-fwd-ids.%u",
			 (unsigned)geteuid());
	if (auth_key_load(&fwd_config.key, getenv("LITEFS_FWD_SECRET"),
			  getenv("LITEFS_FWD_SECRET_FILE"), fwd_config.key_error,
			  sizeof(fwd_config.key_error))) {
		fwd_config.key_unusable = true;
		log_error("%s; nothing will be forwarded", fwd_config.key_error);
	}
	fwd_config.poll_ms = config_int("LITEFS_FWD_POLL_MS", 30000, 0, 86400000);
	fwd_config.cache_ttl_ms = config_int("LITEFS_FWD_CACHE_TTL_MS", 5000, 0, 3600000);
	fwd_config.timeout_ms = config_int("LITEFS_FWD_TIMEOUT_MS", 15000, 1, 3600000);
	fwd_config.ryw_timeout_ms = config_int("LITEFS_FWD_RYW_TIMEOUT_MS", 5000, 0, 3600000);
	fwd_config.txn_timeout_ms = config_int("LITEFS_FWD_TXN_TIMEOUT_MS", 5000, 1, 86400000);
	fwd_config.primary_wait_ms = config_int("LITEFS_FWD_PRIMARY_WAIT_MS", 5000, 0, 3600000);
	fwd_config.max_message = (unsigned)config_int("LITEFS_FWD_MAX_MESSAGE",
						      (int)WIRE_DEFAULT_MAX_MESSAGE, 4096, INT32_MAX);
	snprintf(fwd_config.endpoint, sizeof(fwd_config.endpoint), "%s",
		 ep && *ep ? ep : ENDPOINT_DEFAULT_TEMPLATE);
	fwd_config.endpoints = eps && *eps ? strdup(eps) : NULL;
	log_debug("mount %s (%s), endpoint %s%s%s", fwd_config.mount,
		  fwd_config.litefs ? "LiteFS present" : "no LiteFS: everything runs locally",
		  fwd_config.endpoint, fwd_config.endpoints ? ", map " : "",
		  fwd_config.endpoints ? fwd_config.endpoints : "");
}

void config_load(void)
{
	pthread_once(&config_once, config_load_once);
}

int config_endpoint_mapped(const char *host, char *buf, size_t len)
{
	return endpoint_mapped(fwd_config.endpoints, host, buf, len);
}

int config_endpoint_template(const char *host, char *buf, size_t len)
{
	return endpoint_from_template(fwd_config.endpoint, host, buf, len);
}
