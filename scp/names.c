/* See names.h. */
#include "config.h"
#include "names.h"

#include <string.h>

#include "keystore/keystore.h"

static const struct { const char *name; uint8_t level; } levels[] = {
    {"mac", 0x01}, {"mac-enc", 0x03}, {"mac-rmac", 0x11}, {"mac-enc-rmac", 0x13},
    {"mac-enc-rmac-renc", 0x33},
};

int gp_level_from_name(const char *name, uint8_t *level)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (!strcmp(name, levels[i].name)) {
            *level = levels[i].level;
            return 0;
        }
    return -1;
}

const char *gp_level_name(uint8_t level)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (levels[i].level == level)
            return levels[i].name;
    return NULL;
}

int gp_scp_from_name(const char *name, uint8_t *scp)
{
    static const char *const words[][2] = {{"auto", NULL}, {"01", "1"}, {"02", "2"}, {"03", "3"}};
    for (uint8_t i = 0; i < 4; i++)
        if (!strcmp(name, words[i][0]) || (words[i][1] && !strcmp(name, words[i][1]))) {
            *scp = i;
            return 0;
        }
    return -1;
}

static const char *const divs[] = {[KS_DIV_NONE] = "none", [KS_DIV_EMV] = "emv",
                                   [KS_DIV_VISA2] = "visa2", [KS_DIV_KDF3] = "kdf3"};

int gp_div_from_name(const char *name, int *div)
{
    for (int i = 0; i < (int)(sizeof divs / sizeof divs[0]); i++)
        if (!strcmp(name, divs[i])) {
            *div = i;
            return 0;
        }
    return -1;
}

const char *gp_div_name(int div)
{
    return div >= 0 && div < (int)(sizeof divs / sizeof divs[0]) ? divs[div] : NULL;
}
