"""`.select` files through a real mount (DESIGN.md §6).

A .select file stores a query, with optional `-- source:` / `-- input:` /
`-- output:` / `-- scan-range:` header lines.  Opened for reading it yields
the result, computed at open into a temporary file; opened for writing it
is the query text.  A failing query makes open fail (EINVAL bad query,
ENOENT missing source, EIO otherwise) with `Code: message` in the
user.select.error xattr; user.select.query returns the stored query; a
result is cached until the query or the source changes, through the mount
or behind it in SRC.
"""
import bz2
import errno
import gzip
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time

import pytest

from conftest import TIMEOUT, errno_of, passthrough_unavailable

PEOPLE = b"name,age,city\nann,40,Paris\nbob,20,Lisbon\ncid,35,Paris\n"
NDJSON = (b'{"id":1,"name":"alice","age":41}\n'
          b'{"id":2,"name":"bob","age":20}\n'
          b'{"id":3,"name":"alina","age":70}\n')
ERR_XATTR = "user.select.error"
QRY_XATTR = "user.select.query"


def put(path, data):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def get(path):
    with open(path, "rb") as f:
        return f.read()


def sel_error(path):
    try:
        return os.getxattr(str(path), ERR_XATTR).decode()
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise


def open_errno(path):
    return errno_of(get, path)


# ------------------------------------------------------------------ results

def test_csv_result_uses_the_header(fs):
    """Inferred CSV input takes its first line as the header (USE)."""
    b = fs.bucket()
    put(b / "people.csv", PEOPLE)
    put(b / "people.csv.select",
        "SELECT s.name FROM S3Object s WHERE CAST(s.age AS INT) > 30")
    assert get(b / "people.csv.select") == b"ann\ncid\n"


def test_fstat_after_open_shows_result_size(mount_factory, tmp_path_factory):
    """DESIGN.md §6: computed at open, so `stat` after open shows the size.
    Not with passthrough off: the writeback cache that mode uses makes the
    kernel keep its own idea of a regular file's size (documented)."""
    reason = passthrough_unavailable(tmp_path_factory)
    if reason:
        pytest.skip(reason)
    b = mount_factory(opts=["passthrough=on"]).bucket()
    put(b / "people.csv", PEOPLE)
    put(b / "people.csv.select", "SELECT s.name FROM S3Object s")
    assert os.stat(b / "people.csv.select").st_size == len(
        "SELECT s.name FROM S3Object s")
    fd = os.open(b / "people.csv.select", os.O_RDONLY)
    try:
        assert os.fstat(fd).st_size == len(b"ann\nbob\ncid\n")
        assert os.read(fd, 100) == b"ann\nbob\ncid\n"
    finally:
        os.close(fd)


@pytest.mark.parametrize("name,data,query,want", [
    ("p.tsv", PEOPLE.replace(b",", b"\t"),
     "SELECT s.city FROM S3Object s WHERE s.name = 'bob'", b"Lisbon\n"),
    ("d.ndjson", NDJSON,
     "SELECT s.name FROM S3Object s WHERE s.age > 40", b"alice\nalina\n"),
    ("d.jsonl", NDJSON, "SELECT COUNT(*) FROM S3Object", b"3\n"),
    ("d.json", b'{"id":1,\n "v":"a"}\n{"id":2, "v":"b"}',
     "SELECT s.v FROM S3Object s WHERE s.id = 2", b"b\n"),
    ("d.ndjson.gz", gzip.compress(NDJSON),
     "SELECT s.id FROM S3Object s WHERE s.name LIKE 'ali%'", b"1\n3\n"),
    ("d.ndjson.bz2", bz2.compress(NDJSON),
     "SELECT SUM(s.age) FROM S3Object s", b"131\n"),
    ("p.csv.gz", gzip.compress(PEOPLE),
     "SELECT COUNT(*) FROM S3Object s WHERE s.city = 'Paris'", b"2\n"),
], ids=lambda v: v if isinstance(v, str) and "." in v and " " not in v
   else "")
def test_inferred_formats(fs_off, name, data, query, want):
    b = fs_off.bucket()
    put(b / name, data)
    put(b / (name + ".select"), query)
    assert get(b / (name + ".select")) == want


def test_header_lines(fs_off):
    b = fs_off.bucket()
    (b / "data").mkdir()
    put(b / "data" / "raw.bin", PEOPLE)
    put(b / "data" / "q.select",
        "-- source: data/raw.bin\n"
        '-- input: {"CSV":{"FileHeaderInfo":"USE"}}\n'
        '-- output: {"JSON":{}}\n'
        "SELECT s.name, s.city FROM S3Object s\n"
        "WHERE s.city = 'Paris'\n")
    got = [json.loads(ln) for ln in get(b / "data" / "q.select").splitlines()]
    assert got == [{"name": "ann", "city": "Paris"},
                   {"name": "cid", "city": "Paris"}]
    # An explicit input keeps S3's default FileHeaderInfo NONE.
    put(b / "n.select", '-- source: data/raw.bin\n-- input: {"CSV":{}}\n'
                        "SELECT COUNT(*) FROM S3Object")
    assert get(b / "n.select") == b"4\n"


def test_scan_range_header(fs_off):
    b = fs_off.bucket()
    put(b / "r.csv", b"A,B\nC,D\nE,F\n")
    put(b / "one.select", '-- source: r.csv\n-- input: {"CSV":{}}\n'
                          "-- scan-range: Start=1,End=4\n"
                          "SELECT * FROM S3Object")
    assert get(b / "one.select") == b"C,D\n"
    put(b / "tail.select", '-- source: r.csv\n-- input: {"CSV":{}}\n'
                           "-- scan-range: End=4\nSELECT * FROM S3Object")
    assert get(b / "tail.select") == b"E,F\n"


def test_query_xattr_and_write_is_text(fs_off):
    b = fs_off.bucket()
    put(b / "people.csv", PEOPLE)
    text = "-- output: {\"JSON\":{}}\nSELECT COUNT(*) AS n FROM S3Object\n"
    put(b / "people.csv.select", text)
    # What was written is stored as is, behind the mount too.
    assert (fs_off.backing() / "people.csv.select").read_text() == text
    assert os.getxattr(b / "people.csv.select", QRY_XATTR).decode() == text
    assert get(b / "people.csv.select") == b'{"n":3}\n'
    # Opened for writing (append), it is still the query text.
    with open(b / "people.csv.select", "a") as f:
        f.write("LIMIT 0\n")
    assert os.getxattr(b / "people.csv.select", QRY_XATTR).decode() == \
        text + "LIMIT 0\n"
    assert get(b / "people.csv.select") == b""
    assert sel_error(b / "people.csv.select") is None


def test_rename_makes_and_unmakes_a_select_file(fs_off):
    """What a file is follows its name: renamed to *.select it yields the
    result, renamed away it is plain text again, moved into a directory
    under its .select name it is a query there."""
    b = fs_off.bucket()
    query = "-- source: people.csv\nSELECT s.city FROM S3Object s LIMIT 1"
    put(b / "people.csv", PEOPLE)
    put(b / "draft.txt", query)
    os.rename(b / "draft.txt", b / "q.select")
    assert get(b / "q.select") == b"Paris\n"
    os.rename(b / "q.select", b / "q.txt")
    assert get(b / "q.txt") == query.encode()
    os.mkdir(b / "sub")
    os.rename(b / "q.txt", b / "sub" / "again.select")
    # The source is a key of the bucket, wherever the query file is.
    assert get(b / "sub" / "again.select") == b"Paris\n"


# ------------------------------------------------------------- the source

def test_source_symlink_stays_in_the_bucket(fs_off, tmp_path):
    """The daemon opens the source, so it is resolved beneath the bucket:
    a symlink to another key works, one out of the bucket (absolute, or
    up through ..) is NoSuchKey, and a FIFO does not block the open."""
    b = fs_off.bucket()
    put(b / "people.csv", PEOPLE)
    secret = tmp_path / "secret.csv"
    secret.write_text("top,secret\n")
    os.symlink("people.csv", b / "alias.csv")
    put(b / "alias.csv.select", "SELECT s.name FROM S3Object s LIMIT 1")
    assert get(b / "alias.csv.select") == b"ann\n"
    os.symlink(str(secret), b / "abs.csv")
    os.symlink("../beta/x.csv", b / "up.csv")
    os.mkfifo(fs_off.backing() / "pipe.csv")
    for name in ("abs.csv", "up.csv", "pipe.csv"):
        put(b / (name + ".select"), "SELECT * FROM S3Object")
        assert open_errno(b / (name + ".select")) == errno.ENOENT, name
        assert sel_error(b / (name + ".select")).startswith("NoSuchKey:")


def test_source_the_caller_may_not_read(mount_factory):
    """With allow_other, a caller reads a query's result only if it may
    read the source itself (the daemon opens the source, the kernel
    checks only the .select file), cached result or not."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    m = mount_factory(opts=["passthrough=off", "allow_other"])
    d = m.root
    while str(d) not in ("/", "/tmp", "/var/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o711)
        d = d.parent
    b = m.bucket()
    os.chmod(b, 0o755)
    put(b / "priv.csv", PEOPLE)
    os.chmod(b / "priv.csv", 0o600)
    put(b / "q.select", "-- source: priv.csv\nSELECT s.name FROM S3Object s")
    os.chmod(b / "q.select", 0o644)
    assert get(b / "q.select") == b"ann\nbob\ncid\n"    # root: cached now

    def as_nobody():
        code = ("import sys\n"
                "try: sys.stdout.write(open(sys.argv[1]).read())\n"
                "except OSError as e: print('errno', e.errno)\n")
        return subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-c", code, str(b / "q.select")],
            capture_output=True, text=True, timeout=30).stdout
    assert as_nobody() == f"errno {errno.EACCES}\n"
    os.chmod(b / "priv.csv", 0o644)
    assert as_nobody() == "ann\nbob\ncid\n"

    # A POSIX ACL decides as the kernel would: a named user's entry
    # grants read within the mask, and the mask can take it away.
    def acl(*entries):  # (tag, perm, id), as system.posix_acl_access
        return struct.pack("<I", 2) + b"".join(
            struct.pack("<HHI", *e) for e in entries)
    USER_OBJ, USER, GROUP_OBJ, MASK, OTHER = 1, 2, 4, 0x10, 0x20
    back = m.src / "alpha" / "priv.csv"
    os.chmod(back, 0o600)
    try:
        os.setxattr(back, "system.posix_acl_access",
                    acl((USER_OBJ, 6, 0xffffffff), (USER, 4, 65534),
                        (GROUP_OBJ, 0, 0xffffffff), (MASK, 4, 0xffffffff),
                        (OTHER, 0, 0xffffffff)))
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.ENOTSUP):
            return  # SRC's file system keeps no ACLs
        raise
    assert as_nobody() == "ann\nbob\ncid\n"
    os.setxattr(back, "system.posix_acl_access",
                acl((USER_OBJ, 6, 0xffffffff), (USER, 4, 65534),
                    (GROUP_OBJ, 0, 0xffffffff), (MASK, 0, 0xffffffff),
                    (OTHER, 4, 0xffffffff)))
    assert as_nobody() == f"errno {errno.EACCES}\n"


def test_a_signal_cancels_a_running_query(fs_off):
    """Ctrl-C on a reader of a slow query: the kernel interrupts the open,
    the run stops, the reader goes at once (it could not even be killed
    while the query ran), no error is recorded and no partial result is
    kept (the next open runs the query again)."""
    b = fs_off.bucket()
    # 16 GiB of CSV in 22 MB: one gzip member of 1 MiB, many times over
    # (concatenated members are one stream).
    member = gzip.compress((("x," + "a" * 4000 + "\n") * 256).encode())
    with open(b / "big.csv.gz", "wb") as f:
        f.write(member * 16384)
    put(b / "slow.select", "-- source: big.csv.gz\nSELECT COUNT(*) FROM "
        "S3Object s WHERE s._2 LIKE '%b%'")

    def interrupted_reader():
        r = subprocess.Popen(["cat", str(b / "slow.select")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1)
        assert r.poll() is None, "the query finished before the signal"
        t0 = time.monotonic()
        r.send_signal(signal.SIGINT)
        r.wait(TIMEOUT)
        r.stdout.close()
        r.stderr.close()
        return time.monotonic() - t0, r.returncode
    took, rc = interrupted_reader()
    assert rc != 0 and took < 3, (rc, took)
    assert sel_error(b / "slow.select") is None
    took, rc = interrupted_reader()  # ran again: nothing was cached
    assert rc != 0 and took < 3, (rc, took)
    put(b / "quick.select", "-- source: big.csv.gz\nSELECT s._1 FROM "
        "S3Object s LIMIT 1")
    assert get(b / "quick.select") == b"x\n"


# ------------------------------------------------------------------- errors

def test_bad_query_is_einval(fs_off):
    b = fs_off.bucket()
    put(b / "people.csv", PEOPLE)
    put(b / "people.csv.select", "SELECT s.name FROM S3Object s WHERE (")
    assert open_errno(b / "people.csv.select") == errno.EINVAL
    msg = sel_error(b / "people.csv.select")
    assert msg and re.match(r"^ParseExpectedExpression: \S", msg), msg
    # Binding errors are query errors too.
    put(b / "people.csv.select", "SELECT s.nope FROM S3Object s")
    assert open_errno(b / "people.csv.select") == errno.EINVAL
    assert sel_error(b / "people.csv.select").startswith(
        "EvaluatorBindingDoesNotExist: ")
    # Fixing the query clears the error.
    put(b / "people.csv.select", "SELECT s.age FROM S3Object s LIMIT 1")
    assert get(b / "people.csv.select") == b"40\n"
    assert sel_error(b / "people.csv.select") is None


def test_missing_source_is_enoent(fs_off):
    b = fs_off.bucket()
    put(b / "gone.csv.select", "SELECT * FROM S3Object")
    assert open_errno(b / "gone.csv.select") == errno.ENOENT
    assert sel_error(b / "gone.csv.select").startswith("NoSuchKey: ")
    put(b / "x.select", "-- source: nope/none.csv\nSELECT * FROM S3Object")
    assert open_errno(b / "x.select") == errno.ENOENT


def test_data_errors_are_eio(fs_off):
    b = fs_off.bucket()
    put(b / "n.csv", b"v\n1\nx\n")
    put(b / "n.csv.select", "SELECT CAST(s.v AS INT) FROM S3Object s")
    assert open_errno(b / "n.csv.select") == errno.EIO
    assert sel_error(b / "n.csv.select").startswith("CastFailed: ")
    put(b / "bad.ndjson", b'{"a":1}\n{"a":\n')
    put(b / "bad.ndjson.select", "SELECT COUNT(*) FROM S3Object")
    assert open_errno(b / "bad.ndjson.select") == errno.EIO
    assert sel_error(b / "bad.ndjson.select").startswith("JSONParsingError: ")
    data = gzip.compress(PEOPLE * 500)
    put(b / "cut.csv.gz", data[:len(data) // 2])
    put(b / "cut.csv.gz.select", "SELECT COUNT(*) FROM S3Object")
    assert open_errno(b / "cut.csv.gz.select") == errno.EIO
    assert sel_error(b / "cut.csv.gz.select").startswith("TruncatedInput: ")


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "..", "select", "parquet")


def fixture(name):
    return get(os.path.join(FIXTURES, name))


def test_parquet_source(fs_off):
    """A .parquet source is read as Parquet (inferred from the extension),
    typed: the integer compares as a number, the DATE is a timestamp."""
    b = fs_off.bucket()
    put(b / "t.parquet", fixture("basic-snappy.parquet"))
    put(b / "t.parquet.select",
        "SELECT s.name, EXTRACT(DAY FROM s.d) FROM S3Object s "
        "WHERE s.id BETWEEN 8 AND 10")
    assert get(b / "t.parquet.select") == b"dave8,\neve9,8\n,9\n"
    put(b / "q.select", "-- source: t.parquet\n-- output: {\"JSON\":{}}\n"
        "SELECT s.nums FROM S3Object s WHERE s.id = 1")
    put(b / "t.parquet", fixture("nested.parquet"))
    assert get(b / "q.select") == b'{"nums":[1,2,null,10]}\n'


def test_parquet_damaged_is_eio(fs_off):
    b = fs_off.bucket()
    data = bytearray(fixture("basic-zstd.parquet"))
    data[40:44] = b"\0\0\0\0"
    put(b / "z.parquet", bytes(data))
    put(b / "z.parquet.select", "SELECT * FROM S3Object")
    assert open_errno(b / "z.parquet.select") == errno.EIO
    assert sel_error(b / "z.parquet.select").startswith(
        "ParquetParsingError: column 'id', row group 0: ")


def test_unknown_format_is_einval(fs_off):
    b = fs_off.bucket()
    put(b / "blob", b"x\n")
    put(b / "blob.select", "SELECT * FROM S3Object")
    assert open_errno(b / "blob.select") == errno.EINVAL
    assert sel_error(b / "blob.select").startswith("InvalidDataSource: ")


# ------------------------------------------------------------------- caching

def test_cache_follows_source_and_query(fs_off):
    b = fs_off.bucket()
    q = b / "people.csv.select"
    put(b / "people.csv", PEOPLE)
    put(q, "SELECT COUNT(*) FROM S3Object")
    assert get(q) == b"3\n"
    assert get(q) == b"3\n"  # cached
    # Source rewritten through the mount.
    put(b / "people.csv", PEOPLE + b"dan,50,Rome\n")
    assert get(q) == b"4\n"
    # Source rewritten behind the mount.
    put(fs_off.backing() / "people.csv", PEOPLE)
    assert get(q) == b"3\n"
    # Query rewritten through the mount and behind it.
    put(q, "SELECT COUNT(*) FROM S3Object s WHERE s.city = 'Paris'")
    assert get(q) == b"2\n"
    put(fs_off.backing() / "people.csv.select",
        "SELECT s.name FROM S3Object s WHERE s.city = 'Lisbon'")
    assert get(q) == b"bob\n"
    # Source removed and restored.
    os.unlink(b / "people.csv")
    assert open_errno(q) == errno.ENOENT
    put(b / "people.csv", b"name,age,city\nzed,1,Oslo\n")
    put(q, "SELECT s.name FROM S3Object s")
    assert get(q) == b"zed\n"


def test_cache_same_size_rewrite_behind(fs_off):
    """A rewrite behind the mount that keeps the size still invalidates."""
    b = fs_off.bucket()
    q = b / "v.csv.select"
    put(b / "v.csv", b"h\naaa\n")
    put(q, "SELECT * FROM S3Object")
    assert get(q) == b"aaa\n"
    src = fs_off.backing() / "v.csv"
    st = src.stat()
    put(src, b"h\nbbb\n")
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    assert get(q) == b"bbb\n"


def test_cache_same_size_rewrites_within_the_clock_tick(coarse_mount):
    """Where file times are stamped at the clock tick, a source or a query
    rewritten through the mount with as many bytes within the tick keeps
    size and mtime: the result must still be the new one (the inode
    table's write clock, fs_inode.h "Changes")."""
    b = coarse_mount.bucket()
    q = b / "t.csv.select"
    for i in range(20):
        put(b / "t.csv", b"h\n%03d\n%03d\n" % (2 * i, 2 * i + 1))
        limit = 1 + i % 2
        put(q, "SELECT * FROM S3Object LIMIT %d" % limit)
        want = b"".join(b"%03d\n" % (2 * i + k) for k in range(limit))
        assert get(q) == want, i


# --------------------------------------------------------------- big source

def daemon_rss_kib(m):
    with open(f"/proc/{m.proc.pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def test_large_source_bounded_memory(mount_factory, monkeypatch):
    """A 50 MB source: the result goes to a temporary file, not memory.
    ASan's quarantine of freed blocks is kept small so that RSS measures
    the daemon, not the sanitizer."""
    monkeypatch.setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:"
                       "halt_on_error=1:quarantine_size_mb=4")
    fs_off = mount_factory(opts=["passthrough=off"])
    rows = 950_000
    src = fs_off.backing() / "big.csv"
    with open(src, "w") as f:
        f.write("id,name,city\n")
        for i in range(rows):
            f.write(f"{i},name{i % 1000},city{i % 7}xxxxxxxxxxxxxxxxxxxxxxx"
                    "xxxxxxxxxxxx\n")
    assert src.stat().st_size > 50_000_000
    b = fs_off.bucket()
    rss0 = daemon_rss_kib(fs_off)
    put(b / "big.csv.select", "SELECT COUNT(*) FROM S3Object s "
                              "WHERE s.city = 'city3xxxxxxxxxxxxxxxxxxxxxxx"
                              "xxxxxxxxxxxx'")
    assert get(b / "big.csv.select") == f"{len(range(3, rows, 7))}\n".encode()
    rss1 = daemon_rss_kib(fs_off)
    # A result as big as the source is streamed from the temporary file.
    put(b / "all.select", "-- source: big.csv\nSELECT * FROM S3Object")
    n = 0
    with open(b / "all.select", "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            n += len(chunk)
    assert n == src.stat().st_size - len("id,name,city\n")
    rss2 = daemon_rss_kib(fs_off)
    grew = max(rss1, rss2) - rss0
    assert grew < 32 * 1024, \
        f"daemon RSS grew by {grew} KiB ({rss0} -> {rss1} -> {rss2})"
