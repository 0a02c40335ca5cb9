/*
 * The card of gp-sim: a GlobalPlatform 2.1.1/2.2 card with an Issuer
 * Security Domain, SCP02 or SCP03, a registry, GET DATA objects and a failed
 * authentication counter. Pure logic: APDU in, APDU out.
 */
#ifndef GP_SIM_CARD_H
#define GP_SIM_CARD_H

#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_ENTRIES 160
#define SIM_MAX_KEYSETS 8
#define SIM_MAX_MODULES 4
#define SIM_AID_MAX 16
#define SIM_LOAD_MAX (256 * 1024) /* the largest load file data block it takes */
#define SIM_STORE_MAX 4096

enum sim_kind { SIM_ISD, SIM_APP, SIM_SSD, SIM_ELF };

typedef struct {
    enum sim_kind kind;
    uint8_t aid[SIM_AID_MAX];
    size_t aid_len;
    uint8_t lifecycle;
    uint8_t priv[3];
    uint8_t elf[SIM_AID_MAX]; /* an application's load file */
    size_t elf_len;
    uint8_t module[SIM_MAX_MODULES][SIM_AID_MAX]; /* a load file's modules */
    size_t module_len[SIM_MAX_MODULES];
    int n_modules;
    size_t size;            /* a load file's bytes of card memory */
    int deleted;
} sim_entry_t;

typedef struct {
    uint8_t kvn;
    uint8_t enc[32], mac[32], dek[32];
    size_t len;             /* key length: 16 (DES2, or AES-128), 24 or 32 (AES) */
    uint8_t seq[3];         /* its sequence counter: one per key version (SCP02: 2 bytes) */
} sim_keyset_t;

enum sim_channel { SIM_CH_NONE, SIM_CH_INIT, SIM_CH_OPEN };

typedef struct {
    /* profile */
    uint8_t atr[33];
    size_t atr_len;
    uint8_t scp;            /* 2: SCP02 with DES keys; 3: SCP03 with AES keys */
    uint8_t i_param;
    sim_keyset_t keysets[SIM_MAX_KEYSETS];
    int n_keysets;
    uint8_t key_div[10];
    uint8_t seq[3];         /* the profile's: every key version starts from it */
    int max_failed_auth;
    uint8_t cplc[42];
    uint8_t iin[16];
    size_t iin_len;
    uint8_t cin[16];
    size_t cin_len;
    int t0;                 /* answer with 61xx / 6Cxx like a T=0 card */
    size_t max_response;    /* GET STATUS bytes per response before 6310 */
    sim_entry_t entries[SIM_MAX_ENTRIES]; /* entries[0] is the ISD */
    int n_entries;

    /* runtime */
    int isd_selected;
    const sim_entry_t *selected; /* the selected application, or NULL */
    int failed_auth;
    enum sim_channel ch;
    uint8_t level;
    const sim_keyset_t *keys;
    uint8_t s_enc[32], s_mac[32], s_rmac[32], s_dek[32];
    uint8_t host_chal[16], card_chal[16]; /* SCP02 uses 6 bytes of the card challenge; SCP03's
                                             S16 mode (i bit 01) 16 of each */
    uint8_t last_mac[8];
    uint8_t chain[16];      /* SCP03: MAC chaining value */
    uint32_t counter;       /* SCP03: encryption counter */
    uint8_t pending[258];   /* T=0: data waiting for GET RESPONSE */
    size_t pending_len;
    int gs_next;            /* GET STATUS: next entry for 'next occurrence' */
    /* profile status_refuse: GET STATUS ways this card refuses, as real
     * cards do (P1, the tag format or the legacy one, the SW answered) */
    struct { uint8_t p1; int tlv; uint16_t sw; } status_refuse[8];
    int n_status_refuse;
    uint8_t gs_p1, gs_p2;

    /* R-MAC (levels 11, 13) and implicit initiation */
    uint8_t rmac_icv[8];
    int first_icv;          /* implicit: the first ICV is used as computed */
    /* diversified keys: the profile's master keys and method */
    int diversify;          /* 0 none, 1 emv, 2 visa2 */

    /* faults the driver arms for the next response */
    int fault_wrong_cryptogram;
    uint16_t get_data_unauth_sw; /* profile get_data_unauthenticated: GET DATA without a
                                    channel answers this (6985 on some cards) */
    int no_card_data;           /* profile card_data = no: GET DATA 66 answers 6A88 */
    int fault_bad_rmac;
    int fault_refuse_auth;  /* the next EXTERNAL AUTHENTICATE: 6300, counted as a failure */

    /* applets: memory for load files, a LOAD and a personalisation under way */
    size_t mem_free;        /* bytes left; a LOAD beyond them gets 6A84 */
    int loading;            /* INSTALL [for load] accepted, LOAD blocks expected */
    uint8_t load_elf[SIM_AID_MAX];
    size_t load_elf_len;
    uint8_t load_hash[64];
    size_t load_hash_len;
    int load_next;          /* the next block number expected */
    uint8_t load_buf[SIM_LOAD_MAX];
    size_t load_len;
    const sim_entry_t *perso; /* INSTALL [for personalization] accepted */
    int store_next;
    uint8_t store[SIM_STORE_MAX]; /* what STORE DATA brought, for tests */
    size_t store_len;
    uint8_t store_p1;       /* the last block's P1 */
    int store_isd;          /* STORE DATA to the ISD itself under way */
    int store_to_isd;       /* the last block went to the ISD (no INSTALL for personalization) */

    /* counters tests observe */
    unsigned long apdus, ext_auth_received, ext_auth_ok, cmac_ok, cmac_bad, sessions, rmacs,
        keys_put, loads, load_blocks, installs, store_blocks;
} sim_card_t;

/* The built-in test card: SCP02, GlobalPlatform test keys 404142..4F (key
 * version 01), i=15, a small registry, CPLC, IIN and CIN. A profile with
 * 'scp = 03' makes it an SCP03 card (AES keys of 16, 24 or 32 bytes, i 00,
 * 10, 20, 30, 60 or 70; default i=70, key version 30). */
void sim_default_profile(sim_card_t *c);
/* Reads a profile file over the defaults; returns 0, or -1 with err set. */
int sim_load_profile(sim_card_t *c, const char *path, char *err, size_t errlen);
/* Power cycle: secure channel closed, nothing selected. */
void sim_reset(sim_card_t *c);
int sim_locked(const sim_card_t *c);
/* EMV CPS 1.1 (method 1) or VISA2 (2) diversification data for key k. */
void sim_diversification(int method, const uint8_t kdd[10], int k, uint8_t d[16]);
/* Processes one command APDU; returns the response length (data + SW). */
size_t sim_process(sim_card_t *c, const uint8_t *cmd, size_t len, uint8_t *rsp);

#endif
