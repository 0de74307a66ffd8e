/* The idle check's hot loop in C: one stat per watched file, compared with its packed stamp.
 *
 * Polling thousands of files costs one stat() system call per file and per cell. From Python,
 * os.stat() adds more than half as much again around the call: it encodes the path and builds
 * a stat_result of twenty objects, only to compare four of them. This function makes the same
 * system call and the same comparison with none of that, and returns only the files whose
 * stamp moved. hotreload_ext/_polling.py has the reference implementation in Python
 * (Poller._stat_all), used when this module is not built; both must agree exactly.
 *
 * The contract with Python is written down in one place, the docstring of TrackedModule in
 * hotreload_ext/_tracking.py: the attributes read here by name (str_path, str_dir_handle,
 * str_name_start and str_record below) and the byte layout of _record, whose first STAMP_SIZE
 * bytes are what pack_stamp() makes. Change them there and here together; the tests in
 * tests/unit/test_speedups.py pin them. A value out of pack_stamp()'s range is not clamped
 * here, as Python does: the file is returned as a suspect, and Python compares it the slow way.
 *
 * It also holds the audit hook of hotreload_ext/_datafiles.py (install_open_hook below): a hook
 * written in Python costs a call into Python for every audited event of the process (about
 * 0.3 us each; an idle IPython cell raises about sixteen), one written in C a string comparison.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#define STAMP_SIZE 32
/* Files stat'ed per release of the GIL: long enough to amortize taking it back, short enough
 * that the host program's other threads (a kernel's heartbeat) never wait long for it. */
#define CHUNK 64

typedef struct {
    PyObject *path;   /* held (a new reference), or an encoded copy of the name (bytes) */
    const char *name; /* what fstatat() resolves, relative to handle */
    int handle;
    int outcome;      /* 0: the stamp packed; 1: stat failed or a value out of range */
    unsigned char stamp[STAMP_SIZE];
} Entry;

static PyObject *str_path, *str_name_start, *str_dir_handle, *str_record;

static void put_u64(unsigned char *out, uint64_t value) {
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(value >> (8 * i));
    }
}

static int pack_time(unsigned char *out, int64_t seconds, long nanoseconds) {
    int64_t total;
    if (__builtin_mul_overflow(seconds, (int64_t)1000000000, &total) ||
        __builtin_add_overflow(total, (int64_t)nanoseconds, &total)) {
        return -1;
    }
    put_u64(out, (uint64_t)total);
    return 0;
}

static int pack_stat(unsigned char *out, const struct stat *st) {
#if defined(__APPLE__)
    const struct timespec *mtime = &st->st_mtimespec, *ctime = &st->st_ctimespec;
#else
    const struct timespec *mtime = &st->st_mtim, *ctime = &st->st_ctim;
#endif
    if (pack_time(out, (int64_t)mtime->tv_sec, mtime->tv_nsec) < 0 ||
        pack_time(out + 24, (int64_t)ctime->tv_sec, ctime->tv_nsec) < 0) {
        return -1;
    }
    put_u64(out + 8, (uint64_t)(int64_t)st->st_size);
    put_u64(out + 16, (uint64_t)st->st_ino);
    return 0;
}

/* Fill `entry` for one TrackedModule; -1 with an exception set on a malformed record. */
static int prepare(PyObject *tracked, Entry *entry) {
    PyObject *path = PyObject_GetAttr(tracked, str_path);
    if (path == NULL) {
        return -1;
    }
    if (!PyUnicode_Check(path)) {
        PyErr_SetString(PyExc_TypeError, "TrackedModule.path must be a str");
        Py_DECREF(path);
        return -1;
    }
    PyObject *handle_obj = PyObject_GetAttr(tracked, str_dir_handle);
    if (handle_obj == NULL) {
        Py_DECREF(path);
        return -1;
    }
    Py_ssize_t start = 0;
    entry->handle = AT_FDCWD;
    if (handle_obj != Py_None) {
        long handle = PyLong_AsLong(handle_obj);
        PyObject *start_obj = PyObject_GetAttr(tracked, str_name_start);
        if (start_obj != NULL) {
            start = PyLong_AsSsize_t(start_obj);
            Py_DECREF(start_obj);
        }
        if (PyErr_Occurred()) {
            Py_DECREF(handle_obj);
            Py_DECREF(path);
            return -1;
        }
        if (start < 0 || start > PyUnicode_GET_LENGTH(path) || handle < 0 || handle > INT_MAX) {
            start = 0; /* not what _polling.py makes: the whole path, as os.stat() would */
        } else {
            entry->handle = (int)handle;
        }
    }
    Py_DECREF(handle_obj);
    if (PyUnicode_IS_ASCII(path)) {
        /* ASCII text is its own file system encoding, NUL-terminated in place: no copy. */
        entry->path = path;
        entry->name = (const char *)PyUnicode_DATA(path) + start;
        if ((Py_ssize_t)strlen(entry->name) != PyUnicode_GET_LENGTH(path) - start) {
            entry->name = NULL; /* an embedded NUL: os.stat() raises, so Python decides */
        }
        return 0;
    }
    PyObject *name = PyUnicode_Substring(path, start, PyUnicode_GET_LENGTH(path));
    Py_DECREF(path);
    if (name == NULL) {
        return -1;
    }
    PyObject *encoded = PyUnicode_EncodeFSDefault(name);
    Py_DECREF(name);
    if (encoded == NULL) {
        /* Not encodable as a path: os.stat() would raise, so Python decides. */
        PyErr_Clear();
        entry->path = NULL;
        entry->name = NULL;
        return 0;
    }
    entry->path = encoded;
    entry->name = PyBytes_AS_STRING(encoded);
    if ((Py_ssize_t)strlen(entry->name) != PyBytes_GET_SIZE(encoded)) {
        entry->name = NULL;
    }
    return 0;
}

/* Whether `tracked._record` starts with `stamp`; -1 with an exception set. */
static int record_matches(PyObject *tracked, const unsigned char *stamp) {
    PyObject *record = PyObject_GetAttr(tracked, str_record);
    if (record == NULL) {
        return -1;
    }
    int matches = PyBytes_Check(record) && PyBytes_GET_SIZE(record) >= STAMP_SIZE &&
                  memcmp(PyBytes_AS_STRING(record), stamp, STAMP_SIZE) == 0;
    Py_DECREF(record);
    return matches;
}

PyDoc_STRVAR(unverified_doc,
             "unverified(modules, /)\n--\n\n"
             "The indexes in ``modules`` (a list of TrackedModule) of the files whose stat\n"
             "does not prove them unchanged: the stat failed, or its packed stamp is not the\n"
             "one at the start of the module's record.");

static PyObject *unverified(PyObject *module, PyObject *modules) {
    if (!PyList_Check(modules)) {
        PyErr_SetString(PyExc_TypeError, "unverified() takes a list");
        return NULL;
    }
    PyObject *found = PyList_New(0);
    if (found == NULL) {
        return NULL;
    }
    Entry entries[CHUNK];
    Py_ssize_t total = PyList_GET_SIZE(modules);
    for (Py_ssize_t base = 0; base < total; base += CHUNK) {
        /* The list may change while the GIL is released: work on what was read from it. */
        Py_ssize_t count = PyList_GET_SIZE(modules) - base;
        if (count <= 0) {
            break;
        }
        if (count > CHUNK) {
            count = CHUNK;
        }
        Py_ssize_t ready = 0;
        PyObject *items[CHUNK];
        for (; ready < count; ready++) {
            items[ready] = PyList_GET_ITEM(modules, base + ready);
            Py_INCREF(items[ready]);
            if (prepare(items[ready], &entries[ready]) < 0) {
                Py_DECREF(items[ready]);
                break;
            }
        }
        if (ready == count) {
            Py_BEGIN_ALLOW_THREADS;
            for (Py_ssize_t i = 0; i < count; i++) {
                struct stat st;
                Entry *entry = &entries[i];
                entry->outcome = entry->name == NULL ||
                                 fstatat(entry->handle, entry->name, &st, 0) != 0 ||
                                 pack_stat(entry->stamp, &st) != 0;
            }
            Py_END_ALLOW_THREADS;
        }
        int failed = ready != count;
        for (Py_ssize_t i = 0; i < ready; i++) {
            if (!failed) {
                int matches = entries[i].outcome ? 0 : record_matches(items[i], entries[i].stamp);
                PyObject *index = NULL;
                if (matches < 0 || (!matches && ((index = PyLong_FromSsize_t(base + i)) == NULL ||
                                                 PyList_Append(found, index) < 0))) {
                    failed = 1;
                }
                Py_XDECREF(index);
            }
            Py_XDECREF(entries[i].path);
            Py_DECREF(items[i]);
        }
        if (failed) {
            Py_DECREF(found);
            return NULL;
        }
    }
    return found;
}

/* The data files' audit hook. Audit hooks cannot be removed, so this one stays for the life of
 * the process: it returns at once unless a watcher listens and the event is "open", and then
 * calls the Python recorder, whose errors it swallows (an audit hook that fails an event would
 * fail the user's open()). */
static PyObject *open_recorder = NULL; /* held forever, as the hook is */
static int open_listening = 0;

static int audit_open(const char *event, PyObject *args, void *data) {
    (void)data;
    if (!open_listening || open_recorder == NULL || strcmp(event, "open") != 0) {
        return 0;
    }
    PyObject *result = PyObject_CallOneArg(open_recorder, args);
    if (result == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(result);
    return 0;
}

PyDoc_STRVAR(install_open_hook_doc,
             "install_open_hook(recorder, /)\n--\n\n"
             "Add the audit hook that calls recorder(args) for each 'open' event while\n"
             "listen_open(True) is in effect. Once per process: it cannot be removed.");

static PyObject *install_open_hook(PyObject *self, PyObject *recorder) {
    (void)self;
    if (open_recorder != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the open audit hook is installed already");
        return NULL;
    }
    Py_INCREF(recorder);
    open_recorder = recorder;
    if (PySys_AddAuditHook(audit_open, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(listen_open_doc,
             "listen_open(on, /)\n--\n\n"
             "Whether the open audit hook calls its recorder (False: it returns at once).");

static PyObject *listen_open(PyObject *self, PyObject *on) {
    (void)self;
    int flag = PyObject_IsTrue(on);
    if (flag < 0) {
        return NULL;
    }
    open_listening = flag;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"unverified", unverified, METH_O, unverified_doc},
    {"install_open_hook", install_open_hook, METH_O, install_open_hook_doc},
    {"listen_open", listen_open, METH_O, listen_open_doc},
    {NULL, NULL, 0, NULL},
};

static int exec_module(PyObject *module) {
    return PyModule_AddIntConstant(module, "STAMP_SIZE", STAMP_SIZE);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "hotreload_ext._speedups",
    .m_doc = "The idle check's stat loop in C (see hotreload_ext/_polling.py).",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    str_path = PyUnicode_InternFromString("path");
    str_name_start = PyUnicode_InternFromString("name_start");
    str_dir_handle = PyUnicode_InternFromString("dir_handle");
    str_record = PyUnicode_InternFromString("_record");
    if (!str_path || !str_name_start || !str_dir_handle || !str_record) {
        return NULL;
    }
    return PyModuleDef_Init(&definition);
}
