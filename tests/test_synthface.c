/* synthface: deterministic (images depend only on seed, identity, image),
 * face-like (every part of the face drawn and labelled, landmarks near the
 * ArcFace template), and varied in the right places (a view changes the
 * pixels, not the identity parameters). */
#include <stdlib.h>

#include "synthface.h"
#include "testutil.h"

#define S LC_SYNTH_SIZE

static void render(uint8_t *px, uint8_t *lab, float *lm, uint64_t seed, int id, int image, float nuisance)
{
    struct lc_synth_identity p;
    struct lc_synth_view v;
    lc_synth_identity(&p, seed, id);
    lc_synth_view(&v, seed, id, image, nuisance);
    lc_synth_render(px, lab, lm, &p, &v);
}

Test(synthface, deterministic_and_order_independent)
{
    static uint8_t a[S * S * 3], b[S * S * 3], c[S * S * 3], la[S * S], lb[S * S];
    float ma[10], mb[10];
    render(a, la, ma, 42, 7, 3, 1);
    render(c, NULL, NULL, 42, 8, 0, 1); /* something else in between */
    render(b, lb, mb, 42, 7, 3, 1);
    cr_expect_eq(memcmp(a, b, sizeof a), 0);
    cr_expect_eq(memcmp(la, lb, sizeof la), 0);
    cr_expect_eq(memcmp(ma, mb, sizeof ma), 0);
    cr_expect_neq(memcmp(a, c, sizeof a), 0, "identities differ");
    render(c, NULL, NULL, 43, 7, 3, 1);
    cr_expect_neq(memcmp(a, c, sizeof a), 0, "seeds differ");
}

Test(synthface, faces_have_their_parts_and_landmarks_near_the_template)
{
    static const float tmpl[10] = {38.2946f, 51.6963f, 73.5318f, 51.5014f, 56.0252f, 71.7366f,
                                   41.5493f, 92.3655f, 70.7299f, 92.2041f};
    static uint8_t px[S * S * 3], lab[S * S];
    int seen[LC_CELEBA_CLASSES] = {0};
    double dev[10] = {0};
    const int n = 60;
    for (int i = 0; i < n; i++) {
        float lm[10];
        render(px, lab, lm, 5, i, i % 3, 0.0f); /* no occluders: every part must show */
        int here[LC_CELEBA_CLASSES] = {0};
        for (int k = 0; k < S * S; k++) here[lab[k]]++;
        for (int c = 0; c < LC_CELEBA_CLASSES; c++) seen[c] += here[c] > 0;
        cr_expect_gt(here[LC_CELEBA_SKIN], 2000, "face %d: skin covers a good part of the crop", i);
        cr_expect(here[LC_CELEBA_L_EYE] > 10 || here[LC_CELEBA_EYEGLASSES] > 10, "face %d: left eye", i);
        cr_expect_gt(here[LC_CELEBA_NOSE], 20, "face %d: nose", i);
        /* the eye class is where the eye landmark says */
        int ex = (int)lm[0], ey = (int)lm[1], c0 = lab[ey * S + ex];
        cr_expect(c0 == LC_CELEBA_L_EYE || c0 == LC_CELEBA_EYEGLASSES || c0 == LC_CELEBA_HAIR || c0 == 0,
                  "face %d: left-eye landmark on class %s", i, lc_celeba_name(c0));
        for (int k = 0; k < 10; k++) dev[k] += fabs(lm[k] - tmpl[k]) / n;
    }
    for (int c = 1; c <= LC_CELEBA_HAIR; c++)
        if (c != LC_CELEBA_MOUTH) cr_expect_gt(seen[c], 0, "class %s never drawn", lc_celeba_name(c));
    int open = 0; /* the open mouth is expression, part of the nuisance */
    for (int i = 0; i < 20; i++) {
        render(px, lab, NULL, 5, i, 1, 1.0f);
        for (int k = 0; k < S * S && !open; k++) open = lab[k] == LC_CELEBA_MOUTH;
    }
    cr_expect(open, "some faces open their mouth");
    cr_expect_gt(seen[LC_CELEBA_EYEGLASSES] + seen[LC_CELEBA_EARRING] + seen[LC_CELEBA_HAT], 0, "accessories appear");
    for (int k = 0; k < 10; k++) cr_expect_lt(dev[k], 6.0, "landmark %d is %.1f px from the ArcFace template on average", k / 2, dev[k]);
}

Test(synthface, nuisance_changes_pixels_not_identity)
{
    static uint8_t a[S * S * 3], b[S * S * 3], z0[S * S * 3], z1[S * S * 3];
    render(a, NULL, NULL, 9, 3, 0, 1);
    render(b, NULL, NULL, 9, 3, 1, 1);
    cr_expect_neq(memcmp(a, b, sizeof a), 0, "two views differ");
    struct lc_synth_identity p, q;
    lc_synth_identity(&p, 9, 3);
    lc_synth_identity(&q, 9, 3);
    cr_expect_eq(memcmp(&p, &q, sizeof p), 0);
    /* nuisance 0: views differ only in their background and clothes */
    static uint8_t la[S * S], lb[S * S];
    render(z0, la, NULL, 9, 3, 0, 0);
    render(z1, lb, NULL, 9, 3, 1, 0);
    long diff_face = 0, interior = 0;
    for (int y = 1; y < S - 1; y++)
        for (int x = 1; x < S - 1; x++) {
            int inside = 1; /* skin with skin all around: no antialiasing against the background */
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) inside &= la[(y + dy) * S + x + dx] == LC_CELEBA_SKIN;
            if (!inside) continue;
            interior++;
            for (int c = 0; c < 3; c++) diff_face += abs(z0[3 * (y * S + x) + c] - z1[3 * (y * S + x) + c]);
        }
    cr_expect_gt(interior, 2000);
    cr_expect_eq(diff_face, 0, "without nuisance, the face pixels are the same in every view");
    cr_expect_eq(memcmp(la, lb, sizeof la), 0, "and so is the label map");
}
