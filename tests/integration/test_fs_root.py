"""The mount root: buckets only (S3 bucket-name rules, EINVAL), no objects
at the root (EPERM), the read-only `.bucketfs/` control directory, and the
hidden state directory."""
import errno
import os
import stat

import pytest

from conftest import errno_of

VALID = ["abc", "my-bucket", "my.bucket.1", "0ab", "a" * 63, "a-b.c-d",
         "192.168.1.1x"]
INVALID = ["ab", "a" * 64, "MyBucket", "my_bucket", "-abc", "abc-", ".abc",
           "abc.", "a..b", "192.168.1.1", "xn--abc", "sthree-abc",
           "amzn-s3-demo-x", "abc-s3alias", "abc--ol-s3", "abc.mrap",
           "abc--x-s3", "abc--table-s3", "a b c", "ab\u00e9"]


@pytest.mark.parametrize("name", VALID)
def test_mkdir_valid_bucket(fs_off, name):
    os.mkdir(fs_off.mnt / name)
    assert os.path.isdir(fs_off.src / name)
    assert name in os.listdir(fs_off.mnt)
    os.rmdir(fs_off.mnt / name)
    assert not os.path.exists(fs_off.src / name)


def test_mkdir_invalid_bucket_einval(fs_off):
    got = {n: errno_of(os.mkdir, fs_off.mnt / n) for n in INVALID}
    assert got == {n: errno.EINVAL for n in INVALID}
    leaked = set(os.listdir(fs_off.src)) - {"alpha", "beta", ".bucketfs-state"}
    assert leaked == set()


def test_mkdir_existing_bucket_eexist(fs_off):
    assert errno_of(os.mkdir, fs_off.mnt / "alpha") == errno.EEXIST


def test_rmdir_bucket(fs_off):
    os.mkdir(fs_off.mnt / "gamma")
    with open(fs_off.mnt / "gamma" / "obj", "wb") as f:
        f.write(b"x")
    assert errno_of(os.rmdir, fs_off.mnt / "gamma") == errno.ENOTEMPTY
    os.unlink(fs_off.mnt / "gamma" / "obj")
    os.rmdir(fs_off.mnt / "gamma")
    assert "gamma" not in os.listdir(fs_off.mnt)


def test_root_refuses_objects_eperm(fs_off):
    m = fs_off.mnt
    with open(m / "alpha" / "obj", "wb") as f:
        f.write(b"o")
    got = {
        "create": errno_of(os.open, m / "file", os.O_CREAT | os.O_WRONLY, 0o644),
        "creat_excl": errno_of(os.open, m / "file2", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644),
        "symlink": errno_of(os.symlink, "alpha", m / "link"),
        "mkfifo": errno_of(os.mkfifo, m / "fifo"),
        "mknod_reg": errno_of(os.mknod, m / "node", 0o644 | stat.S_IFREG),
        "mknod_chr": errno_of(os.mknod, m / "chr", 0o644 | stat.S_IFCHR, os.makedev(1, 3)),
        "link": errno_of(os.link, m / "alpha" / "obj", m / "hard"),
    }
    assert got == {k: errno.EPERM for k in got}
    assert sorted(os.listdir(fs_off.src)) in (["alpha", "beta"],
                                             [".bucketfs-state", "alpha", "beta"])


def test_rename_object_to_root_eperm(fs_off):
    """Moving an object out of its bucket would create a file at the root."""
    m = fs_off.mnt
    with open(m / "alpha" / "obj", "wb") as f:
        f.write(b"o")
    assert errno_of(os.rename, m / "alpha" / "obj", m / "obj") == errno.EPERM
    assert os.path.exists(fs_off.src / "alpha" / "obj")


def test_rename_bucket(fs_off):
    m = fs_off.mnt
    with open(m / "alpha" / "obj", "wb") as f:
        f.write(b"o")
    os.rename(m / "alpha", m / "alpha2")
    assert os.path.exists(fs_off.src / "alpha2" / "obj")
    assert errno_of(os.rename, m / "alpha2", m / "Not_Valid") == errno.EINVAL
    assert os.path.isdir(fs_off.src / "alpha2")


def test_existing_files_in_buckets_visible(fs_off):
    """Everything below a bucket passes through (dot files included)."""
    b = fs_off.backing()
    with open(b / ".hidden", "wb") as f:
        f.write(b"h")
    os.makedirs(b / "UPPER_case dir")
    assert sorted(os.listdir(fs_off.bucket())) == [".hidden", "UPPER_case dir"]


# ------------------------------------------------------------ .bucketfs/

def test_control_dir_listed_and_readable(fs_off):
    m = fs_off.mnt
    assert ".bucketfs" in os.listdir(m)
    st = os.stat(m / ".bucketfs")
    assert stat.S_ISDIR(st.st_mode)
    assert "version" in os.listdir(m / ".bucketfs")
    data = (m / ".bucketfs" / "version").read_bytes()
    assert data.strip(), "version file is empty"
    assert b"0." in data or b"1." in data
    assert os.stat(m / ".bucketfs" / "version").st_mode & 0o222 == 0
    # it is not a bucket: nothing in SRC besides buckets and state
    assert not os.path.exists(fs_off.src / ".bucketfs")


def test_control_dir_version_read_in_chunks(fs_off):
    p = fs_off.mnt / ".bucketfs" / "version"
    whole = p.read_bytes()
    fd = os.open(p, os.O_RDONLY)
    parts = []
    while True:
        b = os.read(fd, 1)
        if not b:
            break
        parts.append(b)
    os.close(fd)
    assert b"".join(parts) == whole
    assert os.stat(p).st_size in (0, len(whole))


def test_control_dir_rules_eperm(fs_off):
    m = fs_off.mnt
    c = m / ".bucketfs"
    got = {
        "rmdir": errno_of(os.rmdir, c),
        "rename_away": errno_of(os.rename, c, m / "renamed"),
        "rename_over": errno_of(os.rename, m / "alpha", c),
        "create_in": errno_of(os.open, c / "new", os.O_CREAT | os.O_WRONLY, 0o644),
        "mkdir_in": errno_of(os.mkdir, c / "sub"),
        "symlink_in": errno_of(os.symlink, "x", c / "sl"),
        "unlink_version": errno_of(os.unlink, c / "version"),
        "rename_version": errno_of(os.rename, c / "version", c / "v2"),
        "chmod": errno_of(os.chmod, c, 0o777),
        "setxattr": errno_of(os.setxattr, c, "user.x", b"1"),
    }
    assert got == {k: errno.EPERM for k in got}
    assert os.path.isdir(m / "alpha")
    # mkdir of the existing name: the kernel answers EEXIST before asking us
    assert errno_of(os.mkdir, c) in (errno.EEXIST, errno.EPERM)


def test_control_dir_files_readonly(fs_off):
    v = fs_off.mnt / ".bucketfs" / "version"
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
        assert errno_of(os.open, v, flags) in (errno.EPERM, errno.EACCES, errno.EROFS), flags
    assert errno_of(os.truncate, v, 0) in (errno.EPERM, errno.EACCES, errno.EROFS)
    assert v.read_bytes().strip()


def test_rename_other_bucket_over_control_dir(fs_off):
    """The control dir cannot be renamed over, whatever the source."""
    m = fs_off.mnt
    assert errno_of(os.rename, m / "beta", m / ".bucketfs") == errno.EPERM
    assert os.path.isdir(fs_off.src / "beta")


# ------------------------------------------------------------ state dir

def test_state_dir_hidden(fs_off):
    m = fs_off.mnt
    assert ".bucketfs-state" not in os.listdir(m)
    assert errno_of(os.stat, m / ".bucketfs-state") == errno.ENOENT
    assert errno_of(os.mkdir, m / ".bucketfs-state") in (errno.EINVAL, errno.EPERM)
    assert errno_of(os.open, m / ".bucketfs-state" / "x", os.O_RDONLY) == errno.ENOENT


def test_state_dir_hidden_even_if_present(mount_factory):
    m = mount_factory(opts=["passthrough=off"], start=False)
    os.makedirs(m.src / ".bucketfs-state" / "inner")
    m.start()
    assert ".bucketfs-state" not in os.listdir(m.mnt)
    assert errno_of(os.stat, m.mnt / ".bucketfs-state") == errno.ENOENT
    assert errno_of(os.rename, m.mnt / "alpha", m.mnt / ".bucketfs-state") in (
        errno.EINVAL, errno.EPERM)
    assert os.path.isdir(m.src / ".bucketfs-state" / "inner")


def test_state_option(mount_factory, tmp_path):
    st = tmp_path / "elsewhere-state"
    st.mkdir()
    m = mount_factory(opts=["passthrough=off", f"state={st}"])
    with open(m.bucket() / "f", "wb") as f:
        f.write(b"x")
    assert sorted(os.listdir(m.mnt)) == [".bucketfs", "alpha", "beta"]


def test_root_listing(fs_off):
    os.mkdir(fs_off.src / "late-bucket")
    names = sorted(os.listdir(fs_off.mnt))
    assert names == [".bucketfs", "alpha", "beta", "late-bucket"]
    st = os.stat(fs_off.mnt)
    assert stat.S_ISDIR(st.st_mode)


def test_root_statfs_and_attrs(fs_off):
    s = os.statvfs(fs_off.mnt)
    assert s.f_blocks == os.statvfs(fs_off.src).f_blocks
    # chmod of the root passes to SRC like any directory
    os.chmod(fs_off.mnt, 0o751)
    assert stat.S_IMODE(os.stat(fs_off.src).st_mode) == 0o751


def test_control_version_matches_cli(fs_off, run_daemon):
    p = run_daemon(["--version"])
    assert p.returncode == 0, p.stderr
    text = (fs_off.mnt / ".bucketfs" / "version").read_text()
    ver = text.split()[0] if text.split() else ""
    assert ver and ver in (p.stdout + p.stderr), (text, p.stdout, p.stderr)
