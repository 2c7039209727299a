"""RawFileStore: which files count as price files, and which paths it refuses to hand out."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from quant_assets.resources.raw_files import RawFileStore, UnsafePathError, file_sha256

PRICE_FILES = (
    "aapl.csv",
    "aapl.us.txt",
    "fmp/AAPL.json",
    "nested/deeper/msft.csv.gz",
    "nested/SPY.CSV",
    "wide.txt.gz",
)
OTHER_FILES = (
    "README.md",
    ".hidden.csv",
    "nested/.msft.csv.tmp",
    "notes.pdf",
    "archive.tar.gz",
    "prices.parquet",
)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A price file beside, not inside, the raw folder."""
    path = tmp_path / "elsewhere" / "secret.csv"
    path.parent.mkdir()
    path.write_text("date,ticker,close\n")
    return path


@pytest.fixture
def store(tmp_path: Path) -> RawFileStore:
    root = tmp_path / "raw"
    for name in PRICE_FILES + OTHER_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("date,ticker,close\n")
    (root / "folder.csv").mkdir()  # a directory with a price-file name
    return RawFileStore(root=str(root))


def _relative(store: RawFileStore) -> list[str]:
    return [store.relative(p) for p in store.list_files()]


def test_list_files_finds_supported_files_recursively_sorted(store):
    assert _relative(store) == sorted(PRICE_FILES)


def test_list_files_of_a_missing_root_is_empty(tmp_path):
    assert RawFileStore(root=str(tmp_path / "absent")).list_files() == []


def test_list_files_skips_links_that_point_outside_the_root(store, outside):
    (store.root_path / "link.csv").symlink_to(outside)
    (store.root_path / "linked_dir").symlink_to(outside.parent, target_is_directory=True)
    assert _relative(store) == sorted(PRICE_FILES)


def test_list_files_skips_files_inside_hidden_folders(store):
    checkpoint = store.root_path / ".ipynb_checkpoints" / "aapl-checkpoint.csv"
    checkpoint.parent.mkdir()
    checkpoint.write_text("date,ticker,close\n")
    assert _relative(store) == sorted(PRICE_FILES)


def test_resolve_returns_the_file_inside_the_root(store):
    path = store.resolve("nested/deeper/msft.csv.gz")
    assert path == store.root_path / "nested" / "deeper" / "msft.csv.gz"


def test_resolve_accepts_a_link_to_a_file_inside_the_root(store):
    (store.root_path / "latest.csv").symlink_to(store.root_path / "aapl.csv")
    assert store.resolve("latest.csv").resolve() == store.root_path / "aapl.csv"


@pytest.mark.parametrize(
    "relative",
    ["../x.csv", "nested/../../x.csv", "../raw/aapl.csv"],
    ids=["parent", "parent_after_a_folder", "parent_back_into_the_root"],
)
def test_resolve_refuses_parent_references(store, relative):
    with pytest.raises(UnsafePathError, match="must stay inside"):
        store.resolve(relative)


def test_resolve_refuses_an_absolute_path_even_inside_the_root(store):
    with pytest.raises(UnsafePathError, match="must stay inside"):
        store.resolve(str(store.root_path / "aapl.csv"))


def test_resolve_refuses_a_link_pointing_outside_the_root(store, outside):
    (store.root_path / "link.csv").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="resolves outside"):
        store.resolve("link.csv")


@pytest.mark.parametrize(
    "relative",
    ["README.md", "notes.pdf", "archive.tar.gz", ".hidden.csv", "missing.csv", "folder.csv"],
)
def test_resolve_refuses_what_is_not_an_existing_price_file(store, relative):
    with pytest.raises(UnsafePathError, match="not an existing"):
        store.resolve(relative)


def test_source_name_is_raw_slash_the_relative_path(store):
    assert store.source_name(store.resolve("nested/deeper/msft.csv.gz")) == (
        "raw/nested/deeper/msft.csv.gz"
    )


def test_file_sha256_is_the_content_hash(store):
    path = store.resolve("aapl.csv")
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_listing_and_resolving_never_write_inside_the_root(store, outside):
    before = sorted((str(p), p.stat().st_mtime_ns) for p in store.root_path.rglob("*"))
    store.list_files()
    store.resolve("aapl.csv")
    with pytest.raises(UnsafePathError):
        store.resolve("../elsewhere/secret.csv")
    after = sorted((str(p), p.stat().st_mtime_ns) for p in store.root_path.rglob("*"))
    assert after == before
    assert os.listdir(outside.parent) == ["secret.csv"]
