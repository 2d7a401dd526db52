/* The report pipeline shared by the commands: read traces (a directory
 * stands for its *.trace files), symbolize lazily, collect findings. */
#include "viewer/commands.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void ls_error(const char *fmt, ...)
{
	va_list ap;
	fputs("loopsan: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int has_trace_suffix(const char *name)
{
	size_t n = strlen(name);
	return n > 6 && strcmp(name + n - 6, ".trace") == 0;
}

static int name_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_regular(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int ls_list_traces(const char *dir, struct ls_vec *out)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	size_t first = out->len;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!has_trace_suffix(e->d_name))
			continue;
		char *path = ls_xmalloc(strlen(dir) + strlen(e->d_name) + 2);
		sprintf(path, "%s/%s", dir, e->d_name);
		if (is_regular(path))
			*(char **)ls_vec_push(out) = path;
		else
			free(path);
	}
	closedir(d);
	char **items = out->items;
	if (out->len - first > 1)
		qsort(items + first, out->len - first, sizeof(char *), name_order);
	return 0;
}

static int expand_dir(const char *dir, struct ls_vec *out)
{
	size_t before = out->len;
	if (ls_list_traces(dir, out)) {
		ls_error("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (out->len == before) {
		ls_error("%s: no .trace files in this directory", dir);
		return -1;
	}
	return 0;
}

static int expand_paths(char *const *paths, size_t npaths, struct ls_vec *out)
{
	for (size_t i = 0; i < npaths; i++) {
		struct stat st;
		if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (expand_dir(paths[i], out))
				return -1;
			continue;
		}
		*(char **)ls_vec_push(out) = ls_xstrdup(paths[i]);
	}
	return 0;
}

void ls_report_add(struct ls_report *r, struct ls_trace *t)
{
	r->traces = ls_xrealloc(r->traces, (r->ntraces + 1) * sizeof(*r->traces));
	r->syms = ls_xrealloc(r->syms, (r->ntraces + 1) * sizeof(*r->syms));
	r->traces[r->ntraces] = t;
	r->syms[r->ntraces] = ls_symbolizer_new(t);
	r->ntraces++;
}

void ls_report_finish(struct ls_report *r, const struct ls_findings_options *opt)
{
	ls_findings_init(&r->findings);
	for (size_t i = 0; i < r->ntraces; i++)
		ls_findings_collect(&r->findings, r->traces[i], opt);
	ls_findings_sort(&r->findings);
}

static int read_paths(struct ls_report *r, const struct ls_vec *files)
{
	char err[256];
	for (size_t i = 0; i < files->len; i++) {
		const char *path = ((char **)files->items)[i];
		struct ls_trace *t = ls_trace_read(path, err, sizeof(err));
		if (!t) {
			ls_error("%s: %s", path, err);
			return -1;
		}
		ls_report_add(r, t);
	}
	return 0;
}

int ls_report_load(struct ls_report *r, char *const *paths, size_t npaths,
		   const struct ls_findings_options *opt)
{
	struct ls_vec files = { .item_size = sizeof(char *) };
	memset(r, 0, sizeof(*r));
	ls_findings_init(&r->findings);
	int rc = expand_paths(paths, npaths, &files);
	if (rc == 0)
		rc = read_paths(r, &files);
	for (size_t i = 0; i < files.len; i++)
		free(((char **)files.items)[i]);
	ls_vec_free(&files);
	if (rc == 0)
		ls_report_finish(r, opt);
	return rc;
}

void ls_report_free(struct ls_report *r)
{
	ls_findings_free(&r->findings);
	for (size_t i = 0; i < r->ntraces; i++) {
		ls_symbolizer_free(r->syms[i]);
		ls_trace_free(r->traces[i]);
	}
	free(r->traces);
	free(r->syms);
	memset(r, 0, sizeof(*r));
}
