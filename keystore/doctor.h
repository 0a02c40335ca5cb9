/*
 * What a keystore can do for gp-p11, told two ways:
 *  - by its mechanism list (ks_caps_listed): one C_GetMechanismList and a
 *    C_GetMechanismInfo per listed mechanism gp-p11 uses, no object made;
 *    the module says it in one line when it loads the keystore;
 *  - by trying (ks_doctor): each capability run with session objects of
 *    public test keys, against known answers from real cards' sessions
 *    (tests/vectors) and GlobalPlatformPro's KDF3 vectors.
 * The two can differ: NSS's softoken does not list the *_ENCRYPT_DATA
 * derivations nor SHA-256 on its key slot, and does them all.
 */
#ifndef GP_KEYSTORE_DOCTOR_H
#define GP_KEYSTORE_DOCTOR_H

#include "keystore.h"

enum ks_cap {
    KS_CAP_PIN,     /* the PIN check of every login (SHA-256) */
    KS_CAP_SCP01,   /* SCP01 logins */
    KS_CAP_SCP02,   /* SCP02 logins */
    KS_CAP_SCP03,   /* SCP03 logins */
    KS_CAP_DIV_DES, /* EMV and VISA2 diversification of DES master keys */
    KS_CAP_KDF3,    /* KDF3 diversification of AES master keys */
    KS_CAP_PUT_DES, /* SCP02 PUT KEY of keys generated inside the keystore */
    KS_CAP_PUT_AES, /* SCP03 PUT KEY of keys generated inside the keystore */
    KS_CAP_N
};

enum ks_cap_state {
    KS_CAP_LISTED,   /* every mechanism it needs is listed with the use it needs */
    KS_CAP_UNLISTED, /* a mechanism is not listed: it may still work */
    KS_CAP_NO_USE    /* a mechanism is listed without the use (CKF_WRAP, ...) */
};

typedef struct {
    enum ks_cap_state state[KS_CAP_N];
    const char *missing[KS_CAP_N]; /* the first mechanism missing ("CKM_DES3_ECB"), or NULL */
    const char *use[KS_CAP_N];     /* for KS_CAP_NO_USE: the use it lacks ("wrap") */
    int kdf108;                    /* lists CKM_SP800_108_COUNTER_KDF for derivation */
    unsigned long calls;           /* PKCS#11 calls made */
} ks_caps_t;

/* What capability c is, in words ("SCP02 logins"). */
const char *ks_cap_name(enum ks_cap c);
/* Reads the mechanism list of the selected token's slot. */
CK_RV ks_caps_listed(ks_t *ks, ks_caps_t *out, char *err, size_t err_len);
/* One line: what the list says the keystore can do for gp-p11, what it
 * cannot, and what it does not list. Returns 1 when everything is listed. */
int ks_caps_line(const ks_t *ks, const ks_caps_t *c, char *buf, size_t cap);

enum ks_probe_result { KS_PROBE_YES, KS_PROBE_NO, KS_PROBE_WRONG };
typedef struct {
    enum ks_cap cap;
    const char *what;            /* "SCP03 logins, AES-192" */
    enum ks_probe_result result; /* works; refused (detail: the keystore's words); computed a
                                    wrong answer (detail: which) */
    char detail[KS_ERRLEN];
} ks_probe_t;

#define KS_PROBES_MAX 16
/* Tries every capability in session s (logged in), with session objects
 * that are destroyed after; returns how many probes were written to out. */
size_t ks_doctor(ks_session_t *s, ks_probe_t out[KS_PROBES_MAX]);

#endif
