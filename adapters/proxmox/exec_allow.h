/* The commands proxmox_node_exec may run on a node: an allow-list of patterns.
 *
 * A pattern is words separated by spaces. A word made of capital letters (and digits or '_'
 * after the first letter) is a typed placeholder and matches one word of the command:
 *
 *   N     a whole number, 0 to 999999999            (journalctl -n N)
 *   VMID  a guest id, 100 to 999999999              (qm config VMID)
 *   UNIT  a systemd unit name: letters, digits, ':_.@-', not starting with '-' (journalctl -u)
 *   NAME  letters, digits, '_.-', not starting with '-' or '.'  (zpool status NAME)
 *   PATH  an absolute path: '/' then letters, digits, '_./-', no '..' component
 *
 * Every other word is literal and must be equal. The first word of a pattern must be literal
 * (the program). A command matches a pattern with exactly as many words. Nothing else is
 * accepted: no options in any order, no optional words, no globbing.
 *
 * The command itself may hold only letters, digits and _-./:=@%+, in words separated by
 * spaces; anything else (quotes, $, `, ;, &, |, <, >, (, ), *, ?, [, ], {, }, ~, !, #, \, tab,
 * newline, non-ASCII) is refused before any pattern is tried, so what reaches the node's
 * shell is plain words it cannot interpret. The command sent is the words joined by one
 * space. */
#ifndef CX_PROXMOX_EXEC_ALLOW_H
#define CX_PROXMOX_EXEC_ALLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../../common/err.h"

#define PX_ALLOW_COMMAND_MAX 1024 /* bytes of a command */
#define PX_ALLOW_WORDS_MAX   32
#define PX_ALLOW_ENTRIES_MAX 256

/* The list used when the config gives none: read-only diagnostics. NULL-terminated. */
extern const char *const px_allow_defaults[];

/* err->code after px_allow_match fails. */
enum px_allow_refusal {
	PX_ALLOW_METACHAR = 1, /* a character outside the set above */
	PX_ALLOW_NO_MATCH,     /* well-formed, but no pattern matches */
};

struct px_allow;

/* Compiles list (a JSON array of pattern strings; NULL: px_allow_defaults). NULL with err
 * naming the entry ("allow[2]: unknown placeholder 'FILE' ...") when one is bad. */
struct px_allow *px_allow_new(const json_t *list, struct cx_err *err);
void px_allow_free(struct px_allow *a);

/* Checks command: 0 with the command to send in out (words joined by one space) and *pattern
 * the entry it matched (borrowed from a); -1 with err (code an enum px_allow_refusal, msg a
 * sentence naming the offending character or the command). */
int px_allow_match(const struct px_allow *a, const char *command, char *out, size_t outlen,
		   const char **pattern, struct cx_err *err);

size_t px_allow_count(const struct px_allow *a);
/* Entry i as written (normalised to single spaces). */
const char *px_allow_at(const struct px_allow *a, size_t i);
/* True when every entry is one of px_allow_defaults (the read-only diagnostics). */
bool px_allow_read_only(const struct px_allow *a);

#endif
