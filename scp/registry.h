/* GET STATUS responses: the card registry in both formats. */
#ifndef GP_SCP_REGISTRY_H
#define GP_SCP_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#define GP_AID_MAX 16
#define GP_MODULES_MAX 8
/* Longer entries (a load file with dozens of modules) are refused. */
#define GP_ENTRY_RAW_MAX 512

/* P1 of GET STATUS: what a registry entry is. */
#define GP_STATUS_ISD 0x80
#define GP_STATUS_APPS 0x40     /* applications and supplementary security domains */
#define GP_STATUS_ELF 0x20      /* executable load files */
#define GP_STATUS_ELF_MOD 0x10  /* executable load files and their modules */

typedef struct {
    uint8_t p1;                 /* the GET STATUS P1 that returned it */
    uint8_t aid[GP_AID_MAX];
    size_t aid_len;
    uint8_t lifecycle;
    uint8_t priv[3];
    size_t priv_len;
    uint8_t elf[GP_AID_MAX];    /* an application's load file, when the card says */
    size_t elf_len;
    uint8_t module[GP_MODULES_MAX][GP_AID_MAX];
    size_t module_len[GP_MODULES_MAX];
    int n_modules;
    uint8_t raw[GP_ENTRY_RAW_MAX]; /* the entry as the card sent it */
    size_t raw_len;
} gp_entry_t;

/* Parses a whole GET STATUS answer (all 6310 continuations joined).
 * tlv: P2 format 02 (tag E3) or 00. Returns the number of entries, or -1
 * with why set when the data is malformed. */
int gp_registry_parse(const uint8_t *d, size_t len, uint8_t p1, int tlv, gp_entry_t *out,
                      int max, char *why, size_t why_len);
/* "issuer security domain", "security domain", "application", "load file" */
const char *gp_entry_kind(const gp_entry_t *e);
/* Names of lifecycle states in the GlobalPlatform 2.2 coding. */
const char *gp_lifecycle_name(const gp_entry_t *e);

#endif
