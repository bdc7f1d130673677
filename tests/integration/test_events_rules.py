"""Rules through a real mount: user.s3.notification on a bucket and on the
mount root, prefix/suffix delivery (non-matching keys first, then a
matching sentinel: only the sentinel reaches the log), persistence across
unmount/mount, refusals with EINVAL/ENOTSUP and the .error xattr, hostile
XML, and the dry-run commands check-config and match."""
import errno
import os
import subprocess

import pytest

from conftest import (LOCAL_ARN, RULES_ERROR_XATTR, RULES_XATTR,
                      bucketfs_bin, bucketfs_events, errno_of, ev_brief,
                      rules_error, rules_xml, set_rules, wait_for)


def put(p, data=b"x"):
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)


def logged(m, since=0):
    return [ev_brief(r) for r in bucketfs_events(m, "--since", since)]




JPG = rules_xml({"id": "jpg", "prefix": "images/", "suffix": ".jpg",
                 "events": ["s3:ObjectCreated:*"]})


def test_prefix_suffix_rule_delivers_only_the_matching_key(fs_off):
    m = fs_off
    set_rules(m.bucket("alpha"), JPG)
    a = m.bucket("alpha")
    for k in ("images/a.png", "other/b.jpg", "images.jpg", "Images/c.jpg",
              "images/d.JPG", "x/images/e.jpg", "images/f.jpg.txt"):
        put(a / k)
    put(m.bucket("beta") / "images" / "g.jpg")       # another bucket
    os.unlink(a / "images/a.png")                      # not subscribed
    put(a / "images" / "sub" / "sentinel.jpg")
    recs = bucketfs_events(m)
    assert [ev_brief(r) for r in recs] == [
        ("s3:ObjectCreated:Put", "alpha", "images/sub/sentinel.jpg")]
    assert recs[0]["s3"]["configurationId"] == "jpg"


def test_rules_anywhere_turn_the_default_off(fs_off):
    """The default (Created/Removed to local) applies only while nothing is
    configured anywhere."""
    m = fs_off
    put(m.bucket("beta") / "before")
    set_rules(m.bucket("alpha"), JPG)
    put(m.bucket("beta") / "after")
    put(m.bucket("alpha") / "images" / "s.jpg")
    assert logged(m) == [("s3:ObjectCreated:Put", "beta", "before"),
                         ("s3:ObjectCreated:Put", "alpha", "images/s.jpg")]
    os.removexattr(m.bucket("alpha"), RULES_XATTR)   # back to the default
    put(m.bucket("beta") / "again")
    assert logged(m)[-1] == ("s3:ObjectCreated:Put", "beta", "again")


def test_global_and_bucket_rules_combine(fs_off):
    m = fs_off
    set_rules(m.mnt, rules_xml({"id": "g-del", "events": ["s3:ObjectRemoved:*"],
                                "suffix": ".log"}))
    set_rules(m.bucket("beta"), rules_xml({"id": "b-put", "prefix": "in/",
                                           "events": ["s3:ObjectCreated:Put"]}))
    put(m.bucket("alpha") / "in" / "x")          # alpha: no Put rule
    put(m.bucket("beta") / "out" / "x")          # wrong prefix
    put(m.bucket("alpha") / "a.log")
    os.unlink(m.bucket("alpha") / "a.log")       # global rule
    os.unlink(m.bucket("alpha") / "in" / "x")    # wrong suffix
    put(m.bucket("beta") / "in" / "x")           # bucket rule
    recs = bucketfs_events(m)
    assert [(ev_brief(r), r["s3"]["configurationId"]) for r in recs] == [
        (("s3:ObjectRemoved:Delete", "alpha", "a.log"), "g-del"),
        (("s3:ObjectCreated:Put", "beta", "in/x"), "b-put")]


def test_bucket_events_need_global_rules(fs_off):
    m = fs_off
    set_rules(m.mnt, rules_xml({"id": "b", "events": ["s3:BucketCreated:*"]}))
    os.mkdir(m.mnt / "made-one")
    os.rmdir(m.mnt / "made-one")                 # BucketRemoved: not subscribed
    assert logged(m) == [("s3:BucketCreated:*", "made-one", "")]


def test_getxattr_returns_the_document_and_rules_survive_remount(fs_off):
    m = fs_off
    glob = rules_xml({"id": "g", "prefix": "keep/",
                      "events": ["s3:ObjectRemoved:*"]})
    set_rules(m.mnt, glob)
    set_rules(m.bucket("alpha"), JPG)
    assert os.getxattr(m.bucket("alpha"), RULES_XATTR).decode() == JPG
    assert os.getxattr(m.mnt, RULES_XATTR).decode() == glob
    m.restart()
    assert os.getxattr(m.bucket("alpha"), RULES_XATTR).decode() == JPG
    assert os.getxattr(m.mnt, RULES_XATTR).decode() == glob
    assert RULES_XATTR in os.listxattr(m.bucket("alpha"))
    a = m.bucket("alpha")
    put(a / "images" / "no.png")
    put(a / "keep" / "k")
    os.unlink(a / "images" / "no.png")
    put(a / "images" / "yes.jpg")
    os.unlink(a / "keep" / "k")
    assert logged(m) == [("s3:ObjectCreated:Put", "alpha", "images/yes.jpg"),
                         ("s3:ObjectRemoved:Delete", "alpha", "keep/k")]


def test_rules_follow_a_renamed_bucket_and_die_with_it(fs_off):
    m = fs_off
    set_rules(m.bucket("alpha"), JPG)
    os.rename(m.bucket("alpha"), m.mnt / "gamma")
    put(m.mnt / "gamma" / "images" / "r.png")
    put(m.mnt / "gamma" / "images" / "r.jpg")
    assert logged(m) == [("s3:ObjectCreated:Put", "gamma", "images/r.jpg")]
    assert os.getxattr(m.mnt / "gamma", RULES_XATTR).decode() == JPG
    for f in ("r.png", "r.jpg"):
        os.unlink(m.mnt / "gamma" / "images" / f)
    os.rmdir(m.mnt / "gamma" / "images")
    os.rmdir(m.mnt / "gamma")
    os.mkdir(m.mnt / "gamma")                    # a new bucket: no rules
    assert errno_of(os.getxattr, m.mnt / "gamma", RULES_XATTR) == errno.ENODATA
    put(m.mnt / "gamma" / "fresh")               # default again
    assert logged(m)[-1] == ("s3:ObjectCreated:Put", "gamma", "fresh")


def test_rules_leave_with_a_bucket_moved_into_another(fs_off):
    """Moved into another bucket, a bucket's directory takes its rules
    (the xattr) along and they stop applying to its old name; moved back
    to the root under any name, they apply again, as after a remount."""
    m = fs_off
    os.mkdir(m.mnt / "eps")
    set_rules(m.mnt / "eps", JPG)
    os.rename(m.mnt / "eps", m.bucket("alpha") / "epsdir")
    os.mkdir(m.mnt / "eps")                       # a new bucket: no rules
    put(m.mnt / "eps" / "new.png")
    assert logged(m)[-1] == ("s3:ObjectCreated:Put", "eps", "new.png")
    os.rename(m.bucket("alpha") / "epsdir", m.mnt / "eps2")
    assert os.getxattr(m.mnt / "eps2", RULES_XATTR).decode() == JPG
    put(m.mnt / "eps2" / "images" / "x.png")
    put(m.mnt / "eps2" / "images" / "x.jpg")
    assert logged(m)[-1] == ("s3:ObjectCreated:Put", "eps2", "images/x.jpg")
    assert ("s3:ObjectCreated:Put", "eps2", "images/x.png") not in logged(m)


# ---- refusals ----------------------------------------------------------

BAD = [
    ("bad event", rules_xml({"events": ["s3:ObjectCreated:Bogus"]}),
     errno.EINVAL, "InvalidArgument"),
    ("unknown target", rules_xml({"events": ["s3:ObjectCreated:*"],
                                  "arn": "arn:bucketfs:sqs::nope:webhook"}),
     errno.EINVAL, "InvalidArgument"),
    ("two prefixes",
     "<NotificationConfiguration><QueueConfiguration><Filter><S3Key>"
     "<FilterRule><Name>prefix</Name><Value>a</Value></FilterRule>"
     "<FilterRule><Name>prefix</Name><Value>b</Value></FilterRule>"
     f"</S3Key></Filter><Queue>{LOCAL_ARN}</Queue>"
     "<Event>s3:ObjectCreated:*</Event></QueueConfiguration>"
     "</NotificationConfiguration>", errno.EINVAL, "InvalidArgument"),
    ("not well-formed", "<NotificationConfiguration><QueueConfiguration>",
     errno.EINVAL, "MalformedXML"),
    ("topic",
     "<NotificationConfiguration><TopicConfiguration>"
     "<Topic>arn:aws:sns:us-east-1:1:t</Topic><Event>s3:ObjectCreated:*"
     "</Event></TopicConfiguration></NotificationConfiguration>",
     errno.ENOTSUP, "UnsupportedNotification"),
    ("cloud function",
     "<NotificationConfiguration><CloudFunctionConfiguration>"
     "<CloudFunction>arn:aws:lambda:us-east-1:1:function:f</CloudFunction>"
     "<Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration>"
     "</NotificationConfiguration>", errno.ENOTSUP, "UnsupportedNotification"),
]


@pytest.mark.parametrize("what,xml,err,code", BAD, ids=[b[0] for b in BAD])
def test_invalid_rules_are_refused_with_the_s3_code(fs_off, tmp_path, what,
                                                    xml, err, code):
    m = fs_off
    set_rules(m.bucket("alpha"), JPG)
    for target in (m.bucket("alpha"), m.mnt):
        assert errno_of(set_rules, target, xml) == err
        text = rules_error(target)
        assert text and text.startswith(code + ": "), text
        # what the dry run says, word for word
        f = tmp_path / "doc.xml"
        f.write_text(xml)
        p = subprocess.run([bucketfs_bin(), "check-config", str(f)],
                           capture_output=True, text=True)
        assert p.returncode == 1 and p.stdout.strip() == text, p
    # what was in force stays in force, and is what getxattr says
    assert os.getxattr(m.bucket("alpha"), RULES_XATTR).decode() == JPG
    assert errno_of(os.getxattr, m.mnt, RULES_XATTR) == errno.ENODATA
    put(m.bucket("alpha") / "images" / "n.png")
    put(m.bucket("alpha") / "images" / "y.jpg")
    assert logged(m) == [("s3:ObjectCreated:Put", "alpha", "images/y.jpg")]
    # a valid document clears the error
    set_rules(m.bucket("alpha"), JPG)
    assert rules_error(m.bucket("alpha")) is None


def test_error_xattr_is_read_only_and_per_scope(fs_off):
    m = fs_off
    assert rules_error(m.bucket("alpha")) is None
    assert errno_of(set_rules, m.bucket("beta"), "<x/>") == errno.EINVAL
    assert rules_error(m.bucket("alpha")) is None
    assert rules_error(m.bucket("beta")).startswith("MalformedXML: ")
    assert errno_of(os.setxattr, m.bucket("beta"), RULES_ERROR_XATTR,
                    b"x") == errno.EPERM


def test_rules_only_on_buckets_and_the_root(fs_off):
    m = fs_off
    d = m.bucket("alpha") / "sub"
    d.mkdir()
    put(m.bucket("alpha") / "f")
    for p in (d, m.bucket("alpha") / "f"):
        assert errno_of(set_rules, p, JPG) in (errno.ENOTSUP, errno.EINVAL)
    assert logged(m) == [("s3:ObjectCreated:Put", "alpha", "f")]


HOSTILE = {
    "billion laughs":
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
                  for i in range(9))
        + ']><NotificationConfiguration><QueueConfiguration><Id>&j;</Id>'
        f'<Queue>{LOCAL_ARN}</Queue><Event>s3:ObjectCreated:*</Event>'
        '</QueueConfiguration></NotificationConfiguration>',
    "external entity file":
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY x SYSTEM '
        '"file:///etc/passwd">]><NotificationConfiguration>'
        f'<QueueConfiguration><Id>&x;</Id><Queue>{LOCAL_ARN}</Queue>'
        '<Event>s3:ObjectCreated:*</Event></QueueConfiguration>'
        '</NotificationConfiguration>',
    "external entity url":
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY x SYSTEM '
        '"http://127.0.0.1:9/x">]><NotificationConfiguration>'
        f'<QueueConfiguration><Id>&x;</Id><Queue>{LOCAL_ARN}</Queue>'
        '<Event>s3:ObjectCreated:*</Event></QueueConfiguration>'
        '</NotificationConfiguration>',
    "external dtd":
        '<?xml version="1.0"?><!DOCTYPE NotificationConfiguration SYSTEM '
        '"file:///etc/passwd"><NotificationConfiguration/>',
    "deep nesting": "<NotificationConfiguration>" + "<a>" * 5000
                    + "</a>" * 5000 + "</NotificationConfiguration>",
    "many elements": "<NotificationConfiguration>" + "<QueueConfiguration/>"
                     * 3000 + "</NotificationConfiguration>",
    "invalid utf-8": b"<NotificationConfiguration><QueueConfiguration><Id>\xff"
                     b"\xfe</Id></QueueConfiguration></NotificationConfiguration>",
    "nul bytes": b"<NotificationConfiguration>\0</NotificationConfiguration>",
    "empty": b"",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_xml_is_refused_and_the_daemon_stays_fine(fs_off, name):
    m = fs_off
    doc = HOSTILE[name]
    doc = doc.encode() if isinstance(doc, str) else doc
    assert len(doc) < 65536
    for target in (m.mnt, m.bucket("alpha")):
        e = errno_of(set_rules, target, doc)
        assert e in (errno.EINVAL, errno.ENOTSUP), (name, e)
        text = rules_error(target)
        assert text and ": " in text, text
        assert "root:" not in text          # no file content leaks
        assert errno_of(os.getxattr, target, RULES_XATTR) == errno.ENODATA
    put(m.bucket("alpha") / "still")
    assert logged(m) == [("s3:ObjectCreated:Put", "alpha", "still")]


def test_document_over_xattr_limit(fs_off):
    m = fs_off
    big = rules_xml({"id": "x" * 70000, "events": ["s3:ObjectCreated:*"]})
    assert errno_of(set_rules, m.bucket("alpha"), big) in (errno.E2BIG,
                                                           errno.EINVAL,
                                                           errno.ENOSPC)
    put(m.bucket("alpha") / "ok")
    assert logged(m) == [("s3:ObjectCreated:Put", "alpha", "ok")]


def test_document_the_backing_fs_refuses_keeps_the_rules_in_force(fs_off):
    """A valid document larger than the backing file system stores in an
    xattr (ext4 without ea_inode: about 4 KiB) is refused with its errno;
    the rules stored before stay in force, and .error says why."""
    m = fs_off
    a = m.bucket("alpha")
    set_rules(a, JPG)
    big = rules_xml(*[{"id": f"rule-{i:02d}", "prefix": f"p{i:02d}/",
                       "events": ["s3:ObjectCreated:*"]} for i in range(60)])
    assert len(big) > 8192
    err = errno_of(set_rules, a, big)
    if err is None:
        pytest.skip("the backing file system stores a %d-byte xattr"
                    % len(big))
    assert err in (errno.ENOSPC, errno.E2BIG)
    assert os.getxattr(a, RULES_XATTR).decode() == JPG
    assert rules_error(a).startswith("InternalError: ")
    put(a / "p01" / "x.jpg")                         # the new rules: no
    put(a / "images" / "y.jpg")                      # the old ones: yes
    assert logged(m) == [("s3:ObjectCreated:Put", "alpha", "images/y.jpg")]


# ---- dry runs ----------------------------------------------------------


def test_match_command_agrees_with_the_mount(fs_off, tmp_path):
    f = tmp_path / "r.xml"
    f.write_text(JPG)
    def match(ev, key):
        p = subprocess.run([bucketfs_bin(), "match", str(f), ev, key],
                           capture_output=True, text=True)
        assert p.returncode == 0, p
        return p.stdout.split()
    assert match("s3:ObjectCreated:Put", "images/a.jpg") == ["local:sqlite"]
    assert match("s3:ObjectCreated:Put", "images/a.png") == []
    assert match("s3:ObjectRemoved:Delete", "images/a.jpg") == []
    p = subprocess.run([bucketfs_bin(), "check-config", str(f)],
                       capture_output=True, text=True)
    assert (p.returncode, p.stdout.strip()) == (0, "valid")
