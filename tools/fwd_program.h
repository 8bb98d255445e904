/* Whether the interposer can stand in for the SQLite a program uses, for `litefs-fwd
 * doctor`, from the program's file alone (it is never run): found on PATH like the shell
 * finds it; a script's interpreter inspected in its place; then its ELF file:
 *   - no dynamic loader (statically linked): LD_PRELOAD is never read;
 *   - set-user-ID, set-group-ID or file capabilities: run by anyone but its owner, the
 *     loader is in secure-execution mode and ignores LD_PRELOAD;
 *   - another ELF class or machine than the interposer's, or another C library's loader
 *     (musl): the interposer cannot be loaded into it;
 *   - libsqlite3 needed at start, by the program or a library it needs: interposed;
 *   - SQLite compiled into the program (its API defined in it, or its own strings in a
 *     binary that imports none of it, as Go and Rust binaries with a bundled SQLite):
 *     its calls never reach a library the interposer stands in for;
 *   - none of it, but libraries loaded at run time (dlopen imported): the SQLite
 *     modules of known interpreters are inspected the same way. The interposer also
 *     interposes dlopen and drops RTLD_DEEPBIND (preload/hooks_dlopen.c), so a module
 *     loaded with it (PHP's) still binds to the interposer; dlmopen's new namespaces
 *     have no preload at all. */
#ifndef FWD_PROGRAM_H
#define FWD_PROGRAM_H

#include "elf_probe.h"
#include "fwd_findings.h"

/* Inspects cmd (a name looked up on PATH, or a path) and records what it found in f.
 * lib: the interposer library's probe (its class and machine), or NULL when it was not
 * found. Returns 0 when nothing blocks interposition, 1 when something does, -ENOMEM. */
int fwd_program_inspect(const char *cmd, const struct elf_probe *lib, struct fwd_findings *f);

/* The name of an ELF machine ("x86-64", "aarch64", ...) into buf. */
const char *fwd_program_machine_name(unsigned machine, char *buf, size_t size);

#endif
