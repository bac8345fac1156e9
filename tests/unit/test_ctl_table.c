/* cortexctl's tables (cli/table.c): columns aligned by characters, not bytes; long cells cut
 * with "..." at a character boundary; control characters and invalid UTF-8 never reach the
 * terminal; NULL cells shown as "-"; no escape sequences when the output is not a terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cli/table.h"

/* What t prints (t is freed). Caller frees. */
static char *render(struct ctl_table *t)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	ctl_table_print(t, f);
	fclose(f);
	return out;
}

static void test_aligned_by_characters(void **state)
{
	static const char *const titles[] = { "NAME", "STATUS", "NOTE" };
	const char *r1[] = { "a", "queued", "x" };
	const char *r2[] = { "\xc3\xa9t\xc3\xa9", "in_progress", NULL }; /* "été": 3 chars */
	struct ctl_table *t = ctl_table_new(3, titles, NULL);
	char *out;

	assert_non_null(t);
	assert_int_equal(ctl_table_add(t, r1), 0);
	assert_int_equal(ctl_table_add(t, r2), 0);
	out = render(t);
	assert_string_equal(out, "NAME  STATUS       NOTE\n"
				 "a     queued       x\n"
				 "\xc3\xa9t\xc3\xa9   in_progress  -\n");
	assert_null(strchr(out, '\033'));
	free(out);
}

static void test_cut_and_cleaned(void **state)
{
	static const char *const titles[] = { "ID", "TITLE" };
	static const size_t max[] = { 8, 10 };
	const char *r1[] = { "task-0123456789", "line one\nline\ttwo" };
	/* 11 characters, the 7th two bytes: cut after 7 characters, never inside one */
	const char *r2[] = { "ok", "abcdef\xc3\xa9ghij" };
	const char *r3[] = { "bad\xff", "\x1b[31mred" };
	struct ctl_table *t = ctl_table_new(2, titles, max);
	char *out;

	assert_non_null(t);
	assert_int_equal(ctl_table_add(t, r1), 0);
	assert_int_equal(ctl_table_add(t, r2), 0);
	assert_int_equal(ctl_table_add(t, r3), 0);
	out = render(t);
	assert_string_equal(out, "ID        TITLE\n"
				 "task-...  line on...\n"
				 "ok        abcdef\xc3\xa9...\n"
				 "bad?       [31mred\n");
	free(out);
}

static void test_width(void **state)
{
	assert_int_equal(ctl_text_width(""), 0);
	assert_int_equal(ctl_text_width("abc"), 3);
	assert_int_equal(ctl_text_width("\xe2\x9c\x93 ok"), 4);
	assert_int_equal(ctl_text_width("\xff\xfe"), 2);
	assert_null(ctl_table_new(0, NULL, NULL));
	assert_null(ctl_table_new(CTL_TABLE_COLS + 1, NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aligned_by_characters),
		cmocka_unit_test(test_cut_and_cleaned),
		cmocka_unit_test(test_width),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
