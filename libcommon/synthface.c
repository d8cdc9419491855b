/* synthface: a small ray-caster of layered 2-D shapes. Each sample point is
 * mapped back into the face's canonical frame (origin at the nose tip, the
 * frame of an aligned 112x112 crop) and the layers are tested top first; the
 * first hit gives the class and the colour. Colours are the mean of four
 * subsamples, classes come from the pixel centre. */
#include "synthface.h"

#include <math.h>
#include <string.h>

#include "rng.h"

#define SZ LC_SYNTH_SIZE
#define PI 3.14159265358979f
/* where the canonical origin (nose tip) sits in the image: the ArcFace template */
#define CX 56.0f
#define CY 71.7f

const char *lc_celeba_name(int c)
{
    static const char *n[] = {"background", "skin", "nose", "eyeglasses", "l_eye", "r_eye", "l_brow",
                              "r_brow", "l_ear", "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat",
                              "earring", "necklace", "neck", "cloth"};
    return c >= 0 && c < LC_CELEBA_CLASSES ? n[c] : "?";
}

static float U(struct lc_rng *r, float a, float b) { return a + (b - a) * lc_rng_uniform(r); }

static void pick(float *bgr, const float pal[][3], int n, struct lc_rng *r, float jitter)
{
    const float *c = pal[lc_rng_below(r, (uint64_t)n)];
    for (int k = 0; k < 3; k++) bgr[k] = fminf(255, fmaxf(0, c[k] + U(r, -jitter, jitter)));
}

void lc_synth_identity(struct lc_synth_identity *p, uint64_t seed, int id)
{
    struct lc_rng r;
    lc_rng_seed_stream(&r, seed, 0x5fa1000000000000ull | (uint64_t)(uint32_t)id);
    memset(p, 0, sizeof *p);
    p->face_a = U(&r, 32, 41);
    p->face_b = U(&r, 42, 51);
    p->face_cy = U(&r, -14, -8);
    p->jaw = U(&r, 0.0f, 0.35f);
    /* skin: between a light and a dark tone (BGR) */
    float t = lc_rng_uniform(&r);
    const float light[3] = {185, 200, 235}, dark[3] = {55, 80, 120};
    for (int k = 0; k < 3; k++) p->skin[k] = light[k] + (dark[k] - light[k]) * t + U(&r, -12, 12);
    p->tex_amp = U(&r, 0.03f, 0.12f);
    p->tex_scale = U(&r, 3.0f, 9.0f);
    p->tex_seed = (uint32_t)lc_rng_u64(&r);
    p->moles = (int)lc_rng_below(&r, 5);
    for (int i = 0; i < p->moles; i++) {
        p->mole[i][0] = U(&r, -26, 26);
        p->mole[i][1] = U(&r, -40, 25);
        p->mole[i][2] = U(&r, 0.8f, 2.0f);
    }
    p->eye_dx = U(&r, 14.5f, 20.0f);
    p->eye_dy = U(&r, -23.5f, -17.5f);
    p->eye_rx = U(&r, 4.0f, 6.5f);
    p->eye_ry = U(&r, 2.2f, 3.6f);
    static const float irises[][3] = {{30, 50, 90}, {140, 110, 60}, {70, 120, 60}, {110, 110, 110}, {20, 30, 45}};
    pick(p->iris, irises, 5, &r, 15);
    p->iris_r = U(&r, 0.45f, 0.7f);
    static const float hairs[][3] = {{25, 25, 30}, {30, 50, 90}, {80, 150, 200}, {40, 70, 150}, {150, 150, 150}, {20, 30, 55}};
    pick(p->hair, hairs, 6, &r, 12);
    for (int k = 0; k < 3; k++) p->brow[k] = p->hair[k] * 0.7f;
    p->brow_up = U(&r, 6, 10);
    p->brow_len = U(&r, 10, 16);
    p->brow_th = U(&r, 1.4f, 3.4f);
    p->brow_tilt = U(&r, -0.25f, 0.2f);
    p->nose_len = U(&r, 12, 19);
    p->nose_w = U(&r, 6, 11);
    p->mouth_y = U(&r, 18, 23);
    p->mouth_w = U(&r, 11, 17);
    p->lip_u = U(&r, 1.8f, 4.0f);
    p->lip_l = U(&r, 2.5f, 5.0f);
    static const float lips[][3] = {{90, 90, 190}, {110, 100, 170}, {70, 60, 150}, {100, 110, 160}};
    pick(p->lip, lips, 4, &r, 15);
    p->ear_r = U(&r, 7, 11);
    p->ear_y = U(&r, -18, -6);
    p->hair_top = U(&r, 3, 18);
    p->hair_side = U(&r, 0, 14);
    p->fringe = lc_rng_uniform(&r) < 0.3f ? U(&r, 0.2f, 0.6f) : 0;
    p->glasses = lc_rng_uniform(&r) < 0.2f;
    p->earrings = lc_rng_uniform(&r) < 0.15f;
    p->hat = lc_rng_uniform(&r) < 0.1f;
    p->necklace = lc_rng_uniform(&r) < 0.12f;
    static const float frames[][3] = {{20, 20, 20}, {40, 60, 120}, {160, 160, 160}, {30, 30, 140}};
    pick(p->glasses_col, frames, 4, &r, 10);
    static const float hats[][3] = {{40, 40, 40}, {140, 60, 30}, {40, 40, 160}, {200, 200, 200}};
    pick(p->hat_col, hats, 4, &r, 20);
    static const float golds[][3] = {{60, 180, 220}, {200, 200, 200}};
    pick(p->earring_col, golds, 2, &r, 10);
}

void lc_synth_view(struct lc_synth_view *v, uint64_t seed, int id, int image, float nuisance)
{
    struct lc_rng r;
    lc_rng_seed_stream(&r, seed, ((uint64_t)(uint32_t)id << 24) ^ (uint64_t)(uint32_t)image ^ 0x71e3000000000000ull);
    memset(v, 0, sizeof *v);
    float k = nuisance;
    float a = (float)lc_rng_normal(&r) * 5.0f * k;
    v->angle = fmaxf(-12, fminf(12, a)) * PI / 180;
    v->scale = 1 + U(&r, -0.06f, 0.06f) * k;
    v->tx = U(&r, -3, 3) * k;
    v->ty = U(&r, -3, 3) * k;
    v->yaw = U(&r, -0.25f, 0.25f) * k;
    v->mouth_open = lc_rng_uniform(&r) < 0.35f ? U(&r, 0.5f, 4.0f) * k : 0;
    v->brow_raise = U(&r, -1.5f, 2.0f) * k;
    v->light_dir = U(&r, 0, 2 * PI);
    v->light_amp = U(&r, 0, 0.35f) * k;
    v->bright = 1 + U(&r, -0.25f, 0.2f) * k;
    v->contrast = 1 + U(&r, -0.2f, 0.15f) * k;
    for (int c = 0; c < 3; c++) v->cast[c] = 1 + U(&r, -0.06f, 0.06f) * k;
    for (int c = 0; c < 3; c++) v->bg[c] = U(&r, 20, 235);
    for (int c = 0; c < 3; c++) v->cloth[c] = U(&r, 15, 235);
    v->bg_seed = (uint32_t)lc_rng_u64(&r);
    float o = lc_rng_uniform(&r);
    v->occluder = o < 0.15f * k ? 1 : o < 0.3f * k ? 2 : 0;
    for (int c = 0; c < 3; c++) v->occ_col[c] = U(&r, 0, 255);
    if (v->occluder == 1) { /* a bar across the image, mostly away from eyes and nose */
        float y0 = U(&r, 0, SZ), y1 = U(&r, 0, SZ);
        v->occ[0] = -5, v->occ[1] = y0, v->occ[2] = SZ + 5, v->occ[3] = y1, v->occ[4] = U(&r, 2, 6);
        if (lc_rng_uniform(&r) < 0.5f) v->occ[0] = U(&r, -5, 30), v->occ[2] = U(&r, 0, SZ);
    } else if (v->occluder == 2) { /* a patch near an edge or corner */
        float side = lc_rng_uniform(&r);
        v->occ[0] = side < 0.5f ? U(&r, 0, 25) : U(&r, 87, 112);
        v->occ[1] = U(&r, 0, SZ);
        v->occ[2] = U(&r, 6, 16), v->occ[3] = U(&r, 6, 16), v->occ[4] = U(&r, 0, PI);
    }
    v->noise = U(&r, 0, 5) * k;
    v->blur = lc_rng_uniform(&r) < 0.2f * k ? U(&r, 0.3f, 1.0f) : 0;
    v->hat_on = lc_rng_uniform(&r) < 0.8f; /* a hat-wearer mostly wears it */
}

/* ---- helpers ---- */

static uint32_t hash2(uint32_t s, int x, int y)
{
    uint32_t h = s ^ (uint32_t)x * 0x9e3779b1u ^ (uint32_t)y * 0x85ebca77u;
    h ^= h >> 16, h *= 0x7feb352du, h ^= h >> 15, h *= 0x846ca68bu, h ^= h >> 16;
    return h;
}

/* smooth value noise in [-1, 1] */
static float vnoise(uint32_t s, float x, float y)
{
    int xi = (int)floorf(x), yi = (int)floorf(y);
    float fx = x - (float)xi, fy = y - (float)yi;
    fx = fx * fx * (3 - 2 * fx), fy = fy * fy * (3 - 2 * fy);
#define V(i, j) ((float)(hash2(s, xi + (i), yi + (j)) >> 8) * (2.0f / 16777216.0f) - 1.0f)
    float a = V(0, 0) + (V(1, 0) - V(0, 0)) * fx, b = V(0, 1) + (V(1, 1) - V(0, 1)) * fx;
#undef V
    return a + (b - a) * fy;
}

static int in_ellipse(float x, float y, float cx, float cy, float rx, float ry)
{
    float dx = (x - cx) / rx, dy = (y - cy) / ry;
    return dx * dx + dy * dy <= 1;
}

static float seg_dist(float x, float y, float x0, float y0, float x1, float y1)
{
    float vx = x1 - x0, vy = y1 - y0, wx = x - x0, wy = y - y0;
    float t = (vx * wx + vy * wy) / (vx * vx + vy * vy + 1e-9f);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    float dx = wx - t * vx, dy = wy - t * vy;
    return sqrtf(dx * dx + dy * dy);
}

struct clutter {
    int n, type[8];
    float p[8][5], col[8][3];
};

struct ctx {
    const struct lc_synth_identity *p;
    const struct lc_synth_view *v;
    struct clutter bg;
};

static void set(float *c, const float *s, float mul)
{
    for (int k = 0; k < 3; k++) c[k] = s[k] * mul;
}

/* Is (x, y) inside the head (skin) outline, with the jaw narrowing the chin? */
static int in_face(const struct lc_synth_identity *p, float x, float y)
{
    float yy = (y - p->face_cy) / p->face_b;
    float a = p->face_a * (yy > 0 ? 1 - p->jaw * yy * yy : 1);
    return in_ellipse(x, y, 0, p->face_cy, a, p->face_b);
}

static int sample_below_glasses(const struct ctx *c, float x, float y, float ix, float iy, float *col);

/* The class and colour at canonical (x, y), image (ix, iy). */
static int sample(const struct ctx *c, float x, float y, float ix, float iy, float *col)
{
    const struct lc_synth_identity *p = c->p;
    const struct lc_synth_view *v = c->v;
    /* occluders live in image space, on top of everything */
    if (v->occluder == 1 && seg_dist(ix, iy, v->occ[0], v->occ[1], v->occ[2], v->occ[3]) < v->occ[4]) {
        set(col, v->occ_col, 1);
        return LC_CELEBA_BACKGROUND;
    }
    if (v->occluder == 2) {
        float dx = ix - v->occ[0], dy = iy - v->occ[1], ca = cosf(v->occ[4]), sa = sinf(v->occ[4]);
        if (fabsf(ca * dx + sa * dy) < v->occ[2] && fabsf(-sa * dx + ca * dy) < v->occ[3]) {
            set(col, v->occ_col, 1);
            return LC_CELEBA_BACKGROUND;
        }
    }
    if (p->hat && v->hat_on && y < p->face_cy - p->face_b * 0.62f &&
        in_ellipse(x, y, 0, p->face_cy - p->face_b * 0.75f, p->face_a * 1.15f, p->face_b * 0.45f)) {
        set(col, p->hat_col, 1);
        return LC_CELEBA_HAT;
    }
    float yx = v->yaw * 8; /* features shift sideways when the head turns */
    if (p->glasses) {
        for (int s = -1; s <= 1; s += 2) {
            float ex = s * p->eye_dx + yx, ey = p->eye_dy;
            float dx = (x - ex) / (p->eye_rx + 3.5f), dy = (y - ey) / (p->eye_ry + 4.0f), r = sqrtf(dx * dx + dy * dy);
            if (r <= 1.12f) {
                if (r >= 0.9f) {
                    set(col, p->glasses_col, 1);
                } else { /* tinted lens over what lies below */
                    sample_below_glasses(c, x, y, ix, iy, col);
                    for (int k = 0; k < 3; k++) col[k] = col[k] * 0.85f + 0.15f * p->glasses_col[k];
                }
                return LC_CELEBA_EYEGLASSES;
            }
        }
        if (seg_dist(x, y, -p->eye_dx + p->eye_rx + 3 + yx, p->eye_dy - 1, p->eye_dx - p->eye_rx - 3 + yx, p->eye_dy - 1) < 1.0f) {
            set(col, p->glasses_col, 1);
            return LC_CELEBA_EYEGLASSES;
        }
    }
    return sample_below_glasses(c, x, y, ix, iy, col);
}

static int sample_below_glasses(const struct ctx *c, float x, float y, float ix, float iy, float *col)
{
    const struct lc_synth_identity *p = c->p;
    const struct lc_synth_view *v = c->v;
    float yx = v->yaw * 8;
    int face = in_face(p, x, y);
    /* fringe over the forehead */
    if (face && p->fringe > 0) {
        float line = p->face_cy - p->face_b + p->face_b * p->fringe * (0.8f + 0.2f * cosf(x * 0.25f));
        if (y < line) {
            set(col, p->hair, 1 + 0.15f * vnoise(p->tex_seed ^ 7, x * 0.7f, y * 0.2f));
            return LC_CELEBA_HAIR;
        }
    }
    if (face) {
        /* mouth and lips */
        float my = p->mouth_y, mx = yx * 0.8f, open = v->mouth_open;
        if (open > 0.3f && in_ellipse(x, y, mx, my, p->mouth_w * 0.8f, open * 0.5f + 0.3f)) {
            float dark[3] = {40, 40, 90};
            set(col, dark, 1);
            return LC_CELEBA_MOUTH;
        }
        if (y <= my - open * 0.5f + 0.2f && in_ellipse(x, y, mx, my - open * 0.5f, p->mouth_w, p->lip_u)) {
            set(col, p->lip, 0.9f);
            return LC_CELEBA_U_LIP;
        }
        if (y >= my + open * 0.5f - 0.2f && in_ellipse(x, y, mx, my + open * 0.5f, p->mouth_w * 0.9f, p->lip_l)) {
            set(col, p->lip, 1.0f);
            return LC_CELEBA_L_LIP;
        }
        /* brows and eyes */
        for (int s = -1; s <= 1; s += 2) {
            float ex = s * p->eye_dx + yx, ey = p->eye_dy, by = ey - p->brow_up - v->brow_raise;
            float x0 = ex - p->brow_len * 0.5f, x1 = ex + p->brow_len * 0.5f;
            float y0 = by + s * p->brow_tilt * p->brow_len * 0.5f, y1 = by - s * p->brow_tilt * p->brow_len * 0.5f;
            if (seg_dist(x, y, x0, y0, x1, y1) < p->brow_th * 0.5f) {
                set(col, p->brow, 1);
                return s < 0 ? LC_CELEBA_L_BROW : LC_CELEBA_R_BROW;
            }
            if (in_ellipse(x, y, ex, ey, p->eye_rx, p->eye_ry)) {
                float d = hypotf(x - ex - v->yaw * 1.5f, y - ey);
                float ir = p->eye_ry * p->iris_r * 1.6f;
                if (d < ir * 0.45f) col[0] = col[1] = col[2] = 15;
                else if (d < ir) set(col, p->iris, 1);
                else col[0] = 225, col[1] = 230, col[2] = 235;
                return s < 0 ? LC_CELEBA_L_EYE : LC_CELEBA_R_EYE;
            }
        }
        /* nose: a wedge from between the eyes to the tip, nostrils at the base */
        float nx = yx * 1.25f, top = -p->nose_len;
        if (y >= top && y <= 2.5f) {
            float t = (y - top) / (2.5f - top), hw = p->nose_w * 0.5f * (0.35f + 0.65f * t);
            if (fabsf(x - nx) <= hw) {
                float shade = 0.88f + 0.1f * (x - nx) / (hw + 1e-3f) * (v->yaw > 0 ? -1 : 1);
                if (y > 0 && (in_ellipse(x, y, nx - hw * 0.45f, 1.2f, 1.3f, 0.9f) || in_ellipse(x, y, nx + hw * 0.45f, 1.2f, 1.3f, 0.9f)))
                    shade = 0.45f;
                set(col, p->skin, shade);
                return LC_CELEBA_NOSE;
            }
        }
        /* skin with texture and moles */
        float tex = 1 + p->tex_amp * (vnoise(p->tex_seed, x / p->tex_scale, y / p->tex_scale) +
                                      0.5f * vnoise(p->tex_seed ^ 1, x / (p->tex_scale * 0.4f), y / (p->tex_scale * 0.4f)));
        for (int i = 0; i < p->moles; i++)
            if (hypotf(x - p->mole[i][0], y - p->mole[i][1]) < p->mole[i][2]) tex = 0.55f;
        set(col, p->skin, tex);
        return LC_CELEBA_SKIN;
    }
    /* ears and earrings beside the face */
    for (int s = -1; s <= 1; s += 2) {
        float ex = s * (p->face_a - 1.5f), ey = p->ear_y;
        if (p->earrings && hypotf(x - ex, y - (ey + p->ear_r + 2)) < 2.2f) {
            set(col, p->earring_col, 1);
            return LC_CELEBA_EARRING;
        }
        if (in_ellipse(x, y, ex, ey, p->ear_r * 0.55f, p->ear_r)) {
            set(col, p->skin, 0.9f);
            return s < 0 ? LC_CELEBA_L_EAR : LC_CELEBA_R_EAR;
        }
    }
    /* hair behind the head */
    float hb = p->face_cy + p->face_b * 0.15f + p->hair_side * 1.5f;
    if (y < hb && in_ellipse(x, y, 0, p->face_cy - p->hair_top * 0.35f, p->face_a + 2 + p->hair_side * 0.6f,
                             p->face_b + p->hair_top * 0.6f)) {
        set(col, p->hair, 1 + 0.15f * vnoise(p->tex_seed ^ 7, x * 0.7f, y * 0.2f));
        return LC_CELEBA_HAIR;
    }
    /* necklace, neck, clothes */
    float chin = p->face_cy + p->face_b;
    if (p->necklace && fabsf(hypotf(x, (y - chin + 8) * 1.6f) - 24) < 1.4f && y > chin - 2) {
        float g[3] = {60, 180, 220};
        set(col, g, 1);
        return LC_CELEBA_NECKLACE;
    }
    float shoulder = chin + 6 + 0.004f * x * x * 4;
    if (y > shoulder) {
        set(col, v->cloth, 1 + 0.08f * vnoise(v->bg_seed ^ 3, ix * 0.3f, iy * 0.3f));
        return LC_CELEBA_CLOTH;
    }
    if (fabsf(x) < p->face_a * 0.45f && y > p->face_cy) {
        set(col, p->skin, 0.82f);
        return LC_CELEBA_NECK;
    }
    /* background: clutter shapes in image space over a gradient */
    for (int i = c->bg.n - 1; i >= 0; i--) {
        const float *q = c->bg.p[i];
        int hit = c->bg.type[i] == 0 ? in_ellipse(ix, iy, q[0], q[1], q[2], q[3])
                                     : fabsf(ix - q[0]) < q[2] && fabsf(iy - q[1]) < q[3];
        if (hit) {
            set(col, c->bg.col[i], 1);
            return LC_CELEBA_BACKGROUND;
        }
    }
    set(col, v->bg, 1 + 0.25f * (iy / SZ - 0.5f));
    return LC_CELEBA_BACKGROUND;
}

static void clutter(struct clutter *b, uint32_t seed)
{
    struct lc_rng r;
    lc_rng_seed(&r, seed);
    b->n = 3 + (int)lc_rng_below(&r, 6);
    for (int i = 0; i < b->n; i++) {
        b->type[i] = (int)lc_rng_below(&r, 2);
        b->p[i][0] = U(&r, -10, SZ + 10), b->p[i][1] = U(&r, -10, SZ + 10);
        b->p[i][2] = U(&r, 4, 30), b->p[i][3] = U(&r, 4, 30);
        for (int k = 0; k < 3; k++) b->col[i][k] = U(&r, 0, 255);
    }
}

void lc_synth_render(uint8_t *bgr, uint8_t *labels, float *landmarks, const struct lc_synth_identity *p,
                     const struct lc_synth_view *v)
{
    struct ctx c = {p, v, {0}};
    clutter(&c.bg, v->bg_seed);
    float ca = cosf(v->angle), sa = sinf(v->angle), is = 1 / v->scale;
    float img[SZ * SZ * 3];
    static const float sub[4][2] = {{0.25f, 0.25f}, {0.75f, 0.25f}, {0.25f, 0.75f}, {0.75f, 0.75f}};
    for (int py = 0; py < SZ; py++)
        for (int px = 0; px < SZ; px++) {
            float acc[3] = {0, 0, 0}, col[3];
            for (int s = 0; s < 5; s++) {
                float ix = px + (s < 4 ? sub[s][0] : 0.5f), iy = py + (s < 4 ? sub[s][1] : 0.5f);
                /* image -> canonical: undo translation, rotation and scale about the template origin */
                float dx = ix - CX - v->tx, dy = iy - CY - v->ty;
                float x = (ca * dx + sa * dy) * is, y = (-sa * dx + ca * dy) * is;
                int cls = sample(&c, x, y, ix, iy, col);
                if (s < 4)
                    for (int k = 0; k < 3; k++) acc[k] += col[k] * 0.25f;
                else if (labels)
                    labels[py * SZ + px] = (uint8_t)cls;
            }
            /* light: a linear ramp in some direction, then brightness, contrast, colour cast */
            float ramp = 1 + v->light_amp * (cosf(v->light_dir) * (px - 56) + sinf(v->light_dir) * (py - 56)) / 56;
            for (int k = 0; k < 3; k++) {
                float val = acc[k] * ramp * v->bright;
                val = (val - 128) * v->contrast + 128;
                img[(py * SZ + px) * 3 + k] = val * v->cast[k];
            }
        }
    if (v->blur > 0) { /* a light 3x3 blur, mixed in by `blur` */
        float *t = img;
        float out[SZ * SZ * 3];
        for (int py = 0; py < SZ; py++)
            for (int px = 0; px < SZ; px++)
                for (int k = 0; k < 3; k++) {
                    float s = 0;
                    int n = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            int yy = py + dy, xx = px + dx;
                            if (yy < 0 || yy >= SZ || xx < 0 || xx >= SZ) continue;
                            s += t[(yy * SZ + xx) * 3 + k];
                            n++;
                        }
                    float me = t[(py * SZ + px) * 3 + k];
                    out[(py * SZ + px) * 3 + k] = me + v->blur * (s / n - me);
                }
        memcpy(img, out, sizeof img);
    }
    if (bgr) {
        uint32_t ns = v->bg_seed ^ 0xabcdef;
        for (int i = 0; i < SZ * SZ * 3; i++) {
            /* deterministic noise: triangular from two hashes */
            float n = v->noise * (((float)(hash2(ns, i, 1) >> 8) + (float)(hash2(ns, i, 2) >> 8)) / 16777216.0f - 1.0f) * 1.7f;
            float val = img[i] + n;
            bgr[i] = (uint8_t)(val < 0 ? 0 : val > 255 ? 255 : lrintf(val));
        }
    }
    if (landmarks) {
        float yx = v->yaw * 8;
        float q[5][2] = {{-p->eye_dx + yx, p->eye_dy},
                         {p->eye_dx + yx, p->eye_dy},
                         {yx * 1.25f, 0},
                         {-p->mouth_w + yx * 0.8f, p->mouth_y},
                         {p->mouth_w + yx * 0.8f, p->mouth_y}};
        for (int i = 0; i < 5; i++) { /* canonical -> image */
            float x = q[i][0] * v->scale, y = q[i][1] * v->scale;
            landmarks[2 * i] = CX + v->tx + ca * x - sa * y;
            landmarks[2 * i + 1] = CY + v->ty + sa * x + ca * y;
        }
    }
}
