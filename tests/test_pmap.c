/* pmap: results come back in submission order whatever the thread count
 * and however long each item takes; errors travel with their item. */
#include <time.h>

#include "pmap.h"
#include "testutil.h"

struct item {
    int in, out;
};

static int square_slowly(void *ctx, int worker, void *p, struct lc_err *err)
{
    (void)ctx;
    (void)worker;
    struct item *it = p;
    struct timespec ts = {0, (it->in * 7919 % 13) * 20000}; /* uneven work */
    nanosleep(&ts, NULL);
    if (it->in % 97 == 50) return lc_errf(err, LC_EFORMAT, NULL, it->in, -1, "item %d is bad", it->in);
    it->out = it->in * it->in;
    return 0;
}

Test(pmap, order_is_kept_for_any_thread_count)
{
    for (int threads = 0; threads <= 4; threads++) {
        struct lc_pmap *p;
        cr_assert_eq(lc_pmap_init(&p, threads, 6, sizeof(struct item), square_slowly, NULL, NULL), 0);
        int next = 0, got = 0, errors = 0;
        while (got < 500) {
            struct item *it;
            while (next < 500 && (it = lc_pmap_acquire(p))) {
                it->in = next++;
                lc_pmap_submit(p);
            }
            cr_assert_leq(lc_pmap_pending(p), 6, "the ring bounds memory");
            int status;
            struct lc_err err;
            it = lc_pmap_collect(p, &status, &err);
            cr_assert(it);
            cr_assert_eq(it->in, got, "threads=%d: item %d came back at position %d", threads, it->in, got);
            if (status) {
                cr_assert_eq(err.record, got);
                errors++;
            } else {
                cr_assert_eq(it->out, got * got);
            }
            lc_pmap_release(p);
            got++;
        }
        cr_expect_eq(errors, 5, "items 50, 147, 244, 341, 438 fail");
        cr_expect_null(lc_pmap_collect(p, &(int){0}, NULL));
        lc_pmap_free(p);
    }
}
