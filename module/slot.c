/* Slots: one per PC/SC reader, with IDs that stay while the module is loaded. */
#include "config.h"
#include "module.h"

#include <stdio.h>
#include <string.h>

/* A PKCS#11 text field: blank-padded, not NUL-terminated. */
void pad_text(CK_UTF8CHAR *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n > cap)
        n = cap;
    memset(dst, ' ', cap);
    memcpy(dst, src, n);
}

int reader_wanted(const char *reader)
{
    return !M.conf.reader[0] || strstr(reader, M.conf.reader) != NULL;
}

int slot_index_for_reader(const char *reader)
{
    int free_slot = -1;
    for (int i = 0; i < MAX_SLOTS; i++) {
        if (M.tokens[i].used && strcmp(M.tokens[i].reader, reader) == 0)
            return i;
        if (!M.tokens[i].used && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0)
        return -1;
    token_t *t = &M.tokens[free_slot];
    if (!t->lock && mutex_new(&t->lock) != CKR_OK)
        return -1;
    t->used = 1;
    t->id = (CK_SLOT_ID)free_slot;
    snprintf(t->reader, sizeof t->reader, "%s", reader);
    return free_slot;
}

/* A condition worth a warning is said once, not at every call, and again
 * only after it went away and came back. */
static void say_once(int *said, int now, const char *msg)
{
    if (now && !*said)
        LOG_WARN("", "%s", msg);
    *said = now;
}

void slots_refresh(void)
{
    if (!M.pc) {
        char err[256] = "", msg[400] = "";
        int failed = pcsc_open(&M.pc, err, sizeof err) != SCP_OK;
        if (failed)
            snprintf(msg, sizeof msg, "%s: no reader, so no slot. Start pcscd (systemctl start "
                                      "pcscd.socket, or pcscd as root)", err);
        say_once(&M.said_no_pcscd, failed, msg);
        if (failed) {
            for (int i = 0; i < MAX_SLOTS; i++)
                M.tokens[i].listed = 0;
            return; /* no pcscd (yet): no slots */
        }
    }
    char names[MAX_SLOTS][PCSC_READER_MAX];
    int n = pcsc_list_readers(M.pc, names, MAX_SLOTS);
    if (n < 0) {
        /* pcscd restarted: a new context next time */
        pcsc_close(M.pc);
        M.pc = NULL;
        n = 0;
    }
    for (int i = 0; i < MAX_SLOTS; i++)
        M.tokens[i].listed = 0;
    int wanted = 0;
    for (int i = 0; i < n; i++)
        wanted += reader_wanted(names[i]);
    int none = n > 0 && wanted == 0;
    char msg[1024] = "";
    if (none && !M.said_no_reader_match) { /* built only when it is to be said */
        size_t l = (size_t)snprintf(msg, sizeof msg, "reader = %s matches none of the readers:",
                                    M.conf.reader);
        for (int i = 0; i < n; i++) {
            size_t nl = strlen(names[i]);
            if (l + nl + 4 < sizeof msg - 80) {
                msg[l++] = ' ';
                msg[l++] = '"';
                memcpy(msg + l, names[i], nl);
                l += nl;
                msg[l++] = '"';
            }
        }
        snprintf(msg + l, sizeof msg - l, ". No slot; change or remove the reader line of the "
                                          "configuration");
    }
    say_once(&M.said_no_reader_match, none, msg);
    for (int i = 0; i < n; i++) {
        if (!reader_wanted(names[i]))
            continue;
        int k = slot_index_for_reader(names[i]);
        if (k >= 0)
            M.tokens[k].listed = 1;
        else
            LOG_WARN("", "more than %d readers: \"%s\" gets no slot", MAX_SLOTS, names[i]);
    }
}

token_t *slot_token(CK_SLOT_ID id)
{
    if (id >= MAX_SLOTS || !M.tokens[id].used)
        return NULL;
    return &M.tokens[id];
}

void slot_info(const token_t *t, CK_SLOT_INFO *info, int present)
{
    memset(info, 0, sizeof *info);
    pad_text(info->slotDescription, sizeof info->slotDescription, t->reader);
    pad_text(info->manufacturerID, sizeof info->manufacturerID, "gp-p11 (PC/SC reader)");
    info->flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT | (present ? CKF_TOKEN_PRESENT : 0);
    info->hardwareVersion.major = 0;
    info->firmwareVersion.major = 0;
}
