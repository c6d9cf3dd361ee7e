/* A module loaded at run time by roots_dlopen.  Its data, bss and
 * thread-local variables hold the only references to test objects. */
#define MOD_API __attribute__((visibility("default")))

static void *mod_bss_slot;                        /* .bss */
static void *mod_data_slot = (void *)1;           /* .data */
static void *mod_bss_array[4096];                 /* 32 KB of .bss */
static __thread void *mod_tls_slot;               /* dynamic TLS */

MOD_API void mod_set(int which, void *p)
{
    switch (which) {
    case 0: mod_bss_slot = p; break;
    case 1: mod_data_slot = p; break;
    case 2: mod_bss_array[4095] = p; break;
    case 3: mod_tls_slot = p; break;
    default: break;
    }
}

MOD_API void *mod_get(int which)
{
    switch (which) {
    case 0: return mod_bss_slot;
    case 1: return mod_data_slot;
    case 2: return mod_bss_array[4095];
    case 3: return mod_tls_slot;
    default: return 0;
    }
}
