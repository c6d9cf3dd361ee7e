/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cogc_dev.h - the user interface of /dev/cogc (backends/kmod/cogc.c),
 * shared by the module and user space.  See docs/kmod.md.
 *
 * Each open() of /dev/cogc is one context: a sparse, zero-filled,
 * swappable memory object (shmem) addressed by file offset, and a dirty
 * set of its pages.  mmap(MAP_SHARED) maps part of it; every page starts
 * write-protected.  The first write to a protected page faults into the
 * module, which records the page in the dirty set and makes it writable
 * (no signal, no trip to user space).
 *
 *   read(fd, struct cogc_run[n], n * sizeof(struct cogc_run))
 *       takes up to n runs of dirty pages (increasing offsets) out of the
 *       dirty set and write-protects them again before returning; returns
 *       bytes (a multiple of sizeof(struct cogc_run)), 0 when the set is
 *       empty.  Never blocks: poll() waits.
 *   write(fd, __u64 offsets[n], n * 8)
 *       write-protects those pages (byte offsets, page aligned) and drops
 *       them from the dirty set.
 *   poll: POLLIN when the dirty set holds at least max(1, limit) pages;
 *       POLLPRI when the kernel's reclaim ran since the last
 *       COGC_IOC_RECLAIMS (the module's shrinker: memory is short).
 *   madvise(MADV_REMOVE) frees pages (they read as zero again); munmap
 *       frees the pages of the unmapped range that no other mapping of
 *       the context maps (in any process).
 *   A fork that did not go through COGC_IOC_FORK_PREPARE (a raw clone
 *       system call) gives the child mappings that refuse every access
 *       (SIGBUS) instead of sharing the parent's pages; counted in
 *       stats.raw_forks.
 */
#ifndef COGC_DEV_H
#define COGC_DEV_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define COGC_DEV_NAME "cogc"

/* Bytes; offset and len page aligned. */
struct cogc_range {
	__u64 offset;
	__u64 len;
};

/* One run of dirty pages, bytes. */
struct cogc_run {
	__u64 offset;
	__u64 len;
};

/* COGC_IOC_TAKE: up to nruns runs are written to the array at address runs. */
struct cogc_take {
	__u64 runs;		/* struct cogc_run * */
	__u64 nruns;
};

struct cogc_stats {
	__u64 faults;		/* write faults recorded */
	__u64 reported;		/* pages returned by read */
	__u64 protected;	/* pages write-protected by read/write/PROTECT */
	__u64 dirty;		/* pages in the dirty set now */
	__u64 limit_hits;	/* times the notify limit was reached */
	__u64 ino;		/* inode number of the memory object, as
				 * /proc/<pid>/maps shows it ("/cogc (deleted)") */
	__u32 dev_major;	/* and its device (maps: "major:minor"): the */
	__u32 dev_minor;	/* inode number alone is not unique */
	__u64 pages;		/* pages the context holds (memory or swap) */
	__u64 raw_forks;	/* forks without FORK_PREPARE (refused child) */
	__u64 reclaims;		/* times the kernel's reclaim called the shrinker */
};

#define COGC_IOC_MAGIC 0xC6
/* Write-protect every page of the range, drop it from the dirty set. */
#define COGC_IOC_PROTECT _IOW(COGC_IOC_MAGIC, 1, struct cogc_range)
/* poll() says POLLIN from this many dirty pages (0: from 1). */
#define COGC_IOC_SET_LIMIT _IOW(COGC_IOC_MAGIC, 2, __u64)
/* Also send this signal to the process that opened the device when the
 * limit is reached (once per read); 0: no signal. */
#define COGC_IOC_SET_SIGNAL _IOW(COGC_IOC_MAGIC, 3, int)
/* Fork support.  FREEZE write-protects every page and makes this
 * process's write faults wait (re-fault) until THAW.  FORK_PREPARE does
 * the same at the next fork, from inside fork(), when the parent's memory
 * is copied (no write of the parent can be in progress then).  CLONE (on a
 * new context) copies the pages of the context open on the given
 * descriptor, same offsets.  The protocol: parent FORK_PREPARE, fork();
 * child: open, CLONE, map the new context over the old mappings; parent
 * THAW once the child is done. */
#define COGC_IOC_FREEZE _IO(COGC_IOC_MAGIC, 4)
#define COGC_IOC_THAW _IO(COGC_IOC_MAGIC, 5)
#define COGC_IOC_CLONE _IOW(COGC_IOC_MAGIC, 6, int)
#define COGC_IOC_STATS _IOR(COGC_IOC_MAGIC, 7, struct cogc_stats)
#define COGC_IOC_FORK_PREPARE _IO(COGC_IOC_MAGIC, 8)
/* Stop watching the range: its pages leave the dirty set and their writes
 * are no longer recorded.  A page still protected takes one more write
 * fault (the module cannot make it writable without one), unrecorded;
 * after that its writes cost nothing.  PROTECT (or write) watches again. */
#define COGC_IOC_UNPROTECT _IOW(COGC_IOC_MAGIC, 9, struct cogc_range)
/* Like read, but the pages taken out of the dirty set are left writable
 * and stop being watched (as after UNPROTECT): the caller re-arms what it
 * still watches with PROTECT.  Returns the number of runs written. */
#define COGC_IOC_TAKE _IOW(COGC_IOC_MAGIC, 10, struct cogc_take)
/* The number of reclaim passes (shrinker calls) since the previous call,
 * into the __u64; clears POLLPRI. */
#define COGC_IOC_RECLAIMS _IOR(COGC_IOC_MAGIC, 11, __u64)

#endif
