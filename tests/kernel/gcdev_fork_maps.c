/* gcdev_fork_maps - in a fork child, the gcdev backend maps its own copy of
 * the heap over the device's mappings, found in /proc/self/maps.  It once
 * took any mapping with the heap object's inode number and "cogc" in its
 * name: in the guest, libcogc.so.0 (inode 17 of the initramfs) matched
 * when the heap object was inode 17 of the kernel's internal tmpfs, and
 * the child mapped heap memory over the collector's own code (SIGSEGV in
 * about one fork_threads-gcdev run in five).  Here the collision is made
 * on purpose: a fresh tmpfs numbers its inodes 1, 2, 3..., so files named
 * cogc-N are created there until one has the heap object's inode number;
 * that file is mapped, the process forks, and the child checks that the
 * mapping still shows the file and that its heap works.  Runs in the qemu
 * guest (tests/kernel/tests.list) with COGC_DIRTY=gcdev, as root (mount);
 * elsewhere it prints SKIP and exits 77. */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define DIR_ "/tmp/gcdev-collide"
#define MAX_FILES 200000
#define PG 4096

static void skip(const char *why)
{
    printf("SKIP: %s\n", why);
    exit(77);
}

/* Inode number of the heap object (the mapping named "/cogc (deleted)"). */
static uint64_t heap_ino(void)
{
    FILE *m = fopen("/proc/self/maps", "re");
    ck_assert_ptr_nonnull(m);
    char line[512];
    uint64_t ino = 0;
    while (!ino && fgets(line, sizeof line, m)) {
        uint64_t i;
        int pos = 0;
        if (sscanf(line, "%*x-%*x %*s %*x %*x:%*x %" SCNu64 " %n", &i, &pos) == 1 && pos &&
            strcmp(line + pos, "/cogc (deleted)\n") == 0)
            ino = i;
    }
    fclose(m);
    return ino;
}

/* A file in a fresh tmpfs with inode number `ino`, "cogc" in its name. */
static int colliding_file(uint64_t ino)
{
    char path[64];
    for (unsigned n = 0; n < MAX_FILES; n++) {
        snprintf(path, sizeof path, DIR_ "/cogc-%u", n);
        int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_msg(f >= 0, "create %s: %s", path, strerror(errno));
        struct stat st;
        ck_assert_int_eq(fstat(f, &st), 0);
        if (st.st_ino == ino)
            return f;
        close(f);
        if (st.st_ino > ino)
            break;
    }
    return -1;
}

static bool page_is(const unsigned char *p, unsigned char v)
{
    for (size_t i = 0; i < PG; i++)
        if (p[i] != v)
            return false;
    return true;
}

static int child(const unsigned char *file_map, struct tu_node *list)
{
    if (!page_is(file_map, 0x5a))
        return 1; /* the file's mapping was replaced */
    if (tu_list_bad(list, 2000, 3))
        return 2;
    struct tu_node *mine = tu_list_make(5000, 4);
    tu_churn(64, 20000);
    cogc_collect();
    if (tu_list_bad(mine, 5000, 4) || tu_list_bad(list, 2000, 3))
        return 3;
    return 0;
}

START_TEST(fork_child_remaps_only_device_memory)
{
    struct tu_node *list = tu_list_make(2000, 3);
    uint64_t ino = heap_ino();
    ck_assert_msg(ino != 0, "no /cogc mapping in /proc/self/maps");
    mkdir(DIR_, 0700);
    if (mount("tmpfs", DIR_, "tmpfs", 0, "size=4m") != 0)
        skip("cannot mount a tmpfs (not root?)");
    int f = colliding_file(ino);
    if (f < 0) {
        umount2(DIR_, MNT_DETACH);
        skip("no file of a fresh tmpfs got the heap object's inode number");
    }
    unsigned char page[PG];
    memset(page, 0x5a, sizeof page);
    ck_assert_int_eq(pwrite(f, page, sizeof page, 0), (ssize_t)sizeof page);
    unsigned char *m = mmap(NULL, PG, PROT_READ, MAP_SHARED, f, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(child(m, list));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x (1: file mapping replaced)",
                  status);
    ck_assert(page_is(m, 0x5a));
    ck_assert_uint_eq(tu_list_bad(list, 2000, 3), 0);
    munmap(m, PG);
    close(f);
    ck_assert_int_eq(umount2(DIR_, MNT_DETACH), 0);
}
END_TEST

int main(void)
{
    setenv("COGC_DIRTY", "gcdev", 1);
    tu_require_dirty_backend();
    Suite *s = suite_create("gcdev_fork_maps");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fork_child_remaps_only_device_memory);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
