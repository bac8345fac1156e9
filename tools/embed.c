/* Build helper: turns a file (an adapter's tools.json) into a C string constant, so each
 * adapter's descriptions and schemas ship inside the binary and are checked at start-up.
 * Usage: embed FILE SYMBOL > out.c */
#include <stdio.h>

int main(int argc, char **argv)
{
	FILE *f;
	int c;
	unsigned long n = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: embed FILE SYMBOL\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	printf("/* generated from %s by tools/embed; do not edit */\n", argv[1]);
	printf("extern const char %s[];\nconst char %s[] = {\n", argv[2], argv[2]);
	while ((c = getc(f)) != EOF) {
		printf("0x%02x,%s", (unsigned)c, (++n % 16) ? "" : "\n");
	}
	printf("0x00\n};\n");
	if (ferror(f)) {
		perror(argv[1]);
		fclose(f);
		return 1;
	}
	fclose(f);
	return 0;
}
