/*
 * gp-p11 module internals: slots (readers), tokens (cards), sessions and
 * objects. Locking: M.lock guards the tables and the keystore login; each
 * token's lock serialises everything that touches its card. A thread may
 * take a token lock and then M.lock, never the other way round, and no lock
 * but the token's is held while APDUs travel, so cards work in parallel.
 */
#ifndef GP_MODULE_H
#define GP_MODULE_H

#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <sys/types.h>

#include "gp-p11/gp-p11.h"
#include "keystore/keystore.h"
#include "scp/gp.h"
#include "scp/pcsc.h"
#include "conf.h"
#include "log.h"
#include "template.h"

#define MAX_SLOTS PCSC_WATCH_MAX
#define MAX_SESSIONS 1024
#define MAX_OBJECTS 512 /* a card with more says so, and that kind is not shown */
#define RESPONSE_MAX (256 + 2)

/* --- locks: the OS's or the application's (C_Initialize arguments), state.c --- */
typedef void *mutex_t;
void mutex_use(const CK_C_INITIALIZE_ARGS *app); /* NULL: the OS's */
CK_RV mutex_new(mutex_t *m);
void mutex_free(mutex_t m);
void mutex_lock(mutex_t m);
void mutex_unlock(mutex_t m);

/* --- objects --- */
enum obj_type { OBJ_REGISTRY, OBJ_GET_DATA, OBJ_CHANNEL, OBJ_KEY_SET, OBJ_PLAIN };

typedef struct {
    CK_OBJECT_HANDLE handle;
    enum obj_type type;
    CK_OBJECT_CLASS cls;
    char label[48];
    char application[48];
    uint8_t value[GP_ENTRY_RAW_MAX]; /* a registry entry, or a GET DATA answer */
    size_t value_len;
    gp_entry_t entry;          /* OBJ_REGISTRY */
    CK_ULONG kind;             /* GP_KIND_* */
    uint8_t kvn;               /* OBJ_KEY_SET: the card's key version */
    int delete_related;        /* a load file: C_DestroyObject takes its applications too */
    int public_obj;            /* read before a login, in the clear (CKA_PRIVATE false) */
} object_t;

/* --- a login's channel choices (login.c): the configuration's, or a run's
 * over them (CKO_GP_LOGIN_OPTIONS, gp-p11.h) --- */
typedef struct {
    char key_set[60];
    uint8_t key_version;
    uint8_t security_level;
    uint8_t scp;               /* 0 auto */
    int diversification;       /* enum ks_diversification */
    uint8_t isd_aid[16];
    size_t isd_aid_len;        /* 0: the card's default */
} login_opts_t;

/* A session's login options object: what it sets (RUN_* bits) over the
 * configuration; handle 0: none. */
enum { RUN_KEY_SET = 1, RUN_KEY_VERSION = 2, RUN_LEVEL = 4, RUN_SCP = 8, RUN_DIV = 16, RUN_AID = 32 };
typedef struct {
    CK_OBJECT_HANDLE handle;
    unsigned have;
    login_opts_t v;
} run_opts_t;

/* --- tokens: one per slot; a card's state while it is in the reader --- */
typedef struct {
    int used;                  /* this slot exists (a reader was seen) */
    int listed;                /* the reader is there now */
    CK_SLOT_ID id;
    char reader[PCSC_READER_MAX];
    mutex_t lock;
    pcsc_ctx_t *pc;            /* a PC/SC context of its own */
    pcsc_card_t *card;
    gp_card_t gp;
    unsigned long generation;  /* moves on when the card goes away */
    long long checked_ms;      /* when pcscd last said the card is there */
    int info_loaded;
    CK_TOKEN_INFO info;
    uint8_t scp_i;             /* SCP02 i from the card's recognition data; 0: not read yet */
    uint8_t card_scp;          /* the protocol the recognition data announces: 1, 2, 3, 0 none */
    uint8_t card_i;            /* and its i (SCP03: bit 01 is S16 mode) */
    uint16_t auth_refused_sw;  /* this card refused EXTERNAL AUTHENTICATE with this SW: no more tries */
    char cin_hex[33];          /* the card's CIN, for messages */
    uint8_t cin[16];           /* the CIN as token_info read it (info_loaded), cin_len 0: none */
    size_t cin_len;
    int logged_in;
    login_opts_t login;        /* the choices of the login (or the one under way) */
    ks_session_t *kss;
    ks_keyset_t keys;
    char keyset_name[96];      /* the key set in use (may be bound to this card) */
    object_t *objects;
    int n_objects;
    int loading_public;        /* token_load_public is reading */
    int plain_holds;           /* sessions that hold the card for plain APDUs */
    object_t *prev_objects;    /* during a reload: the objects before, whose handles stay */
    int n_prev_objects;
    int n_sessions;
    uint16_t refused_sw;       /* the card's refusal in the current call (ulDeviceError) */
    uint8_t login_failure;     /* GP_LOGIN_*: why the current C_Login failed (ulDeviceError) */
} token_t;

/* --- sessions --- */
typedef struct {
    CK_SESSION_HANDLE handle;  /* 0: free */
    int slot;                  /* index into M.tokens */
    CK_FLAGS flags;
    unsigned long generation;  /* the token's generation when opened */
    int find_active;
    CK_OBJECT_HANDLE found[MAX_OBJECTS];
    CK_ULONG n_found, found_pos;
    int sign_active;
    uint8_t kept[RESPONSE_MAX]; /* an answer not yet delivered (buffer too small) */
    size_t kept_len;
    int have_kept;
    CK_NOTIFY notify;          /* the application's, from C_OpenSession */
    void *app;
    CK_ULONG device_error;     /* ulDeviceError: the SW of the card's refusal that made
                                  this session's last call fail, else 0 */
    run_opts_t run;            /* its login options object, for its next C_Login */
    int sign_plain;            /* the active C_Sign is CKM_GP_APDU_PLAIN */
    int plain_hold;            /* it holds the card for its plain APDUs until it closes */
} session_t;

struct module {
    int initialized;
    pid_t pid;                 /* the process that initialised the module */
    int finalizing;
    gp_config_t conf;
    mutex_t lock;
    /* keystore (loaded at the first login or random request) */
    ks_t *ks;
    ks_session_t *ks_misc;     /* for random numbers and the PIN verifier */
    int ks_logins;             /* tokens logged in */
    uint8_t pin_salt[16], pin_verifier[32];
    /* slots */
    token_t tokens[MAX_SLOTS];
    pcsc_ctx_t *pc;            /* for listing readers */
    int said_no_pcscd, said_no_reader_match; /* warnings given, not repeated */
    /* C_WaitForSlotEvent */
    pthread_mutex_t watch_lock; /* the blocking waiter's; CKF_DONT_BLOCK only tries it */
    pcsc_ctx_t *watch_pc;
    pcsc_watch_t *watch;
    int reported_present[MAX_SLOTS];
    int waiters;
    /* sessions and objects */
    session_t sessions[MAX_SESSIONS];
    CK_ULONG session_reuse;
    CK_OBJECT_HANDLE next_object;
};

extern struct module M;

/* slot.c */
void pad_text(CK_UTF8CHAR *dst, size_t cap, const char *src);
void slots_refresh(void);                       /* M.lock held */
token_t *slot_token(CK_SLOT_ID id);             /* M.lock held; NULL if unknown */
int slot_index_for_reader(const char *reader);  /* M.lock held; allocates */
int reader_wanted(const char *reader);
void slot_info(const token_t *t, CK_SLOT_INFO *info, int present);

/* token.c: all with the token's lock held */
CK_RV token_present(token_t *t);                /* card still there? never waits, never connects */
CK_RV token_check(token_t *t);                  /* token_present, then connects if needed */
CK_RV token_info(token_t *t, CK_TOKEN_INFO *info);
/* run: the login options of the session logging in (handle 0: none) */
CK_RV token_login(token_t *t, const uint8_t *pin, size_t pin_len, const run_opts_t *run);
void token_logout(token_t *t);
void token_forget_card(token_t *t);             /* the card is gone */
CK_RV token_destroy_object(token_t *t, object_t *o);
/* CKM_GP_APDU: rw says whether the session may change the card. */
CK_RV token_apdu(token_t *t, const uint8_t *cmd, size_t len, int rw, uint8_t *rsp, size_t *rsp_len);
object_t *token_object(token_t *t, CK_OBJECT_HANDLE h);
/* PUT KEY: values NULL generates the keys inside the keystore (of the
 * channel's kind: DES for SCP02, AES of the static keys' length for SCP03)
 * and wraps them; else they are enc || mac || dek (put_key_plaintext):
 * 48 bytes of DES (SCP02), 48 or 96 bytes of AES-128 or AES-256 (SCP03). */
CK_RV token_put_key(token_t *t, const char *name, uint8_t kvn, uint8_t replace,
                    const uint8_t *values, size_t values_len, CK_OBJECT_HANDLE *out);
CK_RV token_set_lifecycle(token_t *t, object_t *o, uint8_t value, int confirm_terminate);
/* login.c: a login's choices */
void login_opts_conf(login_opts_t *o);                 /* the configuration's */
void login_opts_apply(login_opts_t *o, const run_opts_t *r); /* a run's over them */
/* Reads a CKO_GP_LOGIN_OPTIONS template into r, refusing in the log (as
 * reader) what the configuration's floor forbids: CKR_OK,
 * CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_VALUE_INVALID, CKR_ARGUMENTS_BAD. */
CK_RV login_opts_parse(const char *reader, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, run_opts_t *r);
CK_RV login_opts_get(const run_opts_t *r, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n);
/* C_CreateObject of CKO_GP_LOGIN_OPTIONS: kept as session s's (replacing
 * any before), for its next C_Login. */
CK_RV login_opts_create(token_t *t, session_t *s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
                        CK_OBJECT_HANDLE *out);

/* plain.c: CKM_GP_APDU_PLAIN (gp-p11.h), token lock held */
CK_RV token_apdu_plain(token_t *t, session_t *s, const uint8_t *cmd, size_t len, uint8_t *rsp,
                       size_t *rsp_len);
void plain_session_closed(token_t *t, session_t *s);
/* manage.c: what no APDU may do, over the channel or not (DELETE of the
 * ISD, terminating the card): CKR_OK or CKR_ACTION_PROHIBITED, said as what */
CK_RV apdu_never(token_t *t, const apdu_t *a, const char *what);

/* keystore_login.c: takes M.lock */
CK_RV keystore_random(uint8_t *buf, size_t len);
/* The application's keystore login (the first token's PIN logs the keystore
 * in; the next ones are checked against it); keystore_logout after each. */
CK_RV keystore_login(const uint8_t *pin, size_t pin_len);
void keystore_logout(void);
/* token.c: holds the card (a PC/SC transaction) for what follows; a login
 * keeps it held until the logout */
CK_RV card_hold(token_t *t);
void card_unhold(token_t *t);
/* for the other card operations (applet.c) */
CK_RV token_map_scp(token_t *t, scp_err_t e);    /* an scp error as a CKR (forgets a gone card) */
/* The same for a card management command: a refusing status word as 6985
 * CKR_ACTION_PROHIBITED, 6A84 CKR_DEVICE_MEMORY, others CKR_FUNCTION_FAILED. */
CK_RV token_command_rv(token_t *t, scp_err_t e);
CK_RV token_reload(token_t *t);                  /* the registry and card data read again */
CK_RV token_ensure_channel(token_t *t);          /* opens the channel again if the card closed it */
/* token.c: the channel of a login (selected: the security domain was just
 * selected), and the SCP02 i the card announces */
CK_RV token_open_channel(token_t *t, int selected);
uint8_t token_card_scp_i(token_t *t);
/* cardkeys.c */
int token_card_has_keys(token_t *t, uint8_t kvn, const ks_keyset_t *k); /* 1, 0 no, -1 cannot tell */
CK_RV token_settle_unsealed(token_t *t);
int token_may_authenticate(void *ctx, const uint8_t kdd[10], char *why, size_t why_len);
void token_note_refusal(token_t *t, uint16_t sw);
/* manage.c. A step of card commands, run by token_run_step: the one place
 * that sends again, once, on a new channel, after 6982 that proves the step
 * did not run (or for a step that reads: reads). A step clears *repeatable
 * when what it sent cannot go again (a STORE DATA block the application
 * took). *went_again (may be NULL): it went twice. */
typedef scp_err_t (*token_step_fn)(token_t *t, void *ctx, int *repeatable);
scp_err_t token_run_step(token_t *t, int reads, token_step_fn step, void *ctx, int *went_again);
/* The registry object with this AID, or NULL. */
object_t *token_registry_object(token_t *t, const uint8_t *aid, size_t len);
/* After a card command failed: the registry read again (fresh: on a new
 * channel, for an outcome unknown) and aid looked for in it (aid may point
 * into an object the reload replaces). 1 when it was read, with *now the
 * object of that AID or NULL; 0 when it could not be. */
int token_find_out(token_t *t, int fresh, const uint8_t *aid, size_t aid_len, object_t **now);

/* applet.c: CAP files, INSTALL, LOAD, STORE DATA (see gp-p11.h) */
typedef struct {
    int install;               /* CKA_APPLICATION "application" */
    const uint8_t *cap;        /* CKA_VALUE, or NULL */
    size_t cap_len;
    uint8_t elf[GP_AID_MAX], module[GP_AID_MAX], app[GP_AID_MAX], sd[GP_AID_MAX];
    size_t elf_len, module_len, app_len, sd_len;
    uint8_t priv[3];
    size_t priv_len;
    uint8_t params[253];
    size_t params_len;
    int descriptor, hash, selectable, install_only;
    CK_ULONG *progress;        /* CKA_GP_PROGRESS: blocks done, blocks in all */
    CK_NOTIFY notify;          /* the session's: CKN_SURRENDER after each LOAD block */
    void *notify_app;
    CK_SESSION_HANDLE session;
} applet_req_t;
/* template.c: reads a CKO_DATA template (the caller has checked the class). */
CK_RV applet_parse(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, applet_req_t *r);
CK_RV token_applet(token_t *t, const applet_req_t *r, CK_OBJECT_HANDLE *out);
CK_RV token_store_data(token_t *t, object_t *o, const uint8_t *data, size_t len, uint8_t format);

/* object.c */
/* Before a login (token lock held): what the card shows without a secure
 * channel, as public objects (CKA_PRIVATE false, read in the clear and so
 * not authenticated): the GET DATA objects (CPLC, card data, key
 * information) with the key versions it lists, and its registry where it
 * answers GET STATUS in the clear (most cards refuse it: said in the log).
 * Read once per card; a login replaces them with what its channel reads. */
CK_RV token_load_public(token_t *t);
/* Says, for a C_SetAttributeValue refused with CKR_ATTRIBUTE_READ_ONLY, what
 * this kind of registry object takes. */
void object_say_read_only(token_t *t, const object_t *o);
void token_free_objects(token_t *t);             /* the token's table, wiped */
CK_RV object_get_attributes(const object_t *o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n);
int object_matches(const object_t *o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n);
void object_from_entry(object_t *o, const gp_entry_t *e);

/* session.c: the table, M.lock held */
session_t *session_find(CK_SESSION_HANDLE h);
session_t *session_new(int slot, CK_FLAGS flags, unsigned long generation);
void session_free(session_t *s);
/* session.c: entering and leaving an entry point's call. session_enter finds
 * the session and locks its token; a session whose card went away is closed
 * there (CKR_DEVICE_REMOVED now, CKR_SESSION_HANDLE_INVALID after). */
CK_RV session_enter(CK_SESSION_HANDLE h, session_t **s, token_t **t);
/* Only finds it and locks its token (CKR_SESSION_HANDLE_INVALID: none, or
 * closed meanwhile); C_CloseSession closes a session whatever its card does. */
CK_RV session_lock(CK_SESSION_HANDLE h, session_t **s, token_t **t);
/* What a call needs of the session, said by the entry point where today's
 * error-code order puts it: CKR_USER_NOT_LOGGED_IN, then CKR_SESSION_READ_ONLY. */
enum { NEEDS_USER = 1, NEEDS_RW = 2 };
CK_RV session_may(const session_t *s, const token_t *t, unsigned needs);
/* Leaving: token_leave unlocks; session_finish first closes a session whose
 * card went away during the call; session_done also keeps the card's refusal
 * (if the call failed on one) for C_GetSessionInfo's ulDeviceError. */
CK_RV token_leave(token_t *t, CK_RV rv);
CK_RV session_finish(token_t *t, session_t *s, CK_RV rv);
CK_RV session_done(token_t *t, session_t *s, CK_RV rv);
void session_close_locked(token_t *t, session_t *s); /* token lock held */
CK_RV slot_enter(CK_SLOT_ID id, token_t **t);        /* finds the slot's token, locks it */

/* life.c: C_Initialize, C_Finalize and the fork rule */
int module_live(void);        /* initialised in this process */
int module_finalizing(void);
CK_RV module_initialize(CK_VOID_PTR init_args);
CK_RV module_finalize(void);
CK_RV module_wait_begin(void); /* a C_WaitForSlotEvent counted, or NOT_INITIALIZED */
void module_wait_end(void);

/* events.c: slot events. events_start: what is present now (C_Initialize);
 * events_wait: the next slot whose card came or went. */
void events_start(void);
CK_RV events_wait(int block, CK_SLOT_ID *slot);

#endif
