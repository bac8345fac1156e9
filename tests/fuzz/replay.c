/* The standalone driver for make test and make check: runs one fuzz target (linked with this
 * file instead of libFuzzer) on every input it was ever given — its seed corpus
 * (tests/fuzz/corpus/NAME/) and the inputs of past findings (tests/fuzz/regressions/NAME/) —
 * so a fixed crash stays fixed without clang. The binary is test_fuzz_NAME; NAME picks the
 * folders. Arguments, when given, are files or folders to run instead. Prints its tally as
 * cmocka does, one test per target, so scripts/run-tests.sh counts it with the unit tests; a
 * crash or sanitizer report ends it with the input's path printed just before. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPLAY_INPUT_SECONDS 60

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (n == cap) {
			uint8_t *p = realloc(data, cap ? cap * 2 : 4096);

			if (!p) {
				fclose(f);
				free(data);
				return -1;
			}
			data = p;
			cap = cap ? cap * 2 : 4096;
		}
		size_t got = fread(data + n, 1, cap - n, f);

		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	/* libFuzzer hands over an exact-size copy: a read past the end must be caught. */
	uint8_t *exact = malloc(n ? n : 1);

	if (!exact) {
		free(data);
		return -1;
	}
	memcpy(exact, data, n);
	free(data);
	printf("replay: %s\n", path);
	fflush(stdout);
	/* An input that takes this long is a finding too (libFuzzer's -timeout, with slack for a
	 * loaded machine and the sanitizers): SIGALRM ends the run. */
	alarm(REPLAY_INPUT_SECONDS);
	LLVMFuzzerTestOneInput(exact, n);
	alarm(0);
	free(exact);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file under path (a file or a folder, recursively, in name order).
 * Returns how many ran, or -1 when one could not be read. A missing folder is no input. */
static long run_path(const char *path)
{
	struct stat st;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	long total = 0;
	DIR *d;

	if (stat(path, &st))
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return run_file(path) ? -1 : 1;
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **p = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));

			if (!p)
				break;
			names = p;
		}
		if (asprintf(&names[n], "%s/%s", path, de->d_name) < 0)
			break;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		long r = total >= 0 ? run_path(names[i]) : 0;

		total = r < 0 ? -1 : total + r;
		free(names[i]);
	}
	free(names);
	return total;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	const char *name = base ? base + 1 : argv[0];
	char path[4096];
	long total = 0, r;

	if (!strncmp(name, "test_fuzz_", 10))
		name += 10;
	if (argc > 1) {
		for (int i = 1; i < argc && total >= 0; i++)
			total = (r = run_path(argv[i])) < 0 ? -1 : total + r;
	} else {
		snprintf(path, sizeof(path), "tests/fuzz/corpus/%s", name);
		total = run_path(path);
		snprintf(path, sizeof(path), "tests/fuzz/regressions/%s", name);
		if (total >= 0)
			total = (r = run_path(path)) < 0 ? -1 : total + r;
	}
	if (total <= 0) {
		/* No input at all means the corpus went missing: that must not pass quietly. */
		printf("[  FAILED  ] 1 test(s), listed below:\n[  FAILED  ] fuzz replay %s: %s\n",
		       name, total < 0 ? "an input could not be read" : "no inputs found");
		return 1;
	}
	printf("fuzz replay %s: %ld inputs\n[  PASSED  ] 1 test(s).\n", name, total);
	return 0;
}
