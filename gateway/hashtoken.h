/* --hash-token: the SHA-256 operators put in tokens[].sha256, from a token read on stdin. */
#ifndef CX_HASHTOKEN_H
#define CX_HASHTOKEN_H

#include <stddef.h>

#include "../common/err.h"

/* Longest token accepted, in bytes. */
#define CX_TOKEN_MAX 4095
/* Room for the token, a CR/LF and one byte more to tell "too long". */
#define CX_TOKEN_BUF (CX_TOKEN_MAX + 3)

/* Reads a token from in_fd into buf (cap CX_TOKEN_BUF) and sets *len; trailing CR/LF
 * are dropped. On a terminal it writes a prompt to prompt_fd, turns echo off while the line
 * is typed (restored before returning, and on SIGINT/SIGTERM/SIGHUP), and reads one line;
 * otherwise it reads to the end of input. -1 with err set for no token, a token too long,
 * or a read error; err->code is 2 for the first two (usage errors), 1 for the last. */
int cx_token_read(int in_fd, int prompt_fd, char *buf, size_t cap, size_t *len, struct cx_err *err);

#endif
