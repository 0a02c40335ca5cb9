/* Reads known-answer transcripts: lines "name = hex  # comment". */
#ifndef GP_TEST_VECTORS_H
#define GP_TEST_VECTORS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char name[32];
    uint8_t v[300];
    size_t len;
} vec_entry_t;

typedef struct {
    vec_entry_t e[64];
    size_t n;
} vec_file_t;

/* Loads $GP_TEST_VECTORS/file; returns 0 or -1. */
int vec_load(vec_file_t *vf, const char *file);
/* The value named name; aborts the test when missing. */
const vec_entry_t *vec_get(const vec_file_t *vf, const char *name);

#endif
