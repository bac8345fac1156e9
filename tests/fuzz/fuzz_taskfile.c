/* A task file of the directory task store (common/taskstore_dir*.c) as the store reads it
 * back (dir_read_fd: bounded, parsed, checked), then what the store does with a task it has
 * read: its times, whether it can be claimed, its rank and the metrics over it. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "../../common/taskstore.h"
#include "../../common/taskstore_dir.h"
#include "../../common/taskstore_impl.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const cats[] = { "ops", "triage", NULL };
	static int fd = -1;
	struct cx_err err = { 0 };
	json_t *task = NULL, *all, *m;

	if (fd < 0 && (fd = memfd_create("cortex-fuzz-task", 0)) < 0)
		abort();
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET))
		abort();
	if (dir_read_fd(fd, "fuzz.json", &task, &err) || !task)
		return 0;
	cx_task_field_ms(task, "created_at");
	cx_task_field_ms(task, "lease_until");
	cx_task_claimable(task, cats, 1764650000000);
	cx_task_claimable(task, NULL, 1764650000000);
	cx_task_more_urgent(task, task);
	all = json_pack("[O,O]", task, task);
	m = cx_task_metrics_of(all, 1764650000000);
	json_decref(m);
	m = cx_task_children_of(all, "t-1");
	json_decref(m);
	json_decref(all);
	json_decref(task);
	return 0;
}
