// SPDX-License-Identifier: GPL-2.0
/*
 * cogc.c - /dev/cogc, the dirty-page tracking device of the cogc garbage
 * collector (the pseudo-device of the 2003 linux-kernel proposal).  The
 * user interface is in cogc_dev.h; the design in docs/kmod.md.
 *
 * One open file is one context: a shmem file holds its pages (zero-filled,
 * swappable like any tmpfs memory), an xarray holds its dirty set.  mmap
 * puts the shmem file under the vma (as /dev/zero does for shared
 * mappings) and wraps shmem's vm_ops with a page_mkwrite: the vma is then
 * write-notify, so every page is mapped read-only until its first write,
 * which lands in cogc_page_mkwrite with the folio locked, is added to the
 * dirty set and mapped writable by the core.  Re-protecting a page is
 * folio_mkclean() under the folio lock (what writeback does).
 *
 * Ordering: read/PROTECT take a page out of the dirty set, then
 * write-protect it under its folio lock.  page_mkwrite records the page
 * under the same lock, and the core makes the PTE writable before it
 * unlocks.  A write racing with read is therefore either already in the
 * page when read returns it, or faults again and is recorded for the next
 * read; never lost.
 *
 * Mappings: every vma of a context has a record (struct cogc_vma, its
 * vm_private_data) on the context's list, so that munmap can free the
 * pages no other mapping maps.  Lock order: mmap_lock, maps_lock,
 * i_mmap_rwsem and folio locks.  ctx->lock is never taken under mmap_lock
 * (read holds it across copy_to_user).
 */
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/pagevec.h>
#include <linux/poll.h>
#include <linux/rmap.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/shrinker.h>
#include <linux/spinlock.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "cogc_dev.h"

/* The shmem object's size: offsets below 64 TiB. */
#define COGC_MAX_BYTES (1ULL << 46)
#define COGC_MAX_PAGES (COGC_MAX_BYTES >> PAGE_SHIFT)
#define COGC_READ_RUNS 4096

struct cogc_ctx;

/* One mapping of a context: vm_private_data of its vma. */
struct cogc_vma {
	struct list_head node;		/* ctx->maps, under ctx->maps_lock */
	struct vm_area_struct *vma;
	struct cogc_ctx *ctx;
};

struct cogc_ctx {
	struct kref ref;
	struct list_head node;		/* cogc_ctxs while the file is open */
	struct file *shm;
	const struct vm_operations_struct *shm_ops;
	struct xarray dirty;		/* pgoff -> xa_mk_value(1) */
	struct xarray unwatched;	/* pgoff -> xa_mk_value(1): UNPROTECT/TAKE */
	atomic64_t ndirty;
	struct mutex lock;		/* read, write, ioctls */
	wait_queue_head_t wq;
	u64 limit;
	int signo;
	atomic_t signalled;
	struct pid *owner;
	bool fork_armed;		/* FORK_PREPARE: freeze at the next fork */
	atomic_t freezing;		/* a fork froze us, until THAW */
	bool frozen;
	struct mm_struct *frozen_mm;	/* compared only: whose writes wait */
	atomic64_t faults, reported, protected, limit_hits;
	/* Mappings.  A record that could not be allocated leaves maps_lost
	 * set: munmap frees nothing any more (the pages wait for the last
	 * close), and that vma points at the spare record. */
	struct mutex maps_lock;
	struct list_head maps;
	bool maps_lost;
	struct cogc_vma spare;
	/* Forks that did not go through FORK_PREPARE (raw clone). */
	atomic64_t raw_forks;
	struct mm_struct *raw_fork_mm;	/* compared only */
	/* The kernel's reclaim ran our shrinker: POLLPRI until RECLAIMS. */
	atomic64_t reclaims, reclaims_unread;
	atomic_t reclaim_pending;
};

/* Test only: the next fail_clone COGC_IOC_CLONE calls fail with ENOMEM
 * (a fork child that cannot copy the heap; tests/kernel). */
static int fail_clone;
module_param(fail_clone, int, 0600);
MODULE_PARM_DESC(fail_clone, "test only: make the next N COGC_IOC_CLONE calls fail with ENOMEM");

/* Open contexts, for the shrinker. */
static LIST_HEAD(cogc_ctxs);
static DEFINE_SPINLOCK(cogc_ctxs_lock);

static const struct file_operations cogc_fops;

static void cogc_ctx_free(struct kref *ref)
{
	struct cogc_ctx *ctx = container_of(ref, struct cogc_ctx, ref);

	xa_destroy(&ctx->dirty);
	xa_destroy(&ctx->unwatched);
	fput(ctx->shm);
	put_pid(ctx->owner);
	kfree(ctx);
	module_put(THIS_MODULE);	/* mappings may outlive the descriptor */
}

static void cogc_ctx_put(struct cogc_ctx *ctx)
{
	kref_put(&ctx->ref, cogc_ctx_free);
}

/*
 * Write-protect every mapping of the folio found at idx, and drop the
 * reference the caller took on it.  A folio that left
 * the mapping before we had its lock was truncated (nothing to protect) or
 * migrated: the new folio took over its mappings with their permissions,
 * writable ones included, so it is looked up again.
 */
static void cogc_protect_folio(struct cogc_ctx *ctx, struct folio *folio, pgoff_t idx)
{
	struct address_space *mapping = ctx->shm->f_mapping;

	folio_lock(folio);
	while (folio->mapping != mapping) {
		folio_unlock(folio);
		folio_put(folio);
		folio = __filemap_get_folio(mapping, idx, FGP_LOCK, 0);
		if (IS_ERR_OR_NULL(folio))	/* NULL on 6.1, ERR_PTR from 6.3 */
			return;
	}
	if (folio_mkclean(folio))
		atomic64_add(folio_nr_pages(folio), &ctx->protected);
	folio_unlock(folio);
	folio_put(folio);
}

/* Write-protect every mapping of the pages [start, end) that are in memory
 * (swapped-out pages and holes are not mapped). */
static void cogc_protect(struct cogc_ctx *ctx, pgoff_t start, pgoff_t end)
{
	struct address_space *mapping = ctx->shm->f_mapping;
	struct folio_batch fbatch;
	pgoff_t index = start;
	unsigned int i;

	if (start >= end)
		return;
	folio_batch_init(&fbatch);
	while (index < end && filemap_get_folios(mapping, &index, end - 1, &fbatch)) {
		for (i = 0; i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];

			folio_get(folio);	/* dropped by cogc_protect_folio */
			cogc_protect_folio(ctx, folio, folio->index);
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
}

/* Drop [start, end) from the dirty set. */
static void cogc_forget(struct cogc_ctx *ctx, pgoff_t start, pgoff_t end)
{
	unsigned long idx;
	void *entry;

	xa_for_each_range(&ctx->dirty, idx, entry, start, end - 1) {
		if (xa_erase(&ctx->dirty, idx))
			atomic64_dec(&ctx->ndirty);
	}
}

/*
 * Drop [start, end) from the dirty set, watch it again, then protect it.
 * The unwatched marks go before the folio lock is taken: a write fault
 * that still saw one made the page writable under that lock, and
 * folio_mkclean takes the permission back before PROTECT returns.
 */
static void cogc_rearm(struct cogc_ctx *ctx, pgoff_t start, pgoff_t end)
{
	unsigned long idx;
	void *entry;

	if (start >= end)
		return;
	cogc_forget(ctx, start, end);
	xa_for_each_range(&ctx->unwatched, idx, entry, start, end - 1)
		xa_erase(&ctx->unwatched, idx);
	cogc_protect(ctx, start, end);
}

/*
 * Stop watching [start, end): out of the dirty set, marked unwatched.  If a
 * mark cannot be stored (no memory), that page stays watched and is
 * protected again: reported too often, never missed.
 */
static void cogc_unwatch(struct cogc_ctx *ctx, pgoff_t start, pgoff_t end)
{
	pgoff_t i;

	if (start >= end)
		return;
	cogc_forget(ctx, start, end);
	for (i = start; i < end; i++) {
		if (xa_err(xa_store(&ctx->unwatched, i, xa_mk_value(1), GFP_KERNEL)))
			cogc_protect(ctx, i, i + 1);
		if (!((i - start) & 1023))
			cond_resched();
	}
}

static u64 cogc_threshold(struct cogc_ctx *ctx)
{
	u64 limit = READ_ONCE(ctx->limit);

	return limit ? limit : 1;
}

/* ---- vm operations ---------------------------------------------------- */

static void cogc_freeze(struct cogc_ctx *ctx, struct mm_struct *mm)
{
	WRITE_ONCE(ctx->frozen_mm, mm);
	WRITE_ONCE(ctx->frozen, true);
	cogc_protect(ctx, 0, COGC_MAX_PAGES);
}

static const struct vm_operations_struct cogc_vm_ops, cogc_refused_vm_ops;

/* Give vma a record of its own on ctx's list (vm_private_data). */
static void cogc_vma_track(struct cogc_ctx *ctx, struct vm_area_struct *vma)
{
	struct cogc_vma *rec = kmalloc(sizeof(*rec), GFP_KERNEL);

	mutex_lock(&ctx->maps_lock);
	if (rec) {
		rec->vma = vma;
		rec->ctx = ctx;
		list_add(&rec->node, &ctx->maps);
	} else {
		ctx->maps_lost = true;
		rec = &ctx->spare;
	}
	vma->vm_private_data = rec;
	mutex_unlock(&ctx->maps_lock);
}

/*
 * Free the pages of [start, end) that no mapping on the list maps (a
 * refused mapping cannot reach its pages: it does not count).  maps_lock
 * held; the bounds of the other vmas are stable under the mapping's
 * i_mmap_rwsem, which every split and resize of a file vma holds.
 */
static void cogc_release_unmapped(struct cogc_ctx *ctx, pgoff_t start, pgoff_t end)
{
	struct address_space *mapping = ctx->shm->f_mapping;
	struct cogc_vma *rec;
	pgoff_t at = start, next, s, e;
	unsigned long idx;
	void *entry;
	bool covered;

	while (at < end) {
		/* covered: skip to the end of the mappings that cover `at`;
		 * else free up to the next mapping's start */
		i_mmap_lock_read(mapping);
		covered = false;
		next = end;
		list_for_each_entry(rec, &ctx->maps, node) {
			if (rec->vma->vm_ops == &cogc_refused_vm_ops)
				continue;
			s = rec->vma->vm_pgoff;
			e = s + vma_pages(rec->vma);
			if (s <= at && at < e) {
				if (!covered || e > next)
					next = e;
				covered = true;
			} else if (!covered && s > at && s < next) {
				next = s;
			}
		}
		i_mmap_unlock_read(mapping);
		if (next > end)
			next = end;
		if (!covered) {
			shmem_truncate_range(file_inode(ctx->shm), (loff_t)at << PAGE_SHIFT,
					     ((loff_t)next << PAGE_SHIFT) - 1);
			cogc_forget(ctx, at, next);
			xa_for_each_range(&ctx->unwatched, idx, entry, at, next - 1)
				xa_erase(&ctx->unwatched, idx);
		}
		at = next;
		cond_resched();
	}
}

static void cogc_vm_open(struct vm_area_struct *vma)
{
	struct cogc_vma *from = vma->vm_private_data;
	struct cogc_ctx *ctx = from->ctx;

	kref_get(&ctx->ref);
	cogc_vma_track(ctx, vma);
	if (vma->vm_mm == current->mm)
		return;		/* a split, or mremap's copy */
	/*
	 * fork (dup_mmap) copies the vma into the child's mm, in the parent,
	 * with the parent's mmap_lock held for writing: no write fault of
	 * the parent is in progress.  After FORK_PREPARE, protect every page
	 * and make the parent's writes wait until the child has copied the
	 * pages (THAW).  Not ctx->lock: read() holds it across copy_to_user,
	 * which may take mmap_lock.
	 */
	if (READ_ONCE(ctx->fork_armed)) {
		if (atomic_cmpxchg(&ctx->freezing, 0, 1) == 0)
			cogc_freeze(ctx, current->mm);
		return;
	}
	/*
	 * A fork nobody prepared (a raw clone system call, bypassing
	 * pthread_atfork): the child's mapping would write the parent's
	 * pages.  It refuses every access instead (SIGBUS).  fork copies no
	 * page table entries of a shared file mapping, so every access of
	 * the child comes to cogc_refused_fault.
	 */
	vma->vm_ops = &cogc_refused_vm_ops;
	if (xchg(&ctx->raw_fork_mm, vma->vm_mm) != vma->vm_mm) {
		atomic64_inc(&ctx->raw_forks);
		pr_notice_ratelimited("cogc: %s[%d] forked without COGC_IOC_FORK_PREPARE: the child's mappings of /dev/cogc refuse access (SIGBUS)\n",
				      current->comm, task_pid_nr(current));
	}
}

static void cogc_vm_close(struct vm_area_struct *vma)
{
	struct cogc_vma *rec = vma->vm_private_data;
	struct cogc_ctx *ctx = rec->ctx;

	/* A refused child's exit: its mm may be reallocated at the same
	 * address for the next raw fork, which must count again. */
	if (vma->vm_ops == &cogc_refused_vm_ops)
		cmpxchg(&ctx->raw_fork_mm, vma->vm_mm, NULL);
	/* munmap (or exit): the pages nobody else maps go now, not at the
	 * last close. */
	mutex_lock(&ctx->maps_lock);
	if (rec != &ctx->spare) {
		list_del(&rec->node);
		if (!ctx->maps_lost && vma->vm_end > vma->vm_start)
			cogc_release_unmapped(ctx, vma->vm_pgoff, vma->vm_pgoff + vma_pages(vma));
		kfree(rec);
	}
	mutex_unlock(&ctx->maps_lock);
	cogc_ctx_put(ctx);
}

static vm_fault_t cogc_refused_fault(struct vm_fault *vmf)
{
	return VM_FAULT_SIGBUS;
}

static vm_fault_t cogc_fault(struct vm_fault *vmf)
{
	struct cogc_ctx *ctx = ((struct cogc_vma *)vmf->vma->vm_private_data)->ctx;

	return ctx->shm_ops->fault(vmf);
}

static vm_fault_t cogc_page_mkwrite(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct cogc_ctx *ctx = ((struct cogc_vma *)vma->vm_private_data)->ctx;
	struct folio *folio = page_folio(vmf->page);
	u64 n;
	int err;

	/*
	 * Frozen for a fork: the write must wait until the child has copied
	 * the pages.  page_mkwrite may not drop mmap_lock, and fork needs it
	 * for writing: let the fault be retried instead of sleeping here.
	 */
	if (READ_ONCE(ctx->frozen) && vma->vm_mm == READ_ONCE(ctx->frozen_mm)) {
		cond_resched();
		return VM_FAULT_NOPAGE;
	}
	folio_lock(folio);
	if (folio->mapping != vma->vm_file->f_mapping) {
		folio_unlock(folio);
		return VM_FAULT_NOPAGE;	/* removed meanwhile: fault again */
	}
	if (xa_load(&ctx->unwatched, vmf->pgoff))
		return VM_FAULT_LOCKED;	/* writable from now on, unrecorded */
	err = xa_insert(&ctx->dirty, vmf->pgoff, xa_mk_value(1), GFP_KERNEL);
	if (err == -ENOMEM) {
		folio_unlock(folio);
		return VM_FAULT_OOM;
	}
	atomic64_inc(&ctx->faults);
	if (err == 0) {
		n = atomic64_inc_return(&ctx->ndirty);
		if (n == cogc_threshold(ctx)) {
			wake_up_interruptible(&ctx->wq);
			if (ctx->limit)
				atomic64_inc(&ctx->limit_hits);
			if (ctx->limit && READ_ONCE(ctx->signo) && !atomic_xchg(&ctx->signalled, 1))
				kill_pid(ctx->owner, READ_ONCE(ctx->signo), 1);
		}
	}
	return VM_FAULT_LOCKED;
}

static const struct vm_operations_struct cogc_vm_ops = {
	.open = cogc_vm_open,
	.close = cogc_vm_close,
	.fault = cogc_fault,
	.page_mkwrite = cogc_page_mkwrite,
};

static const struct vm_operations_struct cogc_refused_vm_ops = {
	.open = cogc_vm_open,
	.close = cogc_vm_close,
	.fault = cogc_refused_fault,
	.page_mkwrite = cogc_refused_fault,
};

/* ---- file operations ------------------------------------------------ */

static int cogc_open(struct inode *inode, struct file *file)
{
	struct cogc_ctx *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return -ENOMEM;
	ctx->shm = shmem_file_setup("cogc", COGC_MAX_BYTES, VM_NORESERVE);
	if (IS_ERR(ctx->shm)) {
		int err = PTR_ERR(ctx->shm);

		kfree(ctx);
		return err;
	}
	kref_init(&ctx->ref);
	xa_init(&ctx->dirty);
	xa_init(&ctx->unwatched);
	mutex_init(&ctx->lock);
	mutex_init(&ctx->maps_lock);
	INIT_LIST_HEAD(&ctx->maps);
	ctx->spare.ctx = ctx;
	INIT_LIST_HEAD(&ctx->spare.node);
	init_waitqueue_head(&ctx->wq);
	ctx->owner = get_pid(task_tgid(current));
	file->private_data = ctx;
	__module_get(THIS_MODULE);
	spin_lock(&cogc_ctxs_lock);
	list_add(&ctx->node, &cogc_ctxs);
	spin_unlock(&cogc_ctxs_lock);
	return 0;
}

static int cogc_release(struct inode *inode, struct file *file)
{
	struct cogc_ctx *ctx = file->private_data;

	spin_lock(&cogc_ctxs_lock);
	list_del(&ctx->node);
	spin_unlock(&cogc_ctxs_lock);
	WRITE_ONCE(ctx->frozen, false);
	cogc_ctx_put(ctx);
	return 0;
}

static int cogc_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct cogc_ctx *ctx = file->private_data;
	int err;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;	/* a private copy could not be tracked */
	if (vma->vm_pgoff >= COGC_MAX_PAGES || vma_pages(vma) > COGC_MAX_PAGES - vma->vm_pgoff)
		return -EINVAL;
	vma_set_file(vma, ctx->shm);
	err = ctx->shm->f_op->mmap(ctx->shm, vma);
	if (err)
		return err;
	if (!ctx->shm_ops)
		ctx->shm_ops = vma->vm_ops;
	if (vma->vm_ops != ctx->shm_ops || !ctx->shm_ops->fault)
		return -EINVAL;
	vma->vm_ops = &cogc_vm_ops;
	kref_get(&ctx->ref);
	cogc_vma_track(ctx, vma);
	return 0;
}

/*
 * Take up to max runs out of the dirty set into buf.  read: the pages are
 * protected again before returning.  take (COGC_IOC_TAKE): they are left
 * writable and stop being watched.  Returns the number of runs.
 */
static ssize_t cogc_drain(struct cogc_ctx *ctx, char __user *buf, size_t max, bool take)
{
	struct cogc_run *runs;
	unsigned long idx;
	size_t nr = 0, i;
	void *entry;
	u64 pages = 0;

	if (!max)
		return -EINVAL;
	runs = kvmalloc_array(max, sizeof(*runs), GFP_KERNEL);
	if (!runs)
		return -ENOMEM;
	mutex_lock(&ctx->lock);
	xa_for_each(&ctx->dirty, idx, entry) {
		if (nr && idx == runs[nr - 1].len) {
			runs[nr - 1].len++;
		} else {
			if (nr == max)
				break;
			runs[nr].offset = idx;
			runs[nr].len = idx + 1;	/* end, for now */
			nr++;
		}
		if (xa_erase(&ctx->dirty, idx))	/* munmap may have taken it */
			atomic64_dec(&ctx->ndirty);
	}
	for (i = 0; i < nr; i++) {
		if (take)
			cogc_unwatch(ctx, runs[i].offset, runs[i].len);
		else
			cogc_protect(ctx, runs[i].offset, runs[i].len);
		pages += runs[i].len - runs[i].offset;
		runs[i].len = (runs[i].len - runs[i].offset) << PAGE_SHIFT;
		runs[i].offset <<= PAGE_SHIFT;
	}
	atomic_set(&ctx->signalled, 0);
	atomic64_add(pages, &ctx->reported);
	if (copy_to_user(buf, runs, nr * sizeof(*runs))) {
		/* Not delivered: the pages count as written again. */
		for (i = 0; i < nr; i++) {
			pgoff_t p = runs[i].offset >> PAGE_SHIFT;
			pgoff_t e = p + (runs[i].len >> PAGE_SHIFT);

			for (; p < e; p++) {
				if (take)
					xa_erase(&ctx->unwatched, p);
				if (xa_insert(&ctx->dirty, p, xa_mk_value(1), GFP_KERNEL) == 0)
					atomic64_inc(&ctx->ndirty);
			}
		}
		nr = 0;
		pages = (u64)-1;
	}
	mutex_unlock(&ctx->lock);
	kvfree(runs);
	return pages == (u64)-1 ? -EFAULT : nr;
}

static ssize_t cogc_read(struct file *file, char __user *buf, size_t len, loff_t *ppos)
{
	size_t max = min_t(size_t, len / sizeof(struct cogc_run), COGC_READ_RUNS);
	ssize_t nr = cogc_drain(file->private_data, buf, max, false);

	return nr < 0 ? nr : nr * sizeof(struct cogc_run);
}

static ssize_t cogc_write(struct file *file, const char __user *buf, size_t len, loff_t *ppos)
{
	struct cogc_ctx *ctx = file->private_data;
	size_t n = len / sizeof(u64), i;
	u64 off;

	if (!n || len % sizeof(u64))
		return -EINVAL;
	mutex_lock(&ctx->lock);
	for (i = 0; i < n; i++) {
		if (get_user(off, (const u64 __user *)buf + i)) {
			mutex_unlock(&ctx->lock);
			return i ? i * sizeof(u64) : -EFAULT;
		}
		if (off % PAGE_SIZE || off >= COGC_MAX_BYTES) {
			mutex_unlock(&ctx->lock);
			return i ? i * sizeof(u64) : -EINVAL;
		}
		cogc_rearm(ctx, off >> PAGE_SHIFT, (off >> PAGE_SHIFT) + 1);
	}
	mutex_unlock(&ctx->lock);
	return len;
}

static __poll_t cogc_poll(struct file *file, poll_table *pt)
{
	struct cogc_ctx *ctx = file->private_data;

	__poll_t mask = 0;

	poll_wait(file, &ctx->wq, pt);
	if ((u64)atomic64_read(&ctx->ndirty) >= cogc_threshold(ctx))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (atomic_read(&ctx->reclaim_pending))
		mask |= EPOLLPRI;
	return mask;
}

/* Copy every page that holds data (in memory or in swap) of src into ctx. */
static long cogc_clone(struct cogc_ctx *ctx, int srcfd)
{
	struct address_space *smap, *dmap = ctx->shm->f_mapping;
	struct cogc_ctx *src;
	unsigned long idx;
	struct fd f;
	void *entry;
	long err = 0;

	f = fdget(srcfd);
	if (!f.file)
		return -EBADF;
	if (f.file->f_op != &cogc_fops || f.file->private_data == ctx) {
		fdput(f);
		return -EINVAL;
	}
	src = f.file->private_data;
	smap = src->shm->f_mapping;
	for (;;) {
		int n = READ_ONCE(fail_clone);

		if (n <= 0)
			break;
		if (cmpxchg(&fail_clone, n, n - 1) == n) {
			fdput(f);
			return -ENOMEM;
		}
	}
	xa_for_each(&smap->i_pages, idx, entry) {
		struct page *sp, *dp;

		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		sp = shmem_read_mapping_page_gfp(smap, idx, GFP_KERNEL);
		if (IS_ERR(sp)) {
			err = PTR_ERR(sp);
			break;
		}
		dp = shmem_read_mapping_page_gfp(dmap, idx, GFP_KERNEL);
		if (IS_ERR(dp)) {
			put_page(sp);
			err = PTR_ERR(dp);
			break;
		}
		copy_highpage(dp, sp);
		set_page_dirty(dp);
		put_page(dp);
		put_page(sp);
		cond_resched();
	}
	fdput(f);
	return err;
}

/* A page-aligned range of the context from user space: 0 or -errno. */
static int cogc_get_range(struct cogc_range *r, void __user *uarg)
{
	if (copy_from_user(r, uarg, sizeof(*r)))
		return -EFAULT;
	if (r->offset % PAGE_SIZE || r->len % PAGE_SIZE || r->offset >= COGC_MAX_BYTES ||
	    r->len > COGC_MAX_BYTES - r->offset)
		return -EINVAL;
	return 0;
}

static long cogc_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct cogc_ctx *ctx = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct cogc_range r;
	struct cogc_take t;
	struct cogc_stats s = {};
	u64 limit;
	int signo;
	long err = 0;

	switch (cmd) {
	case COGC_IOC_PROTECT:
		err = cogc_get_range(&r, uarg);
		if (err)
			return err;
		mutex_lock(&ctx->lock);
		cogc_rearm(ctx, r.offset >> PAGE_SHIFT, (r.offset + r.len) >> PAGE_SHIFT);
		mutex_unlock(&ctx->lock);
		return 0;
	case COGC_IOC_UNPROTECT:
		err = cogc_get_range(&r, uarg);
		if (err)
			return err;
		mutex_lock(&ctx->lock);
		cogc_unwatch(ctx, r.offset >> PAGE_SHIFT, (r.offset + r.len) >> PAGE_SHIFT);
		mutex_unlock(&ctx->lock);
		return 0;
	case COGC_IOC_TAKE:
		if (copy_from_user(&t, uarg, sizeof(t)))
			return -EFAULT;
		return cogc_drain(ctx, u64_to_user_ptr(t.runs), min_t(u64, t.nruns, COGC_READ_RUNS), true);
	case COGC_IOC_SET_LIMIT:
		if (get_user(limit, (u64 __user *)uarg))
			return -EFAULT;
		WRITE_ONCE(ctx->limit, limit);
		wake_up_interruptible(&ctx->wq);
		return 0;
	case COGC_IOC_SET_SIGNAL:
		if (get_user(signo, (int __user *)uarg))
			return -EFAULT;
		if (signo < 0 || signo > _NSIG || (signo && sig_kernel_only(signo)))
			return -EINVAL;
		WRITE_ONCE(ctx->signo, signo);
		return 0;
	case COGC_IOC_FREEZE:
		mutex_lock(&ctx->lock);
		cogc_freeze(ctx, current->mm);
		mutex_unlock(&ctx->lock);
		return 0;
	case COGC_IOC_FORK_PREPARE:
		WRITE_ONCE(ctx->fork_armed, true);
		return 0;
	case COGC_IOC_THAW:
		WRITE_ONCE(ctx->fork_armed, false);
		WRITE_ONCE(ctx->frozen, false);
		WRITE_ONCE(ctx->frozen_mm, NULL);
		atomic_set(&ctx->freezing, 0);
		return 0;
	case COGC_IOC_CLONE:
		mutex_lock(&ctx->lock);
		err = cogc_clone(ctx, (int)arg);
		mutex_unlock(&ctx->lock);
		return err;
	case COGC_IOC_STATS:
		s.faults = atomic64_read(&ctx->faults);
		s.reported = atomic64_read(&ctx->reported);
		s.protected = atomic64_read(&ctx->protected);
		s.dirty = atomic64_read(&ctx->ndirty);
		s.limit_hits = atomic64_read(&ctx->limit_hits);
		s.ino = file_inode(ctx->shm)->i_ino;
		s.dev_major = MAJOR(file_inode(ctx->shm)->i_sb->s_dev);
		s.dev_minor = MINOR(file_inode(ctx->shm)->i_sb->s_dev);
		s.pages = READ_ONCE(SHMEM_I(file_inode(ctx->shm))->alloced);
		s.raw_forks = atomic64_read(&ctx->raw_forks);
		s.reclaims = atomic64_read(&ctx->reclaims);
		return copy_to_user(uarg, &s, sizeof(s)) ? -EFAULT : 0;
	case COGC_IOC_RECLAIMS:
		atomic_set(&ctx->reclaim_pending, 0);
		limit = atomic64_xchg(&ctx->reclaims_unread, 0);
		return put_user(limit, (u64 __user *)uarg);
	}
	return -ENOTTY;
}

static const struct file_operations cogc_fops = {
	.owner = THIS_MODULE,
	.open = cogc_open,
	.release = cogc_release,
	.mmap = cogc_mmap,
	.read = cogc_read,
	.write = cogc_write,
	.poll = cogc_poll,
	.unlocked_ioctl = cogc_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice cogc_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = COGC_DEV_NAME,
	.fops = &cogc_fops,
	.mode = 0666,
};

/*
 * The shrinker frees nothing: the pages are the program's heap, and only
 * the collector knows which are garbage.  Reclaim calling it is the
 * notice: every open context counts it and polls POLLPRI, so that a
 * collector can give memory back before the kernel swaps its pages out.
 * Not memory-cgroup aware: global reclaim (kswapd, direct reclaim,
 * drop_caches) calls it, a cgroup's own limit does not.
 */
static unsigned long cogc_shrink_count(struct shrinker *shrinker, struct shrink_control *sc)
{
	struct cogc_ctx *ctx;

	spin_lock(&cogc_ctxs_lock);
	list_for_each_entry(ctx, &cogc_ctxs, node) {
		atomic64_inc(&ctx->reclaims);
		atomic64_inc(&ctx->reclaims_unread);
		if (!atomic_xchg(&ctx->reclaim_pending, 1))
			wake_up_interruptible_poll(&ctx->wq, EPOLLPRI);
	}
	spin_unlock(&cogc_ctxs_lock);
	return 0;	/* nothing for the kernel to scan */
}

static unsigned long cogc_shrink_scan(struct shrinker *shrinker, struct shrink_control *sc)
{
	return SHRINK_STOP;
}

static struct shrinker cogc_shrinker = {
	.count_objects = cogc_shrink_count,
	.scan_objects = cogc_shrink_scan,
	.seeks = DEFAULT_SEEKS,
};

static int __init cogc_init(void)
{
	int err = register_shrinker(&cogc_shrinker, "cogc");

	if (err)
		return err;
	err = misc_register(&cogc_misc);
	if (err)
		unregister_shrinker(&cogc_shrinker);
	return err;
}

static void __exit cogc_exit(void)
{
	misc_deregister(&cogc_misc);
	unregister_shrinker(&cogc_shrinker);
}

module_init(cogc_init);
module_exit(cogc_exit);

MODULE_DESCRIPTION("cogc dirty-page tracking device (/dev/cogc)");
MODULE_AUTHOR("the cogc project");
MODULE_LICENSE("GPL");
