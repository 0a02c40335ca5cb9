/* gp-p11.conf parser: key = value lines, # comments. */
#define _GNU_SOURCE /* secure_getenv */
#include "config.h"
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keystore/hex.h"
#include "keystore/scp02_crypto.h"
#include "scp/names.h"

void config_defaults(gp_config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->keystore_module, sizeof c->keystore_module, "%s", GP_DEFAULT_KEYSTORE_MODULE);
    snprintf(c->keystore_token, sizeof c->keystore_token, "gp-p11");
    snprintf(c->key_set, sizeof c->key_set, "default");
    c->log_fd = -1;
    c->security_level = 0x01;
    c->log_level = LOG_LVL_WARNING;
    c->card_wait_ms = 10000;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

static int set_string(char *dst, size_t cap, const char *v)
{
    if (strlen(v) >= cap)
        return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

/* Returns NULL when fine, else what is wrong with the value. */
static const char *apply(gp_config_t *c, const char *k, const char *v)
{
    if (!strcmp(k, "keystore_module"))
        return *v && !set_string(c->keystore_module, sizeof c->keystore_module, v) ? NULL
                                                                                : "needs a path";
    if (!strcmp(k, "keystore_token"))
        return *v && !set_string(c->keystore_token, sizeof c->keystore_token, v)
                   ? NULL : "needs a token label of 1 to 32 characters";
    if (!strcmp(k, "keystore_init_args"))
        return !set_string(c->keystore_init_args, sizeof c->keystore_init_args, v)
                   ? NULL : "is longer than 1023 characters";
    if (!strcmp(k, "keystore_instance")) {
        if (strcmp(v, "private") && strcmp(v, "shared"))
            return "needs 'private' or 'shared'";
        c->keystore_shared = !strcmp(v, "shared");
        return NULL;
    }
    if (!strcmp(k, "key_set")) {
        if (!*v || strchr(v, '/') || set_string(c->key_set, sizeof c->key_set, v))
            return "needs a key set name of 1 to 59 characters without '/'";
        return NULL;
    }
    if (!strcmp(k, "key_version")) {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 0);
        if (!*v || *end || errno || n < 0 || n > 255)
            return "needs a number from 0 to 255 (0x.. for hex)";
        c->key_version = (uint8_t)n;
        return NULL;
    }
    if (!strcmp(k, "security_level"))
        return gp_level_from_name(v, &c->security_level) ? "needs " GP_LEVEL_WORDS : NULL;
    if (!strcmp(k, "scp"))
        return gp_scp_from_name(v, &c->scp) ? "needs " GP_SCP_WORDS : NULL;
    if (!strcmp(k, "scp01_allow")) {
        if (!strcmp(v, "yes"))
            c->allow_scp01 = 1;
        else if (!strcmp(v, "no"))
            c->allow_scp01 = 0;
        else
            return "needs 'yes' or 'no'";
        return NULL;
    }
    if (!strcmp(k, "scp_i")) {
        uint8_t b[1];
        if (!strcmp(v, "auto")) {
            c->scp_i = 0;
            return NULL;
        }
        if (hex_decode(v, b, 1) != 1 || !b[0] || (b[0] & 0x80))
            return "needs 'auto' or an SCP02 i-parameter in hex (04, 05, 0A, 0B, 14, 15, 1A, 1B, "
                   "44, 45, 54, 55, or with R-MAC 24, 25, 34, 35...)";
        c->scp_i = b[0];
        return NULL;
    }
    if (!strcmp(k, "scp02_allow")) {
        c->allow_implicit = c->allow_no_icv_encryption = 0;
        char buf[128];
        if (strlen(v) >= sizeof buf)
            return "is too long";
        snprintf(buf, sizeof buf, "%s", v);
        for (char *save = NULL, *w = strtok_r(buf, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
            if (!strcmp(w, "implicit"))
                c->allow_implicit = 1;
            else if (!strcmp(w, "no-icv-encryption"))
                c->allow_no_icv_encryption = 1;
            else
                return "needs nothing, or 'implicit' and/or 'no-icv-encryption'";
        }
        return NULL;
    }
    if (!strcmp(k, "diversification"))
        return gp_div_from_name(v, &c->diversification) ? "needs " GP_DIV_WORDS : NULL;
    if (!strcmp(k, "put_key_plaintext")) {
        if (strcmp(v, "yes") && strcmp(v, "no"))
            return "needs 'yes' or 'no'";
        c->put_key_plaintext = !strcmp(v, "yes");
        return NULL;
    }
    if (!strcmp(k, "isd_aid")) {
        if (!*v) {
            c->isd_aid_len = 0;
            return NULL;
        }
        int n = hex_decode(v, c->isd_aid, sizeof c->isd_aid);
        if (n < 5)
            return "needs an AID of 5 to 16 bytes in hex, or nothing";
        c->isd_aid_len = (size_t)n;
        return NULL;
    }
    if (!strcmp(k, "card_wait")) {
        char *end;
        errno = 0;
        double secs = strtod(v, &end);
        if (!*v || *end || errno || !(secs >= 0 && secs <= 3600))
            return "needs a number of seconds from 0 to 3600";
        c->card_wait_ms = (long)(secs * 1000);
        return NULL;
    }
    if (!strcmp(k, "reader"))
        return set_string(c->reader, sizeof c->reader, v) ? "is too long" : NULL;
    if (!strcmp(k, "log_level")) {
        static const char *names[] = {"error", "warning", "info", "debug"};
        for (int i = 0; i < 4; i++)
            if (!strcmp(v, names[i])) {
                c->log_level = (enum log_level)i;
                return NULL;
            }
        return "needs error, warning, info or debug";
    }
    if (!strcmp(k, "trace")) {
        static const char *names[] = {"off", "apdu", "apdu-data"};
        for (int i = 0; i < 3; i++)
            if (!strcmp(v, names[i])) {
                c->trace_apdu = i;
                return NULL;
            }
        return "needs 'off', 'apdu' or 'apdu-data'";
    }
    if (!strcmp(k, "log_output")) {
        if (!strcmp(v, "stderr") || !strcmp(v, "syslog")) {
            c->log_syslog = !strcmp(v, "syslog");
            return NULL;
        }
        return "needs 'stderr' or 'syslog'";
    }
    return "";
}

int config_parse_file(gp_config_t *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read configuration %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = config_parse_stream(c, f, path, err, errlen);
    fclose(f);
    return rc;
}

int config_parse_stream(gp_config_t *c, FILE *f, const char *path, char *err, size_t errlen)
{
    snprintf(c->path, sizeof c->path, "%s", path);
    char line[2048];
    int n = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        n++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, n);
            rc = -1;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'key = value'", path, n);
            rc = -1;
            break;
        }
        *eq = 0;
        char *k = trim(s), *v = trim(eq + 1);
        size_t vl = strlen(v);
        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
            v[vl - 1] = 0; /* key = "value": the quotes are not part of it */
            v++;
        }
        const char *why = apply(c, k, v);
        if (why && !*why) {
            snprintf(err, errlen, "%s:%d: unknown key '%s'", path, n, k);
            rc = -1;
        } else if (why) {
            snprintf(err, errlen, "%s:%d: %s %s", path, n, k, why);
            rc = -1;
        }
    }
    return rc;
}

/* Owned by root or by us, and writable by nobody else. */
static const char *owner_problem(const struct stat *st)
{
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return "belongs to another user";
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return "is writable by other users";
    return NULL;
}

int config_trusted_file(const char *what, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 1; /* not there: whoever opens it says so */
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s %s is a directory, not a file", what, path);
        return -1;
    }
    const char *why = owner_problem(&st);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    const char *parent = dirname(dir);
    struct stat ds;
    const char *dir_why = !why && stat(parent, &ds) == 0 ? owner_problem(&ds) : NULL;
    /* in a sticky directory (/tmp) others cannot replace a file of ours */
    if (dir_why && !(ds.st_mode & S_ISVTX && (st.st_uid == 0 || st.st_uid == geteuid()))) {
        snprintf(err, errlen, "%s %s is in %s, which %s (mode %04o, owner %u): gp-p11 refuses it; "
                              "move the file, or chmod go-w %s", what, path, parent, dir_why,
                 (unsigned)(ds.st_mode & 07777), (unsigned)ds.st_uid, parent);
        return -1;
    }
    if (why) {
        snprintf(err, errlen, "%s %s %s (mode %04o, owner %u): gp-p11 refuses it, since whoever "
                              "can write it decides what the module does; chmod go-w %s, owned by "
                              "root or the user running the application", what, path, why,
                 (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, path);
        return -1;
    }
    return 0;
}

int config_load(gp_config_t *c, const char *default_path, char *err, size_t errlen)
{
    config_defaults(c);
    /* secure_getenv: a setuid program or a PAM stack that loads gp-p11 must
     * not let its invoking user pick the configuration, and with it the
     * keystore module that gets loaded */
    const char *env = secure_getenv("GP_P11_CONF");
    const char *path = env && *env ? env : default_path;
    struct stat st;
    if (env && *env) {
        if (config_trusted_file("configuration", path, err, errlen) < 0 ||
            config_parse_file(c, path, err, errlen) < 0)
            return -1;
    } else if (stat(default_path, &st) == 0) {
        if (config_trusted_file("configuration", path, err, errlen) < 0 ||
            config_parse_file(c, path, err, errlen) < 0)
            return -1;
    } /* else no configuration file: built-in defaults */
    /* GP_P11_TRACE overrides 'trace' (the gp-p11 tool's -v sets it); the
     * trace never shows encrypted or secret data whatever its level */
    /* GP_P11_LOG_FD: the application reads the log lines from this descriptor
     * (the gp-p11 tool puts them in its own words) */
    const char *fd = secure_getenv("GP_P11_LOG_FD");
    if (fd && *fd) {
        char *end;
        long n = strtol(fd, &end, 10);
        if (*end || n < 0 || n > 65535) {
            snprintf(err, errlen, "GP_P11_LOG_FD=%s: a file descriptor number", fd);
            return -1;
        }
        c->log_fd = (int)n;
    }
    const char *trace = secure_getenv("GP_P11_TRACE");
    if (trace && *trace) {
        const char *why = apply(c, "trace", trace);
        if (why) {
            snprintf(err, errlen, "GP_P11_TRACE=%s: %s", trace, why);
            return -1;
        }
    }
    return 0;
}
