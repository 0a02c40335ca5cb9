/*
 * What gp-p11 uses of PKCS#11 3.0 that p11-kit 0.24's header (Debian 12)
 * does not define yet: the SP 800-108 counter-mode KDF (PKCS#11 3.0
 * section 2.43). Each definition stands only where the header lacks it.
 */
#ifndef GP_KEYSTORE_PKCS11_30_H
#define GP_KEYSTORE_PKCS11_30_H

#include <p11-kit/pkcs11.h>

#ifndef CKM_SP800_108_COUNTER_KDF
#define CKM_SP800_108_COUNTER_KDF 0x000003ACUL

typedef CK_ULONG CK_PRF_DATA_TYPE;
#define CK_SP800_108_ITERATION_VARIABLE 0x00000001UL
#define CK_SP800_108_DKM_LENGTH         0x00000003UL
#define CK_SP800_108_BYTE_ARRAY         0x00000004UL

typedef struct CK_PRF_DATA_PARAM {
    CK_PRF_DATA_TYPE type;
    CK_VOID_PTR pValue;
    CK_ULONG ulValueLen;
} CK_PRF_DATA_PARAM;

typedef struct CK_SP800_108_COUNTER_FORMAT {
    CK_BBOOL bLittleEndian;
    CK_ULONG ulWidthInBits;
} CK_SP800_108_COUNTER_FORMAT;

typedef CK_ULONG CK_SP800_108_DKM_LENGTH_METHOD;
#define CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS 0x00000001UL

typedef struct CK_SP800_108_DKM_LENGTH_FORMAT {
    CK_SP800_108_DKM_LENGTH_METHOD dkmLengthMethod;
    CK_BBOOL bLittleEndian;
    CK_ULONG ulWidthInBits;
} CK_SP800_108_DKM_LENGTH_FORMAT;

typedef struct CK_DERIVED_KEY {
    CK_ATTRIBUTE *pTemplate;
    CK_ULONG ulAttributeCount;
    CK_OBJECT_HANDLE *phKey;
} CK_DERIVED_KEY;

typedef struct CK_SP800_108_KDF_PARAMS {
    CK_MECHANISM_TYPE prfType;
    CK_ULONG ulNumberOfDataParams;
    CK_PRF_DATA_PARAM *pDataParams;
    CK_ULONG ulAdditionalDerivedKeys;
    CK_DERIVED_KEY *pAdditionalDerivedKeys;
} CK_SP800_108_KDF_PARAMS;
#endif

#endif
