/* Unit tests for the pure parts of `litefs-fwd run`: exit statuses, the restart schedule,
 * finding the interposer and composing LD_PRELOAD, the command line.
 *
 * The code under test lives in tools/ beside the command that uses it, and the objects of
 * tools/fwd_*.c are linked into litefs-fwd only (a unit test links the libraries of
 * common/, preload/, forwarder/ and the stand-in): the files are compiled into this test
 * by path. They hold no state and call nothing of fwd_run.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "../tools/fwd_run_backoff.c"
#include "../tools/fwd_run_opts.c"
#include "../tools/fwd_run_preload.c"
#include "../tools/fwd_run_status.c"

static char g_dir[1024]; /* as made by mkdtemp */
static char g_real[1024]; /* its real path */

static int group_setup(void **state)
{
	(void)state;
	if (tmpdir_make(g_dir, sizeof(g_dir), "test_fwd_run"))
		return -1;
	return realpath(g_dir, g_real) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return tmpdir_remove(g_dir);
}

/* The wait status of a child that runs fn(arg). */
static int child_status(void (*fn)(int), int arg)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		fn(arg);
		_exit(99);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void child_exit(int code)
{
	_exit(code);
}

static void child_raise(int sig)
{
	signal(sig, SIG_DFL);
	raise(sig);
}

static void test_exit_codes_as_a_shell(void **state)
{
	(void)state;
	assert_int_equal(fwd_run_status_exit_code(child_status(child_exit, 0)), 0);
	assert_int_equal(fwd_run_status_exit_code(child_status(child_exit, 3)), 3);
	assert_int_equal(fwd_run_status_exit_code(child_status(child_exit, 255)), 255);
	assert_int_equal(fwd_run_status_exit_code(child_status(child_raise, SIGKILL)), 137);
	assert_int_equal(fwd_run_status_exit_code(child_status(child_raise, SIGTERM)), 143);
	assert_int_equal(fwd_run_status_exit_code(child_status(child_raise, SIGINT)), 130);

	assert_int_equal(fwd_run_status_exec_code(ENOENT), 127);
	assert_int_equal(fwd_run_status_exec_code(EACCES), 126);
	assert_int_equal(fwd_run_status_exec_code(ENOEXEC), 126);
	assert_int_equal(fwd_run_status_exec_code(EISDIR), 126);
}

static void test_status_described(void **state)
{
	char buf[96];

	(void)state;
	fwd_run_status_describe(child_status(child_exit, 3), buf, sizeof(buf));
	assert_string_equal(buf, "exited with status 3");
	fwd_run_status_describe(child_status(child_raise, SIGKILL), buf, sizeof(buf));
	assert_string_equal(buf, "was killed by signal 9 (SIGKILL)");
	fwd_run_status_describe(child_status(child_raise, SIGUSR1), buf, sizeof(buf));
	assert_string_equal(buf, "was killed by signal 10 (SIGUSR1)");
	/* a short buffer is cut, still a string */
	fwd_run_status_describe(child_status(child_exit, 3), buf, 8);
	assert_string_equal(buf, "exited ");
}

static void test_backoff_doubles_to_the_cap(void **state)
{
	static const int want[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000 };
	struct fwd_run_backoff b;

	(void)state;
	fwd_run_backoff_init(&b);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(fwd_run_backoff_next(&b, 50), want[i]);
	/* 9.999 s is still a quick death */
	assert_int_equal(fwd_run_backoff_next(&b, FWD_RUN_BACKOFF_RESET_MS - 1), 5000);
}

static void test_backoff_starts_over_after_a_long_run(void **state)
{
	struct fwd_run_backoff b;

	(void)state;
	fwd_run_backoff_init(&b);
	assert_int_equal(fwd_run_backoff_next(&b, 0), 100);
	assert_int_equal(fwd_run_backoff_next(&b, 0), 200);
	assert_int_equal(fwd_run_backoff_next(&b, 0), 400);
	assert_int_equal(fwd_run_backoff_next(&b, FWD_RUN_BACKOFF_RESET_MS), 100);
	assert_int_equal(fwd_run_backoff_next(&b, 10), 200);
	assert_int_equal(fwd_run_backoff_next(&b, 3600000), 100);
}

static void test_preload_value_keeps_the_existing_list_after(void **state)
{
	char *v;

	(void)state;
	assert_int_equal(fwd_run_preload_value("/l/liblitefs_fwd.so", NULL, &v), 0);
	assert_string_equal(v, "/l/liblitefs_fwd.so");
	free(v);
	assert_int_equal(fwd_run_preload_value("/l/liblitefs_fwd.so", "", &v), 0);
	assert_string_equal(v, "/l/liblitefs_fwd.so");
	free(v);
	assert_int_equal(fwd_run_preload_value("/l/liblitefs_fwd.so", "libm.so.6 /x/a.so:b.so",
					       &v), 0);
	assert_string_equal(v, "/l/liblitefs_fwd.so:libm.so.6 /x/a.so:b.so");
	free(v);
}

static void test_preload_environ_replaces_every_entry(void **state)
{
	char *env[] = { "A=1", "LD_PRELOAD=old.so", "B=2", "LD_PRELOAD=again.so",
			"LD_PRELOADX=kept", "C=3", NULL };
	char *none[] = { "A=1", NULL };
	char *empty[] = { NULL };
	char **out;

	(void)state;
	assert_int_equal(fwd_run_preload_environ(env, "/l/i.so:old.so", &out), 0);
	assert_string_equal(out[0], "A=1");
	assert_string_equal(out[1], "B=2");
	assert_string_equal(out[2], "LD_PRELOADX=kept");
	assert_string_equal(out[3], "C=3");
	assert_string_equal(out[4], "LD_PRELOAD=/l/i.so:old.so");
	assert_null(out[5]);
	free(out);

	assert_int_equal(fwd_run_preload_environ(none, "/l/i.so", &out), 0);
	assert_string_equal(out[0], "A=1");
	assert_string_equal(out[1], "LD_PRELOAD=/l/i.so");
	assert_null(out[2]);
	free(out);

	assert_int_equal(fwd_run_preload_environ(empty, "/l/i.so", &out), 0);
	assert_string_equal(out[0], "LD_PRELOAD=/l/i.so");
	assert_null(out[1]);
	free(out);
}

/* Writes g_dir/rel with content (made with its directories); its path in buf. */
static void make_file(const char *rel, const char *content, size_t len, char *buf,
		      size_t size)
{
	char dir[PATH_MAX];
	int fd;

	assert_true((size_t)snprintf(buf, size, "%s/%s", g_real, rel) < size);
	snprintf(dir, sizeof(dir), "%s", buf);
	for (char *p = dir + strlen(g_real) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static const char elf[] = "\177ELF\2\1\1";

static void test_preload_check(void **state)
{
	char path[PATH_MAX], out[PATH_MAX], err[PATH_MAX + 128], cwd[PATH_MAX], want[1100];

	(void)state;
	make_file("check/liblitefs_fwd.so", elf, sizeof(elf), path, sizeof(path));
	assert_int_equal(fwd_run_preload_check(path, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, path);

	/* relative, and through "..": made absolute and canonical */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/check", g_real);
	assert_int_equal(chdir(want), 0);
	assert_int_equal(fwd_run_preload_check("../check/./liblitefs_fwd.so", out, sizeof(out),
					       err, sizeof(err)), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(out, path);

	make_file("check/text.so", "hello", 5, path, sizeof(path));
	assert_int_equal(fwd_run_preload_check(path, out, sizeof(out), err, sizeof(err)),
			 -ENOEXEC);
	assert_non_null(strstr(err, "not a shared library"));

	make_file("check/short.so", "\177E", 2, path, sizeof(path));
	assert_int_equal(fwd_run_preload_check(path, out, sizeof(out), err, sizeof(err)),
			 -ENOEXEC);

	snprintf(path, sizeof(path), "%s/check", g_real);
	assert_int_equal(fwd_run_preload_check(path, out, sizeof(out), err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "not a regular file");

	snprintf(path, sizeof(path), "%s/check/missing.so", g_real);
	assert_int_equal(fwd_run_preload_check(path, out, sizeof(out), err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, strerror(ENOENT));

	assert_int_equal(fwd_run_preload_check("", out, sizeof(out), err, sizeof(err)), -EINVAL);

	/* LD_PRELOAD cannot carry a path with a separator in it */
	make_file("odd:dir/liblitefs_fwd.so", elf, sizeof(elf), path, sizeof(path));
	assert_int_equal(fwd_run_preload_check(path, out, sizeof(out), err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "which LD_PRELOAD cannot carry"));
	make_file("odd dir/liblitefs_fwd.so", elf, sizeof(elf), path, sizeof(path));
	assert_int_equal(fwd_run_preload_check(path, out, sizeof(out), err, sizeof(err)),
			 -EINVAL);
}

static void test_preload_find_order(void **state)
{
	char exe[PATH_MAX], path[4 * 1100], out[PATH_MAX], err[4 * PATH_MAX], libdir[1100];
	char lib_up[PATH_MAX], lib_libdir[PATH_MAX], lib_beside[PATH_MAX];

	(void)state;
	/* exe in find/bin; the install location in find/usr/lib */
	make_file("find/bin/litefs-fwd", elf, sizeof(elf), exe, sizeof(exe));
	snprintf(libdir, sizeof(libdir), "%s/find/usr/lib", g_real);

	assert_int_equal(fwd_run_preload_find(NULL, NULL, exe, libdir, out, sizeof(out), err,
					      sizeof(err)), -ENOENT);
	snprintf(path, sizeof(path), "looked at %s/find/bin/liblitefs_fwd.so, "
		 "%s/find/bin/../lib/liblitefs_fwd.so, %s/liblitefs_fwd.so; give its path with "
		 "--preload or LITEFS_FWD_PRELOAD", g_real, g_real, libdir);
	assert_non_null(strstr(err, path));

	make_file("find/usr/lib/liblitefs_fwd.so", elf, sizeof(elf), lib_libdir,
		  sizeof(lib_libdir));
	assert_int_equal(fwd_run_preload_find(NULL, NULL, exe, libdir, out, sizeof(out), err,
					      sizeof(err)), 0);
	assert_string_equal(out, lib_libdir);

	make_file("find/lib/liblitefs_fwd.so", elf, sizeof(elf), lib_up, sizeof(lib_up));
	assert_int_equal(fwd_run_preload_find(NULL, NULL, exe, libdir, out, sizeof(out), err,
					      sizeof(err)), 0);
	assert_string_equal(out, lib_up);

	make_file("find/bin/liblitefs_fwd.so", elf, sizeof(elf), lib_beside, sizeof(lib_beside));
	assert_int_equal(fwd_run_preload_find(NULL, NULL, exe, libdir, out, sizeof(out), err,
					      sizeof(err)), 0);
	assert_string_equal(out, lib_beside);

	/* an unusable candidate is passed over */
	make_file("find/bin/liblitefs_fwd.so", "text", 4, lib_beside, sizeof(lib_beside));
	assert_int_equal(fwd_run_preload_find(NULL, NULL, exe, libdir, out, sizeof(out), err,
					      sizeof(err)), 0);
	assert_string_equal(out, lib_up);

	/* without an executable's path: the install location only */
	assert_int_equal(fwd_run_preload_find(NULL, NULL, NULL, libdir, out, sizeof(out), err,
					      sizeof(err)), 0);
	assert_string_equal(out, lib_libdir);
	assert_int_equal(fwd_run_preload_find(NULL, NULL, NULL, NULL, out, sizeof(out), err,
					      sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "looked at nothing"));
}

static void test_preload_find_given_alone(void **state)
{
	char exe[PATH_MAX], out[PATH_MAX], err[4 * PATH_MAX], given[PATH_MAX];

	(void)state;
	make_file("given/bin/litefs-fwd", elf, sizeof(elf), exe, sizeof(exe));
	make_file("given/bin/liblitefs_fwd.so", elf, sizeof(elf), out, sizeof(out));
	snprintf(given, sizeof(given), "%s/given/elsewhere.so", g_real);

	/* a given path that is missing is an error, never a fallback to the others */
	assert_int_equal(fwd_run_preload_find(given, "--preload", exe, NULL, out, sizeof(out),
					      err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, given));
	assert_non_null(strstr(err, "(--preload)"));
	assert_non_null(strstr(err, strerror(ENOENT)));

	make_file("given/elsewhere.so", elf, sizeof(elf), given, sizeof(given));
	assert_int_equal(fwd_run_preload_find(given, "LITEFS_FWD_PRELOAD", exe, NULL, out,
					      sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, given);
}

/* Parses argv (NULL-terminated) with the environment as it is; the status. */
static int parse(struct fwd_run_opts *o, char **argv, char *err, size_t errlen)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return fwd_run_opts_parse(o, argc, argv, err, errlen);
}

static void test_opts_defaults_and_cmd(void **state)
{
	char *a1[] = { "run", "--", "sh", "-c", "exit 3", NULL };
	char *a2[] = { "run", "sh", "--help", "--no-forwarder", NULL };
	char *a3[] = { "run", "--", "--weird-name", NULL };
	struct fwd_run_opts o;
	char err[256];

	(void)state;
	unsetenv("LITEFS_FWD_PRELOAD");
	unsetenv("LITEFS_FWD_RUN_GRACE_MS");
	assert_int_equal(parse(&o, a1, err, sizeof(err)), 0);
	assert_null(o.preload);
	assert_false(o.no_forwarder);
	assert_false(o.subreaper);
	assert_false(o.help);
	assert_int_equal(o.grace_ms, FWD_RUN_DEFAULT_GRACE_MS);
	assert_int_equal(o.log_level, FWD_LOG_INFO);
	assert_int_equal(o.n_forwarder_args, 0);
	assert_ptr_equal(o.cmd, a1 + 2);
	fwd_run_opts_free(&o);

	/* options end at CMD: its own options are its own */
	assert_int_equal(parse(&o, a2, err, sizeof(err)), 0);
	assert_false(o.help);
	assert_false(o.no_forwarder);
	assert_ptr_equal(o.cmd, a2 + 1);
	fwd_run_opts_free(&o);

	assert_int_equal(parse(&o, a3, err, sizeof(err)), 0);
	assert_string_equal(o.cmd[0], "--weird-name");
	fwd_run_opts_free(&o);
}

static void test_opts_every_option(void **state)
{
	char *a[] = { "run", "--preload", "/p/i.so", "--forwarder-arg", "--listen",
		      "--forwarder-arg", "tcp://127.0.0.1:1", "--forwarder-arg=--insecure",
		      "--subreaper", "--grace-ms", "0", "--log-level", "debug", "--", "app", NULL };
	char *b[] = { "run", "--no-forwarder", "--grace-ms=3600000", "app", NULL };
	char *h[] = { "run", "--subreaper", "-h", "app", NULL };
	struct fwd_run_opts o;
	char err[256];

	(void)state;
	setenv("LITEFS_FWD_PRELOAD", "/env/i.so", 1);
	assert_int_equal(parse(&o, a, err, sizeof(err)), 0);
	assert_string_equal(o.preload, "/p/i.so");
	assert_string_equal(o.preload_from, "--preload");
	assert_int_equal(o.n_forwarder_args, 3);
	assert_string_equal(o.forwarder_args[0], "--listen");
	assert_string_equal(o.forwarder_args[1], "tcp://127.0.0.1:1");
	assert_string_equal(o.forwarder_args[2], "--insecure");
	assert_true(o.subreaper);
	assert_int_equal(o.grace_ms, 0);
	assert_int_equal(o.log_level, FWD_LOG_DEBUG);
	assert_string_equal(o.cmd[0], "app");
	assert_null(o.cmd[1]);
	fwd_run_opts_free(&o);

	setenv("LITEFS_FWD_RUN_GRACE_MS", "250", 1);
	assert_int_equal(parse(&o, b, err, sizeof(err)), 0);
	assert_string_equal(o.preload, "/env/i.so");
	assert_string_equal(o.preload_from, "LITEFS_FWD_PRELOAD");
	assert_true(o.no_forwarder);
	assert_int_equal(o.grace_ms, 3600000);
	fwd_run_opts_free(&o);

	assert_int_equal(parse(&o, h, err, sizeof(err)), 0);
	assert_true(o.help);
	fwd_run_opts_free(&o);
	unsetenv("LITEFS_FWD_PRELOAD");
	unsetenv("LITEFS_FWD_RUN_GRACE_MS");
}

static void test_opts_mistakes(void **state)
{
	static const struct {
		char *argv[8];
		const char *msg;
	} cases[] = {
		{ { "run", NULL }, "CMD is missing" },
		{ { "run", "--subreaper", "--", NULL }, "CMD is missing" },
		{ { "run", "--bogus", "app", NULL }, "unknown option '--bogus'" },
		{ { "run", "-x", "app", NULL }, "unknown option '-x'" },
		{ { "run", "--preload", NULL }, "missing value of '--preload'" },
		{ { "run", "--preload", "", "app", NULL }, "--preload wants a path" },
		{ { "run", "--grace-ms", "-1", "app", NULL }, "--grace-ms wants 0 to 3600000" },
		{ { "run", "--grace-ms", "3600001", "app", NULL }, "--grace-ms wants" },
		{ { "run", "--grace-ms", "5s", "app", NULL }, "not '5s'" },
		{ { "run", "--log-level", "loud", "app", NULL }, "--log-level wants" },
		{ { "run", "--no-forwarder", "--forwarder-arg", "--x", "app", NULL },
		  "there is no forwarder" },
	};
	struct fwd_run_opts o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[8];

		memcpy(argv, cases[i].argv, sizeof(argv));
		assert_int_equal(parse(&o, argv, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].msg);
		fwd_run_opts_free(&o);
	}

	setenv("LITEFS_FWD_RUN_GRACE_MS", "soon", 1);
	{
		char *argv[] = { "run", "app", NULL };

		assert_int_equal(parse(&o, argv, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "LITEFS_FWD_RUN_GRACE_MS wants"));
		fwd_run_opts_free(&o);
	}
	unsetenv("LITEFS_FWD_RUN_GRACE_MS");
}

static void test_usage_names_every_option(void **state)
{
	static const char *const names[] = {
		"--preload", "--forwarder-arg", "--no-forwarder", "--subreaper", "--grace-ms",
		"--log-level", "--help", "LITEFS_FWD_PRELOAD", "LITEFS_FWD_RUN_GRACE_MS",
		"SIGUSR2", "SIGWINCH", "128+N", "127", "126",
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	f = open_memstream(&text, &len);
	assert_non_null(f);
	fwd_run_opts_usage(f, "/opt/x/lib");
	assert_int_equal(fclose(f), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strstr(text, names[i]))
			fail_msg("the usage does not mention %s", names[i]);
	assert_non_null(strstr(text, "from it, then in /opt/x/lib\n"));
	free(text);

	f = open_memstream(&text, &len);
	assert_non_null(f);
	fwd_run_opts_usage(f, NULL);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(text, "from it\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes_as_a_shell),
		cmocka_unit_test(test_status_described),
		cmocka_unit_test(test_backoff_doubles_to_the_cap),
		cmocka_unit_test(test_backoff_starts_over_after_a_long_run),
		cmocka_unit_test(test_preload_value_keeps_the_existing_list_after),
		cmocka_unit_test(test_preload_environ_replaces_every_entry),
		cmocka_unit_test(test_preload_check),
		cmocka_unit_test(test_preload_find_order),
		cmocka_unit_test(test_preload_find_given_alone),
		cmocka_unit_test(test_opts_defaults_and_cmd),
		cmocka_unit_test(test_opts_every_option),
		cmocka_unit_test(test_opts_mistakes),
		cmocka_unit_test(test_usage_names_every_option),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
