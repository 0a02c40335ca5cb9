/* Error messages: see msg.h. */
#include "config.h"
#include "msg.h"

#include <stdio.h>

void msg_vset(char *why, size_t why_len, const char *fmt, va_list ap)
{
    if (!why || !why_len)
        return;
    vsnprintf(why, why_len, fmt, ap);
}

void msg_set(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vset(why, why_len, fmt, ap);
    va_end(ap);
}
