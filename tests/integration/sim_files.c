#include "sim_files.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static FILE *open_state(int card)
{
    char var[32];
    snprintf(var, sizeof var, "GP_SIM_STATE_%d", card);
    const char *path = getenv(var);
    assert_non_null(path);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    return f;
}

long sim_state(int card, const char *key)
{
    char line[1024];
    FILE *f = open_state(card);
    long v = -1;
    size_t kl = strlen(key);
    /* these are written in hex, like the card's own bytes */
    int hex = !strcmp(key, "seq") || !strcmp(key, "level") || !strcmp(key, "i") ||
              !strcmp(key, "card_lifecycle");
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ')
            v = strtol(strchr(line, '=') + 1, NULL, hex ? 16 : 10);
    fclose(f);
    return v;
}

int sim_state_has(int card, const char *key, const char *text)
{
    char line[1024];
    FILE *f = open_state(card);
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0 && strstr(line, text))
            found = 1;
    fclose(f);
    return found;
}

void sim_control(int card, const char *text)
{
    char var[32], tmp[1024];
    snprintf(var, sizeof var, "GP_SIM_CONTROL_%d", card);
    const char *path = getenv(var);
    assert_non_null(path);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}
