/* PC/SC transport (pcsc-lite). */
#ifndef GP_SCP_PCSC_H
#define GP_SCP_PCSC_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"

typedef struct pcsc_ctx pcsc_ctx_t;
typedef struct pcsc_card pcsc_card_t;

#define PCSC_READER_MAX 128

scp_err_t pcsc_open(pcsc_ctx_t **out, char *err, size_t errlen);
void pcsc_close(pcsc_ctx_t *p);
/* Fills names with up to max reader names; returns the count, or -1. */
int pcsc_list_readers(pcsc_ctx_t *p, char names[][PCSC_READER_MAX], int max);
/* Is a card present in the reader? 1 yes, 0 no, -1 error */
int pcsc_card_present(pcsc_ctx_t *p, const char *reader);

/* Watches readers and card presence without losing an event: each wait
 * reports what changed since the state the previous wait returned. */
typedef struct pcsc_watch pcsc_watch_t;
#define PCSC_WATCH_MAX 16
pcsc_watch_t *pcsc_watch_new(pcsc_ctx_t *p);
void pcsc_watch_free(pcsc_watch_t *w);
/* The first call returns at once with the current state. Later calls wait
 * until a reader comes or goes or a card is inserted or removed, or
 * timeout_ms passes (-1: forever). Returns 1 on a change, 0 on timeout, -1
 * on error or when cancelled with pcsc_cancel. */
int pcsc_watch_wait(pcsc_watch_t *w, long timeout_ms);
int pcsc_watch_count(const pcsc_watch_t *w);
const char *pcsc_watch_name(const pcsc_watch_t *w, int i);
int pcsc_watch_present(const pcsc_watch_t *w, int i);
/* Wakes a pcsc_watch_wait blocked on this context. */
void pcsc_cancel(pcsc_ctx_t *p);

scp_err_t pcsc_connect(pcsc_ctx_t *p, const char *reader, pcsc_card_t **out, char *err,
                       size_t errlen);

/*
 * Sharing the card with other programs. pcscd makes every other program's
 * connect, command and transaction wait while one program holds a PC/SC
 * transaction, and these waits have no end of their own. gp-p11 therefore
 * waits only with a deadline, in a helper thread:
 *
 * pcsc_connect_wait connects with a PC/SC context of its own; SCP_E_BUSY when
 * another program still held the card after wait_ms (the attempt goes on in
 * the background and cleans up after itself), SCP_E_REMOVED with no card.
 *
 * pcsc_hold begins a transaction: until pcsc_release no other program's
 * command, nor its reset of the card, reaches the card. SCP_E_BUSY after wait_ms: the connection is
 * closed (that is the only way to end the wait) and *c is NULL. A card reset
 * by another program is reconnected and reported through *was_reset: every
 * secure channel on it is gone. SCP_E_REMOVED: removed (*c NULL).
 */
scp_err_t pcsc_connect_wait(const char *reader, long wait_ms, pcsc_card_t **out, char *err,
                            size_t errlen);
scp_err_t pcsc_hold(pcsc_card_t **c, long wait_ms, int *was_reset, char *err, size_t errlen);
void pcsc_release(pcsc_card_t *c);
int pcsc_held(const pcsc_card_t *c);
/* Without a round trip that could wait: is the card we connected to still
 * in the reader (no removal or insertion since)? 1 yes, 0 no. */
int pcsc_still_there(pcsc_card_t *c);
void pcsc_disconnect(pcsc_card_t *c);
/* Is the connected card still the one we connected to? SCP_OK, or
 * SCP_E_REMOVED when it was removed or reset. */
scp_err_t pcsc_card_status(pcsc_card_t *c);
/* A transport over this card. */
gp_transport_t pcsc_transport(pcsc_card_t *c);

/* fork() while another thread holds the reader-state lock would leave the
 * child's copy locked for ever, and the child's C_Initialize asks for reader
 * states: the module's fork handlers hold it across fork (after the locks
 * taken before it) and let it go on both sides. */
void pcsc_fork_prepare(void);
void pcsc_fork_resume(void);

#endif
