"""The bucketfs command: bad input, mount options, the mount.fuse3 / fstab
argv forms, and clean exits on signals and fusermount3 -u."""
import errno
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import (TIMEOUT, bucketfs_bin, daemon_env, errno_of,
                      fusermount_u, is_mounted, sanitizer_report, wait_for,
                      watch_daemon, _threads_of)


def clear_error(p, *words):
    """Non-zero exit, a message on stderr that names the problem."""
    assert p.returncode != 0, f"exit 0 for bad input; stderr={p.stderr!r}"
    assert p.stderr.strip(), "no message on stderr"
    low = p.stderr.lower()
    assert any(w.lower() in low for w in words), \
        f"stderr does not mention any of {words}: {p.stderr!r}"


# ----------------------------------------------------------------- bad input

def test_src_missing(run_daemon, tmp_path):
    (tmp_path / "mnt").mkdir()
    p = run_daemon([tmp_path / "nope", tmp_path / "mnt", "-f"])
    clear_error(p, str(tmp_path / "nope"), "no such file", "does not exist")
    assert not is_mounted(tmp_path / "mnt")


def test_src_not_a_directory(run_daemon, tmp_path):
    (tmp_path / "mnt").mkdir()
    (tmp_path / "file").write_bytes(b"x")
    p = run_daemon([tmp_path / "file", tmp_path / "mnt", "-f"])
    clear_error(p, "not a directory")
    assert not is_mounted(tmp_path / "mnt")


def test_mnt_missing(run_daemon, tmp_path):
    (tmp_path / "src").mkdir()
    p = run_daemon([tmp_path / "src", tmp_path / "nomnt", "-f"])
    clear_error(p, str(tmp_path / "nomnt"), "no such file", "does not exist",
                "mountpoint")


def test_mnt_not_empty(run_daemon, tmp_path):
    (tmp_path / "src" / "bkt").mkdir(parents=True)
    (tmp_path / "mnt").mkdir()
    (tmp_path / "mnt" / "stuff").write_bytes(b"x")
    p = run_daemon([tmp_path / "src", tmp_path / "mnt", "-f"])
    clear_error(p, "not empty", "nonempty")
    assert not is_mounted(tmp_path / "mnt")


def test_mnt_not_empty_with_nonempty(mount_factory):
    m = mount_factory(start=False, opts=["passthrough=off", "nonempty"])
    (m.mnt / "hidden-by-mount").write_bytes(b"x")
    m.start()
    assert sorted(os.listdir(m.mnt)) == [".bucketfs", "alpha", "beta"]
    m.stop()
    m.check(m.proc.returncode)
    assert os.listdir(m.mnt) == ["hidden-by-mount"]


@pytest.mark.parametrize("opt", ["bogus_option", "passthrough=maybe",
                                 "passthrough", "state"])
def test_unknown_or_bad_option(run_daemon, tmp_path, opt):
    (tmp_path / "src").mkdir()
    (tmp_path / "mnt").mkdir()
    p = run_daemon([tmp_path / "src", tmp_path / "mnt", "-f", "-o", opt])
    clear_error(p, opt.split("=")[0], "option", "unknown", "invalid")
    assert not is_mounted(tmp_path / "mnt")


def test_unknown_flag(run_daemon, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "mnt").mkdir()
    p = run_daemon([tmp_path / "src", tmp_path / "mnt", "-f", "--frobnicate"])
    clear_error(p, "frobnicate", "option", "unknown", "usage")
    assert not is_mounted(tmp_path / "mnt")


def test_missing_arguments(run_daemon, tmp_path):
    p = run_daemon([])
    clear_error(p, "usage")
    p = run_daemon([tmp_path])
    clear_error(p, "usage", "mountpoint", "mnt")


def test_help_lists_every_option(run_daemon):
    p = run_daemon(["--help"])
    assert p.returncode == 0, p.stderr
    text = p.stdout + p.stderr
    for word in ("passthrough", "nonempty", "allow_other", "ro", "state",
                 "-f", "-d", "-o"):
        assert word in text, f"--help does not mention {word}"


def test_no_dev_fuse(run_daemon, tmp_path):
    """With /dev hidden (tmpfs over it in a private mount namespace)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a mount namespace")
    (tmp_path / "src" / "bkt").mkdir(parents=True)
    (tmp_path / "mnt").mkdir()
    p = run_daemon([tmp_path / "src", tmp_path / "mnt", "-f"],
                   prefix=["unshare", "-m", "--propagation", "private", "sh", "-c",
                           'mount -t tmpfs none /dev && exec "$@"', "sh"])
    clear_error(p, "/dev/fuse", "fuse")
    assert not is_mounted(tmp_path / "mnt")


def test_passthrough_on_unavailable_fails(run_daemon, tmp_path):
    """passthrough=on must refuse to mount when it cannot be had; as a
    non-root user it is never available."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    for d in ("src/bkt", "mnt"):
        (tmp_path / d).mkdir(parents=True)
    os.chmod(tmp_path, 0o777)
    for d in ("src", "src/bkt", "mnt"):
        os.chown(tmp_path / d, 65534, 65534)
    os.chmod(os.path.dirname(bucketfs_bin()), 0o755)
    p = run_daemon([tmp_path / "src", tmp_path / "mnt", "-f", "-o", "passthrough=on"],
                   prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "--inh-caps=-all", "--bounding-set=-all"], timeout=TIMEOUT)
    if is_mounted(tmp_path / "mnt"):
        fusermount_u(tmp_path / "mnt")
    clear_error(p, "passthrough")


# ------------------------------------------------------------- clean exits

@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "fusermount"])
def test_clean_exit(mount_factory, how):
    m = mount_factory(opts=["passthrough=off"])
    (m.bucket() / "f").write_bytes(b"data")
    rc = m.stop(how=how)
    assert rc == 0, f"exit status {rc} after {how}:\n{m.log_text()[-3000:]}"
    assert not is_mounted(m.mnt)
    assert (m.src / "alpha" / "f").read_bytes() == b"data"


def test_fusermount_without_lazy(mount_factory):
    m = mount_factory(opts=["passthrough=off"])
    r = fusermount_u(m.mnt, lazy=False)
    assert r.returncode == 0, r.stderr
    m.proc.wait(timeout=TIMEOUT)
    assert m.proc.returncode == 0, m.log_text()


def test_stale_mount_after_crash_recoverable(mount_factory):
    m = mount_factory(opts=["passthrough=off"])
    (m.bucket() / "f").write_bytes(b"x")
    m.proc.kill()
    m.proc.wait(timeout=TIMEOUT)
    assert errno_of(os.stat, m.bucket()) == errno.ENOTCONN
    r = fusermount_u(m.mnt, lazy=True)
    assert r.returncode == 0, r.stderr
    assert not is_mounted(m.mnt)
    m.checked_exit = True  # the SIGKILL status is expected
    m.start()
    assert (m.bucket() / "f").read_bytes() == b"x"


@pytest.mark.parametrize("spelling", ["./st", "x/../st", "/st"])
def test_state_in_src_hidden_however_spelled(mount_factory, spelling):
    """The state directory is hidden when it lies directly in SRC, also
    when state= names it through '.', '..' or '//' (compared resolved)."""
    m = mount_factory(opts=["passthrough=off"], start=False)
    (m.src / "x").mkdir()
    m.opts.append(f"state={m.src}/{spelling}")
    m.start()
    assert (m.src / "st" / "events.db").exists()
    assert "st" not in os.listdir(m.mnt)
    assert errno_of(os.stat, m.mnt / "st") == errno.ENOENT
    assert "x" in os.listdir(m.mnt)


def test_state_link_in_src_hidden(mount_factory, tmp_path):
    """A symbolic link in SRC to a state directory elsewhere is hidden by
    its name, as when state= names it directly in SRC."""
    m = mount_factory(opts=["passthrough=off"], start=False)
    (tmp_path / "real-state").mkdir()
    os.symlink(tmp_path / "real-state", m.src / "st")
    m.opts.append(f"state={m.src}/st")
    m.start()
    assert (tmp_path / "real-state" / "events.db").exists()
    assert "st" not in os.listdir(m.mnt)


@pytest.mark.parametrize("where", ["bkt/st", "bkt/deep/st", "."])
def test_state_inside_a_bucket_or_src_refused(run_daemon, tmp_path, where):
    """A state directory below SRC's top level would show through the
    mount as objects of a bucket (a user could delete the event log, and
    the bucket could not be removed), and SRC itself would put the store's
    files at the root: both are refused before anything is created."""
    src = tmp_path / "src"
    (src / "bkt" / "deep").mkdir(parents=True)
    (tmp_path / "mnt").mkdir()
    p = run_daemon([src, tmp_path / "mnt", "-f", "-o",
                    f"passthrough=off,state={src}/{where}"])
    clear_error(p, "inside a bucket" if where != "." else "SRC itself")
    assert not is_mounted(tmp_path / "mnt")
    assert sorted(os.listdir(src)) == ["bkt"]
    assert os.listdir(src / "bkt") == ["deep"]
    assert os.listdir(src / "bkt" / "deep") == []


def hold_lock(state, seconds):
    """Hold the state directory's lock for a while, as `bucketfs events`
    replaying a crashed daemon's journal does; returns the thread."""
    os.makedirs(state, exist_ok=True)
    fd = os.open(state, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)

    def release():
        time.sleep(seconds)
        os.close(fd)
    t = threading.Thread(target=release, daemon=True)
    t.start()
    return t


def test_start_waits_for_a_short_holder_of_the_store(mount_factory):
    """A daemon started while another process holds the event store for a
    moment (a replay by `bucketfs events`) waits for it and mounts; one
    held for good is refused with a message after a few seconds."""
    m = mount_factory(opts=["passthrough=off"], start=False)
    t = hold_lock(m.state, 1)
    t0 = time.monotonic()
    m.start()
    assert time.monotonic() - t0 >= 0.9
    (m.bucket() / "f").write_bytes(b"x")
    t.join(TIMEOUT)


def test_store_held_for_good_is_refused(run_daemon, tmp_path):
    src, mnt = tmp_path / "src", tmp_path / "mnt"
    (src / "bkt").mkdir(parents=True)
    mnt.mkdir()
    t = hold_lock(src / ".bucketfs-state", 8)
    p = run_daemon([src, mnt, "-f", "-o", "passthrough=off"])
    clear_error(p, "in use by another process")
    assert not is_mounted(mnt)
    t.join(TIMEOUT)


def test_background_starts_a_moment_apart(tmp_path):
    """Two daemons started in the background on one SRC a moment apart:
    one mounts and exits 0, the other says the store is in use and exits
    non-zero -- never an exit 0 without a mount (the start after the fork
    reports to the waiting parent)."""
    for i, delay in enumerate((0.0, 0.02, 0.04, 0.06)):
        src = tmp_path / f"src{i}"
        (src / "bkt").mkdir(parents=True)
        mnts = [tmp_path / f"m{i}a", tmp_path / f"m{i}b"]
        for d in mnts:
            d.mkdir()
        procs = []
        try:
            for d in mnts:
                procs.append(subprocess.Popen(
                    [bucketfs_bin(), str(src), str(d), "-o",
                     "passthrough=off"], stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True, env=daemon_env(),
                    stdin=subprocess.DEVNULL))
                time.sleep(delay)
            outs = [p.communicate(timeout=TIMEOUT) for p in procs]
            rcs = [p.returncode for p in procs]
            mounted = [is_mounted(d) for d in mnts]
            assert sorted(rcs) == [0, 1], (delay, rcs, outs)
            for rc, up, (_, err) in zip(rcs, mounted, outs):
                assert up == (rc == 0), (delay, rcs, mounted, outs)
                if rc:
                    assert "in use by another process" in err, err
        finally:
            for d in mnts:
                if is_mounted(d):
                    fusermount_u(d, lazy=False)
            wait_for(lambda: not any(is_mounted(d) for d in mnts),
                     what="unmounts")


def test_config_missing_names_the_file(run_daemon, tmp_path):
    """A failure after the checks names its cause, not SRC (which is
    fine)."""
    (tmp_path / "src" / "bkt").mkdir(parents=True)
    (tmp_path / "mnt").mkdir()
    cfg = tmp_path / "no-such.conf"
    p = run_daemon([tmp_path / "src", tmp_path / "mnt", "-f", "-o",
                    f"passthrough=off,config={cfg}"])
    clear_error(p, str(cfg))
    assert f"{tmp_path / 'src'}:" not in p.stderr, p.stderr
    assert not is_mounted(tmp_path / "mnt")


def test_ro_option(mount_factory):
    m = mount_factory(opts=["passthrough=off", "ro"])
    (m.src / "alpha" / "pre").write_bytes(b"old")
    assert (m.bucket() / "pre").read_bytes() == b"old"
    assert errno_of(os.open, m.bucket() / "new", os.O_CREAT | os.O_WRONLY) == errno.EROFS
    assert errno_of(os.open, m.bucket() / "pre", os.O_WRONLY) == errno.EROFS
    assert errno_of(os.mkdir, m.mnt / "gamma") == errno.EROFS
    assert errno_of(os.unlink, m.bucket() / "pre") == errno.EROFS


def test_generic_mount_options_accepted(mount_factory):
    m = mount_factory(opts=["rw", "dev", "suid", "exec", "noatime", "defaults",
                            "nodev", "nosuid", "passthrough=off"])
    (m.bucket() / "f").write_bytes(b"x")
    with open("/proc/self/mountinfo") as f:
        line = next(l for l in f if l.split()[4] == str(m.mnt))
    assert "nosuid" in line and "nodev" in line and "noatime" in line


def test_debug_flag_logs_requests(mount_factory):
    m = mount_factory(opts=["passthrough=off"], debug=True)
    os.listdir(m.bucket())
    wait_for(lambda: "opcode: " in m.log_text(), what="-d request lines")


# ------------------------------------------------- mount.fuse3 / fstab forms

def find_daemon(mnt):
    """pid of a daemonized bucketfs serving mnt."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"bucketfs" and \
                os.fsencode(str(mnt)) in argv:
            return int(pid)
    return None


@pytest.fixture
def helper_env(tmp_path):
    """PATH with a `bucketfs` symlink first, sanitizer reports to files."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(bucketfs_bin(), bindir / "bucketfs")
    asan = tmp_path / "asan"
    asan.mkdir()
    env = daemon_env({"PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                      "ASAN_OPTIONS": f"detect_leaks=1:halt_on_error=1:log_path={asan}/asan",
                      "UBSAN_OPTIONS": f"print_stacktrace=1:halt_on_error=1:log_path={asan}/ubsan"})
    (tmp_path / "src" / "bkt").mkdir(parents=True)
    (tmp_path / "mnt").mkdir()
    watch_daemon(lambda: find_daemon(tmp_path / "mnt"))
    yield env, tmp_path / "src", tmp_path / "mnt"
    mnt = tmp_path / "mnt"
    pid = find_daemon(mnt)
    if is_mounted(mnt):
        fusermount_u(mnt)
    if pid:
        try:
            wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="daemon exit")
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("daemonized bucketfs did not exit after fusermount3 -u")
    for f in asan.iterdir():
        text = f.read_text(errors="replace")
        if sanitizer_report(text):
            pytest.fail(f"sanitizer report in {f}:\n{text[-6000:]}")


def helper_mount(cmd, env, mnt):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, f"{cmd} failed: {p.stderr}"
    wait_for(lambda: is_mounted(mnt), what="helper mount")
    assert find_daemon(mnt), "no daemonized bucketfs found"
    assert sorted(os.listdir(mnt)) == [".bucketfs", "bkt"]
    write_with_deadline(mnt)
    return p


def write_with_deadline(mnt):
    """Write a file from a child with a deadline: a daemon that hangs (e.g.
    threads started before it forked into the background) must fail the
    test, not block it.  A child stuck on a request the daemon has already
    read cannot be killed, so the daemon goes first."""
    code = f"open({str(mnt / 'bkt' / 'f')!r}, 'wb').write(b'through helper')"
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        rc = child.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pid = find_daemon(mnt)
        threads = _threads_of(pid) if pid else "?"
        if pid:
            os.kill(pid, signal.SIGKILL)
        child.kill()
        child.wait(timeout=TIMEOUT)
        pytest.fail(f"write through the daemonized bucketfs hung for {TIMEOUT}s "
                    f"(daemon threads: {threads})", pytrace=False)
    assert rc == 0


def test_mount_fuse3_hash_form(helper_env):
    env, src, mnt = helper_env
    helper_mount(["mount.fuse3", f"bucketfs#{src}", str(mnt), "-o",
                  "passthrough=off,defaults,noatime"], env, mnt)
    assert (src / "bkt" / "f").read_bytes() == b"through helper"


def test_mount_fuse3_subtype_form(helper_env):
    """The argv mount(8) hands to mount.fuse3 for `-t fuse.bucketfs`."""
    env, src, mnt = helper_env
    helper_mount(["mount.fuse3", str(src), str(mnt), "-o", "rw,passthrough=off",
                  "-t", "fuse.bucketfs"], env, mnt)
    assert (src / "bkt" / "f").read_bytes() == b"through helper"


def test_mount_t_fuse_bucketfs(helper_env):
    """mount(8) drops PATH from the helper's environment, so this form needs
    `bucketfs` installed in the standard PATH (as `make install` does)."""
    env, src, mnt = helper_env
    std = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    if not shutil.which("bucketfs", path=std):
        pytest.skip("bucketfs is not installed in the standard PATH")
    helper_mount(["mount", "-t", "fuse.bucketfs", "-o", "passthrough=off,rw",
                  str(src), str(mnt)], env, mnt)
    assert (src / "bkt" / "f").read_bytes() == b"through helper"


def test_fstab_line(helper_env, tmp_path):
    """An /etc/fstab line (a private fstab via mount -T), with the program
    named by absolute path so mount(8)'s sanitized PATH does not matter."""
    env, src, mnt = helper_env
    prog = tmp_path / "bin" / "bucketfs"
    fstab = tmp_path / "fstab"
    fstab.write_text(f"{prog}#{src} {mnt} fuse defaults,noatime,passthrough=off 0 0\n")
    helper_mount(["mount", "-T", str(fstab), str(mnt)], env, mnt)
    assert (src / "bkt" / "f").read_bytes() == b"through helper"


def test_daemonizes_without_f(helper_env):
    env, src, mnt = helper_env
    p = subprocess.run(["bucketfs", str(src), str(mnt), "-o", "passthrough=off"],
                       env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert is_mounted(mnt)
    pid = find_daemon(mnt)
    assert pid
    write_with_deadline(mnt)
    assert (src / "bkt" / "f").read_bytes() == b"through helper"
    fusermount_u(mnt, lazy=False)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="daemon exit")
