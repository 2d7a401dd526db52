/* LOOPSAN_OPTIONS, the sanitizers' way: key=value pairs separated by ':',
 * ',' or white space. A bad pair is named once on stderr (the key, the
 * value, what is allowed, the default) and the default stays in force: the
 * program always runs on. help=1 lists the options.
 *
 * One table, compiled into the shim and into the viewer (viewer/options.c),
 * so that `loopsan run -O` refuses exactly what the shim would. It uses
 * nothing but libc, and no allocation: the shim parses at load. */
#include "tracer/options.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tracer/trace.h"

enum opt_kind {
	OPT_UINT,  /* lo..hi */
	OPT_TEXT,  /* no control characters */
	OPT_NAME,  /* letters, digits, '.', '_', '-' */
	OPT_PATH,  /* a relative path is made absolute at parse time */
	OPT_MODE,  /* summary or timeline */
};

struct opt {
	const char *name;
	enum opt_kind kind;
	uint32_t lo, hi, def;   /* OPT_UINT */
	size_t off, size;       /* the field in struct ls_options */
	const char *def_text;   /* the default as help shows it (not OPT_UINT) */
	const char *meaning;
};

#define U(name, lo, hi, def, meaning)                                                   \
	{ #name, OPT_UINT, lo, hi, def, offsetof(struct ls_options, name),              \
	  sizeof(uint32_t), NULL, meaning }
#define S(name, kind, def_text, meaning)                                                \
	{ #name, kind, 0, 0, 0, offsetof(struct ls_options, name),                      \
	  sizeof(((struct ls_options *)0)->name), def_text, meaning }

/* README's options table says the same at more length. */
static const struct opt ls_opts[] = {
	U(slow_callback_ms, 1, 3600000, 100, "a callback that runs this long is a slow-callback"),
	U(slow_selector_ms, 1, 3600000, 100,
	  "a selector call this late past its timeout is a slow-selector"),
	U(blocking_min_ms, 0, 3600000, 10,
	  "a wait for another party this long on a loop thread is a blocking-call"),
	S(blocking_allow, OPT_TEXT, "empty",
	  "','-separated functions a blocking call may come from"),
	S(dir, OPT_TEXT, "working directory", "where trace files are created"),
	S(mode, OPT_MODE, "summary", "timeline: a record of every callback too"),
	U(stacks, 0, 1, 1, "1: capture registration stacks"),
	U(stack_depth, 1, LS_MAX_STACK_DEPTH, 16, "frames kept per stack"),
	U(stack_cache, 0, 1, 1, "1: reuse a stack per call instruction and callback"),
	U(watchdog, 0, 1, 1, "1: sample where a slow callback is stuck (stuck_at)"),
	U(stuck_signal, 0, 1, 1, "1: the watchdog may signal a running loop thread"),
	U(halt_on_wrong_thread, 0, 1, 0, "1: abort() at a wrong-thread call"),
	U(python, 0, 1, 1, "1: asyncio's checks inside CPython"),
	S(log_path, OPT_PATH, "stderr",
	  "append loopsan's stderr lines (the exit line) to this file instead"),
	S(session, OPT_NAME, "empty", "a tag in the trace header (loopsan run's)"),
	U(help, 0, 1, 0, "1: print this list on stderr at start"),
};
#define LS_NOPTS (sizeof(ls_opts) / sizeof(ls_opts[0]))

#undef U
#undef S

static const struct opt *ls_opt_find(const char *key, size_t klen)
{
	for (size_t i = 0; i < LS_NOPTS; i++)
		if (strlen(ls_opts[i].name) == klen && memcmp(ls_opts[i].name, key, klen) == 0)
			return &ls_opts[i];
	return NULL;
}

/* s[0..len) for a message: at most 64 bytes, control bytes and quotes as
 * \xNN, so that a message stays one line. */
static void ls_opt_show(char *out, size_t outsz, const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 8 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == 64) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
			n += (size_t)snprintf(out + n, outsz - n, "\\x%02x", c);
		else
			out[n++] = (char)c;
	}
	out[n] = 0;
}

static int ls_opt_uint(const char *v, size_t len, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char buf[16];
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = 0;
	unsigned long x = 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		x = x * 10 + (unsigned long)(buf[i] - '0');
	}
	if (x < lo || x > hi)
		return -1;
	*out = (uint32_t)x;
	return 0;
}

static int ls_opt_text(const struct opt *d, const char *v, size_t len, char *out)
{
	if (len == 0 || len >= d->size)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f)
			return -1;
		if (d->kind == OPT_NAME && !(c == '-' || c == '_' || c == '.' ||
					     (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
					     (c >= 'A' && c <= 'Z')))
			return -1;
	}
	if (d->kind == OPT_PATH && v[0] != '/') {
		/* The file the user meant when the program started, not the one
		 * wherever it has moved by the time it writes a line. */
		char cwd[4096];
		if (getcwd(cwd, sizeof(cwd)) == NULL || strlen(cwd) + 1 + len >= d->size)
			return -1;
		snprintf(out, d->size, "%s/%.*s", cwd, (int)len, v);
		return 0;
	}
	memcpy(out, v, len);
	out[len] = 0;
	return 0;
}

/* What a value of d may be, for a message. */
static void ls_opt_allowed(const struct opt *d, char *out, size_t outsz)
{
	switch (d->kind) {
	case OPT_UINT:
		if (d->hi == 1)
			snprintf(out, outsz, "0 or 1");
		else
			snprintf(out, outsz, "%u..%u", (unsigned)d->lo, (unsigned)d->hi);
		break;
	case OPT_MODE:
		snprintf(out, outsz, "summary or timeline");
		break;
	case OPT_NAME:
		snprintf(out, outsz, "1..%zu letters, digits, '.', '_', '-'", d->size - 1);
		break;
	case OPT_PATH:
		snprintf(out, outsz, "a file (1..%zu bytes once absolute)", d->size - 1);
		break;
	case OPT_TEXT:
		snprintf(out, outsz, "1..%zu bytes, no control characters", d->size - 1);
		break;
	}
}

static void ls_opt_default(const struct opt *d, char *out, size_t outsz)
{
	if (d->kind == OPT_UINT)
		snprintf(out, outsz, "%u", (unsigned)d->def);
	else
		snprintf(out, outsz, "%s", d->def_text);
}

int ls_option_set(struct ls_options *o, const char *key, size_t klen, const char *v,
		  size_t vlen, char *why, size_t whysz)
{
	char k[80], val[300], allowed[64], def[32];
	ls_opt_show(k, sizeof(k), key, klen);
	const struct opt *d = ls_opt_find(key, klen);
	if (d == NULL) {
		snprintf(why, whysz, "'%s': unknown option (help=1 lists them)", k);
		return -1;
	}
	char *field = (char *)o + d->off;
	int bad;
	if (d->kind == OPT_UINT) {
		bad = ls_opt_uint(v, vlen, d->lo, d->hi, (uint32_t *)(void *)field);
		if (!bad && d->off == offsetof(struct ls_options, blocking_min_ms))
			o->blocking_min_set = 1;
	} else if (d->kind == OPT_MODE) {
		bad = 0;
		if (vlen == 7 && memcmp(v, "summary", 7) == 0)
			o->mode = LS_MODE_SUMMARY;
		else if (vlen == 8 && memcmp(v, "timeline", 8) == 0)
			o->mode = LS_MODE_TIMELINE;
		else
			bad = 1;
	} else {
		bad = ls_opt_text(d, v, vlen, field);
	}
	if (!bad)
		return 0;
	ls_opt_show(val, sizeof(val), v, vlen);
	ls_opt_allowed(d, allowed, sizeof(allowed));
	ls_opt_default(d, def, sizeof(def));
	snprintf(why, whysz, "%s='%s': bad value, want %s (default %s)", d->name, val, allowed, def);
	return -1;
}

int ls_option_check(const char *key, size_t klen, const char *v, size_t vlen, char *why,
		    size_t whysz)
{
	struct ls_options scratch;
	memset(&scratch, 0, sizeof(scratch));
	return ls_option_set(&scratch, key, klen, v, vlen, why, whysz);
}

/* The table's fields only: a field it does not hold keeps its value. */
static void ls_options_defaults(struct ls_options *o)
{
	for (size_t i = 0; i < LS_NOPTS; i++) {
		char *field = (char *)o + ls_opts[i].off;
		if (ls_opts[i].kind == OPT_UINT)
			*(uint32_t *)(void *)field = ls_opts[i].def;
		else
			field[0] = 0;
	}
	o->mode = LS_MODE_SUMMARY;
	o->blocking_min_set = 0;
}

void ls_options_help(ls_opt_say_fn *say)
{
	char line[300], allowed[64], def[32];
	say("loopsan: LOOPSAN_OPTIONS: key=value pairs separated by ':', ',' or spaces "
	    "(a value may be quoted); each option, its default, what it may be:\n");
	for (size_t i = 0; i < LS_NOPTS; i++) {
		const struct opt *d = &ls_opts[i];
		ls_opt_allowed(d, allowed, sizeof(allowed));
		ls_opt_default(d, def, sizeof(def));
		snprintf(line, sizeof(line), "loopsan:   %-20s default %-17s %s: %s\n", d->name,
			 def, allowed, d->meaning);
		say(line);
	}
}

/* The lines of one parse, said once it is over: by then log_path, wherever
 * it stands in the text, is known. */
struct ls_opt_lines {
	char buf[2048];
	size_t len;
	const char *unknown[8];  /* unknown keys named so far: each once */
	size_t unknown_len[8];
	unsigned nunknown;
};

/* then: what the shim does about it ("ignored"), NULL when the text is
 * only being checked (loopsan run, which refuses it). */
static void ls_opt_line(struct ls_opt_lines *l, const char *why, const char *then)
{
	size_t room = sizeof(l->buf) - l->len;
	int n = snprintf(l->buf + l->len, room, "loopsan: LOOPSAN_OPTIONS: %s%s%s\n", why,
			 then ? "; " : "", then ? then : "");
	if (n > 0 && (size_t)n < room)
		l->len += (size_t)n;
}

static int ls_opt_said_unknown(struct ls_opt_lines *l, const char *key, size_t klen)
{
	for (unsigned i = 0; i < l->nunknown; i++)
		if (l->unknown_len[i] == klen && memcmp(l->unknown[i], key, klen) == 0)
			return 1;
	if (l->nunknown < 8) {
		l->unknown[l->nunknown] = key;
		l->unknown_len[l->nunknown++] = klen;
	}
	return 0;
}

static int ls_opt_sep(char c)
{
	return c == ':' || c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	       c == '\v' || c == '\f';
}

/* A ',' separates pairs only where a key= follows it, maybe after more
 * separators ("stacks=0, mode=timeline"); otherwise it is the value's
 * (blocking_allow=fsync,fdatasync, a path with a comma). */
static int ls_opt_comma_ends(const char *p)
{
	const char *key = p + 1;
	while (ls_opt_sep(*key))
		key++;
	const char *k = key;
	while (*k && *k != '=' && !ls_opt_sep(*k))
		k++;
	return *k == '=' && k > key;
}

/* The value at *pp: quoted, or up to the next separator. Returns its
 * length; *pp is left past it. -1 for a quote that is never closed. */
static long ls_opt_value(const char **pp, const char **v)
{
	const char *p = *pp;
	if (*p == '"' || *p == '\'') {
		const char *end = strchr(p + 1, *p);
		*v = p + 1;
		if (end == NULL) {
			*pp = p + strlen(p);
			return -1;
		}
		*pp = end + 1;
		return end - (p + 1);
	}
	*v = p;
	while (*p && !(ls_opt_sep(*p) && (*p != ',' || ls_opt_comma_ends(p))))
		p++;
	*pp = p;
	return p - *v;
}

/* Parses text into o, its lines into l; checking: the lines say what is
 * wrong, not what the shim does about it. */
static void ls_opt_parse(struct ls_options *o, const char *text, struct ls_opt_lines *l,
			 int checking)
{
	const char *ignored = checking ? NULL : "ignored";
	const char *dflt = checking ? NULL : "the default is used";
	char why[512];
	l->len = 0;
	l->nunknown = 0;
	ls_options_defaults(o);
	const char *p = text ? text : "";
	for (;;) {
		while (ls_opt_sep(*p))
			p++;
		if (*p == 0)
			break;
		const char *key = p;
		while (*p && *p != '=' && !ls_opt_sep(*p))
			p++;
		size_t klen = (size_t)(p - key);
		if (*p != '=' || klen == 0) {
			while (*p && !ls_opt_sep(*p))
				p++;
			char k[80];
			ls_opt_show(k, sizeof(k), key, (size_t)(p - key));
			snprintf(why, sizeof(why), "'%s': want key=value", k);
			ls_opt_line(l, why, ignored);
			continue;
		}
		p++;
		const char *v;
		long vlen = ls_opt_value(&p, &v);
		if (vlen < 0) {
			snprintf(why, sizeof(why), "%.*s: the quoted value is not closed",
				 (int)(klen > 64 ? 64 : klen), key);
			ls_opt_line(l, why, ignored);
			break;
		}
		if (ls_option_set(o, key, klen, v, (size_t)vlen, why, sizeof(why)) == 0)
			continue;
		if (ls_opt_find(key, klen) != NULL)
			ls_opt_line(l, why, dflt);
		else if (!ls_opt_said_unknown(l, key, klen))
			ls_opt_line(l, why, ignored);
	}
}

static void ls_opt_say_lines(struct ls_opt_lines *l, ls_opt_say_fn *say)
{
	for (char *s = l->buf, *nl; s < l->buf + l->len; s = nl + 1) {
		nl = strchr(s, '\n');
		char c = nl[1];
		nl[1] = 0;
		say(s);
		nl[1] = c;
	}
}

void ls_options_parse(struct ls_options *o, const char *text, ls_opt_say_fn *say)
{
	struct ls_opt_lines l;
	ls_opt_parse(o, text, &l, 0);
	if (say == NULL)
		return;
	ls_opt_say_lines(&l, say);
	if (o->help)
		ls_options_help(say);
}

int ls_options_check_text(const char *text, ls_opt_say_fn *say)
{
	struct ls_options o;
	struct ls_opt_lines l;
	ls_opt_parse(&o, text, &l, 1);
	ls_opt_say_lines(&l, say);
	return l.len != 0;
}
