/* What the cortex tools show of a stored task: compact summaries for lists, the full status
 * view, and the task as the cortex://tasks/{id} resource gives it. */
#ifndef CX_CORTEX_VIEWS_H
#define CX_CORTEX_VIEWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* {id, title, status, category, priority, source, parent_id, created_at, updated_at, attempts,
 * worker?, current_action?, summary?}: the fields a list needs (new reference). */
json_t *ct_summary(const json_t *task);
/* ct_summary of each task of an array, at most max of them (new reference). */
json_t *ct_summaries(const json_t *tasks, size_t max);
/* The full view of cortex_get_task_status, without children (new reference). */
json_t *ct_status_view(const json_t *task);
/* The task's conversation as the orchestrator saved it (metadata.state): {"messages": [...]}
 * ([] for a task no worker has run), with "calls" when the state has them (each tool call's
 * id, tool, started_at, ms and is_error). When it would serialise to more than max bytes the
 * oldest messages are left out (then the oldest calls) and *truncated is set. New reference;
 * NULL on out of memory. */
json_t *ct_conversation_view(const json_t *task, size_t max, bool *truncated);
/* The task as stored without metadata.state (the worker's saved conversation), as text
 * (malloc'd). */
char *ct_resource_text(const json_t *task);

#endif
