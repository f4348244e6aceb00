"""ZooKeeper's error codes (``KeeperException.Code``): the ``err`` of ReplyHeader, MultiHeader and ErrorResponse.

This module owns the code table, restated from ZooKeeper 3.9.5
(``shared/zookeeper-protocol/opcodes.md`` §4; the same values in 3.8.0 and on master).
Only the numbers go over the wire; the message texts are client-side strings.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CLIENT_SIDE_CODES", "Code", "RESERVED_CODES"]


class Code(IntEnum):
    """``KeeperException.Code``."""

    OK = 0
    SYSTEMERROR = -1  # start of the system-error range; never sent
    RUNTIMEINCONSISTENCY = -2  # also: multi ops after the failing one
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    UNKNOWNSESSION = -12
    NEWCONFIGNOQUORUM = -13
    RECONFIGINPROGRESS = -14
    APIERROR = -100  # start of the API-error range; never sent
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119
    EPHEMERALONLOCALSESSION = -120
    NOWATCHER = -121
    REQUESTTIMEOUT = -122
    RECONFIGDISABLED = -123
    SESSIONCLOSEDREQUIRESASLAUTH = -124
    QUOTAEXCEEDED = -125
    THROTTLEDOP = -127


#: Codes a client raises by itself; a server never puts them on the wire.
CLIENT_SIDE_CODES = frozenset({Code.CONNECTIONLOSS, Code.INVALIDCALLBACK, Code.REQUESTTIMEOUT})

#: Values inside the two ranges that no code uses.
RESERVED_CODES = frozenset({-9, -10, -11, -104, -105, -106, -107, -109, -116, -117, -126})
