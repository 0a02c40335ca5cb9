/* What a card says about itself, decoded: CPLC (GET DATA 9F7F), card
 * recognition data (GET DATA 66), key information template (GET DATA E0),
 * privileges. Pure functions of the bytes; every input may be hostile. */
#ifndef GP_SCP_CARDDATA_H
#define GP_SCP_CARDDATA_H

#include <stddef.h>
#include <stdint.h>

/* --- CPLC: 42 bytes in 18 fields (GlobalPlatform 2.2, table H-9 fields) --- */
#define GP_CPLC_LEN 42
#define GP_CPLC_FIELDS 18
typedef struct {
    const char *key;   /* stable name for scripts: "ic_fabricator" */
    const char *words; /* "IC fabricator" */
    uint8_t off, len;
    uint8_t is_date;   /* YDDD: last digit of the year, day of the year (BCD) */
} gp_cplc_field_t;
extern const gp_cplc_field_t gp_cplc_fields[GP_CPLC_FIELDS];

/* Finds the 42 CPLC bytes in d (the value alone, or with its 9F7F tag).
 * Returns them, or NULL with why set. */
const uint8_t *gp_cplc_value(const uint8_t *d, size_t len, char *why, size_t why_len);
/* A CPLC date: 0 with *year_digit (0-9) and *day (1-366), or -1 when the
 * two bytes are no date (0000, FFFF, not BCD, day 0 or past 366). */
int gp_cplc_date(const uint8_t b[2], int *year_digit, int *day);
/* Name of an IC fabricator code (CPLC bytes 0-1), or NULL. */
const char *gp_ic_fabricator_name(unsigned code);

/* --- card recognition data (GlobalPlatform 2.2 appendix H.2) --- */
#define GP_OID_TEXT 64
typedef struct {
    int is_gp;                   /* 06: the GlobalPlatform OID 1.2.840.114283.1 */
    char gp_version[GP_OID_TEXT]; /* from 60: "2.1.1"; empty when absent */
    int scp, i;                  /* from 64: secure channel protocol and i; -1 when absent */
    char card_id_scheme[GP_OID_TEXT]; /* 63, dotted */
    char config[GP_OID_TEXT];    /* 65: card configuration details (first OID) */
    char chip[GP_OID_TEXT];      /* 66: card / chip details (first OID) */
} gp_card_recognition_t;

/* d: GET DATA 66's answer (tag 66 around 73), or 73 alone. Returns 0, or
 * -1 with why set when it is not card recognition data. */
int gp_card_recognition_parse(const uint8_t *d, size_t len, gp_card_recognition_t *out,
                              char *why, size_t why_len);
/* A BER object identifier as dotted text; -1 when malformed or too long. */
int gp_oid_text(const uint8_t *oid, size_t len, char *out, size_t cap);

/* --- key information template (GlobalPlatform 2.2 section 11.3.3.1) --- */
#define GP_KEY_COMPONENTS 4
typedef struct {
    uint8_t id, version;
    int n;                            /* key components */
    uint16_t type[GP_KEY_COMPONENTS]; /* FFxx: extended format type */
    uint16_t len[GP_KEY_COMPONENTS];  /* bytes */
} gp_key_info_t;

/* d: GET DATA E0's answer (tag E0 around C0 entries). Returns the number of
 * keys (at most max), or -1 with why set. Both the basic format (type and
 * length bytes) and the extended one (FF-prefixed types, 2-byte lengths,
 * usage and access bytes) are read. */
int gp_key_info_parse(const uint8_t *d, size_t len, gp_key_info_t *out, int max, char *why,
                      size_t why_len);
/* "DES", "AES", "RSA public exponent"...; NULL when unknown. */
const char *gp_key_type_name(uint16_t type);

/* --- privileges (GlobalPlatform 2.2 table 6-1) --- */
/* Names of the privileges set in priv (1 or 3 bytes), in order; returns how
 * many, at most max. */
int gp_privilege_names(const uint8_t *priv, size_t len, const char **names, int max);
/* Privileges from a list of names separated by commas, in any case, with or
 * without blanks, '-' or '_' between words ("security-domain,card-lock",
 * GlobalPlatformPro's "SecurityDomain,CardLock"; "mandated-dap" and
 * "ciphered-load-file" for short) or "none". A name that table 6-1 codes
 * with the security domain bit (DAP verification, delegated management,
 * mandated DAP verification) sets it. Returns 1 when only the first byte is
 * set (what a GlobalPlatform 2.1.1 card takes), else 3; -1 with the
 * unknown name in why. */
int gp_privileges_from_names(const char *text, uint8_t priv[3], char *why, size_t why_len);
/* The names gp_privileges_from_names takes, for a message. */
#define GP_PRIVILEGE_WORDS                                                                       \
    "security-domain, dap-verification, delegated-management, card-lock, card-terminate, "     \
    "card-reset, cvm-management, mandated-dap, trusted-path, authorized-management, "           \
    "token-verification, global-delete, global-lock, global-registry, final-application, "      \
    "global-service, receipt-generation, ciphered-load-file, contactless-activation, "          \
    "contactless-self-activation, none"

#endif
