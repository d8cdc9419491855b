/* pmap: an ordered parallel map. The calling thread fills work items in
 * order, worker threads process them concurrently (e.g. decode images),
 * and the caller takes results back in the same order, so a threaded tool
 * writes exactly what the single-threaded one would. Memory is bounded by
 * the ring of `depth` items, whatever the input size.
 *
 *   for each input:  item = lc_pmap_acquire(p)   (blocks while the ring is
 *                    full: take results first)   ... fill ...  lc_pmap_submit(p)
 *   results:         item = lc_pmap_collect(p, &status)  ...use...  lc_pmap_release(p)
 *
 * With threads == 0, items are processed inline by lc_pmap_collect. */
#ifndef LC_PMAP_H
#define LC_PMAP_H

#include <stddef.h>

#include "err.h"

/* Process item on worker `worker` (0..threads-1, or 0 inline). Returns 0 or
 * a negative LC_E* code with err filled; the code is handed to the collector
 * with that item, in order. */
typedef int (*lc_pmap_fn)(void *ctx, int worker, void *item, struct lc_err *err);

struct lc_pmap;

/* items: depth items of item_size bytes, zeroed, owned by the pmap (and
 * reused: whatever a worker allocates into an item stays for the next). */
int lc_pmap_init(struct lc_pmap **p, int threads, size_t depth, size_t item_size, lc_pmap_fn fn, void *ctx,
                 struct lc_err *err);
/* Stops the workers; item contents are the caller's to free first (see
 * lc_pmap_item). NULL is a no-op. */
void lc_pmap_free(struct lc_pmap *p);

/* The next item to fill, or NULL when the ring is full (collect first). */
void *lc_pmap_acquire(struct lc_pmap *p);
void lc_pmap_submit(struct lc_pmap *p);
/* Items submitted and not yet released. */
size_t lc_pmap_pending(const struct lc_pmap *p);
/* Wait for the oldest submitted item; *status is fn's return and err its
 * error. NULL when nothing is pending. */
void *lc_pmap_collect(struct lc_pmap *p, int *status, struct lc_err *err);
void lc_pmap_release(struct lc_pmap *p);
/* Item i of the ring (0..depth-1), to free what workers allocated. */
void *lc_pmap_item(struct lc_pmap *p, size_t i);
size_t lc_pmap_depth(const struct lc_pmap *p);

#endif
