/* The allow-list of proxmox_node_exec (the pattern language is described in exec_allow.h). */
#include "exec_allow.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"

const char *const px_allow_defaults[] = {
	"pveversion",
	"qm list",
	"pct list",
	"uptime",
	"df -h",
	"zpool status",
	"journalctl -u UNIT -n N",
	NULL,
};

enum ph {
	PH_LITERAL = -1,
	PH_N,
	PH_VMID,
	PH_UNIT,
	PH_NAME,
	PH_PATH,
};

static const char *const ph_names[] = { "N", "VMID", "UNIT", "NAME", "PATH", NULL };

struct entry {
	char *text;     /* normalised: words joined by one space */
	char **words;   /* literal words (NULL for a placeholder) */
	enum ph *types; /* PH_LITERAL or the placeholder */
	size_t nwords;
};

struct px_allow {
	struct entry *entries;
	size_t n;
};

/* The characters a command word may hold: none of them means anything to a POSIX shell
 * inside a word, and a word cannot start an assignment because the program is literal. */
static bool safe_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("_-./:=@%+,", c));
}

static bool all_of(const char *w, const char *extra)
{
	for (; *w; w++)
		if (!((*w >= 'a' && *w <= 'z') || (*w >= 'A' && *w <= 'Z') ||
		      (*w >= '0' && *w <= '9') || strchr(extra, *w)))
			return false;
	return true;
}

static bool number_in(const char *w, long min, long max)
{
	long v;

	return w[0] >= '0' && w[0] <= '9' && strlen(w) <= 9 && !cx_parse_long(w, min, max, &v);
}

static bool ph_accepts(enum ph t, const char *w)
{
	size_t n = strlen(w);

	switch (t) {
	case PH_N:
		return number_in(w, 0, 999999999);
	case PH_VMID:
		return number_in(w, 100, 999999999);
	case PH_UNIT:
		return n && n <= 128 && w[0] != '-' && all_of(w, ":_.@-");
	case PH_NAME:
		return n && n <= 128 && w[0] != '-' && w[0] != '.' && all_of(w, "_.-");
	case PH_PATH:
		if (w[0] != '/' || n > 256 || !all_of(w, "_./-"))
			return false;
		for (const char *p = w; (p = strstr(p, "..")); p += 2)
			if (p[-1] == '/' && (p[2] == '/' || !p[2]))
				return false;
		return true;
	default:
		return false;
	}
}

/* A word that names a placeholder: a capital letter, then capitals, digits or '_'. */
static bool placeholder_like(const char *w)
{
	if (!(w[0] >= 'A' && w[0] <= 'Z'))
		return false;
	for (const char *p = w; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* Splits s at runs of spaces into at most PX_ALLOW_WORDS_MAX words, in place. -1 when there
 * are more; the count otherwise. */
static int split(char *s, char **words)
{
	int n = 0;

	for (char *p = s;;) {
		while (*p == ' ')
			*p++ = '\0';
		if (!*p)
			return n;
		if (n == PX_ALLOW_WORDS_MAX)
			return -1;
		words[n++] = p;
		while (*p && *p != ' ')
			p++;
	}
}

static void entry_release(struct entry *e)
{
	for (size_t i = 0; i < e->nwords; i++)
		free(e->words[i]);
	free(e->words);
	free(e->types);
	free(e->text);
}

static int compile_word(struct entry *e, size_t i, const char *w, struct cx_err *err)
{
	e->types[i] = PH_LITERAL;
	if (placeholder_like(w)) {
		for (int k = 0; ph_names[k]; k++)
			if (!strcmp(ph_names[k], w))
				e->types[i] = (enum ph)k;
		if (e->types[i] == PH_LITERAL)
			return cx_err_set(err,
					  "unknown placeholder '%s' (known: N, VMID, UNIT, NAME, "
					  "PATH)",
					  w);
		if (i == 0)
			return cx_err_set(err, "the first word must be a literal program name, "
					       "not a placeholder");
		return 0;
	}
	for (const char *p = w; *p; p++)
		if (!safe_char(*p))
			return cx_err_set(err,
					  "the word '%s' holds '%c'; literal words are letters, "
					  "digits and _-./:=@%%+,",
					  w, *p);
	e->words[i] = strdup(w);
	return e->words[i] ? 0 : cx_err_set(err, "out of memory");
}

static int compile(struct entry *e, const char *pattern, struct cx_err *err)
{
	char *copy = strdup(pattern), *words[PX_ALLOW_WORDS_MAX];
	int n = copy ? split(copy, words) : 0;
	size_t len = 0;
	int rc = -1;

	memset(e, 0, sizeof(*e));
	if (!copy)
		return cx_err_set(err, "out of memory");
	if (n <= 0) {
		if (n)
			cx_err_set(err, "more than %d words", PX_ALLOW_WORDS_MAX);
		else
			cx_err_set(err, "an empty pattern");
		goto out;
	}
	e->words = calloc((size_t)n, sizeof(*e->words));
	e->types = calloc((size_t)n, sizeof(*e->types));
	e->text = malloc(strlen(pattern) + 1);
	if (!e->words || !e->types || !e->text) {
		cx_err_set(err, "out of memory");
		goto out;
	}
	e->nwords = (size_t)n;
	for (int i = 0; i < n; i++) {
		size_t wl = strlen(words[i]);

		if (compile_word(e, (size_t)i, words[i], err))
			goto out;
		if (i)
			e->text[len++] = ' ';
		memcpy(e->text + len, words[i], wl);
		len += wl;
	}
	e->text[len] = '\0';
	rc = 0;
out:
	free(copy);
	return rc;
}

struct px_allow *px_allow_new(const json_t *list, struct cx_err *err)
{
	size_t n = 0;
	struct px_allow *a;

	if (list && (!json_is_array(list) || !json_array_size(list) ||
		     json_array_size(list) > PX_ALLOW_ENTRIES_MAX)) {
		cx_err_set(err,
			   "allow must be a non-empty array of at most %d command patterns (leave "
			   "it out for the default list)",
			   PX_ALLOW_ENTRIES_MAX);
		return NULL;
	}
	n = list ? json_array_size(list) : sizeof(px_allow_defaults) / sizeof(char *) - 1;
	a = calloc(1, sizeof(*a));
	if (a)
		a->entries = calloc(n, sizeof(*a->entries));
	if (!a || !a->entries) {
		free(a);
		cx_err_set(err, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *p =
			list ? json_string_value(json_array_get(list, i)) : px_allow_defaults[i];

		if (!p || strlen(p) > PX_ALLOW_COMMAND_MAX || compile(&a->entries[i], p, err)) {
			if (!p || strlen(p) > PX_ALLOW_COMMAND_MAX)
				cx_err_set(err, "must be a string of at most %d bytes",
					   PX_ALLOW_COMMAND_MAX);
			entry_release(&a->entries[i]);
			a->n = i;
			px_allow_free(a);
			cx_err_prefix(err, "allow[%zu]: ", i);
			return NULL;
		}
		a->n = i + 1;
	}
	return a;
}

void px_allow_free(struct px_allow *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		entry_release(&a->entries[i]);
	free(a->entries);
	free(a);
}

static bool entry_matches(const struct entry *e, char **words, size_t n)
{
	if (n != e->nwords)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (e->types[i] == PH_LITERAL ? strcmp(e->words[i], words[i])
					      : !ph_accepts(e->types[i], words[i]))
			return false;
	}
	return true;
}

/* The first character no command may hold, or NULL. */
static const char *first_unsafe(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && !safe_char(*s))
			return s;
	return NULL;
}

int px_allow_match(const struct px_allow *a, const char *command, char *out, size_t outlen,
		   const char **pattern, struct cx_err *err)
{
	char copy[PX_ALLOW_COMMAND_MAX + 1], *words[PX_ALLOW_WORDS_MAX];
	const char *bad = first_unsafe(command);
	int n;

	if (bad) {
		unsigned char c = (unsigned char)*bad;
		if (c > 0x20 && c < 0x7f)
			cx_err_set(err, "the command holds '%c'", c);
		else
			cx_err_set(err, "the command holds the byte 0x%02x", c);
		err->code = PX_ALLOW_METACHAR;
		return -1;
	}
	if (strlen(command) > PX_ALLOW_COMMAND_MAX || !cx_fmt(copy, sizeof(copy), "%s", command) ||
	    (n = split(copy, words)) <= 0) {
		cx_err_set(err, "the command is empty or has more than %d words or %d bytes",
			   PX_ALLOW_WORDS_MAX, PX_ALLOW_COMMAND_MAX);
		err->code = PX_ALLOW_NO_MATCH;
		return -1;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (!entry_matches(&a->entries[i], words, (size_t)n))
			continue;
		/* The words are joined again: what the node sees is exactly what matched. */
		out[0] = '\0';
		for (int k = 0; k < n; k++) {
			size_t len = strlen(out);
			if (!cx_fmt(out + len, outlen - len, "%s%s", k ? " " : "", words[k])) {
				cx_err_set(err, "the command is too long");
				err->code = PX_ALLOW_NO_MATCH;
				return -1;
			}
		}
		*pattern = a->entries[i].text;
		return 0;
	}
	cx_err_set(err, "'%s' matches no allowed command", command);
	err->code = PX_ALLOW_NO_MATCH;
	return -1;
}

size_t px_allow_count(const struct px_allow *a)
{
	return a->n;
}

const char *px_allow_at(const struct px_allow *a, size_t i)
{
	return i < a->n ? a->entries[i].text : NULL;
}

bool px_allow_read_only(const struct px_allow *a)
{
	for (size_t i = 0; i < a->n; i++) {
		size_t k = 0;
		while (px_allow_defaults[k] && strcmp(px_allow_defaults[k], a->entries[i].text))
			k++;
		if (!px_allow_defaults[k])
			return false;
	}
	return true;
}
