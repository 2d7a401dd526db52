/* Suppressions files: parsing and matching. Which names a finding is known
 * by is decided by the report (report.c), which can symbolize. */
#include "viewer/suppress.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viewer/commands.h"

void ls_suppressions_init(struct ls_suppressions *s)
{
	memset(s, 0, sizeof(*s));
	s->v.item_size = sizeof(struct ls_suppression);
	s->files.item_size = sizeof(char *);
}

void ls_suppressions_free(struct ls_suppressions *s)
{
	for (size_t i = 0; i < s->v.len; i++)
		free(ls_suppression_at(s, i)->rule);
	for (size_t i = 0; i < s->files.len; i++)
		free(*LS_VEC_AT(&s->files, char *, i));
	ls_vec_free(&s->v);
	ls_vec_free(&s->files);
}

size_t ls_suppressions_count(const struct ls_suppressions *s)
{
	return s->v.len;
}

struct ls_suppression *ls_suppression_at(const struct ls_suppressions *s, size_t i)
{
	return LS_VEC_AT(&s->v, struct ls_suppression, i);
}

static char *trim(char *s, char *end)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* Parses one line (without its newline); 0 when it is a rule or nothing,
 * -1 after naming the problem. */
static int parse_line(struct ls_suppressions *s, const char *file, int lineno,
		      char *line, size_t len)
{
	if (memchr(line, '\0', len)) {
		ls_error("%s:%d: malformed line (a NUL byte)", file, lineno);
		return -1;
	}
	char *text = trim(line, line + len);
	if (text[0] == '\0' || text[0] == '#')
		return 0;
	char *colon = strchr(text, ':');
	if (!colon) {
		ls_error("%s:%d: malformed line '%s' (want kind:pattern)", file,
			 lineno, text);
		return -1;
	}
	char *kind = trim(text, colon);
	char *pattern = trim(colon + 1, colon + 1 + strlen(colon + 1));
	enum ls_finding_kind k;
	if (ls_finding_kind_parse(kind, strlen(kind), &k)) {
		ls_error("%s:%d: unknown kind '%s'", file, lineno, kind);
		return -1;
	}
	if (pattern[0] == '\0') {
		ls_error("%s:%d: malformed line '%s:' (empty pattern)", file, lineno,
			 kind);
		return -1;
	}
	struct ls_suppression *r = ls_vec_push(&s->v);
	r->kind = k;
	r->rule = ls_xmalloc(strlen(kind) + strlen(pattern) + 2);
	sprintf(r->rule, "%s:%s", kind, pattern);
	r->pattern = r->rule + strlen(kind) + 1;
	r->file = file;
	r->line = lineno;
	return 0;
}

int ls_suppressions_load(struct ls_suppressions *s, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		ls_error("%s: cannot read suppressions: %s", path, strerror(errno));
		return -1;
	}
	char *file = ls_xstrdup(path);
	*(char **)ls_vec_push(&s->files) = file;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = 0;
	while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			n--;
		rc = parse_line(s, file, lineno, line, (size_t)n);
	}
	if (rc == 0 && ferror(f)) {
		ls_error("%s: cannot read suppressions: %s", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

struct ls_suppression *ls_suppressions_match(const struct ls_suppressions *s,
					     enum ls_finding_kind kind,
					     const char *const *names, size_t nnames)
{
	for (size_t i = 0; s && i < s->v.len; i++) {
		struct ls_suppression *r = ls_suppression_at(s, i);
		if (r->kind != kind)
			continue;
		for (size_t j = 0; j < nnames; j++)
			if (names[j] && fnmatch(r->pattern, names[j], 0) == 0)
				return r;
	}
	return NULL;
}
