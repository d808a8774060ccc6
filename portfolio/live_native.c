/*
 * The live push's hot loop in C: a socket's positions packed in one array, marked at the newest
 * quotes, written as a pnl frame's entries. Same integers, same rules and same text as the Python
 * `portfolio.live.PyBook` (a property test holds both, and the REST API, to the digit). Built by
 * `python -m portfolio.native` (make does it); without a compiler the Python book runs instead.
 *
 * Why C and why one array: at the design load a web process marks ~500,000 positions a second
 * across thousands of books. As Python objects (a dict, a tuple and five ints per position) a frame's
 * marks are cache misses first; packed, a book is a few contiguous kilobytes.
 *
 * Book(rows)  rows: [(id, symbol, q, eq, c, ec), ...] sorted by id: quantity q*10^eq, cost c*10^ec,
 *             both 64-bit, exponents in [-18, 20]; anything else raises OverflowError (the caller
 *             keeps a Python book).
 * Book.marks(mask, quotes) -> (entries_json, newest_ts)
 *             Marks the positions whose symbol id is a bit of `mask` at quotes[id] = (digits,
 *             exponent, text, event_ts) and updates the totals. Raises Wide (changing nothing) when a
 *             quote or a result does not fit: the caller moves the book to Python (Book.state())
 *             and marks it there.
 * Book.totals_json() -> the pnl frame's totals object, as REST's GET /portfolio writes it.
 * Book.frame(mask, quotes, seq, ts, since_ts, websocket=False) -> a whole pnl frame (bytes): marks,
 *             then the head and the totals around them in the same buffer; None when nothing of the
 *             mask is priced. With `websocket`, as one WebSocket text frame (its header first).
 * min_ts(mask, quotes) -> the smallest event_ts among the quotes of the mask's ids.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef __int128 i128;
#define TOTAL_EXP (-18)
#define MIN_EXP (-18)
#define MAX_EXP 20
static i128 POW10[39];
static PyObject *Wide;

typedef struct {
    int32_t id;
    int8_t eq, ec, E, priced;
    int64_t q, c, ac;
    i128 u;
} Pos;

typedef struct {
    const char *utf8; /* the symbol's text, read once: the book holds the str (and so its UTF-8) */
    Py_ssize_t len;
} Text;

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;
    Pos *pos;
    PyObject **symbols;
    Text *symbol_text;
    i128 unrealized, invested, cost; /* totals of the priced positions, in 1e-18 */
    Py_ssize_t priced;
} Book;

static int mul_ok(i128 a, i128 b, i128 *out) { /* no 128-bit division: the compiler's overflow check */
    return !__builtin_mul_overflow(a, b, out);
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
    if (n >= INT64_MIN && n <= INT64_MAX && d <= INT64_MAX) { /* the usual case: one 64-bit division */
        int64_t q = (int64_t)n / (int64_t)d, r = (int64_t)n % (int64_t)d;
        if (r < 0) { q -= 1; r += (int64_t)d; }
        uint64_t twice = 2 * (uint64_t)r;
        if (twice > (uint64_t)d || (twice == (uint64_t)d && (q & 1))) q += 1;
        return q;
    }
    i128 q = n / d, r = n % d;
    if (r < 0) { q -= 1; r += d; }
    i128 twice = 2 * r;
    if (twice > d || (twice == d && (q & 1))) q += 1;
    return q;
}

static PyObject *long_from_i128(i128 v) {
    if (v >= LLONG_MIN && v <= LLONG_MAX) return PyLong_FromLongLong((long long)v);
    unsigned char bytes[16];
    for (int b = 0; b < 16; b++) { bytes[b] = (unsigned char)(v & 0xff); v >>= 8; }
    return _PyLong_FromByteArray(bytes, 16, 1, 1);
}

/* value*10^-places as decimal_str writes it: plain, no trailing zeros. Returns bytes written. */
static int write_scaled(char *out, i128 value, int places) {
    char digits[80];
    int n = 0, len = 0;
    int negative = value < 0;
    unsigned __int128 v = negative ? (unsigned __int128)(-(value + 1)) + 1 : (unsigned __int128)value;
    if (v == 0) { out[0] = '0'; return 1; }
    while (v > UINT64_MAX) { digits[n++] = (char)('0' + (int)(v % 10)); v /= 10; }
    uint64_t small = (uint64_t)v; /* 64-bit division from here: most numbers are all here */
    while (small) { digits[n++] = (char)('0' + (int)(small % 10)); small /= 10; }
    while (places > 0 && n < places + 1) digits[n++] = '0';
    int frac_end = 0;
    if (places > 0) while (frac_end < places && digits[frac_end] == '0') frac_end++;
    if (negative) out[len++] = '-';
    for (int i = n - 1; i >= (places > 0 ? places : 0); i--) out[len++] = digits[i];
    for (int i = 0; i < -places; i++) out[len++] = '0';
    if (places > 0 && frac_end < places) {
        out[len++] = '.';
        for (int i = places - 1; i >= frac_end; i--) out[len++] = digits[i];
    }
    return len;
}

/* The mask's bits as little-endian bytes, enough for ids up to max_id (and all of a non-negative
 * mask's bits: converted whole, without the Python integers a truncation would allocate). */
static unsigned char *mask_bytes(PyObject *mask, int32_t max_id, Py_ssize_t *size) {
    *size = max_id / 8 + 1;
    if (_PyLong_Sign(mask) >= 0) {
        size_t nbits = _PyLong_NumBits(mask);
        if (nbits == (size_t)-1 && PyErr_Occurred()) return NULL;
        Py_ssize_t whole = (Py_ssize_t)(nbits / 8 + 1);
        Py_ssize_t alloc = whole > *size ? whole : *size;
        unsigned char *bits = PyMem_Calloc(alloc + 1, 1);
        if (!bits) { PyErr_NoMemory(); return NULL; }
        if (_PyLong_AsByteArray((PyLongObject *)mask, bits, alloc, 1, 0) < 0) {
            PyMem_Free(bits);
            return NULL;
        }
        return bits;
    }
    unsigned char *bits = PyMem_Calloc(*size + 1, 1);
    if (!bits) { PyErr_NoMemory(); return NULL; }
    PyObject *low = NULL;
    /* Only the low bits matter: mask & ((1 << (8*size)) - 1), so a larger mask cannot overflow. */
    PyObject *limit = PyLong_FromSsize_t(8 * *size);
    PyObject *one = PyLong_FromLong(1);
    PyObject *top = (limit && one) ? PyNumber_Lshift(one, limit) : NULL;
    PyObject *all = top ? PyNumber_Subtract(top, one) : NULL;
    low = all ? PyNumber_And(mask, all) : NULL;
    Py_XDECREF(limit); Py_XDECREF(one); Py_XDECREF(top); Py_XDECREF(all);
    if (!low || _PyLong_AsByteArray((PyLongObject *)low, bits, *size, 1, 0) < 0) {
        Py_XDECREF(low);
        PyMem_Free(bits);
        return NULL;
    }
    Py_DECREF(low);
    return bits;
}

#define BIT(bits, id) ((bits)[(id) >> 3] & (1u << ((id) & 7)))

static void Book_dealloc(Book *self) {
    for (Py_ssize_t i = 0; i < self->n; i++) Py_XDECREF(self->symbols[i]);
    PyMem_Free(self->pos);
    PyMem_Free(self->symbols);
    PyMem_Free(self->symbol_text);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Book_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *rows;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &rows)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(rows);
    Book *self = (Book *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->pos = PyMem_Calloc(n ? n : 1, sizeof(Pos));
    self->symbols = PyMem_Calloc(n ? n : 1, sizeof(PyObject *));
    self->symbol_text = PyMem_Calloc(n ? n : 1, sizeof(Text));
    if (!self->pos || !self->symbols || !self->symbol_text) { Py_DECREF(self); return PyErr_NoMemory(); }
    int32_t previous = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        long long id, q, eq, c, ec;
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 6 || !PyUnicode_Check(PyTuple_GET_ITEM(row, 1))) {
            Py_DECREF(self);
            PyErr_SetString(PyExc_TypeError, "rows are (id, symbol, q, eq, c, ec)");
            return NULL;
        }
        if (!as_i64(PyTuple_GET_ITEM(row, 0), &id) || !as_i64(PyTuple_GET_ITEM(row, 2), &q)
            || !as_i64(PyTuple_GET_ITEM(row, 3), &eq) || !as_i64(PyTuple_GET_ITEM(row, 4), &c)
            || !as_i64(PyTuple_GET_ITEM(row, 5), &ec) || id <= previous || id > INT32_MAX || eq < MIN_EXP
            || eq > MAX_EXP || ec < MIN_EXP || ec > MAX_EXP || c == LLONG_MIN) {
            Py_DECREF(self);
            PyErr_SetString(PyExc_OverflowError, "a position that does not fit the native book");
            return NULL;
        }
        Pos *p = &self->pos[i];
        p->id = (int32_t)id;
        p->q = q;
        p->eq = (int8_t)eq;
        p->c = c;
        p->ec = (int8_t)ec;
        p->ac = c < 0 ? -c : c;
        PyObject *symbol = PyTuple_GET_ITEM(row, 1);
        const char *utf8 = PyUnicode_AsUTF8AndSize(symbol, &self->symbol_text[i].len);
        if (!utf8) { Py_DECREF(self); return NULL; }
        self->symbol_text[i].utf8 = utf8;
        Py_INCREF(symbol);
        self->symbols[i] = symbol;
        self->n = i + 1;
        previous = (int32_t)id;
    }
    return (PyObject *)self;
}

/* A position's mark in a frame, and its quote's text (the quotes list holds the str for the call). */
typedef struct { i128 u, pct; int E; const char *text; Py_ssize_t text_len; } Mark;

/* Marks the mask's positions and commits them and the totals; writes the entries into a new buffer
 * (*out, freed by the caller) after `before` bytes and with `after` bytes to spare. Returns the
 * entries' length, or -1 with an exception set (Wide: nothing changed). */
static Py_ssize_t mark_into(Book *self, PyObject *mask, PyObject *quotes, Py_ssize_t before, Py_ssize_t after,
                            char **out, long long *newest_out) {
    *out = NULL;
    *newest_out = 0;
    if (self->n == 0) {
        *out = PyMem_Malloc(before + after + 1);
        if (!*out) { PyErr_NoMemory(); return -1; }
        return 0;
    }
    Py_ssize_t size;
    unsigned char *bits = mask_bytes(mask, self->pos[self->n - 1].id, &size);
    if (!bits) return -1;
    Mark *marks = PyMem_Malloc(sizeof(Mark) * self->n);
    if (!marks) { PyMem_Free(bits); PyErr_NoMemory(); return -1; }
    long long newest = 0;
    i128 d_unrealized = 0, d_invested = 0, d_cost = 0;
    Py_ssize_t out_size = 0, count = 0;
    Py_ssize_t n_quotes = PyList_GET_SIZE(quotes);
    for (Py_ssize_t i = 0; i < self->n; i++) {
        Pos *p = &self->pos[i];
        marks[i].E = -128; /* not marked */
        if (!BIT(bits, p->id) || p->id >= n_quotes) continue;
        PyObject *quote = PyList_GET_ITEM(quotes, p->id);
        if (quote == Py_None) continue;
        long long digits, ep, ts;
        if (!PyTuple_Check(quote) || PyTuple_GET_SIZE(quote) != 4 || !as_i64(PyTuple_GET_ITEM(quote, 0), &digits)
            || !as_i64(PyTuple_GET_ITEM(quote, 1), &ep) || !as_i64(PyTuple_GET_ITEM(quote, 3), &ts) || ep < MIN_EXP
            || ep > MAX_EXP)
            goto wide;
        long long mexp = p->eq + ep;
        i128 product, scaled, u;
        int E;
        if (!mul_ok((i128)p->q, (i128)digits, &product)) goto wide;
        if (mexp <= p->ec) {
            E = (int)mexp;
            if (!scale_ok((i128)p->c, (int)(p->ec - mexp), &scaled)) goto wide;
            u = product - scaled;
        } else {
            E = p->ec;
            if (!scale_ok(product, (int)(mexp - p->ec), &scaled)) goto wide;
            u = scaled - (i128)p->c;
        }
        if (E < TOTAL_EXP || E > MAX_EXP) goto wide;
        i128 now18, before18 = 0;
        if (!scale_ok(u, E - TOTAL_EXP, &now18)) goto wide;
        if (p->priced && !scale_ok(p->u, p->E - TOTAL_EXP, &before18)) goto wide;
        i128 pct = 0;
        if (p->ac) {
            int k = E - p->ec + 6;
            i128 num = u, den = (i128)p->ac;
            if (k >= 0) { if (!scale_ok(u, k, &num)) goto wide; }
            else if (!scale_ok((i128)p->ac, -k, &den)) goto wide;
            pct = div_half_even(num, den);
        }
        if (!p->priced) {
            i128 invested, cost;
            if (!scale_ok((i128)p->ac, p->ec - TOTAL_EXP, &invested) || !scale_ok((i128)p->c, p->ec - TOTAL_EXP, &cost))
                goto wide;
            if (__builtin_add_overflow(d_invested, invested, &d_invested)
                || __builtin_add_overflow(d_cost, cost, &d_cost))
                goto wide;
        }
        if (__builtin_add_overflow(d_unrealized, now18 - before18, &d_unrealized)) goto wide;
        marks[i].u = u;
        marks[i].E = E;
        marks[i].pct = pct;
        if (ts > newest) newest = ts;
        marks[i].text = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(quote, 2), &marks[i].text_len);
        if (!marks[i].text) goto fail;
        out_size += self->symbol_text[i].len + marks[i].text_len + 2 * 84 + 16;
        count++;
    }
    i128 unrealized, invested, cost;
    if (__builtin_add_overflow(self->unrealized, d_unrealized, &unrealized)
        || __builtin_add_overflow(self->invested, d_invested, &invested)
        || __builtin_add_overflow(self->cost, d_cost, &cost))
        goto wide;
    char *start = PyMem_Malloc(before + out_size + after + 1);
    if (!start) { PyErr_NoMemory(); goto fail; }
    char *buffer = start + before;
    Py_ssize_t len = 0, written = 0, newly = 0;
    for (Py_ssize_t i = 0; i < self->n; i++) {
        Mark *m = &marks[i];
        if (m->E == -128) continue;
        Pos *p = &self->pos[i];
        if (written++) buffer[len++] = ',';
        buffer[len++] = '['; buffer[len++] = '"';
        memcpy(buffer + len, self->symbol_text[i].utf8, self->symbol_text[i].len); len += self->symbol_text[i].len;
        memcpy(buffer + len, "\",\"", 3); len += 3;
        memcpy(buffer + len, m->text, m->text_len); len += m->text_len;
        memcpy(buffer + len, "\",\"", 3); len += 3;
        len += write_scaled(buffer + len, m->u, -m->E);
        memcpy(buffer + len, "\",\"", 3); len += 3;
        len += write_scaled(buffer + len, m->pct, 4);
        buffer[len++] = '"'; buffer[len++] = ']';
        p->u = m->u; /* commit */
        p->E = (int8_t)m->E;
        newly += !p->priced;
        p->priced = 1;
    }
    self->unrealized = unrealized;
    self->invested = invested;
    self->cost = cost;
    self->priced += newly;
    PyMem_Free(marks);
    PyMem_Free(bits);
    *out = start;
    *newest_out = newest;
    return len;
wide:
    PyMem_Free(marks);
    PyMem_Free(bits);
    PyErr_SetString(Wide, "a number past the native book's range");
    return -1;
fail:
    PyMem_Free(marks);
    PyMem_Free(bits);
    return -1;
}

static PyObject *Book_marks(Book *self, PyObject *args) {
    PyObject *mask, *quotes;
    if (!PyArg_ParseTuple(args, "O!O!", &PyLong_Type, &mask, &PyList_Type, &quotes)) return NULL;
    char *buffer;
    long long newest;
    Py_ssize_t len = mark_into(self, mask, quotes, 0, 0, &buffer, &newest);
    if (len < 0) return NULL;
    PyObject *text = PyUnicode_DecodeASCII(buffer, len, NULL);
    PyMem_Free(buffer);
    if (!text) return NULL;
    return Py_BuildValue("(NL)", text, newest);
}

#define TOTALS_MAX 400

/* The totals object into buffer (TOTALS_MAX bytes): its length, or -1 with Wide set. */
static int write_totals(Book *self, char *buffer) {
    i128 pct = 0;
    if (self->invested) {
        i128 num;
        if (!scale_ok(self->unrealized, 6, &num)) {
            PyErr_SetString(Wide, "totals past the native book's range");
            return -1;
        }
        pct = div_half_even(num, self->invested);
    }
    int len = 0;
    len += sprintf(buffer + len, "{\"total_invested\":\"");
    len += write_scaled(buffer + len, self->invested, -TOTAL_EXP);
    len += sprintf(buffer + len, "\",\"total_market_value\":\"");
    i128 market_value;
    if (__builtin_add_overflow(self->unrealized, self->cost, &market_value)) {
        PyErr_SetString(Wide, "totals past the native book's range");
        return -1;
    }
    len += write_scaled(buffer + len, market_value, -TOTAL_EXP);
    len += sprintf(buffer + len, "\",\"total_unrealized_pnl\":\"");
    len += write_scaled(buffer + len, self->unrealized, -TOTAL_EXP);
    len += sprintf(buffer + len, "\",\"total_pnl_percent\":\"");
    len += write_scaled(buffer + len, pct, 4);
    len += sprintf(buffer + len, "\",\"positions\":%zd,\"priced_positions\":%zd}", self->n, self->priced);
    return len;
}

static PyObject *Book_totals_json(Book *self, PyObject *unused) {
    char buffer[TOTALS_MAX];
    int len = write_totals(self, buffer);
    return len < 0 ? NULL : PyUnicode_DecodeASCII(buffer, len, NULL);
}

#define HEAD_MAX 160
#define WS_HEADER_MAX 10

/* A whole pnl frame as bytes, or None when none of the mask's positions is priced: the marks, the
 * head (seq, ts, the newest price_ts, since_ts) and the totals written into one buffer; with
 * `websocket` true, after the header of one unmasked WebSocket text frame (RFC 6455, server side),
 * ready for the socket as it is. */
static PyObject *Book_frame(Book *self, PyObject *args) {
    PyObject *mask, *quotes;
    long long seq, ts, since;
    int websocket = 0;
    if (!PyArg_ParseTuple(args, "O!O!LLL|p", &PyLong_Type, &mask, &PyList_Type, &quotes, &seq, &ts, &since,
                          &websocket))
        return NULL;
    char *buffer;
    long long newest;
    Py_ssize_t len = mark_into(self, mask, quotes, WS_HEADER_MAX + HEAD_MAX, TOTALS_MAX + 16, &buffer, &newest);
    if (len < 0) return NULL;
    if (len == 0) {
        PyMem_Free(buffer);
        Py_RETURN_NONE;
    }
    char head[HEAD_MAX];
    int head_len = snprintf(head, sizeof head,
                            "{\"type\":\"pnl\",\"seq\":%lld,\"ts\":%lld,\"price_ts\":%lld,\"since_ts\":%lld,\"positions\":[",
                            seq, ts, newest, since);
    char *start = buffer + WS_HEADER_MAX + HEAD_MAX - head_len;
    memcpy(start, head, head_len);
    char *end = buffer + WS_HEADER_MAX + HEAD_MAX + len;
    memcpy(end, "],\"totals\":", 11);
    end += 11;
    int totals_len = write_totals(self, end);
    if (totals_len < 0) {
        PyMem_Free(buffer);
        return NULL;
    }
    end += totals_len;
    *end++ = '}';
    if (websocket) { /* FIN + text, then the payload length as RFC 6455 encodes it */
        unsigned long long length = (unsigned long long)(end - start);
        if (length < 126) {
            start -= 2;
            start[1] = (char)length;
        } else if (length < 65536) {
            start -= 4;
            start[1] = 126;
            start[2] = (char)(length >> 8);
            start[3] = (char)(length & 0xff);
        } else {
            start -= 10;
            start[1] = 127;
            for (int b = 0; b < 8; b++) start[2 + b] = (char)((length >> (8 * (7 - b))) & 0xff);
        }
        start[0] = (char)0x81;
    }
    PyObject *frame = PyBytes_FromStringAndSize(start, end - start);
    PyMem_Free(buffer);
    return frame;
}

static PyObject *Book_state(Book *self, PyObject *unused) {
    PyObject *rows = PyList_New(self->n);
    if (!rows) return NULL;
    for (Py_ssize_t i = 0; i < self->n; i++) {
        Pos *p = &self->pos[i];
        PyObject *u = p->priced ? long_from_i128(p->u) : (Py_INCREF(Py_None), Py_None);
        if (!u) { Py_DECREF(rows); return NULL; }
        PyObject *row = Py_BuildValue("(iOLiLiNi)", p->id, self->symbols[i], (long long)p->q, (int)p->eq,
                                      (long long)p->c, (int)p->ec, u, (int)p->E);
        if (!row) { Py_DECREF(rows); return NULL; }
        PyList_SET_ITEM(rows, i, row);
    }
    return rows;
}

static PyObject *min_ts(PyObject *module, PyObject *args) {
    PyObject *mask, *quotes;
    if (!PyArg_ParseTuple(args, "O!O!", &PyLong_Type, &mask, &PyList_Type, &quotes)) return NULL;
    Py_ssize_t n_quotes = PyList_GET_SIZE(quotes), size;
    if (n_quotes == 0) return PyLong_FromLong(0);
    unsigned char *bits = mask_bytes(mask, (int32_t)(n_quotes - 1), &size);
    if (!bits) return NULL;
    long long best = 0;
    for (Py_ssize_t byte = 0; byte < size; byte++) {
        if (!bits[byte]) continue;
        for (int bit = 0; bit < 8; bit++) {
            Py_ssize_t id = byte * 8 + bit;
            if (!(bits[byte] & (1u << bit)) || id >= n_quotes) continue;
            PyObject *quote = PyList_GET_ITEM(quotes, id);
            long long ts;
            if (quote == Py_None || !PyTuple_Check(quote) || PyTuple_GET_SIZE(quote) != 4
                || !as_i64(PyTuple_GET_ITEM(quote, 3), &ts))
                continue;
            if (!best || ts < best) best = ts;
        }
    }
    PyMem_Free(bits);
    return PyLong_FromLongLong(best);
}

static PyMethodDef Book_methods[] = {
    {"marks", (PyCFunction)Book_marks, METH_VARARGS, "Mark the mask's positions; the frame's entries and deltas."},
    {"state", (PyCFunction)Book_state, METH_NOARGS, "Every position as (id, symbol, q, eq, c, ec, u, E)."},
    {"totals_json", (PyCFunction)Book_totals_json, METH_NOARGS, "The totals object of a pnl frame."},
    {"frame", (PyCFunction)Book_frame, METH_VARARGS, "frame(mask, quotes, seq, ts, since_ts): a whole pnl frame."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BookType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "portfolio._live_native.Book",
    .tp_basicsize = sizeof(Book),
    .tp_dealloc = (destructor)Book_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A socket's positions, packed, marked in C.",
    .tp_methods = Book_methods,
    .tp_new = Book_new,
};

static PyMethodDef methods[] = {
    {"min_ts", min_ts, METH_VARARGS, "The smallest event_ts among the quotes of the mask's ids."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_live_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit__live_native(void) {
    POW10[0] = 1;
    for (int i = 1; i < 39; i++) POW10[i] = POW10[i - 1] * 10;
    if (PyType_Ready(&BookType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Wide = PyErr_NewException("portfolio._live_native.Wide", PyExc_ArithmeticError, NULL);
    Py_INCREF(&BookType);
    if (!Wide || PyModule_AddObject(m, "Book", (PyObject *)&BookType) < 0 || PyModule_AddObject(m, "Wide", Wide) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
