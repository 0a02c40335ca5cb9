/*
 * The applet calls pkcs11-tool cannot make, as a C application makes them
 * (tests/integration/applets.sh): vendor attributes on C_CreateObject and
 * C_SetAttributeValue. Logs in with GP_TEST_PIN on the only slot with a card
 * (the configuration's reader filter picks it). Prints the CKR and, for
 * create, the new object's label; exits 0 only on CKR_OK.
 *
 *   applet_call MODULE install FILE|- ELF MODULE [APP [PRIV [PARAMS]]] [noselect]
 *   applet_call MODULE load FILE [nodescriptor] [hash] [sd=AID] [progress] [cancel=N]
 *     progress: CKA_GP_PROGRESS, its values seen at each notification printed
 *     as "progress DONE/TOTAL"; cancel=N: the Notify callback answers
 *     CKR_CANCEL at its Nth CKN_SURRENDER
 *   applet_call MODULE selectable APP
 *   applet_call MODULE store APP HEX [FORMAT]
 *   applet_call MODULE delete AID [related]
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "gp-p11/gp-p11.h"

static CK_FUNCTION_LIST_PTR f;
static CK_SESSION_HANDLE s;
static CK_ULONG prog[2];
static int notified, cancel_at, show_progress;

/* The session's Notify: counts CKN_SURRENDER, shows CKA_GP_PROGRESS, and
 * asks to stop at the chosen one. It calls nothing of the module. */
static CK_RV notify(CK_SESSION_HANDLE h, CK_NOTIFICATION event, CK_VOID_PTR app)
{
    if (h != s || event != CKN_SURRENDER || app != (void *)&notified)
        return CKR_GENERAL_ERROR;
    notified++;
    if (show_progress)
        printf("progress %lu/%lu\n", prog[0], prog[1]);
    return cancel_at && notified >= cancel_at ? CKR_CANCEL : CKR_OK;
}

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (h[0] && h[1] && n < cap) {
        sscanf(h, "%2hhx", &out[n++]);
        h += 2;
    }
    return n;
}

static CK_OBJECT_HANDLE find(const char *label)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    if (f->C_FindObjectsInit(s, t, 2) == CKR_OK) {
        f->C_FindObjects(s, &h, 1, &n);
        f->C_FindObjectsFinal(s);
    }
    return n == 1 ? h : CK_INVALID_HANDLE;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *b = malloc(*len ? *len : 1);
    if (b && fread(b, 1, *len, fp) != *len) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    return b;
}

static void print_label(CK_OBJECT_HANDLE h)
{
    char label[64] = "";
    CK_ATTRIBUTE a = {CKA_LABEL, label, sizeof label - 1};
    if (f->C_GetAttributeValue(s, h, &a, 1) == CKR_OK)
        label[a.ulValueLen] = 0;
    printf("object %s\n", label);
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    void *dl = dlopen(argv[1], RTLD_NOW);
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    const char *pin = getenv("GP_TEST_PIN");
    CK_SLOT_ID slot;
    CK_ULONG ns = 1;
    if (!gfl || !pin || gfl(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK ||
        f->C_GetSlotList(CK_TRUE, &slot, &ns) != CKR_OK || ns != 1 ||
        f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, &notified, notify, &s) != CKR_OK ||
        f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK) {
        fprintf(stderr, "applet_call: cannot log in\n");
        return 2;
    }
    const char *cmd = argv[2];
    CK_RV rv = CKR_ARGUMENTS_BAD;
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[16];
    int n = 0;
    uint8_t elf[16], mod[16], app[16], priv[3], params[64], sd[16], v[1024];
    uint8_t *file = NULL;
    size_t file_len = 0;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    t[n++] = (CK_ATTRIBUTE){CKA_CLASS, &data, sizeof data};
    if (!strcmp(cmd, "install") && argc >= 6) {
        t[n++] = (CK_ATTRIBUTE){CKA_APPLICATION, "application", 11};
        t[n++] = (CK_ATTRIBUTE){CKA_GP_INSTALL_ONLY, &yes, 1};
        if (strcmp(argv[3], "-") != 0 && (file = slurp(argv[3], &file_len)))
            t[n++] = (CK_ATTRIBUTE){CKA_VALUE, file, file_len};
        t[n++] = (CK_ATTRIBUTE){CKA_GP_LOAD_FILE, elf, unhex(argv[4], elf, sizeof elf)};
        t[n++] = (CK_ATTRIBUTE){CKA_GP_MODULE, mod, unhex(argv[5], mod, sizeof mod)};
        int i = 6;
        if (argc > i && strcmp(argv[i], "noselect"))
            t[n++] = (CK_ATTRIBUTE){CKA_GP_AID, app, unhex(argv[i++], app, sizeof app)};
        if (argc > i && strcmp(argv[i], "noselect"))
            t[n++] = (CK_ATTRIBUTE){CKA_GP_PRIVILEGES, priv, unhex(argv[i++], priv, sizeof priv)};
        if (argc > i && strcmp(argv[i], "noselect"))
            t[n++] = (CK_ATTRIBUTE){CKA_GP_INSTALL_PARAMS, params,
                                    unhex(argv[i++], params, sizeof params)};
        if (argc > i && !strcmp(argv[i], "noselect"))
            t[n++] = (CK_ATTRIBUTE){CKA_GP_SELECTABLE, &no, 1};
        rv = f->C_CreateObject(s, t, (CK_ULONG)n, &h);
    } else if (!strcmp(cmd, "load") && (file = slurp(argv[3], &file_len))) {
        t[n++] = (CK_ATTRIBUTE){CKA_APPLICATION, "load file", 9};
        t[n++] = (CK_ATTRIBUTE){CKA_VALUE, file, file_len};
        for (int i = 4; i < argc; i++) {
            if (!strcmp(argv[i], "nodescriptor"))
                t[n++] = (CK_ATTRIBUTE){CKA_GP_LOAD_DESCRIPTOR, &no, 1};
            else if (!strcmp(argv[i], "hash"))
                t[n++] = (CK_ATTRIBUTE){CKA_GP_LOAD_HASH, &yes, 1};
            else if (!strcmp(argv[i], "progress")) {
                show_progress = 1;
                t[n++] = (CK_ATTRIBUTE){CKA_GP_PROGRESS, prog, sizeof prog};
            } else if (!strncmp(argv[i], "cancel=", 7))
                cancel_at = atoi(argv[i] + 7);
            else if (!strncmp(argv[i], "sd=", 3))
                t[n++] = (CK_ATTRIBUTE){CKA_GP_SECURITY_DOMAIN, sd, unhex(argv[i] + 3, sd, sizeof sd)};
        }
        rv = f->C_CreateObject(s, t, (CK_ULONG)n, &h);
    } else if (!strcmp(cmd, "selectable")) {
        CK_BYTE lc = 0x07;
        CK_ATTRIBUTE a = {CKA_GP_LIFECYCLE, &lc, 1};
        h = find(argv[3]);
        rv = f->C_SetAttributeValue(s, h, &a, 1);
        h = CK_INVALID_HANDLE;
    } else if (!strcmp(cmd, "store") && argc >= 5) {
        CK_BYTE fmt = argc > 5 ? (CK_BYTE)strtoul(argv[5], NULL, 16) : 0;
        CK_ATTRIBUTE a[] = {{CKA_GP_STORE_DATA, v, unhex(argv[4], v, sizeof v)},
                            {CKA_GP_STORE_DATA_FORMAT, &fmt, 1}};
        rv = f->C_SetAttributeValue(s, find(argv[3]), a, 2);
    } else if (!strcmp(cmd, "delete")) {
        CK_OBJECT_HANDLE o = find(argv[3]);
        CK_ATTRIBUTE a = {CKA_GP_DELETE_RELATED, &yes, 1};
        rv = CKR_OK;
        if (argc > 4 && !strcmp(argv[4], "related"))
            rv = f->C_SetAttributeValue(s, o, &a, 1);
        if (rv == CKR_OK)
            rv = f->C_DestroyObject(s, o);
    }
    printf("rv 0x%lx\nnotified %d\n", rv, notified);
    if (rv == CKR_OK && h != CK_INVALID_HANDLE)
        print_label(h);
    free(file);
    f->C_Logout(s);
    f->C_Finalize(NULL);
    return rv == CKR_OK ? 0 : 1;
}
