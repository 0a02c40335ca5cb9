/* The configuration file: a verdict for every file, never a crash. */
#include "module/conf.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n == 0)
        return 0;
    FILE *f = fmemopen((void *)d, n, "r");
    if (!f)
        return 0;
    gp_config_t c;
    char err[600] = "";
    config_defaults(&c);
    int rc = config_parse_stream(&c, f, "fuzz.conf", err, sizeof err);
    fclose(f);
    if (rc != 0 && !err[0])
        __builtin_trap(); /* refused without naming the line */
    return 0;
}
