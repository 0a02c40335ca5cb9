#ifndef GP_KEYSTORE_HEX_H
#define GP_KEYSTORE_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Decodes hex (spaces allowed between bytes); returns bytes written or -1. */
int hex_decode(const char *hex, uint8_t *out, size_t cap);
/* Encodes len bytes as upper-case hex into out (2*len+1 bytes). */
void hex_encode(const uint8_t *in, size_t len, char *out);

#endif
