/* The gateway's configuration loader (gateway/config.c on the directive tables of
 * common/conf.c): a config file's text parsed as the loader parses it, then applied over the
 * defaults. Unknown keys and bad values are refused with their dotted path; none may crash
 * or leak, and an applied config must release cleanly. Files named in it (secrets) are only
 * read when relative, under a folder that does not exist. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../common/json.h"
#include "../../common/log.h"
#include "../../gateway/config.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cx_gw_config c;
	struct cx_err err = { 0 };
	json_t *doc;

	if (size > 256 * 1024 || fz_has_absolute_path(data, size))
		return 0;
	cx_log_set_level(CX_LOG_OFF);
	doc = cx_json_loadb((const char *)data, size, 1u << 20, &err);
	if (!doc)
		return 0;
	cx_gw_config_defaults(&c);
	c.config_dir = strdup("/nonexistent/cortex-fuzz");
	cx_gw_config_apply(&c, doc, &err);
	cx_gw_config_release(&c);
	json_decref(doc);
	return 0;
}
