#include "vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keystore/hex.h"

int vec_load(vec_file_t *vf, const char *file)
{
    const char *dir = getenv("GP_TEST_VECTORS");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/vectors", file);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open vector file %s\n", path);
        return -1;
    }
    memset(vf, 0, sizeof *vf);
    char line[1024];
    while (fgets(line, sizeof line, f) && vf->n < sizeof vf->e / sizeof vf->e[0]) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        vec_entry_t *e = &vf->e[vf->n];
        if (sscanf(line, "%31s", e->name) != 1)
            continue;
        int n = hex_decode(eq + 1, e->v, sizeof e->v);
        if (n < 0) {
            fprintf(stderr, "%s: bad hex for %s\n", path, e->name);
            fclose(f);
            return -1;
        }
        e->len = (size_t)n;
        vf->n++;
    }
    fclose(f);
    return 0;
}

const vec_entry_t *vec_get(const vec_file_t *vf, const char *name)
{
    for (size_t i = 0; i < vf->n; i++)
        if (strcmp(vf->e[i].name, name) == 0)
            return &vf->e[i];
    fprintf(stderr, "vector %s missing\n", name);
    abort();
}
