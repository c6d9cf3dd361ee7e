/* linux_compat.h - kernel uAPI pieces newer than the build host's headers.
 *
 * Debian bookworm ships linux-libc-dev 6.1; the machines we run on have a
 * newer kernel.  Everything a backend needs from a later uAPI is defined
 * here, each item behind #ifndef so newer headers win, with the kernel
 * release that introduced it.  Whether the running kernel really has a
 * feature is always decided at run time (UFFDIO_API answer, ioctl errno). */
#ifndef COGC_LINUX_COMPAT_H
#define COGC_LINUX_COMPAT_H

#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/types.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

/* ---- userfaultfd ---------------------------------------------------- */

/* /dev/userfaultfd and its ioctl: Linux 6.1. */
#ifndef USERFAULTFD_IOC
#define USERFAULTFD_IOC 0xAA
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00)
#endif

/* userfaultfd(2) flag: only handle faults from user mode.  Linux 5.11. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

/* Write-protect mode for anonymous memory: Linux 5.7 (present in 6.1,
 * repeated for completeness). */
#ifndef UFFDIO_REGISTER_MODE_WP
#define UFFDIO_REGISTER_MODE_WP ((__u64)1 << 1)
#endif
#ifndef UFFD_FEATURE_PAGEFAULT_FLAG_WP
#define UFFD_FEATURE_PAGEFAULT_FLAG_WP (1 << 0)
#endif

/* UFFDIO_WRITEPROTECT on never-populated PTEs installs markers, so the
 * first write to an untouched page is caught too.  Linux 6.4. */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif

/* Write-protect faults are resolved by the kernel itself (the page is
 * unprotected, no message is queued); PAGEMAP_SCAN reads the result.
 * Linux 6.7. */
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* ---- PAGEMAP_SCAN ioctl on /proc/<pid>/pagemap: Linux 6.7 ------------ */

#ifndef PAGEMAP_SCAN

#define PAGEMAP_IOCTL_MAGIC 'f'

/* Page categories, used in the masks and reported in page_region. */
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN   (1 << 1)
#define PAGE_IS_FILE      (1 << 2)
#define PAGE_IS_PRESENT   (1 << 3)
#define PAGE_IS_SWAPPED   (1 << 4)
#define PAGE_IS_PFNZERO   (1 << 5)
#define PAGE_IS_HUGE      (1 << 6)

/* One run of pages sharing the reported categories, [start, end). */
struct page_region {
    __u64 start;
    __u64 end;
    __u64 categories;
};

/* Flags: write-protect the pages that match (atomically with reporting
 * them); fail with EPERM if a page in range lacks async write-protect. */
#define PM_SCAN_WP_MATCHING   (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct pm_scan_arg {
    __u64 size;                /* sizeof(struct pm_scan_arg) */
    __u64 flags;
    __u64 start;               /* range, page aligned */
    __u64 end;
    __u64 walk_end;            /* out: where the walk stopped */
    __u64 vec;                 /* struct page_region[vec_len] */
    __u64 vec_len;
    __u64 max_pages;           /* 0 = no limit */
    __u64 category_inverted;
    __u64 category_mask;
    __u64 category_anyof_mask;
    __u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR(PAGEMAP_IOCTL_MAGIC, 16, struct pm_scan_arg)

#endif /* PAGEMAP_SCAN */

/* Soft-dirty category: Linux 6.8 (not used for tracking, only named). */
#ifndef PAGE_IS_SOFT_DIRTY
#define PAGE_IS_SOFT_DIRTY (1 << 7)
#endif

#endif
