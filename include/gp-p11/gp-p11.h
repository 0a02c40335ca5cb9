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

/* Plain APDUs, outside the secure channel (to an applet just installed,
 * say): C_SignInit(CKM_GP_APDU_PLAIN) on the public "plain channel" object
 * (CKK_GP_PLAIN_CHANNEL, found without a login), then C_Sign(APDU) returns
 * the answer with its status word, as CKM_GP_APDU does. No login is needed,
 * and the card stays held for the session from its first plain APDU to its
 * close, so that a SELECT and the commands after it reach the same
 * application. A plain APDU while the token is logged in closes the secure
 * channel first (said in the log); the next secured command opens a new
 * one. Refused (CKR_DATA_INVALID): INITIALIZE UPDATE and EXTERNAL
 * AUTHENTICATE (a login's alone: never a try spent by mistake), GET
 * RESPONSE, MANAGE CHANNEL and other logical channels; as over the channel,
 * DELETE of the issuer security domain and terminating the card
 * (CKR_ACTION_PROHIBITED). */
#define CKM_GP_APDU_PLAIN    (CKM_VENDOR_DEFINED | 0x47500003UL)
#define CKK_GP_PLAIN_CHANNEL (CKK_VENDOR_DEFINED | 0x47500002UL)

/* Attributes of registry objects (CKO_DATA, one per GET STATUS entry). */
#define CKA_GP_AID        (CKA_VENDOR_DEFINED | 0x47500001UL) /* byte array: the AID */
#define CKA_GP_LIFECYCLE  (CKA_VENDOR_DEFINED | 0x47500002UL) /* one byte, GP coding */
#define CKA_GP_PRIVILEGES (CKA_VENDOR_DEFINED | 0x47500003UL) /* 1 or 3 bytes */
#define CKA_GP_KIND       (CKA_VENDOR_DEFINED | 0x47500004UL) /* CK_ULONG, GP_KIND_* */
#define CKA_GP_LOAD_FILE  (CKA_VENDOR_DEFINED | 0x47500005UL) /* AID of an application's load file */
#define CKA_GP_MODULES    (CKA_VENDOR_DEFINED | 0x47500006UL) /* a load file's modules: length-AID pairs */

/* Lifecycle: C_SetAttributeValue(CKA_GP_LIFECYCLE) sends SET STATUS.
 *   application or security domain: a value with bit 80 set locks it, one
 *   without unlocks it;
 *   issuer security domain (the card): 7F locks the card, 0F unlocks it, FF
 *   terminates it for good, and only with CKA_GP_CONFIRM_TERMINATE = CK_TRUE
 *   in the same template. */
#define CKA_GP_CONFIRM_TERMINATE (CKA_VENDOR_DEFINED | 0x47500007UL) /* CK_BBOOL */

/* Key rotation (PUT KEY). A card key version is a CKO_GP_KEY_SET object
 * (label "key version NN", from the key information template).
 *   C_GenerateKey(CKM_GP_PUT_KEY, {CKA_LABEL = new key set name,
 *       CKA_GP_KEY_VERSION = new version, CKA_GP_REPLACE_KEY_VERSION = old
 *       version or 0 to add}): three keys generated inside the keystore,
 *       wrapped under the session DEK with C_WrapKey (CKM_DES3_ECB); their
 *       values never exist outside the keystore.
 *   C_CreateObject({CKA_CLASS = CKO_GP_KEY_SET, CKA_LABEL, CKA_GP_KEY_VERSION,
 *       CKA_GP_REPLACE_KEY_VERSION, CKA_GP_KEY_VALUES = enc || mac || dek}):
 *       for keystores that cannot wrap with 3DES, only with
 *       put_key_plaintext = yes: the values pass through the module once,
 *       are encrypted under the session DEK by the keystore, stored in it,
 *       and wiped.
 * Either way the new key set is stored in the keystore under the label,
 * kept only once the card has confirmed the key check values, and the old
 * key set is left in place.
 *   C_DestroyObject on a key version's CKO_GP_KEY_SET: DELETE [key] of that
 *       version on the card (CKR_ACTION_PROHIBITED for the version of the
 *       session's channel, and for the card's only one); the keystore's key
 *       sets stay. */
#define CKO_GP_KEY_SET             (CKO_VENDOR_DEFINED | 0x47500001UL)
#define CKM_GP_PUT_KEY             (CKM_VENDOR_DEFINED | 0x47500002UL)
#define CKA_GP_KEY_VERSION         (CKA_VENDOR_DEFINED | 0x47500008UL) /* one byte */
#define CKA_GP_REPLACE_KEY_VERSION (CKA_VENDOR_DEFINED | 0x47500009UL) /* one byte, 0 = add */
#define CKA_GP_KEY_VALUES          (CKA_VENDOR_DEFINED | 0x4750000AUL) /* 48 bytes (DES, AES-128), 72 (AES-192) or 96 (AES-256) */

/* Applets (GlobalPlatform INSTALL, LOAD, STORE DATA).
 *
 * C_CreateObject of a CKO_DATA object with the CAP file as CKA_VALUE (a CAP
 * archive or a raw .ijc load file) loads it; CKA_APPLICATION says what then:
 *   "load file"    LOAD only; returns the new load file's registry object.
 *   "application"  LOAD, then INSTALL [for install and make selectable] of
 *                  every applet of the package (instance AID = class AID,
 *                  privileges 00, install parameters C9 00); returns the
 *                  (first) new application's registry object.
 * This is what pkcs11-tool --write-object FILE --type data
 * --application-label "load file" (or "application") sends. CKA_TOKEN,
 * CKA_PRIVATE and CKA_LABEL may be given and are ignored: the objects are
 * the card's registry entries, labelled with their AIDs.
 * Vendor attributes choose the rest (with "application" where it says so):
 *   CKA_GP_MODULE           the class AID of the one applet to install
 *   CKA_GP_AID              its instance AID (one applet only)
 *   CKA_GP_PRIVILEGES       1 or 3 bytes (default 00)
 *   CKA_GP_INSTALL_PARAMS   the application's install parameters, sent
 *                           inside C9 (default empty: C9 00)
 *   CKA_GP_SELECTABLE       CK_FALSE: INSTALL [for install] only; make it
 *                           selectable later with CKA_GP_LIFECYCLE = 07
 *   CKA_GP_SECURITY_DOMAIN  AID of the security domain that receives the
 *                           load file (default: the card's choice, its ISD)
 *   CKA_GP_LOAD_DESCRIPTOR  CK_FALSE leaves the Descriptor component out
 *   CKA_GP_LOAD_HASH        CK_TRUE sends the SHA-1 of the load file data
 *                           block in INSTALL [for load]
 *   CKA_GP_INSTALL_ONLY     CK_TRUE: the load file is on the card already;
 *                           install from it (with the CAP as CKA_VALUE for
 *                           its AIDs, or without CKA_VALUE and with
 *                           CKA_GP_LOAD_FILE and CKA_GP_MODULE)
 *   CKA_GP_PROGRESS         two CK_ULONGs the module fills during the LOAD:
 *                           blocks sent, blocks in all (for a progress bar)
 * After every LOAD block, the module calls the session's Notify (from
 * C_OpenSession) with CKN_SURRENDER; answering CKR_CANCEL stops the LOAD
 * there and C_CreateObject returns CKR_FUNCTION_CANCELED, with nothing of
 * the load file left on the card. Notify must not call the module.
 * On an application's registry object, C_SetAttributeValue with
 *   CKA_GP_STORE_DATA        sends INSTALL [for personalization] and the
 *                            value in STORE DATA blocks (write-only);
 *   CKA_GP_STORE_DATA_FORMAT one byte, bits 7-1 of STORE DATA's P1 (data
 *                            structure, encryption information; default 00)
 * On a load file's registry object, C_DestroyObject deletes the load file
 * alone, and the card refuses while applications of it remain; set
 * CKA_GP_DELETE_RELATED = CK_TRUE on the object first to delete them with
 * it (DELETE with P2 80). */
#define CKA_GP_MODULE            (CKA_VENDOR_DEFINED | 0x4750000BUL) /* byte array */
#define CKA_GP_INSTALL_PARAMS    (CKA_VENDOR_DEFINED | 0x4750000CUL) /* byte array */
#define CKA_GP_SECURITY_DOMAIN   (CKA_VENDOR_DEFINED | 0x4750000DUL) /* byte array */
#define CKA_GP_LOAD_DESCRIPTOR   (CKA_VENDOR_DEFINED | 0x4750000EUL) /* CK_BBOOL */
#define CKA_GP_INSTALL_ONLY      (CKA_VENDOR_DEFINED | 0x4750000FUL) /* CK_BBOOL */
#define CKA_GP_SELECTABLE        (CKA_VENDOR_DEFINED | 0x47500010UL) /* CK_BBOOL */
#define CKA_GP_LOAD_HASH         (CKA_VENDOR_DEFINED | 0x47500011UL) /* CK_BBOOL */
#define CKA_GP_DELETE_RELATED    (CKA_VENDOR_DEFINED | 0x47500012UL) /* CK_BBOOL */
#define CKA_GP_STORE_DATA        (CKA_VENDOR_DEFINED | 0x47500013UL) /* byte array */
#define CKA_GP_STORE_DATA_FORMAT (CKA_VENDOR_DEFINED | 0x47500014UL) /* one byte */
#define CKA_GP_PROGRESS          (CKA_VENDOR_DEFINED | 0x47500015UL) /* CK_ULONG[2], written */

/* A login's channel choices, per run (gp-p11(7), "Login options").
 * C_CreateObject({CKA_CLASS = CKO_GP_LOGIN_OPTIONS, and any of:
 *     CKA_GP_KEY_SET_NAME   the keystore key set (UTF-8), as key_set
 *     CKA_GP_KEY_VERSION    one byte, as key_version (0: the card's default)
 *     CKA_GP_SECURITY_LEVEL one byte, GlobalPlatform's coding: 01 C-MAC,
 *                           03 and C-DEC, 11 and R-MAC, 13, 33 (and R-ENC)
 *     CKA_GP_SCP            one byte: 0 auto, 1, 2, 3, as scp
 *     CKA_GP_DIVERSIFICATION CK_ULONG: GP_DIV_*, as diversification
 *     CKA_GP_AID            the security domain to select, as isd_aid})
 * in any session, before C_Login (no login needed, read-only sessions
 * too): a session object (CKA_TOKEN false) that C_FindObjects does not
 * list. The next C_Login in that session uses these choices over the
 * configuration's; C_DestroyObject or closing the session forgets them; a
 * second such object replaces the first. The configuration stays the floor:
 * a security level without every bit of security_level, or SCP01 where
 * scp01_allow is not yes, is refused at C_CreateObject
 * (CKR_ATTRIBUTE_VALUE_INVALID, said in the log). */
#define CKO_GP_LOGIN_OPTIONS      (CKO_VENDOR_DEFINED | 0x47500002UL)
#define CKA_GP_KEY_SET_NAME       (CKA_VENDOR_DEFINED | 0x47500016UL) /* UTF-8, up to 59 bytes */
#define CKA_GP_SECURITY_LEVEL     (CKA_VENDOR_DEFINED | 0x47500017UL) /* one byte */
#define CKA_GP_SCP                (CKA_VENDOR_DEFINED | 0x47500018UL) /* one byte */
#define CKA_GP_DIVERSIFICATION    (CKA_VENDOR_DEFINED | 0x47500019UL) /* CK_ULONG */
#define GP_DIV_NONE  0UL
#define GP_DIV_EMV   1UL /* EMV CPS 1.1, DES master keys */
#define GP_DIV_VISA2 2UL /* VISA2, DES master keys */
#define GP_DIV_KDF3  3UL /* SP 800-108 with AES-CMAC over the KDD, AES master keys */

#define GP_KIND_ISD       1UL /* issuer security domain */
#define GP_KIND_APP       2UL /* application */
#define GP_KIND_SSD       3UL /* supplementary security domain */
#define GP_KIND_LOAD_FILE 4UL /* executable load file */

/* Why a C_Login failed (gp-p11(7), "Device errors"). C_GetSessionInfo's
 * ulDeviceError carries the card's status word in its low 16 bits (0 when
 * the card refused nothing) and, after a failed C_Login, one of these in
 * bits 16 to 23 (0: none of them; the CK_RV says, for example
 * CKR_PIN_INCORRECT for the keystore's PIN). */
#define GP_DEVICE_ERROR_SW(e)     ((unsigned)(e) & 0xFFFFu)
#define GP_DEVICE_ERROR_REASON(e) (((unsigned long)(e) >> 16) & 0xFFu)
#define GP_LOGIN_KEY_SET_MISSING    1u /* the keystore has no such key set */
#define GP_LOGIN_KEY_VERSION        2u /* the card has no keys of that version (6A88), or gave another */
#define GP_LOGIN_KEYS_MISMATCH      3u /* the card cryptogram did not verify: EXTERNAL AUTHENTICATE not sent */
#define GP_LOGIN_AUTH_REFUSED       4u /* the card refused EXTERNAL AUTHENTICATE: a try was spent */
#define GP_LOGIN_AUTH_HELD          5u /* not sent: this card refused one before (keys refusals) */
#define GP_LOGIN_PROTOCOL           6u /* the card's protocol or level is not one the configuration allows */
#define GP_LOGIN_CARD_REFUSED       7u /* the card refused SELECT or INITIALIZE UPDATE otherwise */

#endif
