/* dataset and loader, on a small synthetic set written as InsightFace
 * RecordIO: every image once per epoch in a seeded permutation, labels with
 * their images, the same batches for any thread count, resume at a batch,
 * and without augmentation the pixels are exactly the normalised decode. */
#include <stdlib.h>

#include "dataset.h"
#include "image.h"
#include "loader.h"
#include "normalize.h"
#include "recset.h"
#include "synthface.h"
#include "testutil.h"
#include "train.h"

#define IDS 3
#define PER 3
#define N (IDS * PER)
#define PX (3 * 112 * 112)

static char dir[256];

/* Write IDS identities x PER images; keep the JPEGs for comparisons. */
static uint8_t *jpgs[N];
static size_t lens[N];

static void make_set(void)
{
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    struct lc_recset *s;
    struct lc_err err;
    cr_assert_eq(lc_recset_open(&s, dir, "train", 0, &err), 0, "%s", err.msg);
    for (int i = 0; i < N; i++) {
        struct lc_synth_identity p;
        struct lc_synth_view v;
        static uint8_t px[112 * 112 * 3];
        lc_synth_identity(&p, 1, i / PER);
        lc_synth_view(&v, 1, i / PER, i % PER, 1);
        lc_synth_render(px, NULL, NULL, &p, &v);
        struct lc_image img = {112, 112, 3, px, 0};
        cr_assert_eq(lc_image_encode_jpeg(&img, LC_PIXELS_BGR, 90, &jpgs[i], &lens[i], NULL), 0);
        cr_assert_eq(lc_recset_add(s, i / PER, NULL, 0, jpgs[i], lens[i], "x.jpg", 112, 112, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(lc_recset_close(s, &err), 0, "%s", err.msg);
}

static void remove_set(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
    for (int i = 0; i < N; i++) free(jpgs[i]);
}

static struct lc_dataset *open_ds(void)
{
    struct lc_dataset *d;
    struct lc_err err;
    cr_assert_eq(lc_dataset_open(&d, dir, &err), 0, "%s", err.msg);
    return d;
}

TestSuite(loader, .init = make_set, .fini = remove_set);

Test(loader, dataset_index)
{
    struct lc_dataset *d = open_ds();
    cr_expect_eq(lc_dataset_count(d), N);
    cr_expect_eq(lc_dataset_classes(d), IDS);
    char key[32];
    cr_expect_str_eq(lc_dataset_key(d, 0, key, sizeof key), "1");
    cr_expect_eq(lc_dataset_label(d, N - 1), IDS - 1);
    uint8_t *buf = NULL;
    size_t cap = 0, len;
    int codec;
    uint32_t dims[3];
    cr_assert_eq(lc_dataset_read(d, 4, &buf, &cap, &len, &codec, dims, NULL), 0);
    cr_expect(len == lens[4] && memcmp(buf, jpgs[4], len) == 0, "item 4 reads back its JPEG");
    free(buf);
    lc_dataset_close(d);
}

/* One epoch (of shard `shard` of `shards`) as dataset indices and pixel checksums. */
static void run_shard(struct lc_dataset *d, int threads, int epoch, size_t from, int shard, int shards, uint32_t *idx,
                      double *sum, int *n)
{
    struct lc_loader *l;
    struct lc_loader_opts o = {.batch = 4, .threads = threads, .seed = 9, .shuffle = 1, .aug = {0.5f, 0.5f, 0.5f, 0.5f},
                               .shard = shard, .shards = shards};
    struct lc_err err;
    cr_assert_eq(lc_loader_init(&l, d, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(lc_loader_start(l, epoch, from, &err), 0);
    struct lc_batch *b;
    int rc;
    *n = 0;
    while ((rc = lc_loader_next(l, &b, &err)) == 1)
        for (int i = 0; i < b->n; i++) {
            double s = 0;
            for (int k = 0; k < PX; k++) s += b->x[(size_t)i * PX + k] * (k % 7 + 1);
            cr_assert_eq(b->labels[i], lc_dataset_label(d, b->index[i]));
            idx[*n] = b->index[i], sum[*n] = s;
            (*n)++;
        }
    cr_assert_eq(rc, 0, "%s", err.msg);
    lc_loader_free(l);
}

static void run_epoch(struct lc_dataset *d, int threads, int epoch, size_t from, uint32_t *idx, double *sum, int *n)
{
    run_shard(d, threads, epoch, from, 0, 1, idx, sum, n);
}

/* Data parallelism: 2 and 4 ranks deal the epoch as DistributedSampler
 * does (padded by wrapping around, then every shards-th position), with
 * the augmentation of the position in the whole epoch. */
Test(loader, shards_deal_the_epoch_like_distributed_sampler)
{
    struct lc_dataset *d = open_ds();
    uint32_t all[N], idx[N];
    double sums[N], s[N];
    int n;
    run_epoch(d, 1, 3, 0, all, sums, &n);
    cr_assert_eq(n, N);
    struct lc_loader *l;
    struct lc_loader_opts o = {.batch = 1, .seed = 9, .shuffle = 1, .shards = 1};
    cr_assert_eq(lc_loader_init(&l, d, &o, NULL), 0);
    cr_assert_eq(lc_loader_start(l, 3, 0, NULL), 0);
    struct lc_batch *b;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(lc_loader_next(l, &b, NULL), 1);
        all[i] = b->index[0];
    }
    lc_loader_free(l);
    for (int shards = 2; shards <= 4; shards += 2) {
        int per = (N + shards - 1) / shards, seen[N] = {0}, dealt = 0;
        for (int r = 0; r < shards; r++) {
            run_shard(d, 2, 3, 0, r, shards, idx, s, &n);
            cr_assert_eq(n, per, "%d ranks: %d images each", shards, per);
            for (int i = 0; i < n; i++) {
                int pos = i * shards + r;
                cr_expect_eq(idx[i], all[pos % N], "%d ranks, rank %d, image %d", shards, r, i);
                if (pos < N) cr_expect_eq(s[i], sums[pos], "%d ranks, rank %d, image %d: augmentation", shards, r, i);
                seen[idx[i]]++, dealt++;
            }
        }
        cr_expect_eq(dealt, per * shards);
        for (int i = 0; i < N; i++) cr_expect(seen[i] >= 1, "%d ranks: image %d dealt", shards, i);
    }
    struct lc_err err;
    o.shard = 2, o.shards = 2;
    cr_expect_eq(lc_loader_init(&l, d, &o, &err), LC_EINVAL, "shard 2 of 2");
    lc_dataset_close(d);
}

Test(loader, epochs_are_permutations_and_thread_count_does_not_matter)
{
    struct lc_dataset *d = open_ds();
    uint32_t i0[N], i2[N], j0[N], r[N];
    double s0[N], s2[N], t0[N], rs[N];
    int n0, n2, m0, rn;
    run_epoch(d, 0, 1, 0, i0, s0, &n0);
    run_epoch(d, 2, 1, 0, i2, s2, &n2);
    run_epoch(d, 2, 2, 0, j0, t0, &m0);
    cr_assert_eq(n0, N);
    cr_assert_eq(n2, N);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) seen[i0[i]]++;
    for (int i = 0; i < N; i++) cr_expect_eq(seen[i], 1, "image %d visited once", i);
    cr_expect_eq(memcmp(i0, i2, sizeof i0), 0, "same order on 0 and 2 threads");
    cr_expect_eq(memcmp(s0, s2, sizeof s0), 0, "same pixels on 0 and 2 threads");
    cr_expect_neq(memcmp(i0, j0, sizeof i0), 0, "another epoch, another order");
    run_epoch(d, 1, 1, 1, r, rs, &rn); /* resume at batch 1 */
    cr_assert_eq(rn, N - 4);
    cr_expect_eq(memcmp(r, i0 + 4, sizeof r[0] * (size_t)rn), 0);
    cr_expect_eq(memcmp(rs, s0 + 4, sizeof rs[0] * (size_t)rn), 0);
    lc_dataset_close(d);
}

static int live;
static void *count_alloc(void *ctx, size_t bytes)
{
    (*(int *)ctx)++, live++;
    return malloc(bytes);
}
static void count_release(void *ctx, void *p)
{
    (void)ctx;
    live--;
    free(p);
}

/* batches in the caller's memory (page-locked for a GPU): same images */
Test(loader, batches_in_the_callers_memory)
{
    struct lc_dataset *d = open_ds();
    uint32_t want[N], got[N];
    double ws[N], gs[N];
    int n, m = 0, calls = 0;
    run_epoch(d, 1, 2, 0, want, ws, &n);
    struct lc_loader *l;
    struct lc_loader_opts o = {.batch = 4, .threads = 1, .seed = 9, .shuffle = 1, .aug = {0.5f, 0.5f, 0.5f, 0.5f},
                               .alloc = count_alloc, .release = count_release, .alloc_ctx = &calls};
    cr_assert_eq(lc_loader_init(&l, d, &o, NULL), 0);
    cr_expect_eq(calls, 2, "one buffer per batch slot");
    cr_assert_eq(lc_loader_start(l, 2, 0, NULL), 0);
    struct lc_batch *b;
    while (lc_loader_next(l, &b, NULL) == 1)
        for (int i = 0; i < b->n; i++, m++) {
            double s = 0;
            for (int k = 0; k < PX; k++) s += b->x[(size_t)i * PX + k] * (k % 7 + 1);
            got[m] = b->index[i], gs[m] = s;
        }
    lc_loader_free(l);
    cr_expect_eq(live, 0, "both released");
    cr_assert_eq(m, n);
    cr_expect_eq(memcmp(got, want, sizeof got), 0);
    cr_expect_eq(memcmp(gs, ws, sizeof gs), 0);
    lc_dataset_close(d);
}

Test(loader, without_augmentation_pixels_are_the_normalised_decode)
{
    struct lc_dataset *d = open_ds();
    struct lc_loader *l;
    struct lc_loader_opts o = {.batch = N, .threads = 2, .seed = 1, .shuffle = 0};
    cr_assert_eq(lc_loader_init(&l, d, &o, NULL), 0);
    cr_expect_eq(lc_loader_batches(l), 1);
    cr_assert_eq(lc_loader_start(l, 0, 0, NULL), 0);
    struct lc_batch *b;
    struct lc_err err;
    cr_assert_eq(lc_loader_next(l, &b, &err), 1, "%s", err.msg);
    cr_assert_eq(b->n, N);
    struct lc_image_decoder *dec;
    lc_image_decoder_init(&dec, NULL);
    float *want = malloc(PX * sizeof *want);
    for (int i = 0; i < N; i++) {
        struct lc_image img = {0};
        cr_assert_eq(lc_image_decode(dec, jpgs[i], lens[i], LC_PIXELS_BGR, 1, &img, NULL), 0);
        struct lc_normalize nz;
        lc_normalize_init_reference(&nz, 1, 112, 112, 3);
        lc_normalize_u8_forward(want, img.data, &nz);
        cr_expect_eq(memcmp(b->x + (size_t)i * PX, want, PX * sizeof *want), 0, "image %d", i);
        cr_expect_eq(b->labels[i], i / PER);
        lc_image_release(&img);
    }
    cr_expect_eq(lc_loader_next(l, &b, &err), 0, "one batch per epoch");
    free(want);
    lc_image_decoder_free(dec);
    lc_loader_free(l);
    lc_dataset_close(d);
}

/* train-pre's default loader threads: 2 beside a CPU step; on GPUs the CPUs
   less the process's own, shared by its GPUs' ranks, from 2 to 16 each */
Test(loader, default_workers_follow_the_device_and_the_cpus)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cr_assert_eq(lc_train_auto_workers(0, 1), 2);
    cr_assert_eq(lc_train_auto_workers(0, 4), 2, "the CPU's ranks compute: 2 loader threads each");
    long one = (cpus > 1 ? cpus : 2) - 1;
    cr_assert_eq(lc_train_auto_workers(1, 1), one < 2 ? 2 : one > 16 ? 16 : one, "%ld CPUs", cpus);
    long half = one / 2;
    cr_assert_eq(lc_train_auto_workers(1, 2), half < 2 ? 2 : half > 16 ? 16 : half, "%ld CPUs, 2 GPUs", cpus);
    cr_assert_eq(lc_train_auto_workers(1, 1000), 2, "at least 2 a rank");
}
