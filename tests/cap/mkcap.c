/*
 * Makes the test CAP files: Java Card CAP archives (ZIP, through libzip) and
 * raw load files, whose components are framed as the Java Card VM
 * specification says, with a package AID, version and applets of our
 * choosing, padded to a chosen size; and broken variants. The bytecode is
 * filler: no card could run it, our parser and the simulator only read the
 * framing, the Header and the Applet component.
 *
 *   mkcap OUT [options]
 *     --size N        total size of the components, at least (default 2048)
 *     --pkg HEX       package AID (default D2760001AA01), version 1.0
 *     --applets K     applets D2760001AA0101 ... (default 1; 0: a library)
 *     --no-export --no-descriptor --debug    leave out / add components
 *     --ijc           write the raw load file (components in load order)
 *     --broken KIND   tag | size | missing | bomb | climb | twopkg | magic
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

enum { HEADER = 1, DIRECTORY, APPLET, IMPORT, CPOOL, CLASS, METHOD, STATIC, REFLOC, EXPORT,
       DESCRIPTOR, DEBUG };
static const char *const names[] = {NULL,     "Header",      "Directory",   "Applet",
                                    "Import", "ConstantPool", "Class",       "Method",
                                    "StaticField", "RefLocation", "Export", "Descriptor",
                                    "Debug"};
static const int order[] = {HEADER, DIRECTORY, IMPORT, APPLET, CLASS, METHOD, STATIC,
                            EXPORT, CPOOL,  REFLOC,    DESCRIPTOR, DEBUG};

static uint8_t *comp[13];
static size_t comp_len[13];

/* A component: tag, u2 size, then info. */
static void put(int tag, const uint8_t *info, size_t n)
{
    comp[tag] = malloc(n + 3);
    comp[tag][0] = (uint8_t)tag;
    comp[tag][1] = (uint8_t)(n >> 8);
    comp[tag][2] = (uint8_t)n;
    memcpy(comp[tag] + 3, info, n);
    comp_len[tag] = n + 3;
}

/* Filler info of n bytes, different per component. */
static void filler(int tag, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 7 + (size_t)tag * 31);
    put(tag, b, n);
    free(b);
}

static size_t hex(const char *s, uint8_t *out)
{
    size_t n = 0;
    for (; s[0] && s[1]; s += 2)
        sscanf(s, "%2hhx", &out[n++]);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *out = argv[1], *broken = "";
    size_t size = 2048;
    uint8_t pkg[16];
    size_t pkg_len = hex("D2760001AA01", pkg);
    int applets = 1, export = 1, descriptor = 1, debug = 0, ijc = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--pkg") && i + 1 < argc)
            pkg_len = hex(argv[++i], pkg);
        else if (!strcmp(argv[i], "--applets") && i + 1 < argc)
            applets = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-export"))
            export = 0;
        else if (!strcmp(argv[i], "--no-descriptor"))
            descriptor = 0;
        else if (!strcmp(argv[i], "--debug"))
            debug = 1;
        else if (!strcmp(argv[i], "--ijc"))
            ijc = 1;
        else if (!strcmp(argv[i], "--broken") && i + 1 < argc)
            broken = argv[++i];
        else {
            fprintf(stderr, "mkcap: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    /* Header: magic, CAP format 2.2, flags (applets present), package 1.0, AID */
    uint8_t h[64] = {0xDE, 0xCA, 0xFF, 0xED, 0x02, 0x02, applets ? 0x04 : 0x00, 0x00, 0x01};
    h[9] = (uint8_t)pkg_len;
    memcpy(h + 10, pkg, pkg_len);
    if (!strcmp(broken, "magic"))
        h[0] = 0xCA;
    put(HEADER, h, 10 + pkg_len);
    /* Import: java.lang 1.0 */
    put(IMPORT, (const uint8_t *)"\x01\x00\x01\x07\xA0\x00\x00\x00\x62\x00\x01", 11);
    if (applets) {
        uint8_t a[1 + 16 * 20];
        size_t n = 0;
        a[n++] = (uint8_t)applets;
        for (int k = 0; k < applets; k++) {
            a[n++] = (uint8_t)(pkg_len + 1);
            memcpy(a + n, pkg, pkg_len);
            n += pkg_len;
            a[n++] = (uint8_t)(k + 1);
            a[n++] = 0x00; /* install method offset */
            a[n++] = (uint8_t)(0x10 + k);
        }
        put(APPLET, a, n);
    }
    filler(CLASS, 24);
    filler(STATIC, 10);
    filler(CPOOL, 40);
    filler(REFLOC, 12);
    if (export)
        filler(EXPORT, 16);
    if (descriptor)
        filler(DESCRIPTOR, 48);
    if (debug)
        filler(DEBUG, 64);
    /* Method: whatever makes up the size asked for */
    size_t have = 3 + 31; /* the Directory */
    for (int t = 1; t <= 12; t++)
        have += comp_len[t];
    size_t m = size > have + 3 ? size - have - 3 : 16;
    if (m > 65535)
        m = 65535;
    filler(METHOD, m);
    /* Directory: the sizes of the others, as the specification lays it out */
    uint8_t d[32] = {0};
    for (int t = 1; t <= 11; t++) {
        size_t s = t == DIRECTORY ? 31 : (comp_len[t] ? comp_len[t] - 3 : 0);
        d[2 * (t - 1)] = (uint8_t)(s >> 8);
        d[2 * (t - 1) + 1] = (uint8_t)s;
    }
    d[28] = 1;                      /* import count */
    d[29] = (uint8_t)applets;       /* applet count */
    put(DIRECTORY, d, 31);
    if (!strcmp(broken, "tag"))
        comp[METHOD][0] = CLASS;
    if (!strcmp(broken, "size"))
        comp[CLASS][2]++;
    if (!strcmp(broken, "missing")) {
        free(comp[METHOD]);
        comp[METHOD] = NULL;
        comp_len[METHOD] = 0;
    }
    if (ijc) {
        FILE *f = fopen(out, "wb");
        if (!f)
            return 1;
        for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
            if (comp[order[i]])
                fwrite(comp[order[i]], 1, comp_len[order[i]], f);
        return fclose(f) ? 1 : 0;
    }
    int err;
    zip_t *z = zip_open(out, ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!z)
        return 1;
    char dir[64] = "com/example/test/javacard/", name[128];
    zip_file_add(z, "META-INF/MANIFEST.MF",
                 zip_source_buffer(z, "Manifest-Version: 1.0\n", 22, 0), 0);
    for (int t = 1; t <= 12; t++) {
        if (!comp[t])
            continue;
        snprintf(name, sizeof name, "%s%s.cap", dir, names[t]);
        if (!strcmp(broken, "twopkg") && t == METHOD)
            snprintf(name, sizeof name, "org/other/javacard/%s.cap", names[t]);
        zip_file_add(z, name, zip_source_buffer(z, comp[t], comp_len[t], 0), ZIP_FL_OVERWRITE);
    }
    static uint8_t zeros[16 << 20];
    if (!strcmp(broken, "bomb")) /* 16 MiB of zeros in place of Method, a few KiB packed */
        zip_file_add(z, "com/example/test/javacard/Method.cap",
                     zip_source_buffer(z, zeros, sizeof zeros, 0), ZIP_FL_OVERWRITE);
    if (!strcmp(broken, "climb"))
        zip_file_add(z, "../../../tmp/evil/javacard/Header.cap",
                     zip_source_buffer(z, comp[HEADER], comp_len[HEADER], 0), 0);
    return zip_close(z) == 0 ? 0 : 1;
}
