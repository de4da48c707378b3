/* The tolerance compare of gpuemu.validate in one fused pass over actual and expected.
 *
 * The numpy path screens each chunk with several ufuncs, each a pass over memory and a
 * scratch buffer; here every element is loaded once, widened to float64 and judged by
 * the same rule (validate/rule.py): NaN facing NaN or an Inf facing the same Inf is a
 * match (parity); otherwise |a - e| must be finite and <= atol + rtol*|e|. The same pass
 * counts violations, unexpected NaN and Inf (first index of each) and keeps the greatest
 * |a - e| and |a - e|/|e| over all elements and over violations, with the tallies'
 * semantics (validate/tally.py: a NaN ranks highest, negative means "not applicable",
 * ties keep the earliest index).
 *
 * Elements go in blocks: a branch-free loop the compiler vectorises screens a block;
 * only a block with a violation, NaN or Inf, or one that may hold a new greatest
 * difference, is walked again element by element (rare after the first blocks). Build with -ffp-contract=off: atol + rtol*|e| must round as numpy rounds it.
 *
 * Asked to, the pass also copies expected out block by block while the block is in cache
 * (a warm worker writing its output into shared memory as it compares it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define BLOCK 1024

#ifdef __SSE2__
#include <emmintrin.h>
/* Copy with streaming stores: the destination's lines are written without being read
 * first, so the copy adds one write of the array to the pass, not a read and a write. */
static void copy_out(char *dst, const char *src, Py_ssize_t n) {
    Py_ssize_t head = (16 - ((uintptr_t)dst & 15)) & 15;
    if (head > n) head = n;
    memcpy(dst, src, head);
    Py_ssize_t k = head;
    for (; k + 16 <= n; k += 16)
        _mm_stream_si128((__m128i *)(dst + k), _mm_loadu_si128((const __m128i *)(src + k)));
    memcpy(dst + k, src + k, n - k);
}
static void copy_done(void) { _mm_sfence(); }
#else
static void copy_out(char *dst, const char *src, Py_ssize_t n) { memcpy(dst, src, n); }
static void copy_done(void) {}
#endif

typedef struct { double v; Py_ssize_t i; } best_t;   /* i < 0: nothing offered yet */
typedef struct { Py_ssize_t n, first; } count_t;    /* first < 0: none */

typedef struct {
    count_t bad, nan, inf;
    best_t all_abs, all_rel, worst_abs, worst_rel, worst_ulp;
} tally_t;

static inline void offer(best_t *b, double v, Py_ssize_t i) {
    if (v < 0 || (b->i >= 0 && isnan(b->v))) return;
    if (b->i < 0 || isnan(v) || v > b->v) { b->v = v; b->i = i; }
}

static inline void add(count_t *c, Py_ssize_t i) {
    if (c->first < 0) c->first = i;
    c->n++;
}

static float half_table[65536];

static void build_half_table(void) {
    for (uint32_t h = 0; h < 65536; h++) {
        uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
        if (exp == 0x1f) {
            bits = sign | 0x7f800000u | (man << 13);
        } else if (exp == 0) {  /* zero or subnormal: exact as man * 2^-24 */
            float f = (float)man * 0x1p-24f;
            memcpy(&bits, &f, 4);
            bits |= sign;
        } else {
            bits = sign | ((exp + 112) << 23) | (man << 13);
        }
        memcpy(&half_table[h], &bits, 4);
    }
}

static inline double load_f64(const void *p, Py_ssize_t i) { return ((const double *)p)[i]; }
static inline double load_f32(const void *p, Py_ssize_t i) { return ((const float *)p)[i]; }
static inline double load_f16(const void *p, Py_ssize_t i) {
    return half_table[((const uint16_t *)p)[i]];
}
static inline double load_bf16(const void *p, Py_ssize_t i) {
    uint32_t bits = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* One element by the full rule; `i` is its flat index. Returns whether it violates it. */
static inline int judge(tally_t *t, double a, double e, double atol, double rtol,
                         int check_nan, int check_inf, Py_ssize_t i) {
    int a_nan = isnan(a), a_inf = isinf(a);
    int parity = (a_nan && isnan(e)) || (a_inf && a == e);
    double d = fabs(a - e), mag = fabs(e);
    int flagged = parity || (isfinite(d) && d <= atol + rtol * mag);
    if (check_nan && a_nan && !isnan(e)) { add(&t->nan, i); flagged = 1; }
    if (check_inf && a_inf && !parity) { add(&t->inf, i); flagged = 1; }
    int has_rel = !parity && mag > 0 && isfinite(mag);
    double rel = has_rel ? d / mag : -1.0;
    offer(&t->all_abs, parity ? -1.0 : d, i);
    offer(&t->all_rel, rel, i);
    if (!flagged) {
        add(&t->bad, i);
        offer(&t->worst_abs, d, i);
        offer(&t->worst_rel, rel, i);
    }
    return !flagged;
}

/* ULPs between elements `i` of two buffers of one float format of `item` bytes, as
 * validate/ulp.py counts them: the bit patterns as sign and magnitude, NaN facing NaN
 * 0 and NaN facing anything else Inf. */
static double ulps(const void *x, const void *y, Py_ssize_t i, int item, double a, double e) {
    if (isnan(a) || isnan(e)) return isnan(a) && isnan(e) ? 0.0 : INFINITY;
    uint64_t ua = 0, ub = 0;
    memcpy(&ua, (const char *)x + i * item, item);  /* little-endian host (gpuemu.tensor) */
    memcpy(&ub, (const char *)y + i * item, item);
    uint64_t sign = (uint64_t)1 << (8 * item - 1), mag = sign - 1;
    uint64_t ma = ua & mag, mb = ub & mag;
    return (double)(((ua ^ ub) & sign) == 0 ? (ma > mb ? ma - mb : mb - ma) : ma + mb);
}

/* The screen's constants: the bounds tightened by SCREEN_MARGIN, so that a screen pass
 * implies a pass of the exact rule, and the best differences so far, lowered by it, so
 * that an element that could beat them is never missed (validate/comparison.py argues the
 * float32 case; its margin is far above float32's roundings). */
#define SCREEN_MARGIN (1.0 - 0x1p-20)

/* x86-64: AVX2 versions too, picked at load time where the CPU has it */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#define WIDE __attribute__((target_clones("avx2", "default")))
#else
#define WIDE
#endif

typedef struct { float atol, rtol, ba, bm; } screen32_t;
typedef struct { double atol, rtol, ba, bm; } screen64_t;

/* Whether a block of `m` elements from `s` holds a violation, NaN or Inf (bit 0), a
 * difference above the best (bit 1) or a relative difference that may be (bit 2: also
 * any nonzero difference where bm*|e| falls below LOW, near the subnormals, where the
 * product's rounding could outweigh the margin). No branches on the data: the compiler
 * vectorises these loops. */
#define DEFINE_SCREEN(NAME, T, SCREEN_T, LOAD, FABS, MAX, LOW)                            \
WIDE static int NAME(const void *x, const void *y, Py_ssize_t s, Py_ssize_t m,                 \
                const SCREEN_T *c) {                                                       \
    int bad = 0, abs_up = 0, rel_up = 0;                                                   \
    for (Py_ssize_t k = s; k < s + m; k++) {                                               \
        T a = (T)LOAD(x, k), e = (T)LOAD(y, k);                                            \
        T d = FABS(a - e), mag = FABS(e);                                                  \
        bad |= !((d <= c->atol + c->rtol * mag) & (d <= MAX));                             \
        abs_up |= d > c->ba;                                                               \
        T bound = c->bm * mag;                                                             \
        rel_up |= ((d > bound) | ((bound < LOW) & (d > 0))) & (mag > 0);                   \
    }                                                                                      \
    return bad | abs_up << 1 | rel_up << 2;                                                \
}

static inline float load_f32f(const void *p, Py_ssize_t i) { return ((const float *)p)[i]; }
static inline float load_f16f(const void *p, Py_ssize_t i) {
    return half_table[((const uint16_t *)p)[i]];
}
static inline float load_bf16f(const void *p, Py_ssize_t i) {
    uint32_t bits = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

DEFINE_SCREEN(screen64_f64, double, screen64_t, load_f64, fabs, DBL_MAX, 0x1p-1000)
DEFINE_SCREEN(screen64_f32, double, screen64_t, load_f32, fabs, DBL_MAX, 0x1p-1000)
DEFINE_SCREEN(screen64_f16, double, screen64_t, load_f16, fabs, DBL_MAX, 0x1p-1000)
DEFINE_SCREEN(screen64_bf16, double, screen64_t, load_bf16, fabs, DBL_MAX, 0x1p-1000)
DEFINE_SCREEN(screen32_f32, float, screen32_t, load_f32f, fabsf, FLT_MAX, 0x1p-120f)
DEFINE_SCREEN(screen32_f16, float, screen32_t, load_f16f, fabsf, FLT_MAX, 0x1p-120f)
DEFINE_SCREEN(screen32_bf16, float, screen32_t, load_bf16f, fabsf, FLT_MAX, 0x1p-120f)

/* A best value lowered by the margin for a screen of `limit` range: -1 while there is
 * none (everything may beat it), +Inf once a NaN holds it (nothing can), 0 below 2^-100
 * (beyond float32's normal range after products: any nonzero difference may beat it). */
static double lowered(const best_t *b, double limit) {
    if (b->i < 0) return -1.0;
    if (isnan(b->v)) return INFINITY;
    if (b->v < 0x1p-100) return 0.0;
    return fmin(b->v * SCREEN_MARGIN, limit);
}

typedef struct {
    int item;
    double (*load)(const void *, Py_ssize_t);
    int (*screen64)(const void *, const void *, Py_ssize_t, Py_ssize_t, const screen64_t *);
    int (*screen32)(const void *, const void *, Py_ssize_t, Py_ssize_t, const screen32_t *);
} kind_t;

/* The whole pass: `f32` says the float32 screen is sound for these bounds
 * (comparison._screens_in_float32) and the dtype fits float32. */
static void run(const kind_t *kind, const void *x, const void *y, Py_ssize_t n, double atol,
                double rtol, int f32, int check_nan, int check_inf, tally_t *t, char *copy) {
    for (Py_ssize_t s = 0; s < n; s += BLOCK) {
        Py_ssize_t m = n - s < BLOCK ? n - s : BLOCK;
        int found;
        if (copy)  /* the block of y is in cache now: its copy costs no second read */
            copy_out(copy + s * kind->item, (const char *)y + s * kind->item, m * kind->item);
        if (f32) {
            /* the rel bound is clamped to 2^100 and the abs one to FLT_MAX: lower is safe */
            screen32_t c = {(float)(atol * SCREEN_MARGIN), (float)(rtol * SCREEN_MARGIN),
                            (float)lowered(&t->all_abs, FLT_MAX),
                            (float)lowered(&t->all_rel, 0x1p100)};
            found = kind->screen32(x, y, s, m, &c);
        } else {
            screen64_t c = {atol, rtol, lowered(&t->all_abs, DBL_MAX),
                            lowered(&t->all_rel, 0x1p900)};
            found = kind->screen64(x, y, s, m, &c);
        }
        if (found & 1) {  /* a violation, NaN or Inf may be here: the full rule */
            for (Py_ssize_t k = s; k < s + m; k++) {
                double a = kind->load(x, k), e = kind->load(y, k);
                if (judge(t, a, e, atol, rtol, check_nan, check_inf, k))
                    offer(&t->worst_ulp, ulps(x, y, k, kind->item, a, e), k);
            }
            continue;
        }
        /* every element matched and is finite: only the maxima can change */
        for (Py_ssize_t k = s; found & 6 && k < s + m; k++) {
            double a = kind->load(x, k), e = kind->load(y, k), d = fabs(a - e), mag = fabs(e);
            if (found & 2) offer(&t->all_abs, d, k);
            if (found & 4 && mag > 0 && mag <= DBL_MAX) offer(&t->all_rel, d / mag, k);
        }
    }
    if (copy) copy_done();
}

static const kind_t KIND_F64 = {8, load_f64, screen64_f64, NULL};
static const kind_t KIND_F32 = {4, load_f32, screen64_f32, screen32_f32};
static const kind_t KIND_F16 = {2, load_f16, screen64_f16, screen32_f16};
static const kind_t KIND_BF16 = {2, load_bf16, screen64_bf16, screen32_bf16};

static PyObject *index_or_none(Py_ssize_t i) {
    if (i < 0) Py_RETURN_NONE;
    return PyLong_FromSsize_t(i);
}

static PyObject *compare(PyObject *self, PyObject *args) {
    Py_buffer x, y, copy = {0};
    const char *kind;
    double atol, rtol;
    int f32, check_nan, check_inf;
    PyObject *copy_to = Py_None;
    if (!PyArg_ParseTuple(args, "y*y*sddppp|O", &x, &y, &kind, &atol, &rtol, &f32, &check_nan,
                          &check_inf, &copy_to))
        return NULL;
    if (copy_to != Py_None && PyObject_GetBuffer(copy_to, &copy, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&x);
        PyBuffer_Release(&y);
        return NULL;
    }
    const kind_t *pass;
    Py_ssize_t item;
    if (!strcmp(kind, "float64")) { pass = &KIND_F64; item = 8; f32 = 0; }
    else if (!strcmp(kind, "float32")) { pass = &KIND_F32; item = 4; }
    else if (!strcmp(kind, "float16")) { pass = &KIND_F16; item = 2; }
    else if (!strcmp(kind, "bfloat16")) { pass = &KIND_BF16; item = 2; }
    else {
        PyErr_Format(PyExc_ValueError, "compare: unsupported dtype %s; expected float64,"
                     " float32, float16 or bfloat16", kind);
        goto fail;
    }
    if (x.len != y.len || x.len % item) {
        PyErr_Format(PyExc_ValueError, "compare: buffers of %zd and %zd bytes are not the"
                     " same whole number of %s items", x.len, y.len, kind);
        goto fail;
    }
    if (copy.buf != NULL && copy.len != y.len) {
        PyErr_Format(PyExc_ValueError, "compare: copy_to holds %zd bytes, expected holds %zd",
                     copy.len, y.len);
        goto fail;
    }
    tally_t t = {{0, -1}, {0, -1}, {0, -1}, {-1.0, -1}, {-1.0, -1}, {-1.0, -1}, {-1.0, -1},
                 {-1.0, -1}};
    Py_BEGIN_ALLOW_THREADS
    run(pass, x.buf, y.buf, x.len / item, atol, rtol, f32, check_nan, check_inf, &t, copy.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    PyBuffer_Release(&y);
    if (copy.buf != NULL) PyBuffer_Release(&copy);
    return Py_BuildValue("((nN)(nN)(nN)(dN)(dN)(dN)(dN)(dN))",
                         t.bad.n, index_or_none(t.bad.first),
                         t.nan.n, index_or_none(t.nan.first),
                         t.inf.n, index_or_none(t.inf.first),
                         t.all_abs.v, index_or_none(t.all_abs.i),
                         t.all_rel.v, index_or_none(t.all_rel.i),
                         t.worst_abs.v, index_or_none(t.worst_abs.i),
                         t.worst_rel.v, index_or_none(t.worst_rel.i),
                         t.worst_ulp.v, index_or_none(t.worst_ulp.i));
fail:
    PyBuffer_Release(&x);
    PyBuffer_Release(&y);
    if (copy.buf != NULL) PyBuffer_Release(&copy);
    return NULL;
}

static PyMethodDef methods[] = {
    {"compare", compare, METH_VARARGS,
     "compare(actual, expected, dtype, atol, rtol, screen_f32, check_nan, check_inf,\n"
     "        copy_to=None) -> tallies:\n"
     "(count, first) of violations, NaN and Inf; (value, index) of the greatest abs and\n"
     "rel difference over all elements, then abs, rel and ULPs over violations.\n"
     "Contiguous buffers of one float dtype; copy_to, a writable buffer of expected's\n"
     "size, receives expected's bytes as the pass reads them."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cmpfast", "The fused tolerance compare of gpuemu.validate.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__cmpfast(void) {
    build_half_table();
    return PyModule_Create(&module);
}
