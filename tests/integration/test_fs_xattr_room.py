"""setxattr on a file whose xattr space is full (fs_ops.c, make_room).

When the backing file system refuses an xattr (ENOSPC/E2BIG), the daemon
drops its eTag cache xattr and moves the user's other xattrs out and back
in so that the file system lays them out again, then retries.  Whatever
happens, every xattr the user had must keep its exact value.

SRC is on an ext4 image with ea_inode (values up to 64 KiB each, many per
file, in their own inodes), so a file can carry more xattr data than the
daemon saves at once (1 MiB) and still run out of entry space."""
import errno
import os

import pytest

from conftest import errno_of, image_mount

ETAG = "user.bucketfs.etag"          # FS_EV_XATTR_ETAG, hidden by the mount
BIG = 64 * 1024                      # XATTR_SIZE_MAX
LONG = "user." + "L" * 250           # the longest name: never fits when full


@pytest.fixture
def ea_mount(tmp_path, mount_factory):
    yield from image_mount(tmp_path, mount_factory, "ea", "ext4",
                           ["-O", "ea_inode"], ["passthrough=off"])


def fill(path, big):
    """Give path an eTag cache xattr, `big` values of 64 KiB, then entries
    with long names and then with short ones until ext4 has no room for
    even the smallest.  Returns the user's xattrs, name -> value."""
    os.setxattr(path, ETAG, b"0123456789abcdef0123456789abcdef")
    have = {}
    for i in range(big):
        k = f"user.big{i:02d}"
        have[k] = bytes([ord("A") + i]) * BIG
        os.setxattr(path, k, have[k])
    for kind, n in (("pad", 40), ("t", 0)):
        for i in range(10000):
            k, v = f"user.{kind}{i:04d}" + "x" * n, b"%d" % i
            e = errno_of(os.setxattr, path, k, v)
            if e == errno.ENOSPC:
                break
            assert e == 0, os.strerror(e)
            have[k] = v
    assert errno_of(os.setxattr, path, LONG, b"v") == errno.ENOSPC
    return have


def values(path):
    return {k: os.getxattr(path, k) for k in os.listxattr(path)}


@pytest.mark.parametrize("big", [4, 20])
def test_refused_setxattr_keeps_every_value(ea_mount, big):
    """The daemon moves every xattr out and back in, then is refused again;
    or (20 x 64 KiB > the 1 MiB it saves at once) it stops part way, puts
    back what it moved and leaves the rest alone."""
    m = ea_mount
    p = m.bucket() / "full"
    b = m.backing() / "full"
    b.write_bytes(b"")
    have = fill(b, big)
    e = errno_of(os.setxattr, p, LONG, b"v" * 100)
    assert e in (errno.ENOSPC, errno.E2BIG), os.strerror(e) if e else "set"
    got = values(b)
    assert ETAG not in got                          # dropped: only a cache
    bad = {k: len(got.get(k, b"")) for k in have if got.get(k) != have[k]}
    assert not bad, f"xattrs changed by a refused setxattr: {bad}"
    assert set(got) == set(have)
    assert values(p) == have


def test_setxattr_takes_the_etag_cache_room(ea_mount):
    """A file full with the eTag cache: the new xattr fits once the cache
    is gone, and the others come back as they were."""
    m = ea_mount
    p = m.bucket() / "room"
    b = m.backing() / "room"
    b.write_bytes(b"")
    have = fill(b, big=4)
    new = b"n" * 24        # more than the smallest entry, less than the eTag's
    assert errno_of(os.setxattr, b, "user.new", new) == errno.ENOSPC
    os.setxattr(p, "user.new", new)
    got = values(b)
    assert ETAG not in got
    assert got == dict(have, **{"user.new": new})
    assert values(p) == got
