/* The dir task store: placeholder while the backend is written (opens fail, saying so). */
#include "taskstore_impl.h"

static struct cx_task_store *dir_open(const json_t *conf, const struct cx_task_store_conf *c,
				      struct cx_err *err)
{
	cx_err_set(err, "the dir task store is not written yet");
	return NULL;
}

static const char *const dir_keys[] = { "dir", "fsync", NULL };

const struct cx_task_store_ops cx_task_store_dir_ops = {
	.name = "dir",
	.keys = dir_keys,
	.open = dir_open,
};
