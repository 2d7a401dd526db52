/* LOOPSAN_OPTIONS: key=value pairs separated by ':', the sanitizers'
 * convention. A bad pair is reported once on stderr, naming the key, and
 * the default stays in force: the program always runs on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tracer/trace.h"

static void ls_opt_complain(const char *key, size_t keylen, const char *why)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "loopsan: LOOPSAN_OPTIONS: %.*s: %s\n",
			 (int)(keylen > 64 ? 64 : keylen), key, why);
	if (n > 0) {
		ssize_t rc = write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
		(void)rc;
	}
}

static int ls_opt_uint(const char *v, size_t len, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char buf[16];
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = 0;
	for (size_t i = 0; i < len; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
	unsigned long x = strtoul(buf, NULL, 10);
	if (x < lo || x > hi)
		return -1;
	*out = (uint32_t)x;
	return 0;
}

static int ls_opt_string(const char *v, size_t len, char *out, size_t outsz, int session)
{
	if (len == 0 || len >= outsz)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f)
			return -1;
		if (session && !(c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') ||
				 (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return -1;
	}
	memcpy(out, v, len);
	out[len] = 0;
	return 0;
}

static void ls_opt_pair(const char *key, size_t klen, const char *v, size_t vlen)
{
#define KEY(name) (klen == sizeof(name) - 1 && memcmp(key, name, klen) == 0)
	struct ls_options *o = &ls_opt;
	int bad;
	if (KEY("slow_callback_ms")) {
		bad = ls_opt_uint(v, vlen, 1, 3600000, &o->slow_callback_ms);
	} else if (KEY("halt_on_wrong_thread")) {
		bad = ls_opt_uint(v, vlen, 0, 1, &o->halt_on_wrong_thread);
	} else if (KEY("slow_selector_ms")) {
		bad = ls_opt_uint(v, vlen, 1, 3600000, &o->slow_selector_ms);
	} else if (KEY("watchdog")) {
		bad = ls_opt_uint(v, vlen, 0, 1, &o->watchdog);
	} else if (KEY("python")) {
		bad = ls_opt_uint(v, vlen, 0, 1, &o->python);
	} else if (KEY("stuck_signal")) {
		bad = ls_opt_uint(v, vlen, 0, 1, &o->stuck_signal);
	} else if (KEY("blocking_min_ms")) {
		bad = ls_opt_uint(v, vlen, 0, 3600000, &o->blocking_min_ms);
		o->blocking_min_set = !bad;
	} else if (KEY("blocking_allow")) {
		bad = ls_opt_string(v, vlen, o->blocking_allow, sizeof(o->blocking_allow), 0);
	} else if (KEY("stack_cache")) {
		bad = ls_opt_uint(v, vlen, 0, 1, &o->stack_cache);
	} else if (KEY("stacks")) {
		bad = ls_opt_uint(v, vlen, 0, 1, &o->stacks);
	} else if (KEY("stack_depth")) {
		bad = ls_opt_uint(v, vlen, 1, LS_MAX_STACK_DEPTH, &o->stack_depth);
	} else if (KEY("dir")) {
		bad = ls_opt_string(v, vlen, o->dir, sizeof(o->dir), 0);
	} else if (KEY("session")) {
		bad = ls_opt_string(v, vlen, o->session, sizeof(o->session), 1);
	} else if (KEY("mode")) {
		bad = 0;
		if (vlen == 7 && memcmp(v, "summary", 7) == 0)
			o->mode = LS_MODE_SUMMARY;
		else if (vlen == 8 && memcmp(v, "timeline", 8) == 0)
			o->mode = LS_MODE_TIMELINE;
		else
			bad = 1;
	} else {
		ls_opt_complain(key, klen, "unknown option, ignored");
		return;
	}
	if (bad)
		ls_opt_complain(key, klen, "bad value, default used");
#undef KEY
}

void ls_options_parse(const char *text)
{
	if (text == NULL)
		return;
	const char *p = text;
	while (*p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 0) {
			const char *eq = memchr(p, '=', len);
			if (eq == NULL)
				ls_opt_complain(p, len, "expected key=value, ignored");
			else
				ls_opt_pair(p, (size_t)(eq - p), eq + 1, len - (size_t)(eq - p) - 1);
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
}
