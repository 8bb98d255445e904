/* A shared sequence is one 64-bit counter in a small file, mapped by every process of the
 * user that writes on a replica, and advanced with an atomic add: ids of one host are
 * consecutive whatever process takes them, and stay unique across hosts because each file
 * starts at a random point of the 64-bit space (as each process's own sequence does). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "request_id.h"

#define REQUEST_ID_MAGIC 0x6c66776469647331ull  /* "lfwdids1" */

/* The mapped file. */
struct request_id_shared {
	uint64_t magic;
	uint64_t next;            /* the last id taken; 0 until a random start is set */
};

static pthread_mutex_t request_id_mu = PTHREAD_MUTEX_INITIALIZER;
static struct request_id_shared *request_id_map;  /* NULL: none (yet) */
static bool request_id_tried;         /* the shared file was tried (once per process) */
static char request_id_path[PATH_MAX];
static bool request_id_path_set;      /* request_id_reset() gave the path */
static uint64_t request_id_own;       /* this process's own sequence */
static pid_t request_id_own_pid;

static uint64_t request_id_random(void)
{
	uint64_t v = 0;
	struct timespec ts;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		v = (uint64_t)ts.tv_nsec * 1000003u ^ (uint64_t)ts.tv_sec << 20 ^
		    (uint64_t)getpid() << 40;
	}
	return v;
}

/* Maps the shared file at path, making it when there is none. Returns the mapping, or NULL
 * when it cannot be used: not creatable or not mappable, or not a file of this user's that
 * nobody else may write (another user could make two hosts' processes reuse ids). */
static struct request_id_shared *request_id_map_file(const char *path)
{
	struct request_id_shared *m;
	uint64_t zero = 0;
	struct stat st;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		log_warn("request ids: %s is not a private file of this user; each process "
			 "draws its own", path);
		goto fail;
	}
	if (st.st_size < (off_t)sizeof(*m) && ftruncate(fd, sizeof(*m)))
		goto fail;
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return NULL;
	/* a new file is all zeros: whoever comes first sets the magic, then the start */
	if (!__atomic_compare_exchange_n(&m->magic, &zero, REQUEST_ID_MAGIC, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
	    zero != REQUEST_ID_MAGIC) {
		munmap(m, sizeof(*m));
		return NULL;
	}
	zero = 0;
	__atomic_compare_exchange_n(&m->next, &zero, request_id_random() | 1, false,
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	return m;
fail:
	close(fd);
	return NULL;
}

uint64_t request_id_next(void)
{
	int saved = errno;
	uint64_t id;

	pthread_mutex_lock(&request_id_mu);
	if (!request_id_tried) {
		const char *path = request_id_path_set ? request_id_path : fwd_config.id_file;

		request_id_tried = true;
		if (path[0])
			request_id_map = request_id_map_file(path);
	}
	pthread_mutex_unlock(&request_id_mu);
	if (request_id_map) {
		/* a forked child shares the mapping, and the sequence with it */
		do
			id = __atomic_add_fetch(&request_id_map->next, 1, __ATOMIC_RELAXED);
		while (!id);
		errno = saved;
		return id;
	}
	pthread_mutex_lock(&request_id_mu);
	if (request_id_own_pid != getpid()) {
		request_id_own = request_id_random();
		request_id_own_pid = getpid();
	}
	do
		id = ++request_id_own;
	while (!id);
	pthread_mutex_unlock(&request_id_mu);
	errno = saved;
	return id;
}

void request_id_reset(const char *path)
{
	if (request_id_map)
		munmap(request_id_map, sizeof(*request_id_map));
	request_id_map = NULL;
	request_id_tried = false;
	request_id_own_pid = 0;
	request_id_path_set = true;
	snprintf(request_id_path, sizeof(request_id_path), "%s", path);
}
