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
 */
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/kref.h>
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
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "cogc_dev.h"

/* The shmem object's size: offsets below 64 TiB. */
#define COGC_MAX_BYTES (1ULL << 46)
#define COGC_MAX_PAGES (COGC_MAX_BYTES >> PAGE_SHIFT)
#define COGC_READ_RUNS 4096

struct cogc_ctx {
	struct kref ref;
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
};

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

static void cogc_vm_open(struct vm_area_struct *vma)
{
	struct cogc_ctx *ctx = vma->vm_private_data;

	kref_get(&ctx->ref);
	/*
	 * fork (dup_mmap) copies the vma into the child's mm, in the parent,
	 * with the parent's mmap_lock held for writing: no write fault of
	 * the parent is in progress.  After FORK_PREPARE, protect every page
	 * and make the parent's writes wait until the child has copied the
	 * pages (THAW).  Not ctx->lock: read() holds it across copy_to_user,
	 * which may take mmap_lock.
	 */
	if (vma->vm_mm != current->mm && READ_ONCE(ctx->fork_armed) &&
	    atomic_cmpxchg(&ctx->freezing, 0, 1) == 0)
		cogc_freeze(ctx, current->mm);
}

static void cogc_vm_close(struct vm_area_struct *vma)
{
	cogc_ctx_put(vma->vm_private_data);
}

static vm_fault_t cogc_fault(struct vm_fault *vmf)
{
	struct cogc_ctx *ctx = vmf->vma->vm_private_data;

	return ctx->shm_ops->fault(vmf);
}

static vm_fault_t cogc_page_mkwrite(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct cogc_ctx *ctx = vma->vm_private_data;
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
	init_waitqueue_head(&ctx->wq);
	ctx->owner = get_pid(task_tgid(current));
	file->private_data = ctx;
	__module_get(THIS_MODULE);
	return 0;
}

static int cogc_release(struct inode *inode, struct file *file)
{
	struct cogc_ctx *ctx = file->private_data;

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
	vma->vm_private_data = ctx;
	kref_get(&ctx->ref);
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
		xa_erase(&ctx->dirty, idx);
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

	poll_wait(file, &ctx->wq, pt);
	if ((u64)atomic64_read(&ctx->ndirty) >= cogc_threshold(ctx))
		return EPOLLIN | EPOLLRDNORM;
	return 0;
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
	struct cogc_stats s;
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
		return copy_to_user(uarg, &s, sizeof(s)) ? -EFAULT : 0;
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

module_misc_device(cogc_misc);

MODULE_DESCRIPTION("cogc dirty-page tracking device (/dev/cogc)");
MODULE_AUTHOR("the cogc project");
MODULE_LICENSE("GPL");
