/* gp-p11.conf: see doc/gp-p11.conf.5. */
#ifndef GP_MODULE_CONF_H
#define GP_MODULE_CONF_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG };

typedef struct {
    char keystore_module[512];
    char keystore_token[33];
    char keystore_init_args[1024]; /* C_Initialize's pReserved for the keystore ("": none) */
    int keystore_shared;        /* keystore_instance = shared */
    char key_set[60];
    uint8_t key_version;
    uint8_t security_level;     /* 0x01 mac, 0x03 mac-enc, 0x11 mac-rmac, 0x13 mac-enc-rmac,
                                   0x33 mac-enc-rmac-renc (SCP03) */
    uint8_t scp;                /* 0 auto, 2 or 3: the secure channel protocol */
    uint8_t scp_i;              /* 0: as the card announces (GET DATA 66) */
    int allow_implicit;         /* scp02_allow: implicit opening may be announced */
    int allow_no_icv_encryption; /* scp02_allow: no ICV encryption may be announced */
    int allow_scp01;            /* scp01_allow: in auto mode, a card may announce SCP01 */
    int diversification;        /* enum ks_diversification */
    int put_key_plaintext;      /* allow PUT KEY with key values from the application */
    uint8_t isd_aid[16];
    size_t isd_aid_len;         /* 0: select the card's default */
    char reader[128];           /* only readers whose name contains this */
    long card_wait_ms;          /* how long to wait for a card another program holds */
    enum log_level log_level;
    int trace_apdu;             /* 0 off, 1 apdu (no data), 2 apdu-data */
    int log_syslog;
    int log_fd;                 /* GP_P11_LOG_FD: log lines to this descriptor (-1: stderr) */
    char path[512];             /* the file read, or "" for built-in defaults */
} gp_config_t;

void config_defaults(gp_config_t *c);
/* Reads GP_P11_CONF, else the default path (a missing default file means
 * built-in defaults). Returns 0, or -1 with a message naming file and line. */
int config_load(gp_config_t *c, const char *default_path, char *err, size_t errlen);
/* A file that decides what the module does or loads (the configuration, the
 * keystore module) must be owned by root or the effective user, and neither
 * it nor its directory writable by others (a sticky directory may be, for a
 * file of ours). Returns 0, 1 when there is no such file (the caller that
 * opens it says so), or -1 with err saying what is wrong (what names the
 * file's role) and how to mend it. */
int config_trusted_file(const char *what, const char *path, char *err, size_t errlen);
/* Parses one file; same contract. */
int config_parse_file(gp_config_t *c, const char *path, char *err, size_t errlen);
/* Parses an open stream named path in messages; same contract. */
int config_parse_stream(gp_config_t *c, FILE *f, const char *path, char *err, size_t errlen);

#endif
