/* See kdf3_vectors.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kdf3_vectors.h"
#include "keystore/hex.h"
#include "keystore/scp03_crypto.h"

CK_OBJECT_HANDLE kdf3_master_key(ks_t *ks, ks_session_t *s, const uint8_t *v, size_t len)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL f = CK_FALSE, t = CK_TRUE;
    uint8_t copy[32];
    memcpy(copy, v, len);
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt},
                           {CKA_TOKEN, &f, sizeof f},     {CKA_ENCRYPT, &t, sizeof t},
                           {CKA_DERIVE, &t, sizeof t},    {CKA_VALUE, copy, len}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    ks_functions(ks)->C_CreateObject(ks_session_handle(s), tmpl, 6, &h);
    return h;
}

void kdf3_check_vectors(ks_t *ks, ks_session_t *s)
{
    static const struct { size_t len; const char *kcv[3]; } v[] = {
        {16, {"E79C05", "D1BD77", "3FDE8C"}},
        {24, {"1DE8EA", "47C00C", "C04D76"}},
        {32, {"2972D2", "036F94", "5D57B8"}},
    };
    uint8_t m[32], kdd[10];
    for (int i = 0; i < 32; i++)
        m[i] = (uint8_t)(0x40 + i);
    for (int i = 0; i < 10; i++)
        kdd[i] = (uint8_t)i;
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        CK_OBJECT_HANDLE master = kdf3_master_key(ks, s, m, v[k].len);
        assert_int_not_equal(master, CK_INVALID_HANDLE);
        for (int r = 0; r < 3; r++) {
            CK_OBJECT_HANDLE card;
            assert_int_equal(ks_scp03_kdf3(s, master, v[k].len, kdd, r + 1, KS_USE_ENCRYPT, &card),
                             CKR_OK);
            uint8_t kcv[3], want[3];
            assert_int_equal(ks_scp03_kcv(s, card, kcv), CKR_OK);
            hex_decode(v[k].kcv[r], want, 3);
            if (memcmp(kcv, want, 3) != 0)
                fail_msg("AES-%zu key %d: KCV %02X%02X%02X, GlobalPlatformPro's %s", v[k].len * 8,
                         r + 1, kcv[0], kcv[1], kcv[2], v[k].kcv[r]);
            ks_destroy(s, card);
        }
        ks_destroy(s, master);
    }
}
