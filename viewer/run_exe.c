/* What loopsan run needs to know of the program before it runs it: whether
 * the shim can load into it at all (a static executable has no dynamic
 * loader, so LD_PRELOAD means nothing to it), and whether it links
 * AddressSanitizer's runtime, which refuses to start unless it comes first
 * in the list of loaded libraries (so it must precede the shim in
 * LD_PRELOAD). Read from the ELF headers and the dynamic section only:
 * PT_INTERP, and the DT_NEEDED names. A file that is not a 64-bit ELF
 * (a script, say) is left alone: nothing is known of it.
 * And where the shim itself is. */
#include "viewer/commands.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmd as execvp would find it, or NULL. */
char *ls_run_exe_path(const char *cmd)
{
	if (strchr(cmd, '/'))
		return ls_xstrdup(cmd);
	const char *path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char *full = ls_xmalloc(n + strlen(cmd) + 3);
		snprintf(full, n + strlen(cmd) + 3, "%.*s/%s", (int)n, n ? path : ".", cmd);
		if (access(full, X_OK) == 0)
			return full;
		free(full);
		path += n + (path[n] == ':');
	}
	return NULL;
}

static int read_at(int fd, void *buf, size_t len, off_t off)
{
	return pread(fd, buf, len, off) == (ssize_t)len ? 0 : -1;
}

/* The file offset of vaddr, through the PT_LOAD that maps it. */
static off_t file_offset(const Elf64_Phdr *ph, unsigned n, Elf64_Addr vaddr)
{
	for (unsigned i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && vaddr >= ph[i].p_vaddr &&
		    vaddr - ph[i].p_vaddr < ph[i].p_filesz)
			return (off_t)(ph[i].p_offset + (vaddr - ph[i].p_vaddr));
	return -1;
}

/* The DT_NEEDED name that starts with "libasan.so" into out (empty when
 * none). */
static void find_asan(int fd, const Elf64_Phdr *ph, unsigned n, const Elf64_Phdr *dyn,
		      char *out, size_t outlen)
{
	size_t count = dyn->p_filesz / sizeof(Elf64_Dyn);
	if (count == 0 || count > 4096)
		return;
	Elf64_Dyn *d = ls_xmalloc(count * sizeof(*d));
	Elf64_Addr strtab = 0;
	Elf64_Xword strsz = 0;
	if (read_at(fd, d, count * sizeof(*d), (off_t)dyn->p_offset) == 0) {
		for (size_t i = 0; i < count && d[i].d_tag != DT_NULL; i++) {
			if (d[i].d_tag == DT_STRTAB)
				strtab = d[i].d_un.d_ptr;
			else if (d[i].d_tag == DT_STRSZ)
				strsz = d[i].d_un.d_val;
		}
	}
	off_t str = strtab ? file_offset(ph, n, strtab) : -1;
	for (size_t i = 0; str >= 0 && i < count && d[i].d_tag != DT_NULL; i++) {
		char name[64] = "";
		if (d[i].d_tag != DT_NEEDED || d[i].d_un.d_val >= strsz)
			continue;
		ssize_t got = pread(fd, name, sizeof(name) - 1, str + (off_t)d[i].d_un.d_val);
		name[got > 0 ? got : 0] = '\0';
		if (strncmp(name, "libasan.so", 10) == 0 && strlen(name) < outlen) {
			strcpy(out, name);
			break;
		}
	}
	free(d);
}

int ls_run_exe_inspect(const char *path, struct ls_run_exe *out)
{
	memset(out, 0, sizeof(*out));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	Elf64_Ehdr eh;
	int rc = -1;
	if (read_at(fd, &eh, sizeof(eh), 0) != 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum == 0 || eh.e_phnum > 256)
		goto out;
	Elf64_Phdr ph[256];
	if (read_at(fd, ph, eh.e_phnum * sizeof(ph[0]), (off_t)eh.e_phoff) != 0)
		goto out;
	const Elf64_Phdr *dyn = NULL;
	out->is_static = 1;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_INTERP)
			out->is_static = 0;
		else if (ph[i].p_type == PT_DYNAMIC)
			dyn = &ph[i];
	}
	if (dyn)
		find_asan(fd, ph, eh.e_phnum, dyn, out->asan, sizeof(out->asan));
	rc = 0;
out:
	close(fd);
	return rc;
}

/* path as an absolute path to a regular file, or NULL with errno set. */
static char *shim_file(const char *path)
{
	char *abs = realpath(path, NULL);
	struct stat st;
	if (abs && stat(abs, &st) == 0 && !S_ISREG(st.st_mode)) {
		free(abs);
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		return NULL;
	}
	if (abs && access(abs, R_OK) != 0) {
		free(abs);
		return NULL;
	}
	return abs;
}

/* $LOOPSAN_LIB; else what `make install` put beside bin/:
 * ../lib/loopsan/libloopsan.so from the binary; else the build tree's
 * layout, libloopsan.so beside the binary. Always absolute: the program
 * may change directory, and a bare name in LD_PRELOAD is looked up in
 * the system's library path, not here (the shim would silently not
 * load). */
char *ls_run_find_shim(void)
{
	const char *env = getenv("LOOPSAN_LIB");
	if (env && *env) {
		char *abs = shim_file(env);
		if (abs)
			return abs;
		char cwd[PATH_MAX];
		if (env[0] != '/' && getcwd(cwd, sizeof(cwd)))
			ls_error("LOOPSAN_LIB=%s: cannot use the shim: %s (a relative path is "
				 "taken from the working directory, %s)", env, strerror(errno), cwd);
		else
			ls_error("LOOPSAN_LIB=%s: cannot use the shim: %s", env, strerror(errno));
		return NULL;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		n = 0;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	char installed[PATH_MAX + 64], beside[PATH_MAX + 64];
	snprintf(installed, sizeof(installed), "%s/../lib/loopsan/" LS_SHIM_NAME, self);
	snprintf(beside, sizeof(beside), "%s/" LS_SHIM_NAME, self);
	char *abs = shim_file(installed);
	if (!abs)
		abs = shim_file(beside);
	if (!abs)
		ls_error("cannot find the shim: neither %s nor %s exists (set LOOPSAN_LIB)",
			 installed, beside);
	return abs;
}
