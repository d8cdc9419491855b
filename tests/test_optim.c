/* optim: SGD with the reference's two weight-decay groups and Adam against
 * torch.optim (three steps each, to a few ulp), and MultiStepLR's schedule
 * (exactly). */
#include <math.h>

#include "backend.h"
#include "devparams.h"
#include "optim.h"
#include "params.h"
#include "testutil.h"

static void run(const char *name, int adam)
{
    struct tu_array w0 = tu_fixture("optim/w0.npy"), b0 = tu_fixture("optim/b0.npy");
    struct lc_params ps;
    lc_params_init(&ps);
    int64_t dw[2] = {7, 3}, db[1] = {5};
    struct lc_param *w = lc_params_add(&ps, LC_PARAM_DECAY, 2, dw, NULL, "w");
    float *wd = w->data, *wg = w->grad;
    struct lc_param *b = lc_params_add(&ps, LC_PARAM_NO_DECAY, 1, db, NULL, "b");
    float *bd = b->data, *bg = b->grad;
    memcpy(wd, w0.data, 21 * 4);
    memcpy(bd, b0.data, 5 * 4);
    struct lc_optim o;
    if (adam) lc_optim_init_adam(&o, 1e-2, 0.9f, 0.999f, 1e-8f, 0, NULL);
    else lc_optim_init_sgd(&o, 0.1, 0.9f, 5e-4f, 0, NULL);
    cr_assert_eq(lc_optim_add(&o, &ps, NULL), 0);
    for (int t = 0; t < 3; t++) {
        char rel[64];
        snprintf(rel, sizeof rel, "optim/gw%d.npy", t);
        struct tu_array gw = tu_fixture(rel);
        snprintf(rel, sizeof rel, "optim/gb%d.npy", t);
        struct tu_array gb = tu_fixture(rel);
        memcpy(wg, gw.data, 21 * 4);
        memcpy(bg, gb.data, 5 * 4);
        lc_optim_step(&o);
        snprintf(rel, sizeof rel, "optim/%s_w%d.npy", name, t + 1);
        struct tu_array ww = tu_fixture(rel);
        snprintf(rel, sizeof rel, "optim/%s_b%d.npy", name, t + 1);
        struct tu_array wb = tu_fixture(rel);
        /* torch's vectorised kernels fuse a + alpha*b into one FMA for the
         * vector body and round twice in the scalar tail, so bits can differ
         * in the last place: allow a few ulp, nothing more */
        tu_expect_close(wd, ww.data, 21, 0, 4e-7f);
        tu_expect_close(bd, wb.data, 5, 0, 4e-7f);
        tu_free(&gw), tu_free(&gb), tu_free(&ww), tu_free(&wb);
    }
    lc_optim_free(&o);
    lc_params_free(&ps);
    tu_free(&w0), tu_free(&b0);
}

Test(optim, sgd_two_groups_matches_torch) { run("sgd", 0); }
Test(optim, adam_matches_torch) { run("adam", 1); }

Test(optim, multistep_lr_matches_torch)
{
    struct tu_array lrs = tu_fixture("optim/multistep_lr.npy");
    struct lc_multistep s;
    cr_assert_eq(lc_multistep_parse(&s, 0.1, 0.1, "12,20,24", NULL), 0);
    for (int e = 0; e < 26; e++) cr_expect_eq(lc_multistep_lr(&s, e), ((double *)lrs.data)[e], "epoch %d", e);
    cr_expect_eq(lc_multistep_parse(&s, 0.1, 0.1, "12,5", NULL), LC_EUSAGE);
    cr_expect_eq(lc_multistep_parse(&s, 0.1, 0.1, "x", NULL), LC_EUSAGE);
    tu_free(&lrs);
}

/* lc_optim_dev (the optimiser as it runs on a GPU, state on the device) on
 * the CPU device: the same steps as lc_optim_step, bit for bit, for SGD
 * with momentum and Adam with weight decay, state downloaded included;
 * the last step with another weight decay (not the update table's: the
 * per-tensor ops). */
Test(optim, device_optimiser_on_the_cpu_equals_optim_step)
{
    struct lc_device cpu = {LC_DEVICE_CPU, 0};
    struct lc_err err;
    for (int adam = 0; adam < 2; adam++) {
        struct lc_params ps[2];
        struct lc_optim o[2];
        for (int k = 0; k < 2; k++) {
            lc_params_init(&ps[k]);
            int64_t dw[2] = {37, 5}, db[1] = {11};
            struct lc_param *w = lc_params_add(&ps[k], LC_PARAM_DECAY, 2, dw, NULL, "w");
            struct lc_param *b = lc_params_add(&ps[k], LC_PARAM_NO_DECAY, 1, db, NULL, "b");
            for (int i = 0; i < 185; i++) w->data[i] = sinf(0.37f * i);
            for (int i = 0; i < 11; i++) b->data[i] = cosf(0.91f * i);
            if (adam) cr_assert_eq(lc_optim_init_adam(&o[k], 1e-2, 0.9f, 0.999f, 1e-8f, 5e-4f, &err), 0);
            else cr_assert_eq(lc_optim_init_sgd(&o[k], 0.1, 0.9f, 5e-4f, 0, &err), 0);
            cr_assert_eq(lc_optim_add(&o[k], &ps[k], &err), 0);
        }
        struct lc_dev_params dp;
        cr_assert_eq(lc_dev_params_create(&dp, &ps[1], &cpu, &err), 0, "%s", err.msg);
        const struct lc_dev_params *mirrors[1] = {&dp};
        struct lc_optim_dev od;
        cr_assert_eq(lc_optim_dev_create(&od, &o[1], mirrors, 1, &err), 0, "%s", err.msg);
        for (int t = 0; t < 3; t++) {
            for (size_t i = 0; i < ps[0].n; i++)
                for (size_t j = 0; j < ps[0].v[i].n; j++) ps[0].v[i].grad[j] = sinf(1.3f * (float)j + (float)t) * 0.1f;
            for (size_t i = 0; i < ps[1].n; i++)
                cr_assert_eq(lc_device_upload(&cpu, dp.grad[i], ps[0].v[i].grad, ps[0].v[i].n * 4, &err), 0);
            if (t == 2) o[0].weight_decay = o[1].weight_decay = 2e-3f;
            lc_optim_step(&o[0]);
            cr_assert_eq(lc_optim_dev_step(&od, &o[1], &err), 0, "%s", err.msg);
        }
        cr_assert_eq(lc_dev_params_download(&dp, &err), 0, "%s", err.msg);
        cr_assert_eq(lc_optim_dev_download(&od, &o[1], &err), 0, "%s", err.msg);
        for (size_t i = 0; i < ps[0].n; i++) {
            size_t n = ps[0].v[i].n;
            cr_expect_arr_eq(ps[1].v[i].data, ps[0].v[i].data, n * 4, "%s: %s", adam ? "adam" : "sgd", ps[0].v[i].name);
            for (int s = 0; s < 1 + adam; s++)
                cr_expect_arr_eq(lc_optim_state(&o[1], i, s), lc_optim_state(&o[0], i, s), n * 4, "%s state %d of %s",
                                 adam ? "adam" : "sgd", s, ps[0].v[i].name);
        }
        cr_expect_eq(o[1].step, 3);
        cr_expect_neq(ps[0].v[0].data[1], sinf(0.37f), "the weights moved");
        lc_optim_dev_free(&od);
        lc_dev_params_free(&dp);
        for (int k = 0; k < 2; k++) lc_optim_free(&o[k]), lc_params_free(&ps[k]);
    }
}
