"""DataTree rules that clients observe: Stat arithmetic, sequential suffixes, path validation, undo."""

from __future__ import annotations

import pytest

from zkserver.acl import OPEN_ACL
from zkserver.errors import ZkError
from zkserver.protocol import Code, create_flags
from zkserver.tree import DataTree, check_version, split_for_create, validate_path


def make(tree: DataTree, path: str, zxid: int, flags: int = 0, owner: int = 0) -> str:
    parent = tree.need(split_for_create(path))
    final = tree.prepare_create(path, create_flags(flags), parent)
    tree.create(final, b"", list(OPEN_ACL), owner, zxid, 1000 + zxid)
    return final


def test_builtin_nodes_and_their_stats() -> None:
    tree = DataTree()
    root = tree.need("/").stat()
    assert (root.czxid, root.mzxid, root.pzxid, root.num_children) == (0, 0, 0, 1)
    assert root.cversion == -1  # 2 * 0 creates - 1 child
    config = tree.need("/zookeeper/config").stat()
    assert config.aversion == -1
    assert set(tree.need("/zookeeper").children) == {"quota", "config"}


def test_sequential_suffix_counts_creates_not_the_visible_cversion() -> None:
    tree = DataTree()
    make(tree, "/p", 1)
    for i in range(3):
        name = make(tree, f"/p/c{i}", 2 + i)
        tree.delete(name, 10 + i)
    parent = tree.need("/p")
    assert parent.stat().cversion == 6  # 3 creates + 3 deletes
    assert make(tree, "/p/s-", 20, flags=2) == "/p/s-0000000003"
    assert parent.stat().pzxid == 20


def test_ephemeral_owner_is_reported_only_for_ephemerals() -> None:
    tree = DataTree()
    make(tree, "/e", 1, flags=1, owner=0x1000)
    make(tree, "/c", 2, flags=4, owner=-0x8000000000000000)
    assert tree.need("/e").stat().ephemeral_owner == 0x1000
    assert tree.need("/c").stat().ephemeral_owner == 0
    assert tree.ephemerals_of(0x1000) == ["/e"]
    assert "/c" in tree.containers
    with pytest.raises(ZkError) as info:
        make(tree, "/e/child", 3)
    assert info.value.code == Code.NOCHILDRENFOREPHEMERALS


@pytest.mark.parametrize("path", ["", "a", "/a/", "//a", "/a//b", "/a/./b", "/a/../b", "/a\x00b", "/a\x01", "/\u007f"])
def test_invalid_paths(path: str) -> None:
    with pytest.raises(ZkError) as info:
        validate_path(path)
    assert info.value.code == Code.BADARGUMENTS


def test_valid_paths() -> None:
    for path in ["/", "/a", "/a/b.c", "/.a", "/a-b_c/d"]:
        validate_path(path)
    validate_path("/a/", sequential=True)  # "parent/" is fine for a sequential create


def test_versions_wrap_like_int32() -> None:
    assert check_version(2**31 - 1, -1, "/x") == -(2**31)
    with pytest.raises(ZkError) as info:
        check_version(3, 2, "/x")
    assert info.value.code == Code.BADVERSION


def test_rollback_restores_everything() -> None:
    tree = DataTree()
    make(tree, "/a", 1)
    before = {p: (n.stat(), list(n.children)) for p, n in tree.nodes.items()}
    tree.begin()
    make(tree, "/a/b", 2, flags=1, owner=7)
    tree.set_data(tree.need("/a"), b"x", 1, 3, 5)
    tree.delete("/a/b", 4)
    make(tree, "/a/c", 5, flags=4, owner=-0x8000000000000000)
    tree.rollback()
    after = {p: (n.stat(), list(n.children)) for p, n in tree.nodes.items()}
    assert after == before
    assert tree.ephemerals == {} and tree.containers == {}


def test_descendants_count() -> None:
    tree = DataTree()
    make(tree, "/a", 1)
    make(tree, "/a/b", 2)
    make(tree, "/a/b/c", 3)
    assert tree.descendants("/a") == 2
    assert tree.descendants("/") == len(tree) - 1
