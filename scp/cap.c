/* CAP files: see cap.h. */
#include "config.h"
#include "cap.h"
#include "keystore/msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

static const char *const names[CAP_TAGS + 1] = {
    NULL,     "Header", "Directory", "Applet",     "Import", "ConstantPool", "Class",
    "Method", "StaticField", "RefLocation", "Export", "Descriptor", "Debug"};

/* The Java Card load order; Debug is never loaded. */
static const int load_order[] = {CAP_HEADER,       CAP_DIRECTORY, CAP_IMPORT,        CAP_APPLET,
                                 CAP_CLASS,        CAP_METHOD,    CAP_STATIC_FIELD,  CAP_EXPORT,
                                 CAP_CONSTANT_POOL, CAP_REF_LOCATION, CAP_DESCRIPTOR};

/* Every package has these; Applet (a library has none), Export (nothing
 * exported), Descriptor and Debug may be absent. */
static const int required[] = {CAP_HEADER, CAP_DIRECTORY, CAP_IMPORT, CAP_CLASS, CAP_METHOD,
                               CAP_STATIC_FIELD, CAP_CONSTANT_POOL, CAP_REF_LOCATION};

#define ZIP_ENTRIES_MAX 4096

const char *gp_cap_component_name(int tag)
{
    static __thread char other[24];
    if (tag >= 1 && tag <= CAP_TAGS)
        return names[tag];
    snprintf(other, sizeof other, "component %d", tag);
    return other;
}

static int bad(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vset(why, why_len, fmt, ap);
    va_end(ap);
    return -1;
}

typedef struct {
    uint8_t *data[CAP_TAGS + 1];
    size_t len[CAP_TAGS + 1];
} parts_t;

static void parts_free(parts_t *p)
{
    for (int t = 0; t <= CAP_TAGS; t++)
        free(p->data[t]);
}

/* One component's framing: its tag is the one its name says, and its u2
 * size is what follows. */
static int check_frame(int tag, const uint8_t *c, size_t len, char *why, size_t why_len)
{
    if (len < 3)
        return bad(why, why_len, "the %s component is %zu bytes, shorter than its tag and size",
                   names[tag], len);
    if (c[0] != tag)
        return bad(why, why_len, "the %s component carries tag %u, which is %s's", names[tag],
                   c[0], gp_cap_component_name(c[0]));
    size_t size = (size_t)c[1] << 8 | c[2];
    if (size + 3 != len)
        return bad(why, why_len, "the %s component says it holds %zu bytes but holds %zu",
                   names[tag], size, len - 3);
    return 0;
}

static int aid_ok(size_t n) { return n >= 5 && n <= 16; }

static int read_header(gp_cap_t *cap, const uint8_t *c, size_t len, char *why, size_t why_len)
{
    /* tag, size, magic DECAFFED, CAP minor, major, flags, package minor,
     * major, AID length, AID */
    if (len < 13)
        return bad(why, why_len, "the Header component is too short (%zu bytes)", len);
    if (memcmp(c + 3, "\xDE\xCA\xFF\xED", 4) != 0)
        return bad(why, why_len, "the Header component does not start with the magic DECAFFED: "
                                 "not a Java Card CAP file");
    cap->cap_minor = c[7];
    cap->cap_major = c[8];
    cap->pkg_minor = c[10];
    cap->pkg_major = c[11];
    size_t n = c[12];
    if (!aid_ok(n) || 13 + n > len)
        return bad(why, why_len, "the Header component's package AID length %zu is %s", n,
                   aid_ok(n) ? "beyond the component" : "not 5 to 16");
    memcpy(cap->pkg_aid, c + 13, n);
    cap->pkg_aid_len = n;
    return 0;
}

static int read_applets(gp_cap_t *cap, const uint8_t *c, size_t len, char *why, size_t why_len)
{
    if (len < 4)
        return bad(why, why_len, "the Applet component is too short (%zu bytes)", len);
    int count = c[3];
    if (count == 0 || count > GP_CAP_APPLETS_MAX)
        return bad(why, why_len, "the Applet component lists %d applets (1 to %d expected)", count,
                   GP_CAP_APPLETS_MAX);
    size_t p = 4;
    for (int i = 0; i < count; i++) {
        if (p >= len)
            return bad(why, why_len, "the Applet component ends inside applet %d", i + 1);
        size_t n = c[p++];
        if (!aid_ok(n) || p + n + 2 > len)
            return bad(why, why_len, "applet %d's AID length %zu is %s", i + 1, n,
                       aid_ok(n) ? "beyond the Applet component" : "not 5 to 16");
        memcpy(cap->applet_aid[i], c + p, n);
        cap->applet_aid_len[i] = n;
        p += n + 2; /* the install method's offset */
    }
    if (p != len)
        return bad(why, why_len, "the Applet component has %zu bytes after its %d applets",
                   len - p, count);
    cap->n_applets = count;
    return 0;
}

/* Checks the components, reads Header and Applet, builds the block. */
static int assemble(parts_t *p, int with_descriptor, gp_cap_t *cap, char *why, size_t why_len)
{
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!p->data[required[i]])
            return bad(why, why_len, "the %s component is missing", names[required[i]]);
    for (int t = 1; t <= CAP_TAGS; t++) {
        cap->has[t] = p->data[t] != NULL;
        if (p->data[t] && check_frame(t, p->data[t], p->len[t], why, why_len) < 0)
            return -1;
    }
    if (read_header(cap, p->data[CAP_HEADER], p->len[CAP_HEADER], why, why_len) < 0)
        return -1;
    if (p->data[CAP_APPLET] &&
        read_applets(cap, p->data[CAP_APPLET], p->len[CAP_APPLET], why, why_len) < 0)
        return -1;
    cap->with_descriptor = with_descriptor && p->data[CAP_DESCRIPTOR];
    size_t code = 0;
    for (size_t i = 0; i < sizeof load_order / sizeof load_order[0]; i++) {
        int t = load_order[i];
        if (p->data[t] && (t != CAP_DESCRIPTOR || cap->with_descriptor))
            code += p->len[t];
    }
    cap->block = malloc(code + 5);
    if (!cap->block)
        return bad(why, why_len, "out of memory");
    size_t o = 0;
    cap->block[o++] = 0xC4;
    if (code > 0xFFFF) {
        cap->block[o++] = 0x83;
        cap->block[o++] = (uint8_t)(code >> 16);
        cap->block[o++] = (uint8_t)(code >> 8);
    } else if (code > 0xFF) {
        cap->block[o++] = 0x82;
        cap->block[o++] = (uint8_t)(code >> 8);
    } else if (code > 0x7F) {
        cap->block[o++] = 0x81;
    }
    cap->block[o++] = (uint8_t)code;
    for (size_t i = 0; i < sizeof load_order / sizeof load_order[0]; i++) {
        int t = load_order[i];
        if (p->data[t] && (t != CAP_DESCRIPTOR || cap->with_descriptor)) {
            memcpy(cap->block + o, p->data[t], p->len[t]);
            o += p->len[t];
        }
    }
    cap->block_len = o;
    return 0;
}

/* A raw load file: components one after the other, each once. */
static int parse_raw(const uint8_t *d, size_t len, parts_t *p, char *why, size_t why_len)
{
    size_t o = 0;
    int prev = 0;
    while (o < len) {
        if (len - o < 3)
            return bad(why, why_len, "the load file ends inside a component's tag and size "
                                     "(offset %zu)", o);
        int tag = d[o];
        size_t n = 3 + ((size_t)d[o + 1] << 8 | d[o + 2]);
        if ((tag < 1 || tag > CAP_TAGS) && prev)
            return bad(why, why_len, "after the %s component, offset %zu holds tag %d, which no "
                                     "CAP component has: a component's stated size is wrong",
                       names[prev], o, tag);
        if (tag < 1 || tag > CAP_TAGS)
            return bad(why, why_len, "offset %zu holds tag %d, which no CAP component has", o, tag);
        if (o == 0 && tag != CAP_HEADER)
            return bad(why, why_len, "a load file starts with the Header component, this one "
                                     "with %s", names[tag]);
        if (p->data[tag])
            return bad(why, why_len, "the %s component appears twice", names[tag]);
        if (n > len - o)
            return bad(why, why_len, "the %s component says it holds %zu bytes, but only %zu "
                                     "follow", names[tag], n - 3, len - o - 3);
        p->data[tag] = malloc(n);
        if (!p->data[tag])
            return bad(why, why_len, "out of memory");
        memcpy(p->data[tag], d + o, n);
        p->len[tag] = n;
        o += n;
        prev = tag;
    }
    return 0;
}

/* The component an entry name stands for (0: not a component), and the
 * length of its directory part (".../javacard/"). */
static int component_of(const char *name, size_t *dir_len)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    size_t dl = (size_t)(base - name);
    if (dl < 9 || memcmp(base - 9, "javacard/", 9) != 0 || (dl > 9 && base[-10] != '/'))
        return 0;
    for (int t = 1; t <= CAP_TAGS; t++) {
        size_t n = strlen(names[t]);
        if (strncmp(base, names[t], n) == 0 && strcmp(base + n, ".cap") == 0) {
            *dir_len = dl;
            return t;
        }
    }
    return 0;
}

static int name_is_safe(const char *name)
{
    if (name[0] == '/' || strchr(name, '\\') || strchr(name, ':'))
        return 0;
    for (const char *s = name; (s = strstr(s, "..")) != NULL; s += 2)
        if ((s == name || s[-1] == '/') && (s[2] == '/' || s[2] == 0))
            return 0;
    return 1;
}

static int parse_zip(const uint8_t *d, size_t len, parts_t *p, char *why, size_t why_len)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(d, len, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (!z) {
        bad(why, why_len, "not a readable ZIP archive: %s", zip_error_strerror(&ze));
        if (src)
            zip_source_free(src);
        zip_error_fini(&ze);
        return -1;
    }
    zip_error_fini(&ze);
    int rc = 0;
    char dir[512] = "";
    size_t have_dir = 0;
    zip_int64_t n = zip_get_num_entries(z, 0);
    if (n < 0 || n > ZIP_ENTRIES_MAX)
        rc = bad(why, why_len, "the ZIP archive lists %lld entries (at most %d expected)",
                 (long long)n, ZIP_ENTRIES_MAX);
    for (zip_int64_t i = 0; rc == 0 && i < n; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!name) {
            rc = bad(why, why_len, "ZIP entry %lld has no readable name", (long long)i);
            break;
        }
        if (!name_is_safe(name)) {
            rc = bad(why, why_len, "ZIP entry \"%.200s\" has an absolute or climbing path", name);
            break;
        }
        size_t dl = 0;
        int tag = component_of(name, &dl);
        if (!tag)
            continue; /* the manifest, applet sources, custom components */
        if (dl >= sizeof dir) {
            rc = bad(why, why_len, "ZIP entry \"%.200s\": path too long", name);
            break;
        }
        if (have_dir && (dl != have_dir || memcmp(dir, name, dl) != 0)) {
            rc = bad(why, why_len, "the archive holds components of two packages (\"%.*s\" and "
                                   "\"%.*s\")", (int)have_dir, dir, (int)dl, name);
            break;
        }
        memcpy(dir, name, dl);
        have_dir = dl;
        if (p->data[tag]) {
            rc = bad(why, why_len, "the %s component appears twice", names[tag]);
            break;
        }
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
            rc = bad(why, why_len, "the %s component's size cannot be read", names[tag]);
            break;
        }
        if (st.size > GP_CAP_COMPONENT_MAX) {
            rc = bad(why, why_len, "the %s component unpacks to %llu bytes, more than any CAP "
                                   "component can hold (%u): a ZIP bomb, or not a CAP file",
                     names[tag], (unsigned long long)st.size, GP_CAP_COMPONENT_MAX);
            break;
        }
        zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)i, 0);
        if (!f) {
            rc = bad(why, why_len, "the %s component cannot be unpacked: %s", names[tag],
                     zip_strerror(z));
            break;
        }
        /* never trust the stated size: read at most one byte more */
        uint8_t *buf = malloc((size_t)st.size + 1);
        zip_int64_t got = buf ? zip_fread(f, buf, st.size + 1) : -1;
        zip_fclose(f);
        if (got < 0 || (zip_uint64_t)got != st.size) {
            free(buf);
            rc = bad(why, why_len, "the %s component does not unpack to the size its entry states "
                                   "(%llu bytes)", names[tag], (unsigned long long)st.size);
            break;
        }
        p->data[tag] = buf;
        p->len[tag] = (size_t)got;
    }
    zip_discard(z);
    if (rc == 0 && !have_dir)
        rc = bad(why, why_len, "the ZIP archive holds no CAP components (no javacard/Header.cap)");
    return rc;
}

int gp_cap_parse(const uint8_t *data, size_t len, int with_descriptor, gp_cap_t *cap, char *why,
                 size_t why_len)
{
    memset(cap, 0, sizeof *cap);
    if (len > GP_CAP_FILE_MAX)
        return bad(why, why_len, "the file is %zu bytes, more than %u: not a CAP file", len,
                   GP_CAP_FILE_MAX);
    if (len < 4)
        return bad(why, why_len, "the file is %zu bytes: not a CAP file", len);
    parts_t p;
    memset(&p, 0, sizeof p);
    int rc;
    if (memcmp(data, "PK\x03\x04", 4) == 0 || memcmp(data, "PK\x05\x06", 4) == 0)
        rc = parse_zip(data, len, &p, why, why_len);
    else if (data[0] == CAP_HEADER)
        rc = parse_raw(data, len, &p, why, why_len);
    else
        rc = bad(why, why_len, "neither a CAP file (a ZIP archive) nor a raw load file (which "
                               "starts with the Header component)");
    if (rc == 0)
        rc = assemble(&p, with_descriptor, cap, why, why_len);
    parts_free(&p);
    if (rc != 0)
        gp_cap_free(cap);
    return rc;
}

void gp_cap_free(gp_cap_t *cap)
{
    free(cap->block);
    cap->block = NULL;
    cap->block_len = 0;
}
