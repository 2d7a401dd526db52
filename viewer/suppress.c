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

void ls_escape_bytes(char *out, size_t n, const char *s, size_t len)
{
	size_t o = 0;
	if (n == 0)
		return;
	for (size_t i = 0; i < len && o + 5 < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

/* Names on (nearly) every stack: where every process and thread starts,
 * libc and the dynamic loader. A rule matching one silences every
 * finding of its kind that has a stack. */
static const char *const broad_names[] = {
	"_start", "main", "__libc_start_main", "__libc_start_call_main",
	"__libc_start_main_impl", "start_thread", "clone", "clone3", "__clone",
	"__clone3", "libc.so.6", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
};

const char *ls_suppression_broad_name(const char *pattern)
{
	for (size_t i = 0; i < sizeof(broad_names) / sizeof(broad_names[0]); i++)
		if (fnmatch(pattern, broad_names[i], 0) == 0)
			return broad_names[i];
	return NULL;
}

void ls_suppression_escape(char *out, size_t n, const char *name)
{
	size_t o = 0;
	if (n == 0)
		return;
	for (; *name && o + 2 < n; name++) {
		if (strchr("*?[]\\#", *name))
			out[o++] = '\\';
		out[o++] = *name;
	}
	out[o] = '\0';
}

/* What is wrong with pattern, or NULL: an unclosed '[', a '\' ending it,
 * a control character (no name has one), or a '#' (a comment after a
 * rule, which would be part of its pattern). */
static const char *bad_pattern(const char *p)
{
	for (; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "a control character in the pattern";
		if (*p == '\\') {
			if (!*++p)
				return "a '\\' ends the pattern";
		} else if (*p == '#') {
			return "a '#' in the pattern: comments take a line of their own; "
			       "write \\# to match a '#'";
		} else if (*p == '[') {
			const char *q = p + 1;
			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			if (!*q)
				return "a '[' without its ']'; write \\[ to match a '['";
			p = q;
		}
	}
	return NULL;
}

/* Parses one line (without its newline); 0 when it is a rule or nothing,
 * -1 after naming the problem, with the line shown escaped. */
static int parse_line(struct ls_suppressions *s, const char *file, int lineno,
		      char *line, size_t len)
{
	char shown[512];
	ls_escape_bytes(shown, sizeof(shown), line, len);
	if (memchr(line, '\0', len)) {
		ls_error("%s:%d: malformed line '%s' (a NUL byte)", file, lineno, shown);
		return -1;
	}
	char *text = trim(line, line + len);
	if (text[0] == '\0' || text[0] == '#')
		return 0;
	ls_escape_bytes(shown, sizeof(shown), text, strlen(text));
	char *colon = strchr(text, ':');
	if (!colon) {
		ls_error("%s:%d: malformed line '%s' (want kind:pattern)", file,
			 lineno, shown);
		return -1;
	}
	char *kind = trim(text, colon);
	char *pattern = trim(colon + 1, colon + 1 + strlen(colon + 1));
	enum ls_finding_kind k;
	if (ls_finding_kind_parse(kind, strlen(kind), &k)) {
		char name[256];
		ls_escape_bytes(name, sizeof(name), kind, strlen(kind));
		ls_error("%s:%d: unknown kind '%s' in '%s' (see loopsan report --help)",
			 file, lineno, name, shown);
		return -1;
	}
	if (pattern[0] == '\0') {
		ls_error("%s:%d: malformed line '%s' (empty pattern)", file, lineno, shown);
		return -1;
	}
	const char *why = bad_pattern(pattern);
	if (why) {
		ls_error("%s:%d: malformed line '%s' (%s)", file, lineno, shown, why);
		return -1;
	}
	struct ls_suppression *r = ls_vec_push(&s->v);
	r->kind = k;
	r->rule = ls_xmalloc(strlen(kind) + strlen(pattern) + 2);
	sprintf(r->rule, "%s:%s", kind, pattern);
	r->pattern = r->rule + strlen(kind) + 1;
	r->file = file;
	r->line = lineno;
	const char *broad = ls_suppression_broad_name(pattern);
	if (broad) {
		ls_escape_bytes(shown, sizeof(shown), r->rule, strlen(r->rule));
		ls_error("%s:%d: warning: rule '%s' matches '%s', which is on nearly "
			 "every stack: it silences every %s finding", file, lineno,
			 shown, broad, kind);
	}
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
