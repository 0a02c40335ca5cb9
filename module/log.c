/* Logging: see log.h. */
#include "config.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "keystore/hex.h"
#include "scp/gp.h"
#include "scp/sw.h"

static enum log_level level = LOG_LVL_WARNING;
static int use_syslog, trace, trace_data, log_fd = -1;

void log_setup(const gp_config_t *c)
{
    level = c->log_level;
    trace = c->trace_apdu;
    trace_data = c->trace_apdu > 1;
    use_syslog = c->log_syslog;
    log_fd = c->log_fd;
    if (use_syslog)
        openlog("gp-p11", LOG_PID, LOG_USER);
}

int log_enabled(enum log_level l) { return l <= level; }

static void emit(enum log_level l, const char *line)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    if (use_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[l], "%s", line);
    } else if (log_fd >= 0) { /* one write per line: lines of several threads stay whole */
        char buf[1000];
        int n = snprintf(buf, sizeof buf, "gp-p11: %s: %s\n", names[l], line);
        if (n > (int)sizeof buf - 1)
            n = (int)sizeof buf - 1;
        if (n > 0)
            (void)!write(log_fd, buf, (size_t)n);
    } else {
        fprintf(stderr, "gp-p11: %s: %s\n", names[l], line);
    }
}

void log_msg(enum log_level l, const char *where, const char *fmt, ...)
{
    if (!log_enabled(l))
        return;
    char body[768], line[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    if (where && *where)
        snprintf(line, sizeof line, "[%s] %s", where, body);
    else
        snprintf(line, sizeof line, "%s", body);
    emit(l, line);
}

void log_apdu(const char *where, const apdu_t *plain, const uint8_t *rsp, size_t rsp_len, int how)
{
    int secured = (how & GP_TRACE_SECURED) != 0;
    if (!trace)
        return;
    char line[900];
    if (plain) {
        const char *name = gp_ins_name(plain->cla, plain->ins);
        char data[2 * APDU_MAX_DATA + 2] = "";
        if (plain->lc && trace_data && !(how & GP_TRACE_ENCRYPTED) && !gp_secret_ins(plain->ins)) {
            data[0] = ' ';
            hex_encode(plain->data, plain->lc, data + 1);
        } else if (plain->lc) {
            snprintf(data, sizeof data, " (%zu bytes%s not shown)", plain->lc,
                     how & GP_TRACE_ENCRYPTED ? ", sent encrypted," : "");
        }
        snprintf(line, sizeof line, "[%s] > %s %02X%02X%02X%02X%s%s", where,
                 name ? name : "command", plain->cla, plain->ins, plain->p1, plain->p2, data,
                 secured ? " [secured]" : "");
    } else {
        snprintf(line, sizeof line, "[%s] > GET RESPONSE", where);
    }
    emit(LOG_LVL_INFO, line);
    size_t dl;
    uint16_t sw;
    if (rapdu_split(rsp, rsp_len, &dl, &sw) == 0) {
        char d[240], data[2 * APDU_MAX_RSP + 48] = "";
        if (dl && trace_data && !(how & (GP_TRACE_RSP_ENCRYPTED | GP_TRACE_RSP_SECRET))) {
            data[0] = ':';
            data[1] = ' ';
            hex_encode(rsp, dl, data + 2);
        } else if (dl && trace_data) {
            snprintf(data, sizeof data, ", %snot shown",
                     how & GP_TRACE_RSP_ENCRYPTED ? "received encrypted, " : "");
        }
        snprintf(line, sizeof line, "[%s] < %s (%zu data bytes%s)%s", where,
                 sw_describe(sw, secured ? SW_CTX_SECURED : SW_CTX_ANY, d, sizeof d), dl,
                 data[0] == ',' ? data : "", data[0] == ':' ? data : "");
    } else {
        snprintf(line, sizeof line, "[%s] < %zu bytes, no status word", where, rsp_len);
    }
    emit(LOG_LVL_INFO, line);
}
