/*
 * gp-p11: vendor-defined PKCS#11 values of the gp-p11 module.
 *
 * Include after a PKCS#11 header (for example <p11-kit/pkcs11.h>).
 * Vendor values carry the ASCII letters "GP" (0x4750) after the vendor bit.
 */
#ifndef GP_P11_H
#define GP_P11_H

/* Mechanism: C_SignInit on the "secure channel" key, then C_Sign(plain APDU)
 * sends the APDU through the open SCP02 channel (C-MAC, and C-DEC at level
 * mac-enc) and returns the card's answer: response data followed by SW1 SW2.
 * A length query (NULL signature buffer) never sends the APDU; nor does a
 * call repeated after CKR_BUFFER_TOO_SMALL (the answer is kept). */
#define CKM_GP_APDU (CKM_VENDOR_DEFINED | 0x47500001UL)

/* Key type of the "secure channel" object that stands for the open channel. */
#define CKK_GP_SECURE_CHANNEL (CKK_VENDOR_DEFINED | 0x47500001UL)

/* Attributes of registry objects (CKO_DATA, one per GET STATUS entry). */
#define CKA_GP_AID        (CKA_VENDOR_DEFINED | 0x47500001UL) /* byte array: the AID */
#define CKA_GP_LIFECYCLE  (CKA_VENDOR_DEFINED | 0x47500002UL) /* one byte, GP coding */
#define CKA_GP_PRIVILEGES (CKA_VENDOR_DEFINED | 0x47500003UL) /* 1 or 3 bytes */
#define CKA_GP_KIND       (CKA_VENDOR_DEFINED | 0x47500004UL) /* CK_ULONG, GP_KIND_* */
#define CKA_GP_LOAD_FILE  (CKA_VENDOR_DEFINED | 0x47500005UL) /* AID of an application's load file */
#define CKA_GP_MODULES    (CKA_VENDOR_DEFINED | 0x47500006UL) /* a load file's modules: length-AID pairs */

#define GP_KIND_ISD       1UL /* issuer security domain */
#define GP_KIND_APP       2UL /* application */
#define GP_KIND_SSD       3UL /* supplementary security domain */
#define GP_KIND_LOAD_FILE 4UL /* executable load file */

#endif
