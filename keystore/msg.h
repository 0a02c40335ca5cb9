/* The one way an error message travels across gp-p11's layers: a buffer and
 * its size. A function that fails without an object of its own writes the
 * caller's (why, why_len); an object whose message outlives the call (a
 * keystore session, a secure channel, a card's connection) keeps its last
 * one in a buffer of its own, read through its *_error() accessor. Both are
 * written by msg_set: it truncates, never overflows, and takes a NULL
 * buffer or a size of 0 (no message wanted). */
#ifndef GP_KEYSTORE_MSG_H
#define GP_KEYSTORE_MSG_H

#include <stdarg.h>
#include <stddef.h>

void msg_set(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void msg_vset(char *why, size_t why_len, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
