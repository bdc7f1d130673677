"""Shared fixtures for the bucketfs integration suite.

Every test gets a fresh temporary SRC (with buckets) and an empty MNT, the
daemon runs in the foreground under the sanitizers of the test build with its
stderr in a log file, and teardown fails the test if the daemon printed a
sanitizer report or exited non-zero.

Reusable pieces (later suites, e.g. test_events_*.py, build on them):

  fs            a mounted bucketfs, parametrized over passthrough=on/off
  fs_off        a mounted bucketfs with passthrough=off only
  mount_factory make_mount(opts=..., debug=..., buckets=..., start=...) -> Mount
  Mount         .src .mnt .log .proc .state .native .bucket(name) .restart(...)
                .mark() / .ops_since(mark) / .wait_op(...) for -d request logs
  errno_of(fn)  run fn, return its errno (0 if it succeeded)
  same(fs, fn)  run fn on a native bucket and on the mounted one, compare
  wait_for(pred, timeout, what)  poll with a deadline (never a bare sleep)

Environment: BUCKETFS_BIN (absolute path of the bucketfs binary; the test
runner sets it), BUCKETFS_TEST_TIMEOUT (seconds for mount/unmount deadlines,
default 20).
"""
import errno
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TOP = HERE.parent.parent

# Started in the background by a script (`nohup make check &`), the tests
# inherit SIGINT ignored, and so would every daemon and reader they start
# (an ignored signal stays ignored across exec; libfuse then leaves it
# alone): the tests that send SIGINT would hang.  A handler here is reset
# to the default in every child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
TIMEOUT = float(os.environ.get("BUCKETFS_TEST_TIMEOUT", "20"))
# A hung daemon blocks the test inside a syscall no Python timeout can
# interrupt; after this many seconds the watchdog SIGKILLs the test's daemons
# (the kernel then fails the blocked request with ENOTCONN) and fails the test.
TEST_DEADLINE = float(os.environ.get("BUCKETFS_TEST_DEADLINE", "150"))
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "runtime error:",
                      "LeakSanitizer", "ERROR: ThreadSanitizer",
                      "WARNING: ThreadSanitizer")
DEFAULT_BUCKETS = ("alpha", "beta")
OPCODE_RE = re.compile(r"unique: (\d+), opcode: ([A-Z_0-9]+) \((\d+)\)")


def bucketfs_bin():
    b = os.environ.get("BUCKETFS_BIN")
    if b:
        return str(Path(b).resolve())
    for d in ("build-it", "build-check", "build"):
        p = TOP / d / "fs" / "bucketfs"
        if p.exists():
            return str(p)
    pytest.skip("BUCKETFS_BIN not set and no build dir with fs/bucketfs")


def daemon_env(extra=None):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS",
                   "detect_leaks=1:abort_on_error=0:halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if extra:
        env.update(extra)
    return env


def wait_for(pred, timeout=TIMEOUT, what="condition", interval=0.005):
    """Poll pred() until it is truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 2, 0.1)


def errno_of(fn, *args, **kw):
    """Return the errno fn raised, or 0 if it succeeded."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return 0


def errname(e):
    return errno.errorcode.get(e, str(e)) if e else "OK"


def outcome(fn, base):
    """fn(base) -> value, or ('errno', NAME) if it raised OSError."""
    try:
        return fn(base)
    except OSError as e:
        return ("errno", errname(e.errno))


def same(fs, fn, bucket=None):
    """Run fn(dir) on a native bucket directory and on the mounted bucket;
    the results (values or errno names) must be equal.  Returns the result."""
    bucket = bucket or fs.buckets[0]
    nat = fs.native / bucket
    nat.mkdir(parents=True, exist_ok=True)
    a = outcome(fn, nat)
    b = outcome(fn, fs.mnt / bucket)
    assert b == a, f"mount gave {b!r}, native gave {a!r}"
    return b


def sanitizer_report(text):
    for p in SANITIZER_PATTERNS:
        if p in text:
            return p
    return None


def st_dev(p):
    try:
        return os.stat(p).st_dev
    except OSError:
        return None


def is_mounted(mnt):
    mnt = os.path.realpath(mnt)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 4 and fields[4] == mnt:
                return True
    return False


def close_fds_under(path):
    """Close this process's descriptors that point into path (a failed test
    may leave one open, which would keep a lazily unmounted daemon alive)."""
    prefix = os.path.realpath(path) + "/"
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if (target + "/").startswith(prefix):
            try:
                os.close(int(fd))
            except OSError:
                pass


def fusermount_u(mnt, lazy=True):
    args = ["fusermount3", "-u"] + (["-z"] if lazy else []) + [str(mnt)]
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)


# daemons of the running test, for the watchdog: callables returning a pid
_watched = []


def watch_daemon(get_pid):
    """Register a daemon (a callable returning its pid or None) with the
    per-test watchdog."""
    _watched.append(get_pid)


def _threads_of(pid):
    out = []
    try:
        for t in sorted(os.listdir(f"/proc/{pid}/task")):
            with open(f"/proc/{pid}/task/{t}/wchan") as f:
                out.append(f"{t}:{f.read().strip() or '-'}")
    except OSError:
        pass
    return " ".join(out)


@pytest.fixture(autouse=True)
def _watchdog(request):
    fired = []

    def fire():
        for get in list(_watched):
            pid = get()
            if pid:
                fired.append(f"pid {pid} threads [{_threads_of(pid)}]")
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if not fired:
            fired.append("no daemon registered")
    timer = threading.Timer(TEST_DEADLINE, fire)
    timer.daemon = True
    timer.start()
    yield
    timer.cancel()
    _watched.clear()
    if fired:
        pytest.fail(f"test exceeded {TEST_DEADLINE}s (daemon hung?); killed: "
                    + "; ".join(fired), pytrace=False)


class Mount:
    """One bucketfs daemon on a temporary SRC/MNT pair."""

    def __init__(self, root, opts=(), debug=False, buckets=DEFAULT_BUCKETS,
                 args=()):
        self.root = Path(root)
        self.src = self.root / "src"
        self.mnt = self.root / "mnt"
        self.native = self.root / "native"
        self.state = self.src / ".bucketfs-state"
        self.buckets = tuple(buckets)
        for d in (self.src, self.mnt, self.native):
            d.mkdir(parents=True, exist_ok=True)
        for b in self.buckets:
            (self.src / b).mkdir(exist_ok=True)
            (self.native / b).mkdir(exist_ok=True)
        self.opts = list(opts)
        self.debug = debug
        self.args = list(args)
        self.proc = None
        self.log = None
        self.logs = []          # every log file this Mount produced
        self.generation = 0
        self.checked_exit = True

    # -- lifecycle ----------------------------------------------------------
    def command(self):
        cmd = [bucketfs_bin(), str(self.src), str(self.mnt), "-f"]
        if self.debug:
            cmd.append("-d")
        if self.opts:
            cmd += ["-o", ",".join(self.opts)]
        return cmd + self.args

    def start(self, opts=None, debug=None, wait=True):
        if opts is not None:
            self.opts = list(opts)
        if debug is not None:
            self.debug = debug
        self.generation += 1
        self.log = self.root / f"daemon.{self.generation}.log"
        self.logs.append(self.log)
        dev0 = st_dev(self.mnt)
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         env=daemon_env())
        self.checked_exit = False
        proc = self.proc
        watch_daemon(lambda: proc.pid if proc.poll() is None else None)
        if wait:
            self.wait_mounted(dev0)
        return self

    def wait_mounted(self, dev0=None):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"bucketfs exited with {self.proc.returncode} before "
                    f"mounting:\n{self.log_text()}")
            return is_mounted(self.mnt) and st_dev(self.mnt) != dev0
        wait_for(ready, what=f"mount on {self.mnt}")

    def stop(self, how="fusermount"):
        """Unmount and wait for the daemon; return its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            close_fds_under(self.mnt)
            if how == "fusermount":
                fusermount_u(self.mnt, lazy=True)
            elif how == "SIGTERM":
                self.proc.send_signal(signal.SIGTERM)
            elif how == "SIGINT":
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
                if is_mounted(self.mnt):
                    fusermount_u(self.mnt)
                self.checked_exit = True
                raise AssertionError(
                    f"bucketfs did not exit within {TIMEOUT}s after {how}:\n"
                    f"{self.log_text()[-4000:]}")
        if is_mounted(self.mnt):
            fusermount_u(self.mnt)
        return self.proc.returncode

    def check(self, rc):
        """Fail on a sanitizer report in any log or a non-zero exit."""
        self.checked_exit = True
        for log in self.logs:
            text = log.read_text(errors="replace") if log.exists() else ""
            rep = sanitizer_report(text)
            if rep:
                raise AssertionError(
                    f"sanitizer report ({rep}) in {log}:\n{text[-8000:]}")
        if rc not in (0, None):
            raise AssertionError(
                f"bucketfs exited with status {rc}:\n{self.log_text()[-4000:]}")

    def restart(self, opts=None, debug=None):
        """Unmount (checking the exit), then mount again with other options."""
        rc = self.stop()
        self.check(rc)
        return self.start(opts=opts, debug=debug)

    def close(self):
        rc = self.stop()
        if not self.checked_exit:
            self.check(rc)
        else:
            # still scan for sanitizer output
            self.check(None)

    # -- helpers ------------------------------------------------------------
    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except (OSError, AttributeError):
            return ""

    def bucket(self, name=None):
        return self.mnt / (name or self.buckets[0])

    def backing(self, name=None):
        return self.src / (name or self.buckets[0])

    @property
    def passthrough(self):
        for o in self.opts:
            if o.startswith("passthrough="):
                return o.split("=", 1)[1]
        return "auto"

    # -- request log (-d) ---------------------------------------------------
    def mark(self):
        """A point in the -d request log; see ops_since()."""
        assert self.debug, "mount with debug=True to count requests"
        return self.log.stat().st_size

    def ops_since(self, mark):
        """Opcodes of the requests the daemon logged after mark, in order."""
        with open(self.log, "rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        return [m.group(2) for m in OPCODE_RE.finditer(text)]

    def wait_op(self, mark, opcode, count=1, timeout=TIMEOUT):
        """Wait until at least count requests of opcode follow mark (for
        asynchronous requests such as RELEASE and FORGET)."""
        return wait_for(lambda: self.ops_since(mark).count(opcode) >= count,
                        timeout=timeout, what=f"{count}x {opcode} in the -d log")


# --------------------------------------------------------------------------
# passthrough availability: probe once per session with a real mount


def kernel_version():
    rel = os.uname().release
    m = re.match(r"(\d+)\.(\d+)", rel)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


_probe = {}


def passthrough_unavailable(tmp_path_factory):
    """None if passthrough=on mounts here, else the reason why not."""
    if "reason" in _probe:
        return _probe["reason"]
    reason = None
    if os.geteuid() != 0:
        reason = "FUSE passthrough needs root (CAP_SYS_ADMIN)"
    elif kernel_version() < (6, 9):
        reason = f"FUSE passthrough needs kernel >= 6.9 (have {os.uname().release})"
    elif not os.path.exists("/dev/fuse"):
        reason = "no /dev/fuse"
    else:
        m = Mount(tmp_path_factory.mktemp("probe"), opts=["passthrough=on"])
        try:
            m.start()
        except (RuntimeError, TimeoutError) as e:
            reason = ("probe mount with -o passthrough=on failed: "
                      + str(e).strip().splitlines()[-1][:300])
        finally:
            try:
                m.stop()
            except AssertionError:
                pass
    _probe["reason"] = reason
    return reason


@pytest.fixture
def mount_factory(tmp_path):
    """make_mount(opts=(), debug=False, buckets=..., start=True) -> Mount.
    Every Mount made here is unmounted and checked at teardown."""
    made = []

    def make(opts=(), debug=False, buckets=DEFAULT_BUCKETS, start=True,
             args=(), name=None):
        root = tmp_path / (name or f"m{len(made)}")
        m = Mount(root, opts=opts, debug=debug, buckets=buckets, args=args)
        made.append(m)
        if start:
            m.start()
        return m

    yield make
    errors = []
    for m in made:
        try:
            m.close()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture(params=["on", "off"], ids=["pt_on", "pt_off"])
def passthrough_mode(request, tmp_path_factory):
    if request.param == "on":
        reason = passthrough_unavailable(tmp_path_factory)
        if reason:
            pytest.skip(reason)
    return request.param


@pytest.fixture
def fs(mount_factory, passthrough_mode):
    """A mounted bucketfs (buckets alpha, beta), once per passthrough mode."""
    return mount_factory(opts=[f"passthrough={passthrough_mode}"])


@pytest.fixture
def fs_off(mount_factory):
    """A mounted bucketfs with passthrough=off (the unprivileged path)."""
    return mount_factory(opts=["passthrough=off"])


@pytest.fixture
def dfs(mount_factory, passthrough_mode):
    """Like fs, but with -d so tests can count the requests that reach the
    daemon (Mount.mark / ops_since / wait_op)."""
    return mount_factory(opts=[f"passthrough={passthrough_mode}"], debug=True)


def image_mount(tmp_path, mount_factory, name, fstype, mkfs_opts, opts):
    """A mount (generator, for a fixture) whose SRC is a 64 MiB image of
    fstype made with mkfs_opts and mounted with -o loop; skips without
    root, the mkfs tool, or a file system it cannot make or mount."""
    mkfs = f"mkfs.{fstype}"
    if os.geteuid() != 0 or not shutil.which(mkfs):
        pytest.skip(f"needs root and {mkfs} for an {fstype} image")
    root = tmp_path / name
    root.mkdir()
    img = tmp_path / f"{name}.img"
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    if subprocess.run([mkfs, "-q", "-F", *mkfs_opts, str(img)],
                      capture_output=True).returncode != 0:
        pytest.skip(f"{mkfs} {' '.join(mkfs_opts)} failed")
    if subprocess.run(["mount", "-o", "loop", "-t", fstype, str(img),
                       str(root)]).returncode != 0:
        pytest.skip(f"cannot mount an {fstype} image")
    try:
        m = mount_factory(opts=opts, name=name)
        yield m
        m.close()
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


@pytest.fixture
def coarse_mount(tmp_path, mount_factory, passthrough_mode):
    """A mount whose SRC is on a file system stamped at the clock tick:
    ext2 in an image mounted with -o loop (on Linux >= 6.13 ext4 and tmpfs
    stamp finely; on Debian 12's 6.1 every file system is like ext2 here),
    so a rewrite within one tick keeps mtime and ctime.  Its state
    directory (SRC/.bucketfs-state) is on ext2 too, which has no
    fallocate(FALLOC_FL_KEEP_SIZE): the event journal's no-reserve path
    (ntf_store.c, journal_room) serves every event these tests check."""
    yield from image_mount(tmp_path, mount_factory, "coarse", "ext2", [],
                           [f"passthrough={passthrough_mode}"])


@pytest.fixture
def run_daemon(tmp_path):
    """run_daemon(args, timeout) -> CompletedProcess of a bucketfs that is
    expected to exit by itself (CLI errors).  Fails on sanitizer output."""
    def run(args, timeout=TIMEOUT, env=None, prefix=()):
        p = subprocess.run(list(prefix) + [bucketfs_bin()] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=timeout,
                           env=daemon_env(env), stdin=subprocess.DEVNULL)
        rep = sanitizer_report(p.stderr + p.stdout)
        assert not rep, f"sanitizer report ({rep}):\n{p.stderr[-8000:]}"
        return p
    return run


def have(tool):
    return shutil.which(tool) is not None


# --------------------------------------------------------------------------
# events (test_events_*.py): rules, the live stream, the embedded log

import json as _json
import select as _select

LOCAL_ARN = "arn:bucketfs:sqs::local:sqlite"
RULES_XATTR = "user.s3.notification"
RULES_ERROR_XATTR = "user.s3.notification.error"
ALL_EVENTS = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectAccessed:*",
              "s3:ObjectTagging:*", "s3:ObjectAcl:Put", "s3:BucketCreated:*",
              "s3:BucketRemoved:*")


def rules_xml(*configs):
    """A NotificationConfiguration; each config is a dict with events
    (list), and optional id, prefix, suffix, arn (default the local log)."""
    out = ['<NotificationConfiguration '
           'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">']
    for c in configs:
        out.append("<QueueConfiguration>")
        if c.get("id") is not None:
            out.append(f"<Id>{c['id']}</Id>")
        flt = [(n, c[n]) for n in ("prefix", "suffix") if c.get(n) is not None]
        if flt:
            out.append("<Filter><S3Key>")
            for n, v in flt:
                out.append(f"<FilterRule><Name>{n}</Name><Value>{v}</Value>"
                           "</FilterRule>")
            out.append("</S3Key></Filter>")
        out.append(f"<Queue>{c.get('arn', LOCAL_ARN)}</Queue>")
        for e in c["events"]:
            out.append(f"<Event>{e}</Event>")
        out.append("</QueueConfiguration>")
    out.append("</NotificationConfiguration>")
    return "".join(out)


def set_rules(path, xml):
    os.setxattr(str(path), RULES_XATTR,
                xml.encode() if isinstance(xml, str) else xml)


def rules_error(path):
    try:
        return os.getxattr(str(path), RULES_ERROR_XATTR).decode()
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise


def subscribe_all(m, cid="all"):
    """Global rules at the mount root: every object and bucket event the
    table of DESIGN.md §3 produces goes to the embedded log."""
    set_rules(m.mnt, rules_xml({"id": cid, "events": ALL_EVENTS}))


def seq_of(rec):
    return int(rec["s3"]["object"]["sequencer"], 16)


class EventStream:
    """A reader of MNT/.bucketfs/events, opened O_NONBLOCK (reads poll
    with a deadline; the blocking path has its own tests)."""

    def __init__(self, m, nonblock=True):
        self.path = str(m.mnt / ".bucketfs" / "events")
        self.fd = os.open(self.path, os.O_RDONLY |
                          (os.O_NONBLOCK if nonblock else 0))
        self.buf = b""
        self.lines = []         # every parsed line so far (dicts)

    def _fill(self, timeout):
        r, _, _ = _select.select([self.fd], [], [], timeout)
        try:
            data = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return False
        self.buf += data
        *full, self.buf = self.buf.split(b"\n")
        for ln in full:
            if ln.strip():
                self.lines.append(_json.loads(ln))
        return bool(data)

    def drain(self, quiet=0.05):
        """Read until nothing arrives for `quiet` seconds."""
        while self._fill(quiet):
            pass
        return self.lines

    def until(self, pred, timeout=TIMEOUT, what="event"):
        """Read until pred(line) holds for some new line; return it."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for ln in self.lines[seen:]:
                if pred(ln):
                    return ln
            seen = len(self.lines)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {what} on {self.path} within {timeout}s;"
                                   f" got {[ev_brief(x) for x in self.lines][-20:]}")
            self._fill(min(left, 0.2))

    def take(self):
        """The lines read so far, forgetting them."""
        out, self.lines = self.lines, []
        return out

    def close(self):
        """Close; a dead daemon (ENOTCONN) is reported by the mount's own
        teardown, with its log."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            try:
                os.close(fd)
            except OSError:
                pass


def ev_brief(r):
    """(eventName, bucket, key) of a record, or ('gap', N)."""
    if "gap" in r:
        return ("gap", r["gap"])
    return (r["eventName"], r["s3"]["bucket"]["name"], r["s3"]["object"]["key"])


def bucketfs_events(m_or_args, *extra, timeout=TIMEOUT, check=True):
    """Run `bucketfs events --state STATE ...` for a Mount (or with the
    given argument list) and return the parsed records."""
    if isinstance(m_or_args, Mount):
        args = ["--state", str(m_or_args.state)]
    else:
        args = [str(a) for a in m_or_args]
    p = subprocess.run([bucketfs_bin(), "events"] + args + [str(a) for a in extra],
                       capture_output=True, text=True, timeout=timeout,
                       env=daemon_env(), stdin=subprocess.DEVNULL)
    rep = sanitizer_report(p.stderr)
    assert not rep, f"sanitizer report ({rep}) from bucketfs events:\n{p.stderr}"
    if check:
        assert p.returncode == 0, f"bucketfs events {args} {extra}: {p.stderr}"
    return [_json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]


def last_seq(m):
    """The highest sequencer in the embedded log (0 when empty)."""
    recs = bucketfs_events(m)
    return max((seq_of(r) for r in recs), default=0)
