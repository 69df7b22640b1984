"""What a stage key is made of besides the config: model directories, code, engine versions.

    from prefdata.fingerprint import path_fingerprint, code_fingerprint, engine_versions
    path_fingerprint("/models/sft")      # {"kind": "dir", "small": {...sha...}, "large": {...size/mtime...}}
    code_fingerprint(["prefdata/stages/sample.py"])
    engine_versions(("vllm", "transformers", "torch"))

Model directories are fingerprinted cheaply: small files (config, generation config,
tokenizer, chat template) by content, large files (weights) by name, size and mtime, so a
model retrained into the same directory changes the key while a 1 GB model costs a few
`stat` calls. Content digests of small files are cached by (path, size, mtime), so an
unchanged directory is never read twice in one process. A Hugging Face cache snapshot
(`.../models--org--name/snapshots/<revision>`) also records its revision.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from prefdata import __version__

# Above this size a file is identified by size + mtime instead of its content (weights).
LARGE_FILE = 8 << 20
_SKIP_DIRS = {".git", "__pycache__", ".cache", "runs", "logs"}


def file_digest(path: Path) -> str:
    stat = path.stat()
    return _cached_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _cached_digest(path: str, size: int, mtime_ns: int) -> str:  # size/mtime are the cache key
    h = hashlib.sha256()
    _hash_bytes(h, Path(path))
    return h.hexdigest()[:16]


def _hash_bytes(h, path: Path) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)


def path_fingerprint(path: str | Path) -> dict[str, Any]:
    """Fingerprint of a file (content) or a directory (small files by content, large by stat)."""
    path = Path(path)
    if path.is_file():
        return {"kind": "file", "sha256": file_digest(path)}
    small, large = {}, {}
    for f in sorted(_walk(path)):
        name = str(f.relative_to(path))
        stat = f.stat()
        if stat.st_size > LARGE_FILE:
            large[name] = [stat.st_size, stat.st_mtime_ns]
        else:
            small[name] = file_digest(f)
    out: dict[str, Any] = {"kind": "dir", "small": small, "large": large}
    if path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--"):
        out["revision"] = path.name
    return out


def _walk(root: Path) -> Iterable[Path]:
    for entry in root.iterdir():
        if entry.is_dir():
            if entry.name not in _SKIP_DIRS and not entry.name.startswith("checkpoint-"):
                yield from _walk(entry)
        elif entry.is_file():
            yield entry


def code_fingerprint(files: Iterable[str | Path]) -> dict[str, str]:
    """Content digests of source files, plus the prefdata version. prefdata's own files are named by
    their path in the package (`prefdata/filters/dedup.py`: a plugin `dedup.py` never shadows it), the
    user's by their full path."""
    return {"prefdata": __version__, **{_code_name(Path(f)): file_digest(Path(f)) for f in sorted(set(map(str, files)))}}


def _code_name(path: Path) -> str:
    import prefdata

    root = Path(prefdata.__file__).resolve().parent.parent
    path = path.resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def content_digest(path: Path) -> str:
    """sha256 of a file, or of every file under a directory (with their relative names)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        _hash_bytes(h, f)
    return h.hexdigest()[:16]


def engine_versions(packages: Iterable[str]) -> dict[str, str]:
    """Installed versions of the engines that decide a stage's output (absent ones are left out)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
