/* One template reader for every C_CreateObject and C_SetAttributeValue
 * path: the null and length rules done once, booleans, bytes, AIDs and byte
 * strings, and the three templates the module takes (a CAP file's, a PUT
 * KEY's, a change to a registry object). Pure: it reads templates and
 * touches no card. */
#ifndef GP_MODULE_TEMPLATE_H
#define GP_MODULE_TEMPLATE_H

#include <p11-kit/pkcs11.h>
#include <stddef.h>
#include <stdint.h>

/* A value pointer of NULL with a length (CKR_ARGUMENTS_BAD). */
int template_null(const CK_ATTRIBUTE *a);
/* Is the value exactly this text (no terminating zero)? */
int template_is(const CK_ATTRIBUTE *a, const char *text);
/* Each: CKR_OK, or CKR_ATTRIBUTE_VALUE_INVALID with nothing written. */
CK_RV template_bool(const CK_ATTRIBUTE *a, int *out);         /* a CK_BBOOL */
CK_RV template_byte(const CK_ATTRIBUTE *a, uint8_t *out);     /* exactly one byte */
CK_RV template_aid(const CK_ATTRIBUTE *a, uint8_t *out, size_t *len); /* 5 to 16 bytes */
CK_RV template_bytes(const CK_ATTRIBUTE *a, size_t min, size_t max, uint8_t *out, size_t *len);

/* The class a C_CreateObject template asks for: 0 when it names none, else
 * 1 with *cls (CK_UNAVAILABLE_INFORMATION when the value is no class). */
int template_class(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_CLASS *cls);

/* The template of a PUT KEY (see gp-p11.h): label, new and replaced key
 * versions, and key values only where allowed. */
typedef struct {
    char name[64];
    uint8_t kvn, replace;
    uint8_t values[96];         /* enc || mac || dek: 3 x 16 (DES, AES-128) or 3 x 32 bytes */
    size_t values_len;
    int have_values;
} put_key_t;
CK_RV template_put_key(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, put_key_t *p);

/* What C_SetAttributeValue asks of a registry object: a lifecycle (with its
 * confirmation to terminate), STORE DATA to an application (with its
 * format), or a load file's DELETE choice (related, -1: not asked). */
typedef struct {
    int have_lifecycle, confirm;
    uint8_t lifecycle;
    int have_store;
    const uint8_t *store;
    size_t store_len;
    uint8_t format;
    int related;
} set_req_t;
/* registry: the object is a registry entry, of kind (GP_KIND_*); anything
 * else it cannot take is CKR_ATTRIBUTE_READ_ONLY on a registry object,
 * CKR_ACTION_PROHIBITED on one that cannot be changed at all. */
CK_RV template_set(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, int registry, CK_ULONG kind, set_req_t *q);

#endif
