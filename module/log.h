/* Log lines of the module: stderr or syslog, never a PIN or a key. */
#ifndef GP_MODULE_LOG_H
#define GP_MODULE_LOG_H

#include "conf.h"
#include "scp/apdu.h"

void log_setup(const gp_config_t *c);
void log_msg(enum log_level lvl, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int log_enabled(enum log_level lvl);
/* One APDU exchange in the trace: the command named, its status word
 * explained. Command data only with trace = apdu-data, and never that of a
 * command sent encrypted (how: GP_TRACE_* of scp/gp.h), nor of one that can
 * carry keys or a PIN. */
void log_apdu(const char *where, const apdu_t *plain, const uint8_t *rsp, size_t rsp_len, int how);

#define LOG_ERR(w, ...) log_msg(LOG_LVL_ERROR, w, __VA_ARGS__)
#define LOG_WARN(w, ...) log_msg(LOG_LVL_WARNING, w, __VA_ARGS__)
#define LOG_INFO(w, ...) log_msg(LOG_LVL_INFO, w, __VA_ARGS__)
#define LOG_DEBUG(w, ...) log_msg(LOG_LVL_DEBUG, w, __VA_ARGS__)

#endif
