"""DESIGN.md §3, row by row: every filesystem operation produces exactly the
expected S3 event records, field by field, on the live stream
(MNT/.bucketfs/events, opened before the operation) and in the embedded
log (`bucketfs events`), which must hold the very same records.

Every test subscribes every event family to the local log with global
rules at the mount root, opens the stream, runs the operation, then
touches a sentinel (chmod of beta/sentinel, an ObjectAcl:Put): the records
before the sentinel are what the operation produced.  s3:ObjectAccessed:Head
records are left out except where Head is the subject (the kernel decides
when a GETATTR reaches the daemon)."""
import ctypes
import ctypes.util
import hashlib
import os
import re
import subprocess
import time
from urllib.parse import quote_plus

import pytest

from conftest import (EventStream, bucketfs_events, ev_brief, last_seq,
                      seq_of, subscribe_all, wait_for)

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint]
AT_FDCWD = -100
RENAME_EXCHANGE = 2
AT_STATX_FORCE_SYNC = 0x2000
STATX_BASIC_STATS = 0x7FF
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SEQ_RE = re.compile(r"^[0-9A-F]{16}$")
MY_COMM = open("/proc/self/comm").read().strip()


def renameat2(a, b, flags):
    if libc.renameat2(AT_FDCWD, os.fsencode(str(a)), AT_FDCWD,
                      os.fsencode(str(b)), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(a))


def statx_force(p):
    """statx(AT_STATX_FORCE_SYNC): a GETATTR that bypasses the attr cache."""
    buf = ctypes.create_string_buffer(256)
    if libc.statx(AT_FDCWD, os.fsencode(str(p)), AT_STATX_FORCE_SYNC,
                  STATX_BASIC_STATS, buf) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(p))


def write_file(p, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(p, flags, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def aws_key(k):
    return quote_plus(k, safe="/~")


class Ev:
    """One mount with every event subscribed, a stream and a sentinel."""

    def __init__(self, m):
        self.m = m
        subscribe_all(m)
        self.sentinel = m.bucket("beta") / "sentinel"
        write_file(self.sentinel, b"s")
        self.mode = 0o644
        self.seq0 = last_seq(m)
        self.coarse = False     # SRC stamps file times at the clock tick
        self.stream = EventStream(m)
        self.t0 = time.time()

    def ops(self, heads=False):
        """Records up to the sentinel, without the sentinel (and without
        Head unless asked).  Also checks the log holds the same records."""
        self.mode ^= 0o020
        os.chmod(self.sentinel, self.mode)
        self.stream.until(lambda r: ev_brief(r) == ("s3:ObjectAcl:Put", "beta",
                                                    "sentinel"),
                          what="the sentinel")
        got = [r for r in self.stream.take()
               if ev_brief(r) != ("s3:ObjectAcl:Put", "beta", "sentinel")
               and (heads or r.get("eventName") != "s3:ObjectAccessed:Head")]
        self.check_log(got)
        return got

    def check_log(self, live):
        """The embedded log after seq0 holds the same records (byte for
        byte, once parsed) as the stream, in the same order."""
        names = {r["eventName"] for r in live}

        def log():
            # records wait (invisible) for their eTag: poll until the
            # sentinel, which follows them, is visible
            recs = bucketfs_events(self.m, "--since", self.seq0)
            if not any(r["s3"]["object"]["key"] == "sentinel" for r in recs):
                return None
            # wrapped: an empty list of records is an answer, not "wait"
            return ([r for r in recs if r["s3"]["object"]["key"] != "sentinel"
                     and ("s3:ObjectAccessed:Head" in names or
                          r["eventName"] != "s3:ObjectAccessed:Head")],)
        logged = wait_for(log, what="the sentinel in the log")[0]
        assert [ev_brief(r) for r in logged] == [ev_brief(r) for r in live]
        assert logged == live
        self.seq0 = max([self.seq0] + [seq_of(r) for r in logged])

    def close(self):
        self.stream.close()


@pytest.fixture(params=["fine", "coarse"])
def ev(request, mount_factory, passthrough_mode):
    """Ev on SRC with fine-grained file times (ext4 or tmpfs here) and on
    one stamped at the clock tick (coarse_mount: what Debian 12's kernel
    does everywhere), once per passthrough mode."""
    m = (mount_factory(opts=[f"passthrough={passthrough_mode}"])
         if request.param == "fine"
         else request.getfixturevalue("coarse_mount"))
    e = Ev(m)
    e.coarse = request.param == "coarse"
    yield e
    e.close()


@pytest.fixture
def ev_off(fs_off):
    e = Ev(fs_off)
    yield e
    e.close()


def check_record(r, name, bucket, key, *, size=None, content=None, uid=0,
                 comm=MY_COMM, pid=None, copy_source=None, meta=None,
                 ctype=None, t0=None, config_id="all"):
    """Every field of one record (DESIGN.md §3, specs/events.md §a)."""
    fam = name.split(":")[1]
    removed = fam == "ObjectRemoved"
    is_bucket = fam in ("BucketCreated", "BucketRemoved")
    assert r["eventVersion"] == ("2.3" if fam in ("ObjectAcl", "ObjectTagging")
                                 else "2.1"), r
    assert r["eventSource"] == "bucketfs:s3"
    assert r["awsRegion"] == "us-east-1"
    assert TIME_RE.match(r["eventTime"]), r["eventTime"]
    t = time.mktime(time.strptime(r["eventTime"][:19], "%Y-%m-%dT%H:%M:%S")) \
        - time.timezone
    if t0 is not None:
        assert t0 - 2 <= t <= time.time() + 2, (r["eventTime"], t0)
    assert r["eventName"] == name
    assert r["userIdentity"] == {"principalId": f"uid:{uid}"}
    rp = dict(r["requestParameters"])
    assert rp.pop("x-amz-copy-source", None) == copy_source, r
    assert rp == {"sourceIPAddress": "", "principalId": f"uid:{uid}",
                  "region": "us-east-1"}
    assert set(r["responseElements"]) == {"x-amz-request-id", "x-amz-id-2"}
    s3 = r["s3"]
    assert s3["s3SchemaVersion"] == "1.0"
    assert s3["configurationId"] == config_id
    assert s3["bucket"] == {"name": bucket,
                            "ownerIdentity": {"principalId": f"uid:{uid}"},
                            "arn": f"arn:aws:s3:::{bucket}"}
    o = dict(s3["object"])
    assert o.pop("key") == ("" if is_bucket else aws_key(key))
    seq = o.pop("sequencer")
    assert SEQ_RE.match(seq) and int(seq, 16) > 0, seq
    if removed or is_bucket:
        assert o == {}, f"{name} must carry no size/eTag/contentType: {o}"
    else:
        assert o.pop("size") == size, r
        etag = o.pop("eTag", None)
        if etag is not None and content is not None:
            assert etag == hashlib.md5(content).hexdigest()
        assert o.pop("contentType") == (ctype or "application/octet-stream")
        assert o.pop("userMetadata", None) == meta
        assert o == {}, f"unexpected object fields {o}"
    src = r["source"]
    assert src["host"] == "localhost" and src["port"] == ""
    ua = re.fullmatch(r"(.*) \(pid (\d+)\)", src["userAgent"])
    assert ua, src
    if comm is not None:
        assert ua.group(1) == comm, src
    if pid is not None:
        assert int(ua.group(2)) == pid, src
    assert set(r) == {"eventVersion", "eventSource", "awsRegion", "eventTime",
                      "eventName", "userIdentity", "requestParameters",
                      "responseElements", "s3", "source"}


def names(recs):
    return [ev_brief(r) for r in recs]


# ---- create / write / close -------------------------------------------


def test_create_write_close_is_one_put(ev):
    p = ev.m.bucket() / "hello.txt"
    write_file(p, b"hello")
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "hello.txt")]
    check_record(got[0], "s3:ObjectCreated:Put", "alpha", "hello.txt", size=5,
                 content=b"hello", ctype="text/plain", pid=os.getpid(),
                 t0=ev.t0)


def test_shell_redirect_is_one_put_with_content(ev):
    """`echo hi > f` closes a dup of the new descriptor before writing: one
    Put, of the written content, named after the shell."""
    p = ev.m.bucket() / "sh.txt"
    subprocess.run(["sh", "-c", f"echo hi > '{p}'"], check=True)
    got = ev.stream.until(lambda r: r.get("eventName") ==
                          "s3:ObjectCreated:Put")
    check_record(got, "s3:ObjectCreated:Put", "alpha", "sh.txt", size=3,
                 content=b"hi\n", ctype="text/plain", comm="sh")
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "sh.txt")]


def test_touch_new_file_is_one_empty_put(ev):
    p = ev.m.bucket() / "empty"
    subprocess.run(["touch", str(p)], check=True)
    # the Put of a still-empty new file comes at RELEASE, after close()
    ev.stream.until(lambda r: r.get("eventName") == "s3:ObjectCreated:Put")
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "empty")]
    check_record(got[0], "s3:ObjectCreated:Put", "alpha", "empty", size=0,
                 content=b"", comm=None)


def test_deferred_put_names_the_creator_after_it_exited(ev):
    """The Put of a file still empty at its creator's close comes at
    RELEASE, which may follow the creator's exit (here a child of the
    creator holds the descriptor a little longer).  The record must still
    name the creator: command and pid, as at any other Put."""
    p = ev.m.bucket() / "orphan"
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
            if os.fork() == 0:          # holds fd past the creator's exit
                time.sleep(0.5)
                os._exit(0)
            os.close(fd)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    r = ev.stream.until(lambda r: r.get("eventName") == "s3:ObjectCreated:Put")
    check_record(r, "s3:ObjectCreated:Put", "alpha", "orphan", size=0,
                 content=b"", comm=MY_COMM, pid=pid)


def test_open_for_write_without_change_is_silent(ev):
    p = ev.m.bucket() / "same"
    write_file(p, b"abc")
    ev.ops()
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND):
        os.close(os.open(p, flags))
    assert names(ev.ops()) == []


def test_overwrite_with_trunc_is_one_put(ev):
    p = ev.m.bucket() / "over.csv"
    write_file(p, b"one,two\n")
    ev.ops()
    write_file(p, b"x")
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "over.csv")]
    check_record(got[0], "s3:ObjectCreated:Put", "alpha", "over.csv", size=1,
                 content=b"x", ctype="text/csv")


def test_put_once_per_change_across_dup_closes(ev):
    p = ev.m.bucket() / "dup"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"12345")
    fd2 = os.dup(fd)
    os.close(fd2)               # flush: the change
    os.close(fd)                # flush again: nothing new
    got = ev.ops()
    # ...that a passthrough daemon can tell only where file times are
    # fine: at the clock tick a second flush within the tick of the
    # change is taken as one (README, "Telling a change")
    n = len(got) if ev.coarse and ev.m.passthrough == "on" else 1
    assert n in (1, 2)
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "dup")] * n
    assert [r["s3"]["object"]["size"] for r in got] == [5] * n


def test_second_change_on_same_handle_is_second_put(ev):
    p = ev.m.bucket() / "twice"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"a")
    fd2 = os.dup(fd)
    os.close(fd2)
    os.write(fd, b"bc")
    os.close(fd)
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "twice")] * 2
    assert [r["s3"]["object"]["size"] for r in got] == [1, 3]


def test_handle_open_during_another_handles_put_adds_none(ev):
    """Two descriptors of one file, each its own open: the one that wrote
    tells the change at its close; the other, closed after it without
    writing, must not tell that change again (it used to: it compared
    with the file as it was at its own open)."""
    p = ev.m.bucket() / "two"
    write_file(p, b"old")
    ev.ops()
    time.sleep(0.05)            # past a coarse clock's tick of that Put
    quiet = os.open(p, os.O_WRONLY)
    busy = os.open(p, os.O_WRONLY)
    os.write(busy, b"new!")
    os.close(busy)
    os.close(quiet)
    got = ev.ops()
    # at the clock tick, the Put is told within the tick of its write, and
    # a write after it that the daemon does not see (passthrough) could
    # keep its mtime: the quiet handle cannot tell (README, "Telling a
    # change")
    n = len(got) if ev.coarse and ev.m.passthrough == "on" else 1
    assert n in (1, 2)
    assert names(got) == [PUT + ("two",)] * n
    assert [r["s3"]["object"]["size"] for r in got] == [4] * n


def test_each_handle_tells_its_own_change(ev):
    """...but a descriptor that wrote after the other's Put tells its own
    change, even where the size stays and the clock is coarse."""
    p = ev.m.bucket() / "turns"
    write_file(p, b"0000")
    ev.ops()
    a = os.open(p, os.O_WRONLY)
    b = os.open(p, os.O_WRONLY)
    os.write(a, b"1111")
    os.close(a)
    os.pwrite(b, b"2222", 0)
    os.close(b)
    got = ev.ops()
    assert names(got) == [PUT + ("turns",)] * 2
    # (the first may go without an eTag: its content changed before its
    # hashing, README)
    assert got[1]["s3"]["object"]["eTag"] == hashlib.md5(b"2222").hexdigest()


def test_truncate_by_path_is_not_told_again_by_an_open_handle(ev):
    p = ev.m.bucket() / "cut"
    write_file(p, b"0123456789")
    ev.ops()
    time.sleep(0.05)
    fd = os.open(p, os.O_WRONLY)
    os.truncate(p, 3)
    os.close(fd)
    got = ev.ops()
    n = len(got) if ev.coarse and ev.m.passthrough == "on" else 1
    assert n in (1, 2)
    assert names(got) == [PUT + ("cut",)] * n
    assert got[0]["s3"]["object"]["size"] == 3


def test_ftruncate_is_put_at_close(ev):
    p = ev.m.bucket() / "ft"
    write_file(p, b"0123456789")
    ev.ops()
    fd = os.open(p, os.O_WRONLY)
    os.ftruncate(fd, 4)
    os.close(fd)
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "ft")]
    check_record(got[0], "s3:ObjectCreated:Put", "alpha", "ft", size=4,
                 content=b"0123")


def test_truncate_by_path_is_put_at_once(ev):
    p = ev.m.bucket() / "tr.bin"
    write_file(p, b"0123456789")
    ev.ops()
    os.truncate(p, 3)
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "tr.bin")]
    check_record(got[0], "s3:ObjectCreated:Put", "alpha", "tr.bin", size=3,
                 content=b"012", pid=os.getpid())


# ---- rename, link, symlink, unlink ------------------------------------


def test_rename_file_is_copy_then_delete(ev):
    b = ev.m.bucket()
    (b / "d").mkdir()
    write_file(b / "old.txt", b"data")
    ev.ops()
    os.rename(b / "old.txt", b / "d" / "new.txt")
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Copy", "alpha", "d/new.txt"),
                          ("s3:ObjectRemoved:Delete", "alpha", "old.txt")]
    check_record(got[0], "s3:ObjectCreated:Copy", "alpha", "d/new.txt",
                 size=4, content=b"data", ctype="text/plain",
                 copy_source="alpha/old.txt", pid=os.getpid())
    check_record(got[1], "s3:ObjectRemoved:Delete", "alpha", "old.txt",
                 pid=os.getpid())
    assert seq_of(got[0]) < seq_of(got[1])


def test_rename_over_existing_and_across_buckets(ev):
    a, b = ev.m.bucket("alpha"), ev.m.bucket("beta")
    write_file(a / "src", b"new")
    write_file(b / "dst", b"old content")
    ev.ops()
    os.rename(a / "src", b / "dst")
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Copy", "beta", "dst"),
                          ("s3:ObjectRemoved:Delete", "alpha", "src")]
    check_record(got[0], "s3:ObjectCreated:Copy", "beta", "dst", size=3,
                 content=b"new", copy_source="alpha/src")


def test_rename_directory_is_a_pair_per_object(ev):
    b = ev.m.bucket()
    (b / "d" / "sub").mkdir(parents=True)
    (b / "d" / "emptydir").mkdir()
    files = {"x": b"1", "sub/y": b"22", "sub/z z": b"333"}
    for k, v in files.items():
        write_file(b / "d" / k, v)
    ev.ops()
    os.rename(b / "d", b / "e")
    got = ev.ops()
    assert len(got) == 2 * len(files), names(got)
    pairs = {}
    for c, d in zip(got[0::2], got[1::2]):
        assert c["eventName"] == "s3:ObjectCreated:Copy", names(got)
        assert d["eventName"] == "s3:ObjectRemoved:Delete", names(got)
        ck, dk = ev_brief(c)[2], ev_brief(d)[2]
        pairs[ck] = dk
        rel = [k for k in files if aws_key("e/" + k) == ck][0]
        check_record(c, "s3:ObjectCreated:Copy", "alpha", "e/" + rel,
                     size=len(files[rel]), content=files[rel],
                     copy_source="alpha/d/" + rel)
        check_record(d, "s3:ObjectRemoved:Delete", "alpha", "d/" + rel)
    assert pairs == {aws_key("e/" + k): aws_key("d/" + k) for k in files}


def test_rename_exchange_is_two_copies(ev):
    b = ev.m.bucket()
    write_file(b / "p", b"P")
    write_file(b / "q", b"QQ")
    ev.ops()
    renameat2(b / "p", b / "q", RENAME_EXCHANGE)
    got = ev.ops()
    assert sorted(names(got)) == [("s3:ObjectCreated:Copy", "alpha", "p"),
                                  ("s3:ObjectCreated:Copy", "alpha", "q")]
    by = {ev_brief(r)[2]: r for r in got}
    check_record(by["p"], "s3:ObjectCreated:Copy", "alpha", "p", size=2,
                 content=b"QQ", copy_source="alpha/q")
    check_record(by["q"], "s3:ObjectCreated:Copy", "alpha", "q", size=1,
                 content=b"P", copy_source="alpha/p")


def test_rename_exchange_of_directories_deletes_what_is_gone(ev):
    """Exchanging two directories: every object now under each is a Copy
    from the other side, and a key that no longer names an object (only
    one side had it) is a Delete; the keys both had stay."""
    b = ev.m.bucket()
    for d, f in (("x1", "only1"), ("x1", "common"), ("x2", "only2"),
                 ("x2", "common")):
        os.makedirs(b / d, exist_ok=True)
        write_file(b / d / f, (d + f).encode())
    ev.ops()
    renameat2(b / "x1", b / "x2", RENAME_EXCHANGE)
    got = names(ev.ops())
    assert sorted(got) == sorted([
        ("s3:ObjectCreated:Copy", "alpha", "x2/only1"),
        ("s3:ObjectCreated:Copy", "alpha", "x2/common"),
        ("s3:ObjectCreated:Copy", "alpha", "x1/only2"),
        ("s3:ObjectCreated:Copy", "alpha", "x1/common"),
        ("s3:ObjectRemoved:Delete", "alpha", "x1/only1"),
        ("s3:ObjectRemoved:Delete", "alpha", "x2/only2")])
    # each Delete follows its Copy
    assert got.index(("s3:ObjectRemoved:Delete", "alpha", "x1/only1")) > \
        got.index(("s3:ObjectCreated:Copy", "alpha", "x2/only1"))
    # a file and a directory: the file's key becomes a prefix, the
    # directory's keys go
    write_file(b / "ec", b"E")
    ev.ops()
    renameat2(b / "ec", b / "x1", RENAME_EXCHANGE)
    assert sorted(names(ev.ops())) == sorted([
        ("s3:ObjectCreated:Copy", "alpha", "x1"),
        ("s3:ObjectRemoved:Delete", "alpha", "ec"),
        ("s3:ObjectCreated:Copy", "alpha", "ec/only2"),
        ("s3:ObjectCreated:Copy", "alpha", "ec/common"),
        ("s3:ObjectRemoved:Delete", "alpha", "x1/only2"),
        ("s3:ObjectRemoved:Delete", "alpha", "x1/common")])


def test_no_put_for_a_file_whose_name_is_gone(ev):
    """Written through a descriptor after its name went (unlinked, or
    replaced by a rename), a file is no object: no Put at its close to
    bring back what the Delete removed."""
    b = ev.m.bucket()
    fd = os.open(b / "tmpx", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"scratch")
    os.unlink(b / "tmpx")
    os.write(fd, b"more")
    os.close(fd)
    assert names(ev.ops()) == [("s3:ObjectRemoved:Delete", "alpha", "tmpx")]
    fd = os.open(b / "victim", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"old")
    write_file(b / "repl", b"replacement")
    os.rename(b / "repl", b / "victim")
    os.write(fd, b"more")
    os.close(fd)
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "repl"),
                          ("s3:ObjectCreated:Copy", "alpha", "victim"),
                          ("s3:ObjectRemoved:Delete", "alpha", "repl")]
    check_record(got[1], "s3:ObjectCreated:Copy", "alpha", "victim",
                 size=11, content=b"replacement", copy_source="alpha/repl")


def test_objects_deep_below_have_events(ev):
    """A key 300 directories deep (600 bytes, a valid S3 key) has its
    events like any other."""
    b = ev.m.bucket()
    d = b.joinpath(*(["d"] * 300))
    os.makedirs(d)
    ev.ops()
    write_file(d / "deep.txt", b"deep")
    os.unlink(d / "deep.txt")
    key = "d/" * 300 + "deep.txt"
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", key),
                          ("s3:ObjectRemoved:Delete", "alpha", key)]
    check_record(got[0], "s3:ObjectCreated:Put", "alpha", key, size=4,
                 content=b"deep", ctype="text/plain")


def test_read_only_open_with_trunc_is_a_put_not_a_get(ev):
    """open(O_RDONLY|O_TRUNC) empties the file: a Put of the empty object
    (with its eTag), no GET."""
    b = ev.m.bucket()
    write_file(b / "rt", b"hello\n")
    ev.ops()
    os.close(os.open(b / "rt", os.O_RDONLY | os.O_TRUNC))
    # the Put of a file still empty at close() comes at RELEASE, after it
    ev.stream.until(lambda r: ev_brief(r) == ("s3:ObjectCreated:Put",
                                              "alpha", "rt"))
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "rt")]
    check_record(got[0], "s3:ObjectCreated:Put", "alpha", "rt", size=0,
                 content=b"")
    assert got[0]["s3"]["object"]["eTag"] == hashlib.md5(b"").hexdigest()


def test_link_is_copy(ev):
    b = ev.m.bucket()
    write_file(b / "orig.json", b"{}")
    ev.ops()
    os.link(b / "orig.json", b / "hard.json")
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Copy", "alpha", "hard.json")]
    check_record(got[0], "s3:ObjectCreated:Copy", "alpha", "hard.json",
                 size=2, content=b"{}", ctype="application/json",
                 copy_source="alpha/orig.json", pid=os.getpid())


def test_change_of_a_hard_linked_file_is_a_put_of_each_name(ev):
    """Two names of one file, linked through the mount, are two objects: a
    change through either is a Put of both, whichever name the daemon saw
    last (the kernel names none at a close).  A name that went is not told
    any more."""
    b = ev.m.bucket()
    write_file(b / "one", b"1")
    os.link(b / "one", b / "two")
    ev.ops()
    for name, data in (("one", b"22"), ("two", b"333")):
        write_file(b / name, data, flags=os.O_WRONLY | os.O_TRUNC)
        got = ev.ops()
        assert sorted(names(got)) == [PUT + ("one",), PUT + ("two",)], name
        for r in got:
            assert r["s3"]["object"]["size"] == len(data)
            assert r["s3"]["object"]["eTag"] == hashlib.md5(data).hexdigest()
    # a name renamed through the mount is followed
    os.rename(b / "two", b / "three")
    ev.ops()
    write_file(b / "one", b"4444", flags=os.O_WRONLY | os.O_TRUNC)
    assert sorted(names(ev.ops())) == [PUT + ("one",), PUT + ("three",)]
    os.unlink(b / "three")
    ev.ops()
    write_file(b / "one", b"55555", flags=os.O_WRONLY | os.O_TRUNC)
    assert names(ev.ops()) == [PUT + ("one",)]


def test_symlink_is_put(ev):
    b = ev.m.bucket()
    os.symlink("target/of/link", b / "sl")
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "sl")]
    check_record(got[0], "s3:ObjectCreated:Put", "alpha", "sl",
                 size=len("target/of/link"), pid=os.getpid())


def test_unlink_is_delete_without_details(ev):
    b = ev.m.bucket()
    write_file(b / "gone.txt", b"bye")
    os.setxattr(b / "gone.txt", "user.s3.meta.k", b"v")
    ev.ops()
    os.unlink(b / "gone.txt")
    got = ev.ops()
    assert names(got) == [("s3:ObjectRemoved:Delete", "alpha", "gone.txt")]
    check_record(got[0], "s3:ObjectRemoved:Delete", "alpha", "gone.txt",
                 pid=os.getpid())


# ---- buckets -----------------------------------------------------------


def test_mkdir_rmdir_at_root_are_bucket_events(ev):
    m = ev.m
    os.mkdir(m.mnt / "new-bucket")
    os.mkdir(m.mnt / "new-bucket" / "prefix")   # a prefix: no event
    os.rmdir(m.mnt / "new-bucket" / "prefix")
    os.rmdir(m.mnt / "new-bucket")
    got = ev.ops()
    assert names(got) == [("s3:BucketCreated:*", "new-bucket", ""),
                          ("s3:BucketRemoved:*", "new-bucket", "")]
    check_record(got[0], "s3:BucketCreated:*", "new-bucket", "",
                 pid=os.getpid())
    check_record(got[1], "s3:BucketRemoved:*", "new-bucket", "",
                 pid=os.getpid())


def test_buckets_made_and_ended_by_renames(ev):
    """A directory renamed to the root is a new bucket, announced before
    the objects copied into it; a bucket renamed into another bucket is
    removed after its objects left; a bucket renamed at the root is both,
    in that order."""
    m = ev.m
    os.mkdir(m.mnt / "gamma")
    write_file(m.mnt / "gamma" / "f", b"F")
    ev.ops()
    os.rename(m.mnt / "gamma", m.bucket() / "wasgamma")
    assert names(ev.ops()) == [
        ("s3:ObjectCreated:Copy", "alpha", "wasgamma/f"),
        ("s3:ObjectRemoved:Delete", "gamma", "f"),
        ("s3:BucketRemoved:*", "gamma", "")]
    os.rename(m.bucket() / "wasgamma", m.mnt / "delta")
    assert names(ev.ops()) == [
        ("s3:BucketCreated:*", "delta", ""),
        ("s3:ObjectCreated:Copy", "delta", "f"),
        ("s3:ObjectRemoved:Delete", "alpha", "wasgamma/f")]
    os.rename(m.mnt / "delta", m.mnt / "epsilon")
    assert names(ev.ops()) == [
        ("s3:BucketCreated:*", "epsilon", ""),
        ("s3:ObjectCreated:Copy", "epsilon", "f"),
        ("s3:ObjectRemoved:Delete", "delta", "f"),
        ("s3:BucketRemoved:*", "delta", "")]


def test_bucket_events_by_default_without_rules(fs_off):
    """With no rules anywhere, bucket create/remove reach the log."""
    m = fs_off
    os.mkdir(m.mnt / "made")
    os.rmdir(m.mnt / "made")
    recs = bucketfs_events(m)
    assert names(recs) == [("s3:BucketCreated:*", "made", ""),
                           ("s3:BucketRemoved:*", "made", "")]
    check_record(recs[0], "s3:BucketCreated:*", "made", "",
                 config_id="bucketfs-default")


# ---- access, tagging, acl ------------------------------------------------


def test_open_rdonly_is_get(ev):
    b = ev.m.bucket()
    write_file(b / "r.md", b"# hi")
    ev.ops()
    with open(b / "r.md", "rb") as f:
        assert f.read() == b"# hi"
    with open(b / "r.md", "rb"):
        pass
    got = ev.ops()
    assert names(got) == [("s3:ObjectAccessed:Get", "alpha", "r.md")] * 2
    for r in got:
        check_record(r, "s3:ObjectAccessed:Get", "alpha", "r.md", size=4,
                     content=b"# hi", ctype="text/markdown", pid=os.getpid())


@pytest.mark.parametrize("size", [4, 64 * 1024])
def test_etag_follows_same_size_rewrites(ev, size):
    """eTags are remembered (in memory; from 16 KiB also in an xattr)
    by size and mtime: rewriting a file in place with other bytes of the
    same size, right after it was hashed, must give the new content's MD5
    on the Put and on the GETs that follow."""
    p = ev.m.bucket() / "same.bin"
    contents = [bytes([c]) * size for c in b"abc"]
    write_file(p, contents[0])
    ev.ops()
    for old, new in zip(contents, contents[1:]):
        p.read_bytes()
        write_file(p, new, flags=os.O_WRONLY)   # no O_TRUNC: same size
        assert p.read_bytes() == new
        got = ev.ops()
        assert names(got) == [("s3:ObjectAccessed:Get", "alpha", "same.bin"),
                              ("s3:ObjectCreated:Put", "alpha", "same.bin"),
                              ("s3:ObjectAccessed:Get", "alpha", "same.bin")]
        want = [old, new, new]
        for r, content in zip(got, want):
            assert r["s3"]["object"]["eTag"] == hashlib.md5(content).hexdigest()


GET = ("s3:ObjectAccessed:Get", "alpha")
PUT = ("s3:ObjectCreated:Put", "alpha")


@pytest.mark.parametrize("size", [4, 64 * 1024])
def test_etag_of_a_rewrite_whose_mtime_is_put_back(ev, size):
    """cp -p over a file of the same size: other bytes written, then the
    old mtime set again before close(), so size and mtime are those the
    remembered eTag (in memory; from 16 KiB also in the xattr) was hashed
    for.  The Put is new content, hashed again; the GET after it, before
    or after that hashing, does not get the old content's MD5."""
    p = ev.m.bucket() / "back.bin"
    old, new = b"a" * size, b"b" * size
    write_file(p, old)
    ev.ops()
    st = os.stat(p)
    p.read_bytes()
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, new)
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(fd)
    assert os.stat(p).st_mtime_ns == st.st_mtime_ns
    assert p.read_bytes() == new
    got = ev.ops()
    assert names(got) == [GET + ("back.bin",), PUT + ("back.bin",),
                          GET + ("back.bin",)]
    for r, content in zip(got, [old, new, new]):
        assert r["s3"]["object"]["eTag"] == hashlib.md5(content).hexdigest()


@pytest.fixture
def coarse_ev(coarse_mount):
    e = Ev(coarse_mount)
    yield e
    e.close()


def test_etag_of_a_rewrite_within_the_clock_tick(coarse_ev):
    """Rewritten with as many bytes within the clock tick of the write it
    replaces, a file keeps size, mtime and ctime: a GET right after must
    not get the eTag remembered for the old content, hashed in between and
    remembered under that very stat.  The rewrite's open for writing
    through the mount is what tells the memory (fs_inode.h).  Each GET's
    record is awaited (it is hashed when the memory has nothing), then the
    hasher let go idle, so that the next old content is hashed at once."""
    ev = coarse_ev
    p = ev.m.bucket() / "tick.bin"
    b = ev.m.backing() / "tick.bin"
    seen, wrong, exposed = set(), [], 0

    def is_new_get(r):
        return (r.get("eventName") == "s3:ObjectAccessed:Get" and
                r["s3"]["object"]["sequencer"] not in seen)

    for i in range(100):
        old, new = b"%04d" % (2 * i), b"%04d" % (2 * i + 1)
        hashed = metric(ev.m, "bucketfs_etag_hashed_total")
        write_file(p, old)
        st0 = os.stat(b)
        time.sleep(0.0005)
        old_hashed = metric(ev.m, "bucketfs_etag_hashed_total") > hashed
        write_file(p, new)
        assert p.read_bytes() == new
        st1 = os.stat(b)
        # old's eTag was remembered under the stat new has now
        exposed += old_hashed and ((st0.st_mtime_ns, st0.st_ctime_ns) ==
                                   (st1.st_mtime_ns, st1.st_ctime_ns))
        r = ev.stream.until(is_new_get, what="the GET")
        seen.add(r["s3"]["object"]["sequencer"])
        if r["s3"]["object"].get("eTag") != hashlib.md5(new).hexdigest():
            wrong.append((i, r["s3"]["object"].get("eTag")))
        time.sleep(0.01)        # past the hasher's linger: idle again
    ev.ops()
    assert wrong == []
    if exposed == 0:
        pytest.skip("no old content was hashed within its rewrite's tick")


def test_rewrite_in_place_within_the_clock_tick_is_a_put(coarse_ev):
    """Rewritten in place (no O_TRUNC) with as many bytes within the
    clock tick of the write before, a file keeps size and mtime: its
    close() must still record a Put, with the new content's eTag.  The
    daemon sees the write without passthrough; with it, it takes an mtime
    that recent as telling nothing (fs_mount.c, probe_mtime_window)."""
    ev = coarse_ev
    p = ev.m.bucket() / "inplace.bin"
    for i in range(20):
        old, new = b"%04d" % (2 * i), b"%04d" % (2 * i + 1)
        write_file(p, old)
        write_file(p, new, flags=os.O_WRONLY)
        got = ev.ops()
        assert names(got) == [PUT + ("inplace.bin",)] * 2, i
        assert (got[1]["s3"]["object"]["eTag"] ==
                hashlib.md5(new).hexdigest()), i


def test_etag_of_a_put_rewritten_before_its_hashing(coarse_ev):
    """A Put is about the content its close() left; rewritten (same size,
    same clock tick: size and mtime cannot tell) before the hasher read
    it, the file holds other content, and the Put goes out without an
    eTag rather than with that content's MD5 (README).  The second Put has
    its own."""
    ev = coarse_ev
    p = ev.m.bucket() / "again.bin"
    for i in range(20):
        old, new = b"%04d" % (2 * i), b"%04d" % (2 * i + 1)
        write_file(p, old)
        write_file(p, new)
        got = ev.ops()
        assert names(got) == [PUT + ("again.bin",)] * 2, i
        first = got[0]["s3"]["object"].get("eTag")
        assert first in (hashlib.md5(old).hexdigest(), None), i
        assert (got[1]["s3"]["object"]["eTag"] ==
                hashlib.md5(new).hexdigest()), i


def test_etag_of_a_burst_of_sizes(ev):
    """A burst of creates is hashed in batches, small files eight at a
    time side by side (cmn_md5_many), larger ones streamed: every Put of
    a burst of 150 files of mixed sizes (each MD5 padding case, batch
    and lane boundaries, over the whole-read limit) has its content's
    MD5."""
    b = ev.m.bucket()
    sizes = [0, 1, 55, 56, 63, 64, 65, 119, 120, 4096, 4097, 65536, 65537,
             300000]
    want = {}
    (b / "burst").mkdir()
    for i in range(150):
        data = os.urandom(sizes[i % len(sizes)] + (i // len(sizes)) % 3)
        name = f"burst/{i:03d}.bin"
        write_file(b / name, data)
        want[name] = hashlib.md5(data).hexdigest()
    got = [r for r in ev.ops() if r["eventName"] == "s3:ObjectCreated:Put"]
    etags = {r["s3"]["object"]["key"]: r["s3"]["object"]["eTag"]
             for r in got}
    assert etags == want


def test_etag_of_an_object_removed_before_its_turn(ev):
    """With passthrough the hasher reads a duplicate of the descriptor the
    Put came with (the daemon's own, which serves none of the user's I/O),
    not the name: an object removed while the hasher is busy with a big
    file still gets the eTag of what it held.  Served through the daemon,
    the name is all there is, and the record may get no eTag."""
    b = ev.m.bucket()
    write_file(b / "big.bin", os.urandom(1 << 20) * 48)  # keeps it busy
    contents = {"a.txt": b"first", "c.txt": b"second"}
    for name, data in contents.items():     # c changed after a
        write_file(b / name, data)
    for name in contents:                   # both inodes forgotten
        os.unlink(b / name)
    got = ev.ops()
    for name, data in contents.items():
        put = [r for r in got
               if ev_brief(r) == ("s3:ObjectCreated:Put", "alpha", name)]
        assert len(put) == 1
        etag = put[0]["s3"]["object"].get("eTag")
        if ev.m.passthrough == "off":
            assert etag in (None, hashlib.md5(data).hexdigest())
        else:
            assert etag == hashlib.md5(data).hexdigest(), name


def metric(m, name):
    """The value of a metric without labels in MNT/.bucketfs/metrics."""
    for line in (m.mnt / ".bucketfs" / "metrics").read_text().splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError(f"{name} not in the metrics")


def test_metrics_count_events_by_name(fs_off):
    """emitted: events some rule subscribes to; matched: those a rule's
    filter let through (the default rules: every Put and Delete)."""
    b = fs_off.bucket()
    for k in ("m1", "m2"):
        (b / k).write_bytes(b"x")
    os.unlink(b / "m1")
    text = (fs_off.mnt / ".bucketfs" / "metrics").read_text()
    for kind, name, n in (("emitted", "s3:ObjectCreated:Put", 2),
                          ("matched", "s3:ObjectCreated:Put", 2),
                          ("emitted", "s3:ObjectRemoved:Delete", 1),
                          ("matched", "s3:ObjectRemoved:Delete", 1)):
        line = f'bucketfs_events_{kind}_total{{event="{name}"}} {n}'
        assert line in text.splitlines(), (line, text)

def test_hasher_holds_a_bounded_number_of_files(ev):
    """A queued eTag job holds the file it will read open (passthrough),
    but no more than 256 jobs at a time do: behind a big (sparse) file,
    the rest of a long burst waits by name.  The queue is in .bucketfs/metrics, and
    every Put gets its eTag."""
    b = ev.m.bucket()
    (b / "q").mkdir()
    want = {}
    for attempt in range(3):
        # 512 MiB of hole: about a second of MD5, no disk
        with open(b / f"sparse{attempt}.bin", "wb") as f:
            f.truncate(1 << 29)
        for i in range(400):
            data = b"%d-%d" % (attempt, i)
            write_file(b / f"q/{attempt}-{i:03d}", data)
            want[f"q/{attempt}-{i:03d}"] = hashlib.md5(data).hexdigest()
        queued = metric(ev.m, "bucketfs_etag_queue")
        fds = metric(ev.m, "bucketfs_etag_queue_fds")
        if ev.m.passthrough == "off":
            assert fds == 0  # the daemon's descriptors serve the I/O
            break
        assert fds <= 256
        if queued >= 300:
            assert fds == 256
            break
    else:
        pytest.fail("the hasher never fell 300 jobs behind")
    got = {r["s3"]["object"]["key"]: r["s3"]["object"]["eTag"]
           for r in ev.ops() if r["eventName"] == "s3:ObjectCreated:Put"
           and r["s3"]["object"]["key"].startswith("q/")}
    assert got == want
    assert metric(ev.m, "bucketfs_etag_queue") == 0
    assert metric(ev.m, "bucketfs_etag_queue_fds") == 0
    assert metric(ev.m, "bucketfs_etag_hashed_total") >= len(want)


def test_hashing_leaves_atime_alone(ev):
    """Hashing is no access by the user: times set right after close()
    stay as set once the hasher has read the file (through the daemon's
    descriptor or the name, O_NOATIME either way)."""
    b = ev.m.bucket()
    write_file(b / "big.bin", os.urandom(1 << 20) * 48)  # keeps it busy
    write_file(b / "t.txt", b"times")
    os.utime(b / "t.txt", ns=(1_000_000_000, 2_000_000_000))
    put = [r for r in ev.ops()
           if ev_brief(r) == ("s3:ObjectCreated:Put", "alpha", "t.txt")]
    assert put[0]["s3"]["object"]["eTag"] == hashlib.md5(b"times").hexdigest()
    st = os.stat(ev.m.backing() / "t.txt")
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_000, 2_000_000_000)


def test_etag_is_never_of_another_object(ev):
    """The eTag is hashed after the event, from the name (with
    passthrough, from the event's own descriptor): when the name holds
    another object by then (here a rename over it while the hasher is
    busy with a big file), the record gets no eTag, or the MD5 of what the
    object held, never the MD5 of the other file."""
    b = ev.m.bucket()
    write_file(b / "big.bin", os.urandom(1 << 20) * 48)  # keeps it busy
    write_file(b / "a.txt", b"first")
    write_file(b / "c.txt", b"other")
    os.rename(b / "c.txt", b / "a.txt")
    got = ev.ops()
    put = [r for r in got if ev_brief(r) == ("s3:ObjectCreated:Put", "alpha",
                                             "a.txt")]
    assert len(put) == 1
    etag = put[0]["s3"]["object"].get("eTag")
    assert etag != hashlib.md5(b"other").hexdigest()
    assert etag in (None, hashlib.md5(b"first").hexdigest())
    copy = [r for r in got if ev_brief(r) == ("s3:ObjectCreated:Copy",
                                              "alpha", "a.txt")]
    assert copy[0]["s3"]["object"]["eTag"] == hashlib.md5(b"other").hexdigest()


def test_getattr_reaching_daemon_is_head(ev):
    b = ev.m.bucket()
    write_file(b / "h.png", b"\x89PNG")
    ev.ops()
    statx_force(b / "h.png")
    got = ev.ops(heads=True)
    assert names(got) == [("s3:ObjectAccessed:Head", "alpha", "h.png")]
    check_record(got[0], "s3:ObjectAccessed:Head", "alpha", "h.png", size=4,
                 content=b"\x89PNG", ctype="image/png", pid=os.getpid())
    statx_force(b)              # a prefix: no Head
    assert names(ev.ops(heads=True)) == []


def test_tag_xattrs_are_tagging_events(ev):
    b = ev.m.bucket()
    write_file(b / "t", b"tt")
    ev.ops()
    os.setxattr(b / "t", "user.s3.tag.color", b"red")
    os.setxattr(b / "t", "user.other", b"x")          # not a tag
    os.removexattr(b / "t", "user.other")
    os.removexattr(b / "t", "user.s3.tag.color")
    got = ev.ops()
    assert names(got) == [("s3:ObjectTagging:Put", "alpha", "t"),
                          ("s3:ObjectTagging:Delete", "alpha", "t")]
    check_record(got[0], "s3:ObjectTagging:Put", "alpha", "t", size=2,
                 content=b"tt", pid=os.getpid())
    check_record(got[1], "s3:ObjectTagging:Delete", "alpha", "t", size=2,
                 content=b"tt", pid=os.getpid())


def test_chmod_chown_are_acl_put(ev):
    b = ev.m.bucket()
    write_file(b / "acl", b"a")
    (b / "dir").mkdir()
    ev.ops()
    os.chmod(b / "acl", 0o600)
    os.chown(b / "acl", 1000, 1000)
    os.chmod(b / "dir", 0o700)               # a prefix: no event
    got = ev.ops()
    assert names(got) == [("s3:ObjectAcl:Put", "alpha", "acl")] * 2
    for r in got:
        # the caller (root), not the new owner
        check_record(r, "s3:ObjectAcl:Put", "alpha", "acl", size=1,
                     content=b"a", uid=0, pid=os.getpid())


# ---- record fields -------------------------------------------------------


def test_user_metadata_from_meta_xattrs(ev):
    b = ev.m.bucket()
    p = b / "m.txt"
    write_file(p, b"")
    # the Put of a still-empty new file comes at RELEASE, after close()
    ev.stream.until(lambda r: ev_brief(r) == ("s3:ObjectCreated:Put",
                                              "alpha", "m.txt"))
    os.setxattr(p, "user.s3.meta.color", b"blue")
    os.setxattr(p, "user.s3.meta.owner", "zoë".encode())
    os.setxattr(p, "user.s3.tagish", b"no")      # not metadata
    ev.ops()
    write_file(p, b"body", os.O_WRONLY | os.O_TRUNC)
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "m.txt")]
    check_record(got[0], "s3:ObjectCreated:Put", "alpha", "m.txt", size=4,
                 content=b"body", ctype="text/plain",
                 meta={"X-Amz-Meta-color": "blue", "X-Amz-Meta-owner": "zoë"})


def test_user_metadata_changes_between_gets(ev):
    """A file found without metadata is not listed again while its ctime
    stands: setting or removing a user.s3.meta xattr (through the mount)
    shows on the next GET."""
    p = ev.m.bucket() / "g.txt"
    write_file(p, b"data")
    p.read_bytes()
    p.read_bytes()
    os.setxattr(p, "user.s3.meta.k", b"v")
    p.read_bytes()
    os.removexattr(p, "user.s3.meta.k")
    p.read_bytes()
    got = ev.ops()
    gets = [r for r in got if r["eventName"] == "s3:ObjectAccessed:Get"]
    assert [r["s3"]["object"].get("userMetadata") for r in gets] == [
        None, None, {"X-Amz-Meta-k": "v"}, None]


@pytest.mark.parametrize("key,ctype", [
    ("a b.txt", "text/plain"),
    ("dir/sub/x+y.csv", "text/csv"),
    ("tilde~star*.JPG", "image/jpeg"),
    ("é/ü ñ.json", "application/json"),
    ("noext", "application/octet-stream"),
    ("dir.d/.hidden", "application/octet-stream"),
])
def test_key_encoding_and_content_type(ev_off, key, ctype):
    ev = ev_off
    p = ev.m.bucket() / key
    p.parent.mkdir(parents=True, exist_ok=True)
    write_file(p, b"k")
    got = ev.ops()
    assert len(got) == 1, names(got)
    check_record(got[0], "s3:ObjectCreated:Put", "alpha", key, size=1,
                 content=b"k", ctype=ctype)
    assert got[0]["s3"]["object"]["key"] == aws_key(key)


def test_principal_and_user_agent_of_another_user(mount_factory):
    """principalId is the caller's uid, userAgent its command and pid."""
    ev = Ev(mount_factory(opts=["passthrough=off", "allow_other"]))
    d = ev.m.bucket() / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    ev.ops()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # child
        try:
            os.close(r)
            os.chdir(d)
            os.setgroups([])
            os.setgid(1000)
            os.setuid(1000)
            write_file("u.txt", b"mine")
            os.unlink("u.txt")
            os.write(w, b"ok")
        except BaseException as e:
            os.write(w, repr(e).encode())
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 10) == b"ok"
    os.close(r)
    os.waitpid(pid, 0)
    got = ev.ops()
    assert names(got) == [("s3:ObjectCreated:Put", "alpha", "shared/u.txt"),
                          ("s3:ObjectRemoved:Delete", "alpha", "shared/u.txt")]
    check_record(got[0], "s3:ObjectCreated:Put", "alpha", "shared/u.txt",
                 size=4, content=b"mine", ctype="text/plain", uid=1000,
                 pid=pid)
    check_record(got[1], "s3:ObjectRemoved:Delete", "alpha", "shared/u.txt",
                 uid=1000, pid=pid)
    ev.close()


def test_sequencers_strictly_increasing(ev):
    b = ev.m.bucket()
    for i in range(30):
        write_file(b / f"s{i}", b"x" * (i + 1))
        if i % 3 == 0:
            os.rename(b / f"s{i}", b / f"r{i}")
    got = ev.ops()
    seqs = [r["s3"]["object"]["sequencer"] for r in got]
    assert len(seqs) == 50
    assert all(SEQ_RE.match(s) for s in seqs)
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_request_id_names_the_record(ev):
    """responseElements.x-amz-request-id correlates a record with its
    request: the serialiser writes the sequencer there, so it must be the
    record's real sequencer (unique per record), not a placeholder."""
    b = ev.m.bucket()
    write_file(b / "r1", b"1")
    write_file(b / "r2", b"2")
    got = ev.ops()
    assert len(got) == 2
    ids = [r["responseElements"]["x-amz-request-id"] for r in got]
    assert ids == [r["s3"]["object"]["sequencer"] for r in got], ids


def test_truncate_and_rewrite_keeping_mtime_is_hashed_again(
        mount_factory, passthrough_mode):
    """A file big enough for the eTag xattr cache (16 KiB+), hashed; then
    truncated to 0 and back to its size by path and its mtime put back:
    same size, same mtime as what the xattr remembers, other content.
    The truncate's Put and a GET after must carry the zeros' MD5 (or
    none), never the old content's."""
    ev = Ev(mount_factory(opts=[f"passthrough={passthrough_mode}"]))
    p = ev.m.bucket() / "t.bin"
    old = b"A" * 32768
    write_file(p, old)
    ev.ops()                      # hashed: memory and xattr remember it
    st = os.stat(p)
    os.truncate(p, 0)
    os.truncate(p, len(old))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    with open(p, "rb") as f:
        assert f.read() == b"\0" * len(old)
    recs = ev.ops()
    zeros = hashlib.md5(b"\0" * len(old)).hexdigest()
    tags = [(r["eventName"], r["s3"]["object"].get("eTag")) for r in recs
            if r["s3"]["object"]["key"] == "t.bin"]
    ev.close()
    put = "s3:ObjectCreated:Put"
    # the truncate to 0 may be read after the one back (no eTag then)
    assert [n for n, _ in tags] == [put, put, "s3:ObjectAccessed:Get"]
    assert tags[0][1] in (None, hashlib.md5(b"").hexdigest()), tags
    assert tags[1][1] in (None, zeros) and tags[2][1] == zeros, tags



def test_rewritten_then_removed_before_hashing_gets_no_wrong_etag(
        mount_factory, passthrough_mode):
    """Put(A), then Put(B) of the same size, then unlink, all while the
    hasher lingers: the kernel forgets the inode, and A's job reads B
    through the descriptor it holds.  The job holds the inode too, so the
    table still tells the rewrite: A's Put must not carry md5(B)."""
    ev = Ev(mount_factory(opts=[f"passthrough={passthrough_mode}"]))
    try:
        b = ev.m.bucket()
        a, bb = b"A" * 4096, b"B" * 4096
        wrong = []
        for i in range(5):
            write_file(b / f"warm{i}", b"w")
            time.sleep(0.002)      # the hasher takes warm, then lingers
            write_file(b / f"f{i}", a)
            write_file(b / f"f{i}", bb)
            os.unlink(b / f"f{i}")
            puts = [r for r in ev.ops()
                    if ev_brief(r) == ("s3:ObjectCreated:Put", "alpha",
                                       f"f{i}")]
            assert len(puts) == 2
            if puts[0]["s3"]["object"].get("eTag") == \
                    hashlib.md5(bb).hexdigest():
                wrong.append(i)
            assert puts[1]["s3"]["object"].get("eTag") in (
                None, hashlib.md5(bb).hexdigest())
        assert wrong == []
    finally:
        ev.close()


def test_descriptors_of_one_handle_closed_at_once(ev_off):
    """A descriptor and its dup closed at the same moment: two FLUSHes of
    one handle on two daemon threads (they share what the handle last
    put; under ThreadSanitizer a race there fails the run).  Every round's
    content gets its Put, with its size."""
    import threading
    ev = ev_off
    p = ev.m.bucket() / "dup.bin"
    for i in range(100):
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"x" * (i + 1))
        fd2 = os.dup(fd)
        go = threading.Barrier(2)

        def close(f):
            go.wait()
            os.close(f)
        ts = [threading.Thread(target=close, args=(f,)) for f in (fd, fd2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    puts = [r["s3"]["object"]["size"] for r in ev.ops()
            if ev_brief(r) == ("s3:ObjectCreated:Put", "alpha", "dup.bin")]
    assert sorted(set(puts)) == list(range(1, 101)), puts
