/* Rendering for the schema module: the JSON type names and the bounded writer that turns a
 * path of segments into "arguments.disks[2].size" for error messages. */
#include "schema_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const struct cx_sch_type cx_sch_types[] = {
	{ "object", "an ", T_OBJECT },   { "array", "an ", T_ARRAY },
	{ "string", "a ", T_STRING },    { "number", "a ", T_NUMBER },
	{ "integer", "an ", T_INTEGER }, { "boolean", "a ", T_BOOLEAN },
	{ "null", "", T_NULL },
};
_Static_assert(sizeof(cx_sch_types) / sizeof(cx_sch_types[0]) == CX_SCH_NTYPES,
	       "CX_SCH_NTYPES counts cx_sch_types");

void cx_sch_out_init(struct out *o, char *p, size_t cap)
{
	o->p = p;
	o->cap = cap;
	o->len = 0;
	o->full = cap == 0;
	if (cap > 0)
		p[0] = '\0';
}

void cx_sch_out_putn(struct out *o, const char *s, size_t n)
{
	size_t room;

	if (o->full)
		return;
	room = o->cap - 1 - o->len;
	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		o->full = true;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

void cx_sch_out_puts(struct out *o, const char *s)
{
	cx_sch_out_putn(o, s, strlen(s));
}

void cx_sch_out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void cx_sch_out_printf(struct out *o, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	cx_sch_out_putn(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Names come from clients; control characters would forge log lines, so they become '?'.
 * Safe bytes go out in runs so that a cut never lands inside a UTF-8 sequence. */
void cx_sch_out_name(struct out *o, const char *s, bool escape_quotes)
{
	const char *run = s;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool ctl = c < 0x20 || c == 0x7f;

		if (!ctl && !(escape_quotes && (c == '"' || c == '\\')))
			continue;
		cx_sch_out_putn(o, run, (size_t)(s - run));
		cx_sch_out_puts(o, ctl ? "?" : c == '"' ? "\\\"" : "\\\\");
		run = s + 1;
	}
	cx_sch_out_putn(o, run, (size_t)(s - run));
}

static bool plain_key(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++) {
		unsigned char c = (unsigned char)*k;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '$'))
			return false;
	}
	return true;
}

/* root, root.key, root["odd key"], root[3] */
void cx_sch_out_path(struct out *o, const struct seg *s)
{
	if (!s)
		return;
	cx_sch_out_path(o, s->parent);
	if (!s->parent) {
		cx_sch_out_name(o, s->key, false);
	} else if (!s->key) {
		cx_sch_out_printf(o, "[%zu]", s->index);
	} else if (plain_key(s->key)) {
		cx_sch_out_putn(o, ".", 1);
		cx_sch_out_puts(o, s->key);
	} else {
		cx_sch_out_putn(o, "[\"", 2);
		cx_sch_out_name(o, s->key, true);
		cx_sch_out_putn(o, "\"]", 2);
	}
}
