/* Loaded at run time by malloc_api: its data holds the only pointer to
 * memory the program allocated before loading it. */
void *dlopen_mod_slot;
void dlopen_mod_keep(void *p) { dlopen_mod_slot = p; }
