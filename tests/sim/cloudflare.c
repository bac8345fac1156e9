#include "sim.h"
static int load(const json_t *conf, char *err, size_t errlen)
{
	return 0;
}
static void handle(const struct sim_request *req, struct sim_response *resp)
{
	sim_reply(resp, 404, json_object());
}
static json_t *error_body(unsigned int status, const char *message)
{
	return json_object();
}
static void release(void)
{
}
const struct sim_backend sim_cloudflare = { .name = "cloudflare",
					    .prefix = "/client/v4",
					    .load = load,
					    .handle = handle,
					    .error_body = error_body,
					    .release = release,
					    .help = "" };
