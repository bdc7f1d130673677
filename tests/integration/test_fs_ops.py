"""Every passthrough operation through the mount, compared with the native
filesystem (same results, same errno) and with the backing directory.
Parametrized over passthrough=on/off through the `fs` fixture."""
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import mmap
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

from conftest import daemon_env, errname, errno_of, same, wait_for

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint]
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                           ctypes.c_int64]


def renameat2(a, b, flags):
    if libc.renameat2(AT_FDCWD, os.fsencode(str(a)), AT_FDCWD,
                      os.fsencode(str(b)), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(a))


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def write_file(p, data, mode=0o644):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_file(p):
    with open(p, "rb") as f:
        return f.read()


def sig(st):
    """The parts of a stat result that must agree between native and mount."""
    return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_nlink,
            st.st_uid, st.st_gid, st.st_size if not stat.S_ISDIR(st.st_mode) else 0)


# ---------------------------------------------------------------- lookup/attr

def test_lookup_getattr_matches_backing(fs):
    b = fs.backing()
    write_file(b / "pre.txt", b"hello world", 0o640)
    os.mkdir(b / "sub")
    os.symlink("pre.txt", b / "ln")
    for name in ("pre.txt", "sub", "ln"):
        sm = os.lstat(fs.bucket() / name)
        sb = os.lstat(b / name)
        assert sig(sm) == sig(sb), name
        assert sm.st_mtime_ns == sb.st_mtime_ns, name
        assert sm.st_ino == sb.st_ino, name
    assert errno_of(os.stat, fs.bucket() / "missing") == errno.ENOENT
    # negative lookup cached, then created: must become visible at once
    write_file(fs.bucket() / "missing", b"x")
    assert os.stat(fs.bucket() / "missing").st_size == 1
    assert read_file(b / "missing") == b"x"


def test_enotdir_and_enametoolong(fs):
    def f(d):
        write_file(d / "file", b"x")
        return (errno_of(os.stat, d / "file" / "x"),
                errno_of(os.stat, d / ("n" * 256)),
                errno_of(os.open, d / ("n" * 256), os.O_CREAT | os.O_WRONLY))
    assert same(fs, f) == (errno.ENOTDIR, errno.ENAMETOOLONG, errno.ENAMETOOLONG)


def test_chmod_chown(fs):
    def f(d):
        p = d / "f"
        write_file(p, b"abc")
        os.chmod(p, 0o4751)
        m1 = stat.S_IMODE(os.stat(p).st_mode)
        os.chown(p, 1234, 5678)
        st = os.stat(p)
        os.chmod(p, 0o600)
        os.lchown(p, -1, 42)
        st2 = os.stat(p)
        os.symlink("f", d / "l")
        os.lchown(d / "l", 77, 88)
        sl = os.lstat(d / "l")
        return m1, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), \
            st2.st_uid, st2.st_gid, sl.st_uid, sl.st_gid, os.stat(p).st_uid
    r = same(fs, f)
    st = os.stat(fs.backing() / "f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 42, 0o600)
    assert r[0] == 0o4751


def test_chown_clears_suid(fs):
    def f(d):
        p = d / "s"
        write_file(p, b"#!/bin/sh\n")
        os.chmod(p, 0o6755)
        os.chown(p, 1000, 1000)
        return stat.S_IMODE(os.stat(p).st_mode)
    same(fs, f)


def test_truncate(fs):
    def f(d):
        p = d / "t"
        write_file(p, b"0123456789")
        os.truncate(p, 4)
        a = read_file(p)
        os.truncate(p, 8)
        b = read_file(p)
        fd = os.open(p, os.O_RDWR)
        os.ftruncate(fd, 2)
        c = os.pread(fd, 100, 0)
        os.close(fd)
        return a, b, c, os.stat(p).st_size, errno_of(os.truncate, d / "nope", 1), \
            errno_of(os.truncate, d, 0)
    assert same(fs, f)[:3] == (b"0123", b"0123\0\0\0\0", b"01")
    assert read_file(fs.backing() / "t") == b"01"


def test_utimens(fs):
    def f(d):
        p = d / "u"
        write_file(p, b"x")
        os.utime(p, ns=(1_000_000_123, 2_000_000_456))
        st1 = os.stat(p)
        # UTIME_OMIT for atime, explicit mtime
        fd = os.open(p, os.O_RDONLY)
        os.utime(fd, ns=(st1.st_atime_ns, 3_000_000_789))  # via futimens
        os.close(fd)
        st2 = os.stat(p)
        os.symlink("u", d / "l")
        os.utime(d / "l", ns=(5_000_000_000, 6_000_000_000), follow_symlinks=False)
        sl = os.lstat(d / "l")
        return (st1.st_atime_ns, st1.st_mtime_ns, st2.st_atime_ns,
                st2.st_mtime_ns, sl.st_mtime_ns, os.stat(p).st_mtime_ns)
    r = same(fs, f)
    assert r[:4] == (1_000_000_123, 2_000_000_456, 1_000_000_123, 3_000_000_789)
    assert os.stat(fs.backing() / "u").st_mtime_ns == 3_000_000_789


def test_utime_now_and_omit(fs):
    """UTIME_NOW / UTIME_OMIT through utimensat(2) via ctypes."""
    class timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]
    UTIME_NOW = (1 << 30) - 1
    UTIME_OMIT = (1 << 30) - 2
    libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p,
                               ctypes.POINTER(timespec), ctypes.c_int]

    def utimensat(p, a, m):
        ts = (timespec * 2)(a, m)
        if libc.utimensat(AT_FDCWD, os.fsencode(str(p)), ts, 0) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    p = fs.bucket() / "n"
    write_file(p, b"x")
    os.utime(p, ns=(1_000_000_000, 2_000_000_000))
    before = time.time_ns()
    utimensat(p, timespec(0, UTIME_OMIT), timespec(0, UTIME_NOW))
    st = os.stat(p)
    assert st.st_atime_ns == 1_000_000_000
    assert st.st_mtime_ns >= before - 50_000_000
    utimensat(p, timespec(0, UTIME_NOW), timespec(0, UTIME_OMIT))
    st2 = os.stat(p)
    assert st2.st_mtime_ns == st.st_mtime_ns
    assert st2.st_atime_ns >= before - 50_000_000
    sb = os.stat(fs.backing() / "n")
    assert (sb.st_atime_ns, sb.st_mtime_ns) == (st2.st_atime_ns, st2.st_mtime_ns)
    # utime(p, None) == both UTIME_NOW
    os.utime(p, None)
    assert os.stat(p).st_mtime_ns >= before - 50_000_000


# ---------------------------------------------------------- create/open/io

def test_create_write_read(fs):
    def f(d):
        p = d / "c"
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o640)
        n = os.write(fd, b"hello ")
        os.write(fd, b"world")
        os.lseek(fd, 0, os.SEEK_SET)
        r = os.read(fd, 100)
        os.pwrite(fd, b"W", 6)
        r2 = os.pread(fd, 100, 0)
        os.fsync(fd)
        os.fdatasync(fd)
        os.close(fd)
        return n, r, r2, stat.S_IMODE(os.stat(p).st_mode), read_file(p)
    r = same(fs, f)
    assert r[2] == b"hello World"
    assert read_file(fs.backing() / "c") == b"hello World"


def test_read_sees_backing_content_and_size(fs):
    b = fs.backing()
    data = os.urandom(300_000)
    write_file(b / "pre", data)
    assert read_file(fs.bucket() / "pre") == data
    assert os.stat(fs.bucket() / "pre").st_size == len(data)


def test_o_excl_o_trunc_o_append(fs):
    def f(d):
        p = d / "x"
        write_file(p, b"abcdef")
        e1 = errno_of(os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"GH")
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"IJ")  # still appends
        os.close(fd)
        a = read_file(p)
        fd = os.open(p, os.O_RDWR | os.O_APPEND)
        os.pwrite(fd, b"Z", 0) if sys.platform != "linux" else os.write(fd, b"Z")
        os.close(fd)
        b = read_file(p)
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        s = os.fstat(fd).st_size
        os.write(fd, b"new")
        os.close(fd)
        fd = os.open(d / "y", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        return e1, a, b, s, read_file(p), \
            errno_of(os.open, d / "nope", os.O_RDONLY), \
            errno_of(os.open, d, os.O_WRONLY), \
            errno_of(os.open, p, os.O_RDONLY | os.O_DIRECTORY)
    r = same(fs, f)
    assert r[:5] == (errno.EEXIST, b"abcdefGHIJ", b"abcdefGHIJZ", 0, b"new")
    assert read_file(fs.backing() / "x") == b"new"


# Preloaded into the daemon: an O_CREAT open of $RACE_NAME finds that
# another process made the file in SRC in the meantime, i.e. after the
# kernel's LOOKUP saw the name missing and before the daemon's open.
RACE_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int race(const char *sym, int dirfd, const char *path, int flags,
                mode_t mode)
{
        int (*real)(int, const char *, int, ...) = dlsym(RTLD_NEXT, sym);
        const char *name = getenv("RACE_NAME");
        if (name && (flags & O_CREAT) && strcmp(path, name) == 0) {
                int fd = real(dirfd, path, O_WRONLY | O_CREAT | O_EXCL |
                              O_CLOEXEC, 0644);
                if (fd >= 0) {
                        (void)!write(fd, "won the race", 12);
                        close(fd);
                }
        }
        return real(dirfd, path, flags, mode);
}

static mode_t mode_of(int flags, va_list ap)
{
        return flags & (O_CREAT | O_TMPFILE) ? va_arg(ap, mode_t) : 0;
}

int openat(int dirfd, const char *path, int flags, ...)
{
        va_list ap;
        va_start(ap, flags);
        mode_t mode = mode_of(flags, ap);
        va_end(ap);
        return race("openat", dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
        va_list ap;
        va_start(ap, flags);
        mode_t mode = mode_of(flags, ap);
        va_end(ap);
        return race("openat64", dirfd, path, flags, mode);
}
"""


def test_o_excl_create_loses_a_race_with_a_file_made_behind(mount_factory,
                                                           passthrough_mode,
                                                           tmp_path):
    """A file made directly in SRC between the kernel's LOOKUP (missing)
    and its CREATE: only the backing open can tell, so O_EXCL must reach it
    (a lock file taken with O_EXCL would otherwise be taken twice)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("needs a C compiler for the preloaded shim")
    (tmp_path / "race.c").write_text(RACE_SHIM)
    shim = tmp_path / "race.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(shim),
                    str(tmp_path / "race.c"), "-ldl"], check=True)
    m = mount_factory(opts=[f"passthrough={passthrough_mode}"], start=False)
    saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "ASAN_OPTIONS",
                                            "RACE_NAME")}
    # The shim comes before the sanitizer runtime in the library list.
    os.environ["ASAN_OPTIONS"] = (daemon_env()["ASAN_OPTIONS"]
                                  + ":verify_asan_link_order=0")
    os.environ["LD_PRELOAD"] = str(shim)
    os.environ["RACE_NAME"] = "lock"
    try:
        m.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    p = m.bucket() / "lock"
    assert errno_of(os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                    0o644) == errno.EEXIST
    assert read_file(m.backing() / "lock") == b"won the race"
    # Without O_EXCL the create opens the file it lost to, content and all.
    os.unlink(p)
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    assert read_file(m.backing() / "lock") == b"won the race"


def test_append_two_handles(fs):
    p = fs.bucket() / "log"
    fa = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    fb = os.open(p, os.O_WRONLY | os.O_APPEND)
    for i in range(50):
        os.write(fa, b"a%02d\n" % i)
        os.write(fb, b"b%02d\n" % i)
    os.close(fa)
    os.close(fb)
    data = read_file(p)
    assert len(data) == 400
    assert read_file(fs.backing() / "log") == data


def test_write_visible_to_other_handle_and_backing(fs):
    p = fs.bucket() / "shared"
    w = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    r = os.open(p, os.O_RDONLY)
    os.write(w, b"12345")
    assert os.pread(r, 10, 0) == b"12345"
    os.fsync(w)
    assert read_file(fs.backing() / "shared") == b"12345"
    os.close(w)
    os.close(r)


def test_fallocate(fs):
    def f(d):
        p = d / "fa"
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        os.write(fd, b"A" * 65536)
        fallocate(fd, 0, 0, 1 << 20)
        s1 = os.fstat(fd).st_size
        fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 2 << 20)
        s2 = os.fstat(fd).st_size
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192)
        data = os.pread(fd, 65536, 0)
        s3 = os.fstat(fd).st_size
        e = errno_of(fallocate, fd, FALLOC_FL_PUNCH_HOLE, 0, 4096)  # needs KEEP_SIZE
        os.posix_fallocate(fd, 0, 3 << 20)
        s4 = os.fstat(fd).st_size
        os.close(fd)
        return s1, s2, s3, data == b"A" * 4096 + b"\0" * 8192 + b"A" * (65536 - 12288), e, s4
    r = same(fs, f)
    assert r[:4] == (1 << 20, 1 << 20, 1 << 20, True)
    st = os.stat(fs.backing() / "fa")
    assert st.st_size == 3 << 20


def test_copy_file_range(fs):
    def f(d):
        data = bytes(range(256)) * 1024
        write_file(d / "s", data)
        fi = os.open(d / "s", os.O_RDONLY)
        fo = os.open(d / "o", os.O_CREAT | os.O_WRONLY, 0o644)
        n = 0
        while n < len(data):
            k = os.copy_file_range(fi, fo, len(data) - n, n, n)
            if k == 0:
                break
            n += k
        k2 = os.copy_file_range(fi, fo, 1000, 1000, 300_000)
        os.close(fi)
        os.close(fo)
        out = read_file(d / "o")
        return n, k2, len(out), out[:len(data)] == data, out[300_000:301_000] == data[1000:2000]
    r = same(fs, f)
    assert r == (262144, 1000, 301000, True, True)
    assert read_file(fs.backing() / "o")[:262144] == bytes(range(256)) * 1024


def test_copy_file_range_between_buckets(fs):
    data = os.urandom(100_000)
    write_file(fs.bucket("alpha") / "s", data)
    fi = os.open(fs.bucket("alpha") / "s", os.O_RDONLY)
    fo = os.open(fs.bucket("beta") / "d", os.O_CREAT | os.O_WRONLY, 0o644)
    n = 0
    while n < len(data):
        k = os.copy_file_range(fi, fo, len(data) - n)
        assert k > 0
        n += k
    os.close(fi)
    os.close(fo)
    assert read_file(fs.backing("beta") / "d") == data


def test_seek_data_hole(fs):
    def f(d):
        p = d / "sparse"
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
        os.pwrite(fd, b"D" * 4096, 1 << 20)
        os.pwrite(fd, b"E" * 4096, 4 << 20)
        os.ftruncate(fd, 8 << 20)
        os.fsync(fd)
        r = (os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE),
             os.lseek(fd, (1 << 20) + 10, os.SEEK_HOLE),
             os.lseek(fd, (2 << 20), os.SEEK_DATA),
             os.lseek(fd, (4 << 20) + 4096, os.SEEK_HOLE),
             errno_of(os.lseek, fd, (5 << 20), os.SEEK_DATA),
             errno_of(os.lseek, fd, (9 << 20), os.SEEK_HOLE),
             os.lseek(fd, 0, os.SEEK_END), os.lseek(fd, -5, os.SEEK_CUR))
        os.close(fd)
        st = os.stat(p)
        return r + (st.st_blocks * 512 < (1 << 20),)
    r = same(fs, f)
    assert r[0] == 1 << 20 and r[1] == 0 and r[5] == errno.ENXIO


def test_big_file_checksum(fs):
    size = 64 << 20
    chunk = os.urandom(1 << 20)
    h = hashlib.sha256()
    p = fs.bucket() / "big"
    with open(p, "wb") as f:
        for i in range(size >> 20):
            c = chunk[i:] + chunk[:i]
            h.update(c)
            f.write(c)
    want = h.hexdigest()
    assert os.stat(p).st_size == size

    def digest(path):
        hh = hashlib.sha256()
        with open(path, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                hh.update(b)
        return hh.hexdigest()
    assert digest(p) == want
    assert digest(fs.backing() / "big") == want
    # random-offset reads agree with the backing file
    fd_m = os.open(p, os.O_RDONLY)
    fd_b = os.open(fs.backing() / "big", os.O_RDONLY)
    for off in (0, 4095, 1 << 20, size - 10, 33_333_333):
        assert os.pread(fd_m, 8192, off) == os.pread(fd_b, 8192, off)
    os.close(fd_m)
    os.close(fd_b)


def test_mmap_read_write(fs):
    def f(d):
        p = d / "mm"
        write_file(p, b"\0" * 16384)
        fd = os.open(p, os.O_RDWR)
        m = mmap.mmap(fd, 16384)
        m[0:5] = b"hello"
        m[8192:8197] = b"world"
        m.flush()
        m.close()
        os.close(fd)
        data = read_file(p)
        fd = os.open(p, os.O_RDONLY)
        m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        r = bytes(m[8190:8200])
        m.close()
        os.close(fd)
        return data[:5], data[8192:8197], r, len(data)
    r = same(fs, f)
    assert r[:2] == (b"hello", b"world")
    data = read_file(fs.backing() / "mm")
    assert data[:5] == b"hello" and data[8192:8197] == b"world"


def test_mmap_shared_write_visible_to_read(fs):
    p = fs.bucket() / "mm2"
    write_file(p, b"." * 8192)
    fd = os.open(p, os.O_RDWR)
    m = mmap.mmap(fd, 8192)
    m[100:104] = b"ABCD"
    assert os.pread(fd, 4, 100) == b"ABCD"
    m.close()
    os.close(fd)


# --------------------------------------------------------- names and links

def test_rename(fs):
    def f(d):
        write_file(d / "a", b"A")
        write_file(d / "b", b"B")
        os.rename(d / "a", d / "c")
        r1 = (os.path.exists(d / "a"), read_file(d / "c"))
        os.rename(d / "c", d / "b")              # over existing
        r2 = (os.path.exists(d / "c"), read_file(d / "b"))
        os.mkdir(d / "dir")
        os.mkdir(d / "dir2")
        write_file(d / "dir2" / "x", b"x")
        e1 = errno_of(os.rename, d / "dir", d / "dir2")   # ENOTEMPTY
        e2 = errno_of(os.rename, d / "b", d / "dir")      # EISDIR
        e3 = errno_of(os.rename, d / "dir", d / "b")      # ENOTDIR
        e4 = errno_of(os.rename, d / "nope", d / "z")     # ENOENT
        e5 = errno_of(os.rename, d / "dir", d / "dir" / "sub")  # EINVAL
        os.rename(d / "dir2", d / "dir")                   # over empty dir
        return r1, r2, e1, e2, e3, e4, e5, sorted(os.listdir(d)), \
            sorted(os.listdir(d / "dir"))
    r = same(fs, f)
    assert r[2:7] == (errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR,
                      errno.ENOENT, errno.EINVAL)
    assert sorted(os.listdir(fs.backing())) == ["b", "dir"]


def test_rename_noreplace_exchange(fs):
    def f(d):
        write_file(d / "a", b"A")
        write_file(d / "b", b"B")
        e = errno_of(renameat2, d / "a", d / "b", RENAME_NOREPLACE)
        renameat2(d / "a", d / "n", RENAME_NOREPLACE)
        renameat2(d / "n", d / "b", RENAME_EXCHANGE)
        r = (read_file(d / "n"), read_file(d / "b"))
        os.mkdir(d / "dd")
        renameat2(d / "dd", d / "b", RENAME_EXCHANGE)      # dir <-> file
        r2 = (os.path.isdir(d / "b"), read_file(d / "dd"))
        e2 = errno_of(renameat2, d / "n", d / "missing", RENAME_EXCHANGE)
        e3 = errno_of(renameat2, d / "n", d / "b", RENAME_NOREPLACE | RENAME_EXCHANGE)
        return e, r, r2, e2, e3
    r = same(fs, f)
    assert r[0] == errno.EEXIST
    assert r[1] == (b"B", b"A")
    assert r[3] == errno.ENOENT and r[4] == errno.EINVAL
    assert os.path.isdir(fs.backing() / "b")


def test_rename_across_buckets_and_dirs(fs):
    write_file(fs.bucket("alpha") / "m", b"move me")
    os.mkdir(fs.bucket("beta") / "sub")
    os.rename(fs.bucket("alpha") / "m", fs.bucket("beta") / "sub" / "m2")
    assert not os.path.exists(fs.backing("alpha") / "m")
    assert read_file(fs.backing("beta") / "sub" / "m2") == b"move me"
    assert errno_of(os.stat, fs.bucket("alpha") / "m") == errno.ENOENT
    # directory rename keeps its content reachable under the new name
    os.makedirs(fs.bucket("alpha") / "d1" / "d2")
    write_file(fs.bucket("alpha") / "d1" / "d2" / "f", b"deep")
    os.rename(fs.bucket("alpha") / "d1", fs.bucket("beta") / "d9")
    assert read_file(fs.bucket("beta") / "d9" / "d2" / "f") == b"deep"
    assert errno_of(os.stat, fs.bucket("alpha") / "d1") == errno.ENOENT


def test_open_handle_survives_rename_and_unlink(fs):
    p = fs.bucket() / "h"
    write_file(p, b"keep")
    fd = os.open(p, os.O_RDWR)
    os.rename(p, fs.bucket() / "h2")
    os.write(fd, b"KE")
    os.unlink(fs.bucket() / "h2")
    assert os.pread(fd, 10, 0) == b"KEep"
    assert os.fstat(fd).st_nlink == 0
    os.close(fd)
    assert os.listdir(fs.bucket()) == []


def test_unlinked_open_file_keeps_its_object(fs):
    """A file unlinked while open stays the same object for its handles,
    even after a new file takes its name (the daemon reaches files by
    name, and keeps a descriptor for one that loses its name while open)."""
    def f(d):
        write_file(d / "u", b"old bytes")
        fd = os.open(d / "u", os.O_RDWR)
        try:
            os.unlink(d / "u")
            write_file(d / "u", b"new")
            os.fchmod(fd, 0o600)
            os.setxattr(fd, "user.k", b"v")
            st = os.fstat(fd)
            return (st.st_size, stat.S_IMODE(st.st_mode), st.st_nlink,
                    os.getxattr(fd, "user.k"), os.pread(fd, 20, 0),
                    os.stat(d / "u").st_size, read_file(d / "u"),
                    stat.S_IMODE(os.stat(d / "u").st_mode))
        finally:
            os.close(fd)
    assert same(fs, f) == (9, 0o600, 0, b"v", b"old bytes", 3, b"new", 0o644)


def test_hard_link_outlives_its_newest_name(fs):
    """The daemon remembers the newest name of a hard-linked file; removing
    that name leaves the file reachable through the others."""
    def f(d):
        write_file(d / "a", b"linked")
        os.link(d / "a", d / "b")
        os.unlink(d / "b")
        os.chmod(d / "a", 0o640)
        os.setxattr(d / "a", "user.k", b"v")
        os.truncate(d / "a", 3)
        st = os.stat(d / "a")
        return (stat.S_IMODE(st.st_mode), st.st_nlink, st.st_size,
                os.getxattr(d / "a", "user.k"), read_file(d / "a"))
    assert same(fs, f) == (0o640, 1, 3, b"v", b"lin")


def test_rename_over_an_open_file(fs):
    def f(d):
        write_file(d / "dst", b"replaced")
        write_file(d / "src", b"s")
        fd = os.open(d / "dst", os.O_RDONLY)
        try:
            os.rename(d / "src", d / "dst")
            os.fchmod(fd, 0o600)
            st = os.fstat(fd)
            return (st.st_size, st.st_nlink, stat.S_IMODE(st.st_mode),
                    os.pread(fd, 20, 0), read_file(d / "dst"))
        finally:
            os.close(fd)
    assert same(fs, f) == (8, 0, 0o600, b"replaced", b"s")


def test_more_files_than_the_daemon_has_descriptors(mount_factory,
                                                    passthrough_mode):
    """Buckets hold more objects than a process may have descriptors:
    listing and stat-ing them all (ls -l), creating and reading them must
    not need one descriptor per file.  The daemon runs with 256."""
    m = mount_factory(opts=[f"passthrough={passthrough_mode}"], start=False)
    plain = m.command
    m.command = lambda: ["prlimit", "--nofile=256:256", "--"] + plain()
    m.start()
    n = 1500
    for i in range(n):
        (m.backing() / f"old{i:05d}").write_bytes(b"x" * (i % 7))
    ls = subprocess.run(["ls", "-l", str(m.bucket())], capture_output=True,
                        text=True, timeout=120)
    assert ls.returncode == 0, ls.stderr
    assert len(ls.stdout.splitlines()) == n + 1  # "total" line
    for i in range(n):
        write_file(m.bucket() / f"new{i:05d}", b"y" * (i % 5))
    sizes = [os.stat(m.bucket() / f"new{i:05d}").st_size for i in range(n)]
    assert sizes == [i % 5 for i in range(n)]
    assert read_file(m.bucket() / f"old{n - 1:05d}") == b"x" * ((n - 1) % 7)
    assert len(os.listdir(m.bucket())) == 2 * n


def test_link(fs):
    def f(d):
        write_file(d / "orig", b"data")
        os.link(d / "orig", d / "hard")
        s1 = os.stat(d / "orig").st_nlink
        write_file(d / "hard", b"changed")
        a = read_file(d / "orig")
        os.unlink(d / "orig")
        s2 = os.stat(d / "hard").st_nlink
        os.mkdir(d / "dir")
        return s1, a, s2, errno_of(os.link, d / "hard", d / "hard"), \
            errno_of(os.link, d / "nope", d / "x"), errno_of(os.link, d / "dir", d / "dl")
    r = same(fs, f)
    assert r[:3] == (2, b"changed", 1)
    assert r[3] == errno.EEXIST and r[5] == errno.EPERM
    sb = os.stat(fs.backing() / "hard")
    assert sb.st_nlink == 1
    os.link(fs.bucket() / "hard", fs.bucket() / "h3")
    assert os.stat(fs.backing() / "h3").st_ino == sb.st_ino
    assert os.stat(fs.bucket() / "hard").st_nlink == 2


def test_symlink_readlink(fs):
    def f(d):
        write_file(d / "t", b"target")
        os.symlink("t", d / "rel")
        os.symlink("/nonexistent/abs", d / "abs")
        os.symlink("x" * 1000, d / "long")
        return (os.readlink(d / "rel"), os.readlink(d / "abs"),
                os.readlink(d / "long"), read_file(d / "rel"),
                stat.S_ISLNK(os.lstat(d / "rel").st_mode),
                errno_of(os.stat, d / "abs"),
                errno_of(os.readlink, d / "t"),
                errno_of(os.symlink, "t", d / "rel"),
                os.lstat(d / "long").st_size)
    r = same(fs, f)
    assert r[0] == "t" and r[5] == errno.ENOENT and r[6] == errno.EINVAL
    assert os.readlink(fs.backing() / "abs") == "/nonexistent/abs"


def test_mknod_mkfifo(fs):
    def f(d):
        os.mkfifo(d / "fifo", 0o640)
        os.mknod(d / "node", 0o600 | stat.S_IFREG)
        os.mknod(d / "sock", 0o600 | stat.S_IFSOCK)
        os.mknod(d / "chr", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        st = os.stat(d / "chr")
        return (stat.S_ISFIFO(os.stat(d / "fifo").st_mode),
                stat.S_IMODE(os.stat(d / "fifo").st_mode),
                stat.S_ISREG(os.stat(d / "node").st_mode),
                stat.S_ISSOCK(os.lstat(d / "sock").st_mode),
                stat.S_ISCHR(st.st_mode), st.st_rdev,
                errno_of(os.mkfifo, d / "fifo"))
    r = same(fs, f)
    assert r[0] and r[2] and r[3] and r[4] and r[6] == errno.EEXIST
    assert stat.S_ISFIFO(os.stat(fs.backing() / "fifo").st_mode)


def test_fifo_through_mount(fs):
    p = fs.bucket() / "pipe"
    os.mkfifo(p)
    child = subprocess.Popen([sys.executable, "-c",
                              f"open({str(p)!r}, 'wb').write(b'through the fifo')"])
    with open(p, "rb") as f:
        assert f.read() == b"through the fifo"
    assert child.wait(timeout=20) == 0


def test_unlink(fs):
    def f(d):
        write_file(d / "u", b"x")
        os.unlink(d / "u")
        os.mkdir(d / "dir")
        return (os.path.exists(d / "u"), errno_of(os.unlink, d / "u"),
                errno_of(os.unlink, d / "dir"), os.listdir(d))
    r = same(fs, f)
    assert r[1] == errno.ENOENT and r[2] == errno.EISDIR
    assert not os.path.exists(fs.backing() / "u")


def test_mkdir_rmdir(fs):
    def f(d):
        os.mkdir(d / "d", 0o750)
        m = stat.S_IMODE(os.stat(d / "d").st_mode)
        os.makedirs(d / "p" / "q" / "r")
        write_file(d / "p" / "q" / "r" / "f", b"")
        e1 = errno_of(os.rmdir, d / "p")
        e2 = errno_of(os.mkdir, d / "d")
        e3 = errno_of(os.rmdir, d / "nope")
        e4 = errno_of(os.rmdir, d / "p" / "q" / "r" / "f")
        os.rmdir(d / "d")
        nl = os.stat(d / "p").st_nlink
        return m, e1, e2, e3, e4, os.path.exists(d / "d"), nl
    r = same(fs, f)
    assert r[1:5] == (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT, errno.ENOTDIR)
    assert not os.path.exists(fs.backing() / "d")
    assert os.path.isdir(fs.backing() / "p" / "q" / "r")


def test_readdir_large_and_changes(fs):
    d = fs.bucket()
    n = 3000
    for i in range(n):
        write_file(d / f"f{i:05d}", b"")
    names = set(os.listdir(d))
    assert names == {f"f{i:05d}" for i in range(n)}
    assert set(os.listdir(fs.backing())) == names
    # readdir after creates and unlinks sees the change (cached dirs too)
    for i in range(0, n, 3):
        os.unlink(d / f"f{i:05d}")
    write_file(d / "zz-new", b"")
    os.mkdir(d / "zz-dir")
    names2 = set(os.listdir(d))
    want = {f"f{i:05d}" for i in range(n) if i % 3} | {"zz-new", "zz-dir"}
    assert names2 == want
    # d_type through scandir
    kinds = {e.name: (e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False))
             for e in os.scandir(d) if e.name.startswith("zz")}
    assert kinds == {"zz-new": (False, True), "zz-dir": (True, False)}
    # readdir of a directory that is modified while it is open
    with os.scandir(d) as it:
        first = next(it).name
        os.unlink(d / "zz-new")
        rest = [e.name for e in it]
    assert first not in rest
    assert "zz-new" not in set(os.listdir(d))


def test_readdir_entries_and_stat_match_backing(fs):
    b = fs.backing()
    for i in range(200):
        write_file(b / f"pre{i}", b"y" * i)
    os.mkdir(b / "sub")
    os.symlink("pre1", b / "sl")
    ents = {e.name: e.stat(follow_symlinks=False) for e in os.scandir(fs.bucket())}
    assert set(ents) == set(os.listdir(b))
    for name, st in ents.items():
        assert sig(st) == sig(os.lstat(b / name)), name


def test_statfs(fs):
    sm = os.statvfs(fs.bucket())
    sb = os.statvfs(fs.backing())
    assert sm.f_bsize == sb.f_bsize
    assert sm.f_blocks == sb.f_blocks
    assert abs(sm.f_bfree - sb.f_bfree) < sb.f_blocks // 100 + 1024
    assert sm.f_files == sb.f_files
    assert sm.f_namemax == sb.f_namemax
    assert os.statvfs(fs.mnt).f_blocks == sb.f_blocks


def test_access(fs):
    def f(d):
        write_file(d / "r", b"")
        os.chmod(d / "r", 0o644)
        write_file(d / "x", b"")
        os.chmod(d / "x", 0o755)
        return (os.access(d / "r", os.R_OK), os.access(d / "r", os.W_OK),
                os.access(d / "r", os.X_OK), os.access(d / "x", os.X_OK),
                os.access(d / "nope", os.F_OK), os.access(d, os.X_OK))
    same(fs, f)


def open_to_others(m):
    """Let another user reach the mount and the native tree (pytest's
    temporary directories are 0700)."""
    d = m.root
    while str(d) not in ("/", "/tmp", "/var/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o711)
        d = d.parent
    os.chmod(m.native, 0o755)


def as_nobody(code, arg):
    """Run python code as uid/gid 65534 with arg; its stdout."""
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                           "--clear-groups", sys.executable, "-c", code,
                           str(arg)],
                          capture_output=True, text=True, timeout=30).stdout


def test_access_as_other_user(mount_factory, passthrough_mode):
    """default_permissions: a non-root user is checked against the mode bits
    (needs allow_other so the user can enter the mount at all)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    m = mount_factory(opts=[f"passthrough={passthrough_mode}", "allow_other"])
    for base in (m.native / "alpha", m.bucket()):
        os.chmod(base, 0o755)
        write_file(base / "private", b"secret")
        os.chmod(base / "private", 0o600)
        write_file(base / "public", b"hello")
        os.chmod(base / "public", 0o644)
    open_to_others(m)
    code = ("import os,sys\n"
            "def e(f,*a):\n"
            "  try: f(*a); return 0\n"
            "  except OSError as x: return x.errno\n"
            "b=sys.argv[1]\n"
            "print(e(open,b+'/private','rb'), e(open,b+'/public','rb'),"
            " e(open,b+'/public','ab'), e(os.mkdir,b+'/d'),"
            " os.access(b+'/private',os.R_OK))\n")
    nat = as_nobody(code, m.native / "alpha")
    assert nat.split() == ["13", "0", "13", "13", "False"], nat
    assert as_nobody(code, m.bucket()) == nat


def acl_xattr(entries):
    """A system.posix_acl_access value: version 2, then (tag, perm, id)."""
    import struct
    return struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, uid) for tag, perm, uid in entries)


def test_posix_acl_enforced(mount_factory, passthrough_mode):
    """A POSIX ACL on a file grants or denies access through the mount as
    it does on the local file system (the kernel enforces ACLs: the mount
    has default_permissions and FUSE_POSIX_ACL)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    m = mount_factory(opts=[f"passthrough={passthrough_mode}", "allow_other"])
    # user 65534 may read "granted" (mode 0600 alone would deny), and is
    # denied "denied" (mode 0644 alone would allow)
    grant = acl_xattr([(0x01, 6, 0xFFFFFFFF), (0x02, 4, 65534),
                       (0x04, 0, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF),
                       (0x20, 0, 0xFFFFFFFF)])
    deny = acl_xattr([(0x01, 6, 0xFFFFFFFF), (0x02, 0, 65534),
                      (0x04, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF),
                      (0x20, 4, 0xFFFFFFFF)])
    for base in (m.native / "alpha", m.bucket()):
        os.chmod(base, 0o755)
        write_file(base / "granted", b"ok")
        write_file(base / "denied", b"no")
        try:
            os.setxattr(base / "granted", "system.posix_acl_access", grant)
            os.setxattr(base / "denied", "system.posix_acl_access", deny)
        except OSError as e:
            if e.errno == errno.EOPNOTSUPP:
                pytest.skip("no POSIX ACLs on this file system")
            raise
    open_to_others(m)
    code = ("import os,sys\n"
            "def e(p):\n"
            "  try: open(p,'rb').read(); return 0\n"
            "  except OSError as x: return x.errno\n"
            "b=sys.argv[1]\n"
            "print(e(b+'/granted'), e(b+'/denied'))\n")
    nat = as_nobody(code, m.native / "alpha")
    assert nat.split() == ["0", "13"], nat
    assert as_nobody(code, m.bucket()) == nat
    assert os.getxattr(m.bucket() / "granted", "system.posix_acl_access") \
        == os.getxattr(m.native / "alpha" / "granted",
                       "system.posix_acl_access")


def test_no_selinux_labels(fs):
    """security.selinux is not supported through the mount (EOPNOTSUPP),
    even where the backing file has one; other security.* names pass."""
    write_file(fs.bucket() / "s", b"x")
    for call in (lambda: os.getxattr(fs.bucket() / "s", "security.selinux"),
                 lambda: os.setxattr(fs.bucket() / "s", "security.selinux",
                                     b"system_u:object_r:x:s0"),
                 lambda: os.removexattr(fs.bucket() / "s",
                                        "security.selinux")):
        with pytest.raises(OSError) as ei:
            call()
        assert ei.value.errno == errno.EOPNOTSUPP
    os.setxattr(fs.backing() / "s", "security.selinux", b"label")
    assert "security.selinux" not in os.listxattr(fs.bucket() / "s")


# ------------------------------------------------------------------ xattrs

def test_xattrs(fs):
    def f(d):
        p = d / "x"
        write_file(p, b"")
        os.setxattr(p, "user.k1", b"v1")
        os.setxattr(p, "user.k2", b"")
        os.setxattr(p, "user.big", b"z" * 4000)
        g = (os.getxattr(p, "user.k1"), os.getxattr(p, "user.k2"),
             len(os.getxattr(p, "user.big")))
        lst = sorted(os.listxattr(p))
        e_nodata = errno_of(os.getxattr, p, "user.nope")
        e_create = errno_of(os.setxattr, p, "user.k1", b"x", os.XATTR_CREATE)
        e_replace = errno_of(os.setxattr, p, "user.new", b"x", os.XATTR_REPLACE)
        os.setxattr(p, "user.k1", b"v1b", os.XATTR_REPLACE)
        os.setxattr(p, "user.k3", b"v3", os.XATTR_CREATE)
        os.removexattr(p, "user.k2")
        e_rm = errno_of(os.removexattr, p, "user.k2")
        e_ns = errno_of(os.setxattr, p, "bogus.k", b"x")
        os.mkdir(d / "dir")
        os.setxattr(d / "dir", "user.onDir", b"d")
        return g, lst, e_nodata, e_create, e_replace, os.getxattr(p, "user.k1"), \
            sorted(os.listxattr(p)), e_rm, e_ns, os.getxattr(d / "dir", "user.onDir"), \
            errno_of(os.getxattr, d / "missing", "user.k1")
    r = same(fs, f)
    assert r[2:5] == (errno.ENODATA, errno.EEXIST, errno.ENODATA)
    assert os.getxattr(fs.backing() / "x", "user.k1") == b"v1b"
    assert os.getxattr(fs.backing() / "dir", "user.onDir") == b"d"


def _xattr_calls():
    libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p,
                              ctypes.c_size_t]
    libc.getxattr.restype = ctypes.c_ssize_t
    libc.listxattr.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
    libc.listxattr.restype = ctypes.c_ssize_t


def test_xattr_size_probe_and_erange(fs):
    """getxattr/listxattr with a too-small buffer -> ERANGE (via ctypes)."""
    _xattr_calls()
    p = fs.bucket() / "x"
    write_file(p, b"")
    os.setxattr(p, "user.k", b"0123456789")
    for path in (p, fs.backing() / "x"):
        bp = os.fsencode(str(path))
        assert libc.getxattr(bp, b"user.k", None, 0) == 10
        buf = ctypes.create_string_buffer(4)
        assert libc.getxattr(bp, b"user.k", buf, 4) == -1
        assert ctypes.get_errno() == errno.ERANGE
        assert libc.listxattr(bp, buf, 2) == -1
        assert ctypes.get_errno() == errno.ERANGE
    assert libc.listxattr(os.fsencode(str(p)), None, 0) == len(b"user.k\0")


def test_listxattr_probe_then_exact_buffer(fs):
    """What cp -a, rsync -X and tar --xattrs do: listxattr(NULL, 0) for the
    size, then listxattr with exactly that size must succeed, also once the
    daemon keeps its own xattrs on the backing file (eTag cache)."""
    _xattr_calls()
    p = fs.bucket() / "probe"
    write_file(p, b"some content")
    os.setxattr(p, "user.color", b"blue")
    read_file(p)                                   # GET: may cache an eTag
    try:
        wait_for(lambda: len(os.listxattr(fs.backing() / "probe")) > 1,
                 timeout=3, what="daemon xattr on the backing file")
    except TimeoutError:
        pass
    bp = os.fsencode(str(p))
    n = libc.listxattr(bp, None, 0)
    assert n > 0
    buf = ctypes.create_string_buffer(n)
    got = libc.listxattr(bp, buf, n)
    err = ctypes.get_errno() if got < 0 else 0
    assert got == n, f"listxattr(buf, {n}) after a size probe of {n}: {got} ({errname(err)})"
    assert buf.raw[:got].split(b"\0")[:-1] == [b"user.color"]
    assert os.listxattr(p) == ["user.color"]


def test_xattr_symlink_nofollow(fs):
    def f(d):
        write_file(d / "t", b"")
        os.symlink("t", d / "l")
        os.setxattr(d / "l", "user.via", b"1")          # follows to t
        return (os.getxattr(d / "t", "user.via"),
                errno_of(os.setxattr, d / "l", "user.k", b"1", follow_symlinks=False),
                sorted(os.listxattr(d / "l", follow_symlinks=False)))
    same(fs, f)


# ------------------------------------------------------------------- locks

LOCKER = r"""
import fcntl, os, sys, struct
p, kind, start, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fd = os.open(p, os.O_RDWR)
try:
    if kind == "posix":
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, length, start)
    elif kind == "getlk":
        l = struct.pack("hhqqi", fcntl.F_WRLCK, 0, start, length, 0)
        r = fcntl.fcntl(fd, fcntl.F_GETLK, l)
        t, w, s, ln, pid = struct.unpack("hhqqi", r)
        print("getlk", t == fcntl.F_UNLCK, s, ln, pid)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("locked")
except OSError as e:
    print("errno", e.errno)
"""


def locker(p, kind, start=0, length=0):
    return subprocess.run([sys.executable, "-c", LOCKER, str(p), kind, str(start),
                           str(length)], capture_output=True, text=True,
                          timeout=30).stdout.strip()


def test_posix_locks_between_processes(fs):
    p = fs.bucket() / "lk"
    write_file(p, b"x" * 100)
    fd = os.open(p, os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)         # bytes 0..9
    assert locker(p, "posix", 0, 5) in (f"errno {errno.EAGAIN}", f"errno {errno.EACCES}")
    assert locker(p, "posix", 20, 5) == "locked"  # other range is free
    g = locker(p, "getlk", 0, 5).split()
    assert g[:4] == ["getlk", "False", "0", "10"] and int(g[4]) == os.getpid()
    fcntl.lockf(fd, fcntl.LOCK_UN, 10, 0)
    assert locker(p, "posix", 0, 5) == "locked"
    os.close(fd)


def test_flock_between_processes(fs):
    p = fs.bucket() / "fl"
    write_file(p, b"")
    fd = os.open(p, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    assert locker(p, "flock") == f"errno {errno.EWOULDBLOCK}"
    fcntl.flock(fd, fcntl.LOCK_UN)
    assert locker(p, "flock") == "locked"
    fcntl.flock(fd, fcntl.LOCK_SH)
    os.close(fd)  # closing the only fd releases it
    assert locker(p, "flock") == "locked"


def test_lock_released_on_close_posix(fs):
    p = fs.bucket() / "lk2"
    write_file(p, b"")
    fd = os.open(p, os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    fd2 = os.open(p, os.O_RDONLY)
    os.close(fd2)           # POSIX: closing any fd drops the process's locks
    assert locker(p, "posix") == "locked"
    os.close(fd)


# --------------------------------------------------------- misc semantics

def test_fsync_dir_and_sync(fs):
    d = fs.bucket()
    write_file(d / "f", b"x")
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
    os.sync()
    assert read_file(fs.backing() / "f") == b"x"


def test_changes_in_backing_before_mount_visible(fs):
    """Files that exist in SRC are served; buckets list the backing tree."""
    assert sorted(os.listdir(fs.mnt / "beta")) == sorted(os.listdir(fs.backing("beta")))
    write_file(fs.bucket("beta") / "through", b"1")
    assert os.listdir(fs.backing("beta")) == ["through"]


def test_restart_keeps_data(fs):
    write_file(fs.bucket() / "persist", b"still here")
    os.makedirs(fs.bucket() / "a" / "b")
    fs.restart()
    assert read_file(fs.bucket() / "persist") == b"still here"
    assert os.path.isdir(fs.bucket() / "a" / "b")


def test_o_direct(fs):
    def f(d):
        p = d / "direct"
        write_file(p, b"\0" * 8192)
        fd = os.open(p, os.O_RDWR | os.O_DIRECT)
        try:
            buf = mmap.mmap(-1, 4096)          # page-aligned buffer
            buf.write(b"D" * 4096)
            n = os.pwrite(fd, buf, 4096)
            rb = mmap.mmap(-1, 4096)
            m = os.preadv(fd, [rb], 4096)
            return n, m, bytes(rb[:4]), read_file(p)[4096:] == b"D" * 4096
        finally:
            os.close(fd)
    assert same(fs, f) == (4096, 4096, b"DDDD", True)


def test_many_open_handles(fs):
    fds = [os.open(fs.bucket() / f"h{i}", os.O_CREAT | os.O_RDWR, 0o644) for i in range(200)]
    for i, fd in enumerate(fds):
        os.write(fd, b"%d" % i)
    for fd in fds:
        os.close(fd)
    assert read_file(fs.backing() / "h199") == b"199"


def test_concurrent_writers(fs):
    procs = []
    for k in range(4):
        code = ("import os,sys\n"
                "d=sys.argv[1]\n"
                "for i in range(200):\n"
                "  p=os.path.join(d,'c%s-%d'%(sys.argv[2],i))\n"
                "  open(p,'wb').write(b'x'*i)\n"
                "  assert open(p,'rb').read()==b'x'*i\n"
                "  if i%2: os.unlink(p)\n")
        procs.append(subprocess.Popen([sys.executable, "-c", code, str(fs.bucket()), str(k)]))
    for p in procs:
        assert p.wait(timeout=120) == 0
    assert len(os.listdir(fs.bucket())) == 400
    assert sorted(os.listdir(fs.bucket())) == sorted(os.listdir(fs.backing()))


CHURN = r"""
import errno, os, random, sys, time
d, seed, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rnd = random.Random(seed)
names = [os.path.join(d, sub, "n%d" % i) for sub in ("x", "y") for i in range(6)]
ok = (errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR)
held, end, ops = [], time.monotonic() + secs, 0


def call(what, fn, *args):
    # Which call failed, and on what: `with open()` would blame its line
    # for the open, the buffered write and the close alike.
    try:
        return fn(*args)
    except OSError as e:
        if e.errno in ok:
            raise
        sys.exit("%s %s: %s" % (what, os.path.relpath(args[0], d)
                                if isinstance(args[0], str) else args[0], e))


while time.monotonic() < end:
    a, b = rnd.choice(names), rnd.choice(names)
    op = rnd.randrange(9)
    try:
        if op == 0:
            f = call("open(wb)", open, a, "wb")
            f.write(b"z" * rnd.randrange(64))
            call("close(wb)", lambda p: f.close(), a)
        elif op == 1:
            call("rename", os.rename, a, b)
        elif op == 2:
            call("unlink", os.unlink, a)
        elif op == 3:
            call("link", os.link, a, b)
        elif op == 4:
            call("stat", os.stat, a)
        elif op == 5:
            f = call("open(rb)", open, a, "rb")
            call("read", lambda p: f.read(), a)
            call("close(rb)", lambda p: f.close(), a)
        elif op == 6:
            call("setxattr", os.setxattr, a, "user.c", b"v")
            call("listxattr", os.listxattr, a)
        elif op == 7 and len(held) < 8:
            held.append(call("open(rdwr)", os.open, a, os.O_RDWR))
        elif op == 8 and held:
            fd = held.pop(rnd.randrange(len(held)))
            call("fstat", os.fstat, fd)
            call("fchmod", os.fchmod, fd, 0o644)
            call("pwrite", os.pwrite, fd, b"w", 0)
            call("close", os.close, fd)
    except OSError:
        pass
    ops += 1
for fd in held:
    call("fstat", os.fstat, fd)
    call("close", os.close, fd)
print(ops)
"""


def test_concurrent_namespace_churn(fs):
    """Processes renaming, linking, unlinking, opening and stat-ing the same
    few names at once: no operation fails with anything but the errno a
    local file system gives for the race it lost, and the daemon (under the
    sanitizers in the test build) survives.  Exercises the parent held by
    fs_inode_at across renames and the descriptors given to unlinked open
    files."""
    for sub in ("x", "y"):
        os.mkdir(fs.bucket() / sub)
    procs = [subprocess.Popen([sys.executable, "-c", CHURN, str(fs.bucket()),
                               str(k), "4"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for k in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err + fs.log_text()[-3000:]
        assert int(out) > 100
    for sub in ("x", "y"):
        assert sorted(os.listdir(fs.bucket() / sub)) == \
            sorted(os.listdir(fs.backing() / sub))
