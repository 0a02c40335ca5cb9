/* Java Card CAP files: the ZIP form (libzip) and the raw load-file form
 * (.ijc), read into the load file data block that LOAD sends. */
#ifndef GP_SCP_CAP_H
#define GP_SCP_CAP_H

#include <stddef.h>
#include <stdint.h>

#define GP_CAP_APPLETS_MAX 16
/* A CAP file handed to the parser, whole (an applet of a few hundred KiB is
 * already very large; the card's own memory is the real limit). */
#define GP_CAP_FILE_MAX (4u * 1024 * 1024)
/* One component: tag, u2 size, then size bytes. */
#define GP_CAP_COMPONENT_MAX (3u + 65535u)

/* Component tags (Java Card VM specification, chapter 6). */
enum gp_cap_tag {
    CAP_HEADER = 1, CAP_DIRECTORY, CAP_APPLET, CAP_IMPORT, CAP_CONSTANT_POOL, CAP_CLASS,
    CAP_METHOD, CAP_STATIC_FIELD, CAP_REF_LOCATION, CAP_EXPORT, CAP_DESCRIPTOR, CAP_DEBUG,
    CAP_TAGS = CAP_DEBUG
};

typedef struct {
    uint8_t pkg_aid[16];
    size_t pkg_aid_len;
    uint8_t pkg_major, pkg_minor;     /* the package's version */
    uint8_t cap_major, cap_minor;     /* the CAP format's */
    int n_applets;
    uint8_t applet_aid[GP_CAP_APPLETS_MAX][16];
    size_t applet_aid_len[GP_CAP_APPLETS_MAX];
    int has[CAP_TAGS + 1];            /* which components the file holds */
    int with_descriptor;              /* Descriptor is in the block */
    uint8_t *block;                   /* load file data block: C4, BER length, components */
    size_t block_len;
} gp_cap_t;

/* Reads a CAP file (ZIP) or a raw load file. The block holds the components
 * in the Java Card load order (Header, Directory, Import, Applet, Class,
 * Method, StaticField, Export, ConstantPool, RefLocation, then Descriptor
 * when with_descriptor and present); Debug never. Returns 0, or -1 with why
 * naming what is wrong. gp_cap_free releases the block. */
int gp_cap_parse(const uint8_t *data, size_t len, int with_descriptor, gp_cap_t *cap, char *why,
                 size_t why_len);
void gp_cap_free(gp_cap_t *cap);
/* "Header", "Method"...; "component N" for tags outside the specification. */
const char *gp_cap_component_name(int tag);

#endif
