/* Build helper: turns files into C constants, so they ship inside the binary.
 *
 *   embed FILE SYMBOL > out.c
 *       one file (an adapter's tools.json) as a NUL-terminated char array, checked at start-up
 *   embed --files SYMBOL DIR FILE... > out.c
 *       a table of files (the console's pages, styles, scripts and images) as
 *       struct cx_embedded_file (gateway/embedded.h), named by their path under DIR, each with
 *       its content type (from its extension; an extension without one fails the build) and a
 *       hash of its bytes for ETags */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The extensions the console may use, and what they are served as. */
static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "webmanifest", "application/manifest+json" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "ico", "image/x-icon" },
	{ "woff2", "font/woff2" },
	{ "txt", "text/plain; charset=utf-8" },
};

static const char *type_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash : path, '.');

	if (!dot)
		return NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (!strcmp(dot + 1, types[i].ext))
			return types[i].type;
	}
	return NULL;
}

/* Writes path's bytes as C initialisers, a NUL after them; *len and *hash (FNV-1a, 64 bits)
 * describe them. 0, or 1 reported. */
static int dump(const char *path, unsigned long *len, unsigned long long *hash)
{
	FILE *f = fopen(path, "rb");
	unsigned long long h = 14695981039346656037ULL;
	unsigned long n = 0;
	int c;

	if (!f) {
		perror(path);
		return 1;
	}
	while ((c = getc(f)) != EOF) {
		h = (h ^ (unsigned)c) * 1099511628211ULL;
		printf("0x%02x,%s", (unsigned)c, (++n % 16) ? "" : "\n");
	}
	printf("0x00\n");
	if (ferror(f)) {
		perror(path);
		fclose(f);
		return 1;
	}
	fclose(f);
	*len = n;
	*hash = h;
	return 0;
}

static int embed_one(const char *path, const char *symbol)
{
	unsigned long len;
	unsigned long long hash;

	printf("/* generated from %s by tools/embed; do not edit */\n", path);
	printf("extern const char %s[];\nconst char %s[] = {\n", symbol, symbol);
	if (dump(path, &len, &hash))
		return 1;
	printf("};\n");
	return 0;
}

/* A name the console's URLs carry as they are: letters, digits, '.', '_', '-' and '/'. */
static int plain_name(const char *s)
{
	if (!*s || *s == '.' || strstr(s, ".."))
		return 0;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._-/", *s)))
			return 0;
	}
	return 1;
}

static int embed_table(const char *symbol, const char *dir, int n, char **paths)
{
	size_t dlen = strlen(dir);
	unsigned long *len = calloc((size_t)n + 1, sizeof(*len));
	unsigned long long *hash = calloc((size_t)n + 1, sizeof(*hash));
	int i, rc = 1;

	if (!len || !hash) {
		fprintf(stderr, "embed: out of memory\n");
		goto out;
	}
	printf("/* generated from %s/ by tools/embed; do not edit */\n", dir);
	printf("#include \"gateway/embedded.h\"\n\n");
	for (i = 0; i < n; i++) {
		if (strncmp(paths[i], dir, dlen) || paths[i][dlen] != '/' ||
		    !plain_name(paths[i] + dlen + 1)) {
			fprintf(stderr,
				"embed: '%s' is not under '%s/' or its name has characters other "
				"than letters, digits, '.', '_', '-' and '/'\n",
				paths[i], dir);
			goto out;
		}
		if (!type_of(paths[i])) {
			fprintf(stderr,
				"embed: '%s': no content type for its extension (tools/embed.c "
				"lists them)\n",
				paths[i]);
			goto out;
		}
		printf("static const unsigned char f%d[] = {\n", i);
		if (dump(paths[i], &len[i], &hash[i]))
			goto out;
		printf("};\n");
	}
	printf("const struct cx_embedded_file %s[] = {\n", symbol);
	for (i = 0; i < n; i++)
		printf("\t{ \"%s\", f%d, %luu, \"%s\", \"\\\"%016llx\\\"\" },\n",
		       paths[i] + dlen + 1, i, len[i], type_of(paths[i]), hash[i]);
	printf("\t{ 0 }\n};\n");
	rc = 0;
out:
	free(len);
	free(hash);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "--files"))
		return embed_table(argv[2], argv[3], argc - 4, argv + 4);
	if (argc != 3 || argv[1][0] == '-') {
		fprintf(stderr,
			"usage: embed FILE SYMBOL\n       embed --files SYMBOL DIR FILE...\n");
		return 2;
	}
	return embed_one(argv[1], argv[2]);
}
