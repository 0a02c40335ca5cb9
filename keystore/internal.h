/* What keystore.c and keysets.c share inside keystore/: the instance and
 * session structures, and the object search. */
#ifndef GP_KEYSTORE_INTERNAL_H
#define GP_KEYSTORE_INTERNAL_H

#include <pthread.h>

#include "keystore.h"
#include "msg.h"

struct ks {
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    int we_initialized;       /* only finalise what we initialised */
    int private_instance;     /* loaded from a copy of its own (ks_private) */
    int no_derive_template;   /* refuses CKA_DERIVE_TEMPLATE (PKCS#11 2.40) */
    int kdf108;               /* offers CKM_SP800_108_COUNTER_KDF: 1 yes, 0 no, -1 not asked */
    int no_check_value;       /* keeps no CKA_CHECK_VALUE (NSS's softoken): DES KCVs are
                                 taken at creation and kept as notes (GP_KCV_NOTE) */
    CK_SLOT_ID slot;
    int have_slot;
    CK_SESSION_HANDLE login_session; /* keeps the login state alive */
    int counts_pin_failures;  /* 0 only for a module known to lock no PIN */
    unsigned reloads;         /* times the instance was finalised and started again */
    char label[33];           /* the selected token's */
    pthread_mutex_t lock;     /* guards sessions */
    struct ks_session *sessions;
    char path[512];
    char init_args[1024];     /* C_Initialize's pReserved (NSS: its configuration), or "" */
};

struct ks_session {
    ks_t *ks;
    CK_SESSION_HANDLE h;
    struct ks_session *next; /* in ks->sessions */
    unsigned long calls;     /* PKCS#11 calls of key operations (ks_session_calls) */
    char err[KS_ERRLEN];
};

#define KS_LABEL_MAX 64

/* Up to max objects matching the template, their handles into hs. */
CK_RV ks_find_objects(ks_session_t *s, CK_ATTRIBUTE *t, CK_ULONG nt, CK_OBJECT_HANDLE *hs,
                      CK_ULONG max, CK_ULONG *count);

#endif
