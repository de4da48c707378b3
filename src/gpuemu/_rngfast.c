/* Bulk generation for gpuemu.rng: the same xorshift128+ variant and Box-Muller
 * transform as the pure-Python code, one C loop instead of one bytecode loop per draw.
 *
 * Both functions take the state (s0, s1) and a writable buffer, fill the buffer and
 * return the new state; the Python side owns the state and the arrays. Box-Muller uses
 * libm's log/sqrt/cos/sin, as Python's math module does, so both paths agree bit for bit
 * on one machine. Build with -ffp-contract=off: a fused multiply-add would round once
 * where Python rounds twice.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

static const double TWO_PI = 2.0 * 3.141592653589793;  /* 2.0 * math.pi, as rng.py computes it */
static const double U1_FLOOR = 1e-300;

static inline uint64_t next_u64(uint64_t *s0, uint64_t *s1) {
    uint64_t x = *s0, y = *s1;
    *s0 = y;
    x ^= x << 23;
    x ^= x >> 17;
    x ^= y ^ (y >> 26);
    *s1 = x ^ y;
    return x + y;
}

static inline double to_f64(uint64_t u) { return (double)(u >> 11) * 0x1p-53; }

/* Parse (s0, s1, buffer) with the buffer writable and C-contiguous of `itemsize` items. */
static int parse_args(PyObject *args, uint64_t *s0, uint64_t *s1, Py_buffer *buf,
                      Py_ssize_t itemsize, const char *fname) {
    unsigned long long a, b;
    if (!PyArg_ParseTuple(args, "KKw*", &a, &b, buf)) return -1;
    if (buf->len % itemsize != 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: buffer of %zd bytes is not a whole number of %zd-byte items; "
                     "pass a contiguous uint64/float64 array", fname, buf->len, itemsize);
        PyBuffer_Release(buf);
        return -1;
    }
    *s0 = (uint64_t)a;
    *s1 = (uint64_t)b;
    return 0;
}

static PyObject *state_tuple(uint64_t s0, uint64_t s1) {
    return Py_BuildValue("(KK)", (unsigned long long)s0, (unsigned long long)s1);
}

static PyObject *fill_u64(PyObject *self, PyObject *args) {
    uint64_t s0, s1;
    Py_buffer buf;
    if (parse_args(args, &s0, &s1, &buf, 8, "fill_u64") < 0) return NULL;
    uint64_t *out = (uint64_t *)buf.buf;
    Py_ssize_t n = buf.len / 8;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) out[i] = next_u64(&s0, &s1);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return state_tuple(s0, s1);
}

static PyObject *fill_normal(PyObject *self, PyObject *args) {
    uint64_t s0, s1;
    Py_buffer buf;
    if (parse_args(args, &s0, &s1, &buf, 8, "fill_normal") < 0) return NULL;
    double *out = (double *)buf.buf;
    Py_ssize_t n = buf.len / 8;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i += 2) {
        double u1 = to_f64(next_u64(&s0, &s1));
        double u2 = to_f64(next_u64(&s0, &s1));
        if (u1 < U1_FLOOR) u1 = U1_FLOOR;
        double r = sqrt(-2.0 * log(u1));
        double theta = TWO_PI * u2;
        out[i] = r * cos(theta);
        if (i + 1 < n) out[i + 1] = r * sin(theta);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return state_tuple(s0, s1);
}

static PyMethodDef methods[] = {
    {"fill_u64", fill_u64, METH_VARARGS,
     "fill_u64(s0, s1, out) -> (s0, s1): write the next len(out) u64 draws into out."},
    {"fill_normal", fill_normal, METH_VARARGS,
     "fill_normal(s0, s1, out) -> (s0, s1): Box-Muller normals into a float64 buffer."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_rngfast", "C loops for gpuemu.rng bulk generation.", -1, methods,
};

PyMODINIT_FUNC PyInit__rngfast(void) { return PyModule_Create(&module); }
