/*
 * Slot events (C_WaitForSlotEvent): a PC/SC watcher of its own, and which
 * card came or went since the last report.
 */
#include "config.h"
#include "module.h"

#include <pthread.h>

void events_start(void)
{
    char err[256];
    /* C_WaitForSlotEvent reports what changes from now on */
    if (pcsc_open(&M.watch_pc, err, sizeof err) == SCP_OK && (M.watch = pcsc_watch_new(M.watch_pc)) &&
        pcsc_watch_wait(M.watch, 0) >= 0) {
        for (int i = 0; i < pcsc_watch_count(M.watch); i++) {
            const char *r = pcsc_watch_name(M.watch, i);
            int k = reader_wanted(r) ? slot_index_for_reader(r) : -1;
            if (k >= 0)
                M.reported_present[k] = pcsc_watch_present(M.watch, i);
        }
    }
}

/* Compares what the watcher sees with what was last reported; returns a
 * slot whose card came or went, or -1. M.lock held. */
static int next_event(void)
{
    int seen[MAX_SLOTS] = {0};
    for (int i = 0; i < pcsc_watch_count(M.watch); i++) {
        const char *r = pcsc_watch_name(M.watch, i);
        int k = reader_wanted(r) ? slot_index_for_reader(r) : -1;
        if (k < 0)
            continue;
        seen[k] = 1;
        int present = pcsc_watch_present(M.watch, i);
        if (present != M.reported_present[k]) {
            M.reported_present[k] = present;
            return k;
        }
    }
    for (int k = 0; k < MAX_SLOTS; k++)
        if (!seen[k] && M.reported_present[k]) { /* reader gone with its card */
            M.reported_present[k] = 0;
            return k;
        }
    return -1;
}

/* Waits (or, without block, looks) for a slot event with the watcher; the
 * caller holds M.watch_lock. Waits in slices, so that C_Finalize's
 * SCardCancel cannot be missed for long by a wait just starting. */
static CK_RV watch_event(int block, CK_SLOT_ID_PTR pSlot)
{
    char err[256];
    mutex_lock(M.lock);
    CK_RV rv = CKR_OK;
    if (!M.watch_pc && pcsc_open(&M.watch_pc, err, sizeof err) != SCP_OK)
        rv = block ? CKR_DEVICE_ERROR : CKR_NO_EVENT;
    else if (!M.watch && !(M.watch = pcsc_watch_new(M.watch_pc)))
        rv = CKR_HOST_MEMORY;
    mutex_unlock(M.lock);
    if (rv != CKR_OK)
        return rv;
    for (;;) {
        if (module_finalizing())
            return CKR_CRYPTOKI_NOT_INITIALIZED;
        mutex_lock(M.lock);
        int k = next_event();
        mutex_unlock(M.lock);
        if (k >= 0) {
            *pSlot = (CK_SLOT_ID)k;
            return CKR_OK;
        }
        int r = pcsc_watch_wait(M.watch, block ? 1000 : 0);
        if (module_finalizing())
            return CKR_CRYPTOKI_NOT_INITIALIZED;
        if (r < 0) {
            /* pcscd stopped: start afresh with the next call */
            LOG_ERR("", "waiting for a slot event failed: is pcscd running?");
            mutex_lock(M.lock);
            pcsc_watch_free(M.watch);
            pcsc_close(M.watch_pc);
            M.watch = NULL;
            M.watch_pc = NULL;
            mutex_unlock(M.lock);
            return block ? CKR_DEVICE_ERROR : CKR_NO_EVENT;
        }
        if (r == 0 && !block) {
            /* nothing new since the last report, or one more look */
            mutex_lock(M.lock);
            k = next_event();
            mutex_unlock(M.lock);
            if (k < 0)
                return CKR_NO_EVENT;
            *pSlot = (CK_SLOT_ID)k;
            return CKR_OK;
        }
    }
}

CK_RV events_wait(int block, CK_SLOT_ID *slot)
{
    CK_RV rv;
    if (block) {
        pthread_mutex_lock(&M.watch_lock);
        rv = watch_event(1, slot);
        pthread_mutex_unlock(&M.watch_lock);
    } else if (pthread_mutex_trylock(&M.watch_lock) == 0) {
        rv = watch_event(0, slot);
        pthread_mutex_unlock(&M.watch_lock);
    } else {
        /* a blocking call is waiting with the watcher: never wait behind it.
         * The blocking call reports the next event; asking pcscd here too
         * would race inside libpcsclite with its wait. */
        rv = CKR_NO_EVENT;
    }
    return rv;
}
