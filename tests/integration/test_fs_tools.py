"""Ordinary tools on the mount, compared with the same work on a native
directory and with the backing directory: cp -a, mv, rsync -a, tar x,
git clone + git status, SQLite."""
import hashlib
import os
import sqlite3
import stat
import subprocess

import pytest

from conftest import have


def run(cmd, cwd=None, env=None):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120,
                       env=env)
    assert p.returncode == 0, f"{cmd}: {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def make_tree(root):
    """A small tree with the kinds of things tools care about."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_bytes(b"alpha\n" * 100)
    (root / "dir" / "b.bin").write_bytes(bytes(range(256)) * 300)
    (root / "dir" / "sub" / "c").write_bytes(b"")
    os.chmod(root / "dir" / "b.bin", 0o600)
    (root / "exec.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(root / "exec.sh", 0o755)
    os.symlink("a.txt", root / "link")
    os.symlink("dir/sub", root / "dlink")
    os.link(root / "a.txt", root / "hard")
    os.setxattr(root / "a.txt", "user.color", b"blue")
    with open(root / "sparse", "wb") as f:
        f.seek(1 << 20)
        f.write(b"end")
    os.mkfifo(root / "fifo")
    os.utime(root / "a.txt", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    os.utime(root / "dir", ns=(1_400_000_000_000_000_000, 1_400_000_000_000_000_000))


def snapshot(root, times=True):
    """Path -> (type, mode, size, content hash / link target, xattrs, mtime)."""
    out = {}
    inodes = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
                # hard links: record which earlier path shares the inode
                group = inodes.setdefault(st.st_ino, rel)
            elif stat.S_ISLNK(st.st_mode):
                extra, group = os.readlink(p), None
            else:
                extra, group = None, None
            try:
                xa = {k: os.getxattr(p, k, follow_symlinks=False)
                      for k in os.listxattr(p, follow_symlinks=False)
                      if k.startswith("user.")
                      # the daemon's eTag cache on backing files
                      and not k.startswith("user.bucketfs.")}
            except OSError:
                xa = None
            # tools preserve the mtime of regular files; rsync leaves fifos'
            mt = st.st_mtime_ns if times and stat.S_ISREG(st.st_mode) else None
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_size if kind != stat.S_IFDIR else 0,
                        extra, xa, mt, group)
    return out


def test_cp_a_in_and_out(fs, tmp_path):
    src = tmp_path / "tree"
    make_tree(src)
    want = snapshot(src)
    run(["cp", "-a", str(src), str(fs.bucket() / "tree")])
    assert snapshot(fs.bucket() / "tree") == want
    assert snapshot(fs.backing() / "tree") == want
    # and back out, and within the mount
    run(["cp", "-a", str(fs.bucket() / "tree"), str(tmp_path / "back")])
    assert snapshot(tmp_path / "back") == want
    run(["cp", "-a", str(fs.bucket() / "tree"), str(fs.bucket("beta") / "copy")])
    assert snapshot(fs.backing("beta") / "copy") == want


def test_mv(fs, tmp_path):
    src = tmp_path / "tree"
    make_tree(src)
    want = snapshot(src)
    run(["mv", str(src), str(fs.bucket() / "moved")])          # cross-fs: copy
    assert snapshot(fs.backing() / "moved") == want
    run(["mv", str(fs.bucket() / "moved"), str(fs.bucket("beta") / "m2")])  # rename
    assert snapshot(fs.backing("beta") / "m2") == want
    assert not os.path.exists(fs.backing() / "moved")
    run(["mv", str(fs.bucket("beta") / "m2" / "a.txt"), str(fs.bucket("beta") / "a2")])
    assert (fs.backing("beta") / "a2").read_bytes() == b"alpha\n" * 100


@pytest.mark.skipif(not have("rsync"), reason="rsync not installed")
def test_rsync_a(fs, tmp_path):
    src = tmp_path / "tree"
    make_tree(src)
    want = snapshot(src)
    nat = tmp_path / "nat"
    run(["rsync", "-aHX", str(src) + "/", str(nat) + "/"])
    run(["rsync", "-aHX", str(src) + "/", str(fs.bucket() / "r") + "/"])
    assert snapshot(fs.bucket() / "r") == snapshot(nat)
    assert snapshot(fs.backing() / "r") == snapshot(nat)
    assert {k: v[:5] for k, v in snapshot(nat).items()} == \
        {k: v[:5] for k, v in want.items()}
    # second run: nothing to transfer
    out = run(["rsync", "-aHXi", str(src) + "/", str(fs.bucket() / "r") + "/"])
    assert out.strip() == "", out
    # change, delete, re-sync
    (src / "a.txt").write_bytes(b"changed")
    os.unlink(src / "dir" / "sub" / "c")
    run(["rsync", "-aHX", "--delete", str(src) + "/", str(fs.bucket() / "r") + "/"])
    run(["rsync", "-aHX", "--delete", str(src) + "/", str(nat) + "/"])
    assert snapshot(fs.backing() / "r") == snapshot(nat)


def test_tar_x(fs, tmp_path):
    src = tmp_path / "tree"
    make_tree(src)
    want = snapshot(src)
    tarball = tmp_path / "t.tar"
    run(["tar", "--xattrs", "-cf", str(tarball), "-C", str(src), "."])
    (fs.bucket() / "x").mkdir()
    run(["tar", "--xattrs", "--xattrs-include=user.*", "-xpf", str(tarball),
         "-C", str(fs.bucket() / "x")])
    nat = tmp_path / "nat"
    nat.mkdir()
    run(["tar", "--xattrs", "--xattrs-include=user.*", "-xpf", str(tarball), "-C", str(nat)])
    assert snapshot(fs.bucket() / "x") == snapshot(nat)
    assert snapshot(fs.backing() / "x") == want
    # tar c from the mount lists the same entries as from the native copy
    def listing(d):
        out = run(["tar", "-cf", str(tmp_path / "o.tar"), "--sort=name", "-C", str(d), "."])
        return sorted(l.split(None, 5)[-1] for l in
                      run(["tar", "-tvf", str(tmp_path / "o.tar")]).splitlines())
    assert listing(fs.bucket() / "x") == listing(nat)


@pytest.mark.skipif(not have("git"), reason="git not installed")
def test_git_clone_status(fs, tmp_path):
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp_path),
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e")
    repo = tmp_path / "repo"
    make_tree(repo)
    os.unlink(repo / "fifo")
    for i in range(50):
        (repo / "dir" / f"f{i}.txt").write_text(f"line {i}\n" * i)
    run(["git", "init", "-q", str(repo)], env=env)
    run(["git", "-C", str(repo), "add", "-A"], env=env)
    run(["git", "-C", str(repo), "commit", "-qm", "one"], env=env)
    (repo / "a.txt").write_bytes(b"second version\n")
    run(["git", "-C", str(repo), "commit", "-qam", "two"], env=env)
    dst = fs.bucket() / "clone"
    run(["git", "clone", "-q", "--no-hardlinks", str(repo), str(dst)], env=env)
    assert run(["git", "-C", str(dst), "status", "--porcelain"], env=env) == ""
    run(["git", "-C", str(dst), "fsck", "--no-progress"], env=env)
    assert run(["git", "-C", str(dst), "rev-parse", "HEAD"], env=env) == \
        run(["git", "-C", str(repo), "rev-parse", "HEAD"], env=env)
    # work in the clone: modify, commit, gc, checkout
    (dst / "new.txt").write_text("new\n")
    run(["git", "-C", str(dst), "add", "new.txt"], env=env)
    run(["git", "-C", str(dst), "commit", "-qm", "three"], env=env)
    run(["git", "-C", str(dst), "gc", "-q"], env=env)
    run(["git", "-C", str(dst), "checkout", "-q", "HEAD~2"], env=env)
    assert run(["git", "-C", str(dst), "status", "--porcelain"], env=env) == ""
    # the backing directory is the same repository
    assert run(["git", "-C", str(fs.backing() / "clone"), "status", "--porcelain"],
               env=env) == ""


def sqlite_work(path):
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, v BLOB)")
    for chunk in range(10):
        with con:
            con.executemany("INSERT INTO t (name, v) VALUES (?, ?)",
                            [(f"n{chunk}-{i}", os.urandom(64)) for i in range(100)])
    with con:
        con.execute("DELETE FROM t WHERE id % 7 = 0")
        con.execute("CREATE INDEX ix ON t(name)")
    ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return ok, n


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_sqlite(fs, journal):
    db = fs.bucket() / "db.sqlite"
    if journal == "wal":
        ok, n = sqlite_work(str(db))
    else:
        con = sqlite3.connect(str(db))
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        for chunk in range(10):
            with con:
                con.executemany("INSERT INTO t (name) VALUES (?)",
                                [(f"n{chunk}-{i}",) for i in range(100)])
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        n = con.execute("SELECT count(*) FROM t").fetchone()[0]
        con.close()
    assert ok == "ok"
    assert n == (858 if journal == "wal" else 1000)
    # the backing file is the same database
    con = sqlite3.connect(str(fs.backing() / "db.sqlite"))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == n
    con.close()


def test_sqlite_two_connections_locking(fs):
    db = str(fs.bucket() / "lock.db")
    a = sqlite3.connect(db, timeout=0.1, isolation_level=None)
    a.execute("CREATE TABLE t (x)")
    a.execute("BEGIN EXCLUSIVE")
    a.execute("INSERT INTO t VALUES (1)")
    code = ("import sqlite3,sys\n"
            "c=sqlite3.connect(sys.argv[1],timeout=0.1)\n"
            "try:\n  c.execute('INSERT INTO t VALUES (2)'); c.commit(); print('wrote')\n"
            "except sqlite3.OperationalError as e: print('locked' if 'locked' in str(e) else e)\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code, db], capture_output=True,
                       text=True, timeout=60)
    assert r.stdout.strip() == "locked", r.stdout + r.stderr
    a.execute("COMMIT")
    r = subprocess.run(["/usr/bin/python3", "-c", code, db], capture_output=True,
                       text=True, timeout=60)
    assert r.stdout.strip() == "wrote", r.stdout + r.stderr
    assert [x for (x,) in a.execute("SELECT x FROM t ORDER BY x")] == [1, 2]
    a.close()
