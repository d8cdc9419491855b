/* synthface: a deterministic generator of synthetic, face-like identities
 * for demos and tests (it is no substitute for real faces). An identity is
 * a set of stable parameters (head and jaw shape, skin tone and texture,
 * moles, eye spacing, size and colour, brows, nose, lips, ears, hair colour
 * and style, accessories such as glasses or earrings); every image of it
 * redraws that identity under nuisance a recogniser must ignore: pose (roll,
 * a little yaw), scale and shift, expression (mouth, brows), lighting,
 * background clutter, clothing colour, occluding bars and patches, blur and
 * noise. Images are 112x112 BGR, laid out like aligned face crops (the five
 * landmarks sit near the ArcFace template). Each image also gets a
 * CelebAMask-HQ-style label map (19 classes, REFERENCE.md section 6) and its
 * five landmarks, so alignment and segmentation stages can be exercised.
 * Everything depends only on (seed, identity, image): any subset can be
 * rendered in any order, on any number of threads, with the same result. */
#ifndef LC_SYNTHFACE_H
#define LC_SYNTHFACE_H

#include <stdint.h>

#define LC_SYNTH_SIZE 112

/* CelebAMask-HQ classes. l_eye, l_brow, l_ear are on the image's left. */
enum lc_celeba_class {
    LC_CELEBA_BACKGROUND = 0, LC_CELEBA_SKIN, LC_CELEBA_NOSE, LC_CELEBA_EYEGLASSES, LC_CELEBA_L_EYE, LC_CELEBA_R_EYE,
    LC_CELEBA_L_BROW, LC_CELEBA_R_BROW, LC_CELEBA_L_EAR, LC_CELEBA_R_EAR, LC_CELEBA_MOUTH, LC_CELEBA_U_LIP,
    LC_CELEBA_L_LIP, LC_CELEBA_HAIR, LC_CELEBA_HAT, LC_CELEBA_EARRING, LC_CELEBA_NECKLACE, LC_CELEBA_NECK,
    LC_CELEBA_CLOTH, LC_CELEBA_CLASSES
};
const char *lc_celeba_name(int cls);

struct lc_synth_identity {
    float face_a, face_b, face_cy, jaw;     /* head ellipse half-axes, centre, chin narrowing */
    float skin[3], tex_amp, tex_scale;      /* BGR 0..255, texture amplitude and scale */
    uint32_t tex_seed;
    int moles;
    float mole[6][3];                       /* x, y, radius (canonical) */
    float eye_dx, eye_dy, eye_rx, eye_ry, iris[3], iris_r;
    float brow_up, brow_len, brow_th, brow_tilt, brow[3];
    float nose_len, nose_w, mouth_y, mouth_w, lip_u, lip_l, lip[3];
    float ear_r, ear_y;
    float hair[3], hair_top, hair_side, fringe;
    int glasses, earrings, hat, necklace;
    float glasses_col[3], hat_col[3], earring_col[3];
};

struct lc_synth_view {
    float angle, scale, tx, ty, yaw;        /* similarity pose and a yaw-like feature shift */
    float mouth_open, brow_raise;
    float light_dir, light_amp, bright, contrast, cast[3];
    float bg[3], cloth[3];
    uint32_t bg_seed;
    int occluder;                           /* 0 none, 1 bar, 2 patch */
    float occ[5], occ_col[3];               /* bar: x0,y0,x1,y1,width; patch: cx,cy,w,h,angle */
    float noise, blur;
    int hat_on;
};

/* The parameters of identity `id` and of its image `image` under `seed`.
 * nuisance in [0, 1] scales pose, lighting and occlusion (1: the default). */
void lc_synth_identity(struct lc_synth_identity *p, uint64_t seed, int id);
void lc_synth_view(struct lc_synth_view *v, uint64_t seed, int id, int image, float nuisance);

/* Render 112x112: bgr (H,W,3) u8, labels (H,W) u8 CelebA classes (either may
 * be NULL), landmarks (10 floats: left eye, right eye, nose, left and right
 * mouth corners, x then y, image pixels). */
void lc_synth_render(uint8_t *bgr, uint8_t *labels, float *landmarks, const struct lc_synth_identity *p,
                     const struct lc_synth_view *v);

#endif
