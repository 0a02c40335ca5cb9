/* Loads a PKCS#11 module, calls C_Initialize and prints its CKR in hex: for
 * tests that run it setuid, or as another user (tests/integration/hostile.sh).
 *   init_probe MODULE */
#include <dlfcn.h>
#include <stdio.h>

#include <p11-kit/pkcs11.h>

int main(int argc, char **argv)
{
    void *dl = argc == 2 ? dlopen(argv[1], RTLD_NOW) : NULL;
    CK_C_GetFunctionList gfl = dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    CK_FUNCTION_LIST_PTR f;
    if (!gfl || gfl(&f) != CKR_OK) {
        fprintf(stderr, "init_probe: cannot load %s\n", argc == 2 ? argv[1] : "(none)");
        return 2;
    }
    CK_RV rv = f->C_Initialize(NULL);
    printf("C_Initialize: 0x%lx\n", rv);
    if (rv == CKR_OK)
        f->C_Finalize(NULL);
    return 0;
}
