"""Helpers for the delivery suites (tests/integration/test_delivery_*.py):
a config file writer, a mount with targets, rules naming a webhook, the
.bucketfs/targets reader, certificates made with the openssl CLI, and a
free loopback port."""
import json
import os
import socket
import subprocess
from pathlib import Path

from conftest import rules_xml, set_rules, wait_for

DEFAULT_TARGET = "primary"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def webhook_arn(tid=DEFAULT_TARGET):
    return f"arn:bucketfs:sqs::{tid}:webhook"


def write_config(path, targets, mode=0o600):
    """targets: {id: {key: value}} -> [webhook "id"] sections."""
    lines = []
    for tid, keys in targets.items():
        lines.append(f'[webhook "{tid}"]')
        lines += [f"{k} = {v}" for k, v in keys.items()]
        lines.append("")
    Path(path).write_text("\n".join(lines))
    os.chmod(path, mode)
    return Path(path)


def make_target_mount(mount_factory, tmp_path, targets, opts=(), name=None):
    """A mount whose -o config= file configures the given webhook targets."""
    cfg = write_config(tmp_path / f"{name or 'b'}.conf", targets)
    m = mount_factory(opts=["passthrough=off", f"config={cfg}", *opts],
                      name=name)
    m.config = cfg
    return m


def subscribe(m, tid=DEFAULT_TARGET, events=("s3:ObjectCreated:*",
                                             "s3:ObjectRemoved:*"),
              bucket=None, **flt):
    """Rules on a bucket sending events to webhook tid."""
    set_rules(m.bucket(bucket), rules_xml(
        {"id": f"to-{tid}", "events": list(events), "arn": webhook_arn(tid),
         **flt}))


def targets(m):
    """.bucketfs/targets as {"ID:TYPE": entry}."""
    data = json.loads((m.mnt / ".bucketfs" / "targets").read_text())
    return {f"{t['id']}:{t['type']}": t for t in data}


def wait_target(m, pred, what, tid=DEFAULT_TARGET, timeout=30):
    return wait_for(lambda: pred(targets(m).get(f"{tid}:webhook", {})),
                    timeout=timeout, what=what)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   capture_output=True)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate,
    all signed by the CA, plus a second self-signed 'rogue' server cert.
    Returns a dict of paths."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=bucketfs test CA", "-keyout", "ca.key",
            "-out", "ca.pem", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj",
                f"/CN={who}", "-keyout", f"{who}.key", "-out", f"{who}.csr",
                cwd=d)
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                "-extfile", "san.ext", "-out", f"{who}.pem", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=rogue", "-addext",
            "subjectAltName=IP:127.0.0.1", "-keyout", "rogue.key",
            "-out", "rogue.pem", cwd=d)
    for f in d.glob("*.key"):
        os.chmod(f, 0o600)
    return {k: d / v for k, v in {
        "ca": "ca.pem", "server": "server.pem", "server_key": "server.key",
        "client": "client.pem", "client_key": "client.key",
        "rogue": "rogue.pem", "rogue_key": "rogue.key"}.items()}


def seqs(hits):
    """Every event id of the 2xx-acknowledged hits, in arrival order."""
    out = []
    for h in hits:
        if not 200 <= h.status < 300:
            continue
        ids = h.headers.get("x-bucketfs-event-ids")
        if ids:
            out += [int(x) for x in ids.split(",")]
        elif "x-bucketfs-event-id" in h.headers and isinstance(
                h.json, dict) and "Records" in h.json:
            out.append(int(h.headers["x-bucketfs-event-id"]))
    return out
