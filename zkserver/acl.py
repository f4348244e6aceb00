"""ACLs and authentication: permission checks, the ``auth``/``digest``/``ip``/``world`` schemes, super users.

An ACL entry is ``(perms, scheme, id)``; a connection's identities are a list
of ``(scheme, id)``. The rules follow ZooKeeper's ``checkACL`` and
``fixupACL``: an empty ACL grants everything, a ``super`` identity bypasses
every check, ``world:anyone`` matches all, ``digest`` ids match exactly,
``ip`` ids match by address prefix, and the ``auth`` placeholder expands to the
caller's authenticated (digest) identities at create/setACL time.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from typing import NamedTuple

from zkserver.errors import ZkError

READ, WRITE, CREATE, DELETE, ADMIN = 1, 2, 4, 8, 16
ALL = 31

# KeeperException codes used here
NOAUTH = -102
INVALIDACL = -114
AUTHFAILED = -115


class Acl(NamedTuple):
    perms: int
    scheme: str
    id: str


class Identity(NamedTuple):
    scheme: str
    id: str


OPEN_ACL = (Acl(ALL, "world", "anyone"),)
WORLD_READ = (Acl(READ, "world", "anyone"),)
SUPER = Identity("super", "")


def digest(user_password: str) -> str:
    """``user:base64(sha1("user:password"))``; the user is the text before the first colon."""
    user = user_password.split(":", 1)[0]
    hashed = base64.b64encode(hashlib.sha1(user_password.encode("utf-8")).digest()).decode("ascii")
    return f"{user}:{hashed}"


def _ip_matches(client: str, pattern: str) -> bool:
    try:
        if "/" in pattern:
            return ipaddress.ip_address(client) in ipaddress.ip_network(pattern, strict=False)
        return ipaddress.ip_address(client) == ipaddress.ip_address(pattern)
    except ValueError:
        return False


def _ip_valid(pattern: str) -> bool:
    try:
        if "/" in pattern:
            addr, bits = pattern.split("/", 1)
            ipaddress.ip_address(addr)
            return bits.isdigit()
        ipaddress.ip_address(pattern)
        return True
    except ValueError:
        return False


def matches(identity: Identity, entry: Acl) -> bool:
    if identity.scheme != entry.scheme:
        return False
    if entry.scheme == "ip":
        return _ip_matches(identity.id, entry.id)
    return identity.id == entry.id


def check(acl: list[Acl] | tuple[Acl, ...], perm: int, ids: list[Identity], skip: bool = False) -> None:
    """Raise NOAUTH unless one of ``ids`` holds ``perm`` (any of its bits) on ``acl``."""
    if skip or not acl:
        return
    if SUPER in ids:
        return
    for entry in acl:
        if entry.perms & perm:
            if entry.scheme == "world" and entry.id == "anyone":
                return
            for identity in ids:
                if matches(identity, entry):
                    return
    raise ZkError(NOAUTH)


def allowed(acl: list[Acl] | tuple[Acl, ...], perm: int, ids: list[Identity]) -> bool:
    try:
        check(acl, perm, ids)
    except ZkError:
        return False
    return True


def _valid_id(scheme: str, ident: str) -> bool:
    if scheme == "digest":
        parts = ident.split(":")
        while parts and parts[-1] == "":  # Java's split drops trailing empty strings
            parts.pop()
        return len(parts) == 2
    if scheme == "ip":
        return _ip_valid(ident)
    return False


def fixup(acl: list[Acl] | None, ids: list[Identity]) -> list[Acl]:
    """Validate an ACL for create/setACL and expand ``auth``; INVALIDACL when it is not acceptable."""
    if not acl:
        raise ZkError(INVALIDACL)
    unique: list[Acl] = []
    for entry in acl:
        if entry not in unique:
            unique.append(entry)
    out: list[Acl] = []
    for entry in unique:
        if entry.scheme == "world" and entry.id == "anyone":
            out.append(entry)
        elif entry.scheme == "auth":
            expanded = [Acl(entry.perms, i.scheme, i.id) for i in ids if i.scheme == "digest"]
            if not expanded:
                raise ZkError(INVALIDACL)
            out.extend(expanded)
        elif _valid_id(entry.scheme, entry.id):
            out.append(entry)
        else:
            raise ZkError(INVALIDACL)
    return out


def authenticate(scheme: str, auth: bytes | None, client_ip: str, super_digest: str | None) -> list[Identity]:
    """Identities an auth packet adds to a connection; AUTHFAILED for an unknown scheme."""
    if scheme == "digest":
        text = (auth or b"").decode("utf-8", errors="replace")
        ident = digest(text)
        added = [Identity("digest", ident)]
        if super_digest is not None and ident == super_digest:
            added.insert(0, SUPER)
        return added
    if scheme == "ip":
        return [Identity("ip", client_ip)]
    raise ZkError(AUTHFAILED)


def mask_digests(acl: list[Acl]) -> list[Acl]:
    """getACL without ADMIN: digest ids come back as ``user:x``."""
    return [Acl(a.perms, a.scheme, a.id.split(":", 1)[0] + ":x") if a.scheme == "digest" else a for a in acl]


def display_name(identity: Identity) -> str:
    """What whoAmI reports: the user part of a digest id, else the id."""
    return identity.id.split(":", 1)[0] if identity.scheme == "digest" else identity.id
