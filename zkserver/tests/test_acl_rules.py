"""ACL checks, fixups and the digest scheme."""

from __future__ import annotations

import pytest

from zkserver import acl as A
from zkserver.acl import Acl, Identity
from zkserver.errors import ZkError


def test_digest_matches_the_observed_value() -> None:
    assert A.digest("alice:secret") == "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="


def test_check_rules() -> None:
    alice = Identity("digest", A.digest("alice:secret"))
    entry = [Acl(A.ALL, "digest", alice.id)]
    A.check(entry, A.READ, [alice])
    with pytest.raises(ZkError) as info:
        A.check(entry, A.READ, [Identity("ip", "127.0.0.1")])
    assert info.value.code == A.NOAUTH
    A.check(entry, A.READ, [A.SUPER])
    A.check([], A.ADMIN, [])  # an empty ACL grants everything
    A.check([Acl(A.READ, "world", "anyone"), Acl(A.ALL, "ip", "127.0.0.0/8")], A.WRITE, [Identity("ip", "127.0.0.1")])


def test_fixup_expands_auth_to_digest_ids_only() -> None:
    ids = [Identity("ip", "127.0.0.1"), Identity("digest", "bob:xyz")]
    assert A.fixup([Acl(A.ALL, "auth", "")], ids) == [Acl(A.ALL, "digest", "bob:xyz")]
    for bad in ([], None, [Acl(A.ALL, "auth", "")], [Acl(A.ALL, "world", "someone")], [Acl(A.ALL, "nope", "x")],
                [Acl(A.ALL, "digest", "nocolon")], [Acl(A.ALL, "ip", "not-an-ip")]):
        with pytest.raises(ZkError) as info:
            A.fixup(bad, [Identity("ip", "127.0.0.1")])
        assert info.value.code == A.INVALIDACL


def test_authenticate_and_masking() -> None:
    ids = A.authenticate("digest", b"super:pw", "127.0.0.1", A.digest("super:pw"))
    assert ids[0] == A.SUPER
    assert A.authenticate("digest", b"no-colon", "1.2.3.4", None) == [Identity("digest", A.digest("no-colon"))]
    with pytest.raises(ZkError):
        A.authenticate("kerberos", b"x", "1.2.3.4", None)
    assert A.mask_digests([Acl(1, "digest", "u:hash")]) == [Acl(1, "digest", "u:x")]
