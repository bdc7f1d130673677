"""Deterministic request counts: the daemon runs with -d, which logs one
line per request; a test marks the log, does one thing, and looks at the
opcodes that reached the daemon.  Throughput is too noisy for CI here; these
counts are what the speed comes from (shared design, "The FUSE data path")."""
import os
import subprocess

import pytest

from conftest import errno_of

ASYNC = {"RELEASE", "RELEASEDIR", "FORGET", "BATCH_FORGET", "INTERRUPT"}


def sync_ops(ops):
    return [o for o in ops if o not in ASYNC]


def put(m, path, data=b"x" * 4096):
    """create+write+close through the mount, then wait for its RELEASE so
    the next mark starts clean."""
    mk = m.mark()
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.close(fd)
    m.wait_op(mk, "RELEASE")
    return mk


def get(m, path):
    mk = m.mark()
    fd = os.open(path, os.O_RDONLY)
    data = os.read(fd, 1 << 20)
    os.close(fd)
    during = m.ops_since(mk)
    m.wait_op(mk, "RELEASE")
    return data, during, m.ops_since(mk)


def test_get_of_cached_name_is_one_request(dfs):
    p = dfs.bucket() / "obj"
    put(dfs, p)
    os.stat(p)
    get(dfs, p)                      # first GET warms the page cache
    data, during, after = get(dfs, p)
    assert data == b"x" * 4096
    if dfs.passthrough == "on":
        assert sync_ops(during) == ["OPEN"], f"synchronous requests of a GET: {during}"
        assert "FLUSH" not in after, after
    else:
        # With the writeback cache (the passthrough=off path) the kernel sends
        # FLUSH on close even for FOPEN_NOFLUSH handles (fs/fuse/file.c,
        # fuse_flush: "if (NOFLUSH && !fc->writeback_cache) return 0").
        assert sync_ops(during) in (["OPEN"], ["OPEN", "FLUSH"]), during
    assert "LOOKUP" not in after, after
    assert after.count("RELEASE") == 1, after


def test_passthrough_handle_sends_no_read_write(dfs):
    if dfs.passthrough != "on":
        pytest.skip("only with passthrough=on")
    p = dfs.bucket() / "big"
    chunk = os.urandom(1 << 20)
    mk = dfs.mark()
    fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)      # CREATE handle
    for _ in range(4):
        os.write(fd, chunk)
    os.close(fd)
    dfs.wait_op(mk, "RELEASE")
    fd = os.open(p, os.O_RDWR)                              # OPEN handle
    os.pwrite(fd, b"y" * 65536, 12345)
    os.fsync(fd)
    os.close(fd)
    dfs.wait_op(mk, "RELEASE", 2)
    fd = os.open(p, os.O_RDONLY)
    got = b""
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        got += b
    os.close(fd)
    dfs.wait_op(mk, "RELEASE", 3)
    ops = dfs.ops_since(mk)
    assert len(got) == 4 << 20
    assert got[12345:12345 + 65536] == b"y" * 65536
    assert "WRITE" not in ops, f"WRITE reached the daemon: {ops}"
    assert "READ" not in ops, f"READ reached the daemon: {ops}"
    assert (dfs.backing() / "big").read_bytes() == got


def test_create_write_close_sends_no_per_write_getxattr(dfs):
    """The kernel asks for security.capability before writing to an inode
    (file_remove_privs).  With HANDLE_KILLPRIV_V2 it asks once per new
    inode and then marks it S_NOSEC; the only way to avoid that one
    question is to answer ENOSYS, which would switch every xattr off for the
    mount (and user.s3.* xattrs are the interface), so one per new object
    is the floor.  Without KILLPRIV_V2 it would be one per write(2)."""
    p = dfs.bucket() / "new"
    mk = dfs.mark()
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for _ in range(20):
        os.write(fd, b"x" * 4096)
    os.close(fd)
    dfs.wait_op(mk, "RELEASE")
    ops = dfs.ops_since(mk)
    assert ops.count("GETXATTR") <= 1, f"20 writes to a new file sent {ops}"


def test_create_close_sends_no_getxattr(dfs):
    """An empty PUT (create+close, no write) never asks for xattrs."""
    mk = put(dfs, dfs.bucket() / "empty", b"")
    ops = dfs.ops_since(mk)
    assert "GETXATTR" not in ops, ops


def test_rewrite_sends_no_getxattr(dfs):
    p = dfs.bucket() / "new"
    put(dfs, p)
    # overwrite of an existing object
    mk = put(dfs, p, b"z" * 8192)
    ops = dfs.ops_since(mk)
    assert "GETXATTR" not in ops, f"open+write+close sent {ops}"
    # appending writes through the same handle: still none
    mk = dfs.mark()
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    for _ in range(10):
        os.write(fd, b"a" * 100)
    os.close(fd)
    dfs.wait_op(mk, "RELEASE")
    ops = dfs.ops_since(mk)
    assert ops.count("GETXATTR") == 0, ops
    assert (dfs.backing() / "new").stat().st_size == 8192 + 1000


def test_create_sends_lookup_create_flush_release_only(dfs):
    p = dfs.bucket() / "fresh"
    os.stat(dfs.bucket())               # the bucket's own LOOKUP is not counted
    mk = put(dfs, p)
    ops = dfs.ops_since(mk)
    # (GETXATTR is checked by test_create_write_close_sends_no_getxattr)
    allowed = {"LOOKUP", "CREATE", "FLUSH", "RELEASE", "WRITE", "GETATTR", "SETATTR",
               "GETXATTR"}
    assert set(ops) <= allowed, ops
    assert ops.count("CREATE") == 1 and ops.count("LOOKUP") <= 1, ops


def test_second_stat_of_cached_file_sends_nothing(dfs):
    p = dfs.bucket() / "s"
    put(dfs, p)
    os.stat(p)
    os.stat(dfs.bucket())   # its mtime changed: asked once
    mk = dfs.mark()
    for _ in range(5):
        os.stat(p)
        os.lstat(p)
        os.stat(dfs.bucket())
    assert dfs.ops_since(mk) == [], dfs.ops_since(mk)


def test_stat_of_preexisting_file_cached_after_first(dfs):
    (dfs.backing() / "pre").write_bytes(b"p")
    os.stat(dfs.bucket() / "pre")
    mk = dfs.mark()
    os.stat(dfs.bucket() / "pre")
    assert dfs.ops_since(mk) == []


def test_negative_lookup_cached_and_invalidated_by_create(dfs):
    p = dfs.bucket() / "absent"
    assert errno_of(os.stat, p) == 2
    mk = dfs.mark()
    for _ in range(5):
        assert errno_of(os.stat, p) == 2
    assert dfs.ops_since(mk) == [], f"negative entry not cached: {dfs.ops_since(mk)}"
    put(dfs, p)                        # create through the mount must win
    assert os.stat(p).st_size == 4096


def test_readdir_served_from_cache(dfs):
    d = dfs.bucket() / "dir"
    os.mkdir(d)
    for i in range(100):
        put(dfs, d / f"f{i}", b"")
    first = sorted(os.listdir(d))
    mk = dfs.mark()
    assert sorted(os.listdir(d)) == first
    ops = dfs.ops_since(mk)
    assert "READDIR" not in ops and "READDIRPLUS" not in ops, ops
    # a create invalidates: the new name shows up
    put(dfs, d / "late", b"")
    assert "late" in os.listdir(d)


def test_ls_l_uses_readdirplus(dfs):
    sub = dfs.backing() / "sub"
    sub.mkdir()
    for i in range(200):
        (sub / f"e{i}").write_bytes(b"e")
    os.stat(dfs.bucket() / "sub")       # the directory itself is looked up
    mk = dfs.mark()
    n = 0
    for e in os.scandir(dfs.bucket() / "sub"):
        e.stat(follow_symlinks=False)
        n += 1
    assert n == 200
    ops = dfs.ops_since(mk)
    assert "READDIRPLUS" in ops, ops
    assert ops.count("LOOKUP") == 0, f"{ops.count('LOOKUP')} LOOKUPs for ls -l"
    assert ops.count("GETATTR") == 0, f"{ops.count('GETATTR')} GETATTRs for ls -l"


@pytest.mark.parametrize("allow_other", [False, True],
                         ids=["single_user", "allow_other"])
def test_real_ls_l_asks_few_xattrs(mount_factory, passthrough_mode,
                                   allow_other):
    """GNU ls -l asks every file for security.selinux and
    system.posix_acl_access.  The mount has no SELinux labels and says so
    (EOPNOTSUPP), which ls remembers per device.  With allow_other the
    kernel checks permissions and caches POSIX ACLs (FUSE_POSIX_ACL), so a
    second listing asks for none; a single-user mount leaves ACLs to the
    backing file system and asks once per file and listing."""
    dfs = mount_factory(opts=[f"passthrough={passthrough_mode}"] +
                        (["allow_other"] if allow_other else []),
                        debug=True)
    sub = dfs.backing() / "lsl"
    sub.mkdir()
    for i in range(100):
        (sub / f"e{i}").write_bytes(b"e")
    os.stat(dfs.bucket() / "lsl")
    env = dict(os.environ, LC_ALL="C")
    for rnd in range(2):
        mk = dfs.mark()
        out = subprocess.run(["ls", "-l", str(dfs.bucket() / "lsl")],
                             capture_output=True, text=True, env=env,
                             check=True).stdout
        assert len(out.splitlines()) == 101
        ops = dfs.ops_since(mk)
        limit = 2 if rnd and allow_other else 110  # ACLs once per file
        assert ops.count("GETXATTR") <= limit, \
            f"listing {rnd + 1}: {ops.count('GETXATTR')} GETXATTRs"


def test_create_and_unlink_do_not_reread_the_directory(dfs):
    """Without allow_other the mount has no default_permissions, so the
    kernel does not re-read a directory's attributes for the permission
    check after each create or unlink in it (one GETATTR round trip each
    with default_permissions)."""
    b = dfs.bucket()
    os.stat(b)
    mk = dfs.mark()
    for i in range(5):
        put(dfs, b / f"c{i}")
    for i in range(5):
        os.unlink(b / f"c{i}")
    ops = dfs.ops_since(mk)
    assert ops.count("GETATTR") == 0, ops
    assert ops.count("CREATE") == 5 and ops.count("UNLINK") == 5, ops


def test_unlink_is_one_request(dfs):
    p = dfs.bucket() / "gone"
    put(dfs, p)
    os.stat(p)
    mk = dfs.mark()
    os.unlink(p)
    ops = sync_ops(dfs.ops_since(mk))
    if dfs.passthrough == "off":
        # writeback cache: the kernel owns mtime and writes it back with a
        # SETATTR when the unlinked inode is evicted
        ops = [o for o in ops if o != "SETATTR"]
    assert ops == ["UNLINK"], ops
