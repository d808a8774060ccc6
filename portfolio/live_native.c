/*
 * The live push's hot loop in C: a pnl frame's position entries and its totals delta, from the
 * same integers and by the same rules as the pure-Python `portfolio.live._frame_marks` (a property
 * test holds the two, and the REST API, to the same text). Built by `python -m portfolio.native`
 * (make does it); without a compiler the Python version runs instead.
 *
 * frame(entries, last, symbols, quotes) -> (positions_json, newest_ts, delta) or None
 *   entries: dict symbol -> tuple (q, eq, c, ec, ac)   (quantity q*10^eq, cost c*10^ec, ac = |c|)
 *   last:    dict symbol -> tuple (u, E)               (unrealized u*10^E; absent while unpriced),
 *            updated here
 *   quotes:  dict symbol -> tuple (p, ep, text, event_ts)    (price p*10^ep, its text)
 *   symbols: the symbols that moved (those not in entries are skipped)
 *   delta:   the change of the summed unrealized PnL, in units of 1e-18
 * Returns None, having changed nothing, when a number does not fit 128-bit arithmetic or an
 * exponent is finer than 1e-18: the caller then runs the Python version, exact for any size.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef __int128 i128;

#define TOTAL_EXP (-18)
static const i128 I128_MAX = (i128)(((unsigned __int128)1 << 127) - 1);
static i128 POW10[39];

typedef struct {
    PyObject *symbol;
    i128 u;
    int E;
    const char *sym, *text;
    Py_ssize_t sym_len, text_len;
    i128 pct;
} Mark;

static int mul_ok(i128 a, i128 b, i128 *out) {
    if (a == 0 || b == 0) { *out = 0; return 1; }
    i128 abs_a = a < 0 ? -a : a, abs_b = b < 0 ? -b : b;
    if (abs_a > I128_MAX / abs_b) return 0;
    *out = a * b;
    return 1;
}

static int scale_ok(i128 a, int k, i128 *out) { /* a * 10^k, k >= 0 */
    if (k < 0 || k > 38) return 0;
    return mul_ok(a, POW10[k], out);
}

static int as_i64(PyObject *o, long long *out) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
    *out = v;
    return 1;
}

static i128 div_half_even(i128 n, i128 d) { /* d > 0 */
    i128 q = n / d, r = n % d;
    if (r < 0) { q -= 1; r += d; } /* floor division, 0 <= r < d */
    i128 twice = 2 * r;
    if (twice > d || (twice == d && (q & 1))) q += 1;
    return q;
}

/* Writes value*10^-places as decimal_str does: plain, no trailing zeros. Returns bytes written. */
static int write_scaled(char *out, i128 value, int places) {
    char digits[64];
    int n = 0, len = 0;
    int negative = value < 0;
    unsigned __int128 v = negative ? (unsigned __int128)(-(value + 1)) + 1 : (unsigned __int128)value;
    if (v == 0) { out[0] = '0'; return 1; }
    while (v) { digits[n++] = (char)('0' + (int)(v % 10)); v /= 10; }
    /* digits[] is little-endian. Pad with zeros up to places + 1 digits. */
    while (places > 0 && n < places + 1) digits[n++] = '0';
    int frac_end = 0; /* index (little-endian) of the first fractional digit kept */
    if (places > 0) {
        while (frac_end < places && digits[frac_end] == '0') frac_end++;
    }
    if (negative) out[len++] = '-';
    for (int i = n - 1; i >= (places > 0 ? places : 0); i--) out[len++] = digits[i];
    for (int i = 0; i < -places; i++) out[len++] = '0'; /* places < 0: whole multiples of 10 */
    if (places > 0 && frac_end < places) {
        out[len++] = '.';
        for (int i = places - 1; i >= frac_end; i--) out[len++] = digits[i];
    }
    return len;
}

static PyObject *frame(PyObject *self, PyObject *args) {
    PyObject *entries, *last, *symbols, *quotes;
    if (!PyArg_ParseTuple(args, "O!O!OO!", &PyDict_Type, &entries, &PyDict_Type, &last, &symbols, &PyDict_Type,
                          &quotes))
        return NULL;
    PyObject *iter = PyObject_GetIter(symbols);
    if (!iter) return NULL;
    Py_ssize_t cap = 16, count = 0;
    Mark *marks = PyMem_Malloc(sizeof(Mark) * cap);
    if (!marks) { Py_DECREF(iter); return PyErr_NoMemory(); }
    long long newest = 0;
    i128 delta = 0;
    int fits = 1;
    PyObject *symbol;
    while (fits && (symbol = PyIter_Next(iter))) {
        PyObject *entry = PyDict_GetItemWithError(entries, symbol);
        if (!entry) {
            Py_DECREF(symbol);
            if (PyErr_Occurred()) goto fail;
            continue;
        }
        PyObject *quote = PyDict_GetItemWithError(quotes, symbol);
        if (!quote || !PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 5 || !PyTuple_Check(quote)
            || PyTuple_GET_SIZE(quote) != 4) {
            Py_DECREF(symbol);
            if (PyErr_Occurred()) goto fail;
            fits = 0;
            break;
        }
        long long q, eq, c, ec, ac, p, ep, ts;
        if (!as_i64(PyTuple_GET_ITEM(entry, 0), &q) || !as_i64(PyTuple_GET_ITEM(entry, 1), &eq)
            || !as_i64(PyTuple_GET_ITEM(entry, 2), &c) || !as_i64(PyTuple_GET_ITEM(entry, 3), &ec)
            || !as_i64(PyTuple_GET_ITEM(entry, 4), &ac) || !as_i64(PyTuple_GET_ITEM(quote, 0), &p)
            || !as_i64(PyTuple_GET_ITEM(quote, 1), &ep) || !as_i64(PyTuple_GET_ITEM(quote, 3), &ts)) {
            Py_DECREF(symbol);
            fits = 0;
            break;
        }
        long long mexp = eq + ep;
        i128 u, product, scaled;
        int E;
        if (!mul_ok((i128)q, (i128)p, &product)) { fits = 0; Py_DECREF(symbol); break; }
        if (mexp <= ec) {
            E = (int)mexp;
            if (!scale_ok((i128)c, (int)(ec - mexp), &scaled)) { fits = 0; Py_DECREF(symbol); break; }
            u = product - scaled;
        } else {
            E = (int)ec;
            if (!scale_ok(product, (int)(mexp - ec), &scaled)) { fits = 0; Py_DECREF(symbol); break; }
            u = scaled - (i128)c;
        }
        if (E < TOTAL_EXP || E > 20) { fits = 0; Py_DECREF(symbol); break; }
        /* The totals delta, in 1e-18: + new - old. */
        i128 now18, before18 = 0;
        if (!scale_ok(u, E - TOTAL_EXP, &now18)) { fits = 0; Py_DECREF(symbol); break; }
        PyObject *before = PyDict_GetItemWithError(last, symbol);
        if (!before && PyErr_Occurred()) { Py_DECREF(symbol); goto fail; }
        if (before) {
            long long b, bexp;
            if (!PyTuple_Check(before) || PyTuple_GET_SIZE(before) != 2 || !as_i64(PyTuple_GET_ITEM(before, 0), &b)
                || !as_i64(PyTuple_GET_ITEM(before, 1), &bexp) || bexp < TOTAL_EXP
                || !scale_ok((i128)b, (int)(bexp - TOTAL_EXP), &before18)) {
                fits = 0; Py_DECREF(symbol); break;
            }
        }
        delta += now18 - before18;
        /* unrealized / |cost| x 100, in 1e-4, half-even */
        i128 pct = 0;
        if (ac) {
            long long k = (long long)E - ec + 6;
            i128 num = u, den = (i128)ac;
            if (k >= 0) { if (!scale_ok(u, (int)k, &num)) { fits = 0; Py_DECREF(symbol); break; } }
            else if (!scale_ok((i128)ac, (int)-k, &den)) { fits = 0; Py_DECREF(symbol); break; }
            pct = div_half_even(num, den);
        }
        if (count == cap) {
            cap *= 2;
            Mark *grown = PyMem_Realloc(marks, sizeof(Mark) * cap);
            if (!grown) { Py_DECREF(symbol); PyErr_NoMemory(); goto fail; }
            marks = grown;
        }
        Mark *m = &marks[count++];
        m->symbol = symbol;
        m->u = u;
        m->E = E;
        m->pct = pct;
        m->sym = PyUnicode_AsUTF8AndSize(symbol, &m->sym_len);
        m->text = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(quote, 2), &m->text_len);
        Py_DECREF(symbol); /* `symbols` keeps the symbol (and its UTF-8) alive during the call */
        if (!m->sym || !m->text) goto fail;
        if (ts > newest) newest = ts;
    }
    if (PyErr_Occurred()) goto fail;
    Py_DECREF(iter);
    iter = NULL;
    if (!fits) {
        PyMem_Free(marks);
        Py_RETURN_NONE;
    }
    /* Everything fits: write the JSON and commit the new values. */
    Py_ssize_t size = 2;
    for (Py_ssize_t i = 0; i < count; i++) size += marks[i].sym_len + marks[i].text_len + 2 * 48 + 16;
    char *buffer = PyMem_Malloc(size);
    if (!buffer) { PyMem_Free(marks); return PyErr_NoMemory(); }
    Py_ssize_t len = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        Mark *m = &marks[i];
        if (i) buffer[len++] = ',';
        buffer[len++] = '['; buffer[len++] = '"';
        memcpy(buffer + len, m->sym, m->sym_len); len += m->sym_len;
        memcpy(buffer + len, "\",\"", 3); len += 3;
        memcpy(buffer + len, m->text, m->text_len); len += m->text_len;
        memcpy(buffer + len, "\",\"", 3); len += 3;
        len += write_scaled(buffer + len, m->u, -m->E);
        memcpy(buffer + len, "\",\"", 3); len += 3;
        len += write_scaled(buffer + len, m->pct, 4);
        buffer[len++] = '"'; buffer[len++] = ']';
    }
    PyObject *text = PyUnicode_DecodeASCII(buffer, len, NULL);
    PyMem_Free(buffer);
    if (!text) { PyMem_Free(marks); return NULL; }
    for (Py_ssize_t i = 0; i < count; i++) {
        Mark *m = &marks[i];
        PyObject *u, *E;
        if (m->u >= LLONG_MIN && m->u <= LLONG_MAX) u = PyLong_FromLongLong((long long)m->u);
        else {
            unsigned char bytes[16];
            i128 v = m->u;
            for (int b = 0; b < 16; b++) { bytes[b] = (unsigned char)(v & 0xff); v >>= 8; }
            u = _PyLong_FromByteArray(bytes, 16, 1, 1);
        }
        E = PyLong_FromLong(m->E);
        PyObject *pair = (u && E) ? PyTuple_Pack(2, u, E) : NULL;
        Py_XDECREF(u);
        Py_XDECREF(E);
        if (!pair || PyDict_SetItem(last, m->symbol, pair) < 0) {
            Py_XDECREF(pair);
            Py_DECREF(text);
            PyMem_Free(marks);
            return NULL;
        }
        Py_DECREF(pair);
    }
    PyMem_Free(marks);
    PyObject *delta_obj;
    {
        unsigned char bytes[16];
        i128 v = delta;
        for (int b = 0; b < 16; b++) { bytes[b] = (unsigned char)(v & 0xff); v >>= 8; }
        delta_obj = _PyLong_FromByteArray(bytes, 16, 1, 1);
    }
    if (!delta_obj) { Py_DECREF(text); return NULL; }
    return Py_BuildValue("(NLN)", text, newest, delta_obj);
fail:
    Py_XDECREF(iter);
    PyMem_Free(marks);
    return NULL;
}

static PyMethodDef methods[] = {
    {"frame", frame, METH_VARARGS, "The position entries of a pnl frame and its totals delta (or None)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_live_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit__live_native(void) {
    POW10[0] = 1;
    for (int i = 1; i < 39; i++) POW10[i] = POW10[i - 1] * 10;
    return PyModule_Create(&module);
}
