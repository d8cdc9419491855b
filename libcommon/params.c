/* params: registry of named parameters and buffers with aligned storage. */
#include "params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lc_params_init(struct lc_params *ps) { memset(ps, 0, sizeof *ps); }

void lc_params_free(struct lc_params *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->v[i].data);
        free(ps->v[i].grad);
        free(ps->v[i].count);
    }
    free(ps->v);
    memset(ps, 0, sizeof *ps);
}

static void *zalloc(size_t bytes)
{
    void *p;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) return NULL;
    memset(p, 0, bytes ? bytes : 64);
    return p;
}

struct lc_param *lc_params_add(struct lc_params *ps, int kind, unsigned rank, const int64_t *dims,
                               struct lc_err *err, const char *fmt, ...)
{
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (lc_params_find(ps, name)) {
        lc_errf(err, LC_EINVAL, NULL, -1, -1, "parameter %s registered twice", name);
        return NULL;
    }
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 64;
        struct lc_param *v = realloc(ps->v, cap * sizeof *v);
        if (!v) {
            lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory");
            return NULL;
        }
        ps->v = v;
        ps->cap = cap;
    }
    struct lc_param *p = &ps->v[ps->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = kind;
    p->rank = rank;
    p->n = 1;
    for (unsigned i = 0; i < rank; i++) p->dims[i] = dims[i], p->n *= (size_t)dims[i];
    int ok;
    if (kind == LC_PARAM_COUNTER) {
        ok = (p->count = zalloc(p->n * sizeof *p->count)) != NULL;
    } else {
        ok = (p->data = zalloc(p->n * sizeof *p->data)) != NULL;
        if (ok && kind != LC_PARAM_BUFFER) ok = (p->grad = zalloc(p->n * sizeof *p->grad)) != NULL;
    }
    if (!ok) {
        free(p->data);
        free(p->grad);
        free(p->count);
        lc_errf(err, LC_ENOMEM, NULL, -1, -1, "out of memory for parameter %s", name);
        return NULL;
    }
    ps->n++;
    return p;
}

struct lc_param *lc_params_find(const struct lc_params *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i].name, name) == 0) return &ps->v[i];
    return NULL;
}

void lc_params_zero_grad(struct lc_params *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].grad) memset(ps->v[i].grad, 0, ps->v[i].n * sizeof(float));
}

size_t lc_params_count(const struct lc_params *ps)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].grad) n += ps->v[i].n;
    return n;
}
