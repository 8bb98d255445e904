/* Interposed: dlopen. PHP loads its SQLite extensions with RTLD_DEEPBIND, which makes them
 * bind to libsqlite3 before anything preloaded: the interposer would never see their calls.
 * The flag is dropped so that they bind like every other library. Everything else is passed
 * on unchanged, as a tail call, so that the dynamic loader still sees the program's own
 * caller (it searches the caller's RPATH/RUNPATH for names without a slash). */
#include <dlfcn.h>

void *dlopen(const char *file, int mode)
{
	static void *(*real_dlopen)(const char *, int);
	void *(*fn)(const char *, int) = __atomic_load_n(&real_dlopen, __ATOMIC_ACQUIRE);

	if (!fn) {
		fn = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
		__atomic_store_n(&real_dlopen, fn, __ATOMIC_RELEASE);
	}
	return fn(file, mode & ~RTLD_DEEPBIND);
}
