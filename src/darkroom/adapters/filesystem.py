"""Objects as files under one directory; darkroom's own server serves the signed URLs."""

from __future__ import annotations

import builtins
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from darkroom.domain import BlobInfo, SignedRequest
from darkroom.errors import BadRequest, NotFound, Unavailable
from darkroom.keys import check_key
from darkroom.signing import UrlSigner, presigned_get, presigned_put

_CONTENT_TYPES = {
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".png": "image/png",
}
_PARTIAL = ".partial-"
"""Prefix of files being written; never listed, never served."""


class FilesystemBlobStore:
    def __init__(self, name: str, root: Path, signer: UrlSigner) -> None:
        self.name = name
        self.root = root.resolve()
        self._signer = signer

    def path(self, key: str) -> Path:
        """The file holding `key`; refuses keys that would resolve outside the root."""
        check_key(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise BadRequest(f"invalid object key {key[:80]!r}")
        return path

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> BlobInfo:
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_PARTIAL, dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    if isinstance(data, bytes):
                        out.write(data)
                    else:
                        shutil.copyfileobj(data, out, 1024 * 1024)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise Unavailable(f"cannot write {key!r}: {exc.strerror}") from exc
        return self._info(key, path)

    def get(self, key: str) -> bytes:
        path = self.path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object {key!r}") from None
        except OSError as exc:
            raise Unavailable(f"cannot read {key!r}: {exc.strerror}") from exc

    def head(self, key: str) -> BlobInfo | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return self._info(key, path)
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        path = self.path(key)
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError:
            return
        except OSError as exc:
            raise Unavailable(f"cannot delete {key!r}: {exc.strerror}") from exc
        self._prune(path.parent)

    def list(self, prefix: str = "", after: str = "", limit: int = 1000) -> builtins.list[BlobInfo]:
        """Keys in order, read from the folder the prefix names down, and only until the
        page is full: not the whole tree for every page (a photo's deletion lists its own
        prefix; `stats` and `doctor` page through everything)."""
        folder = prefix.rpartition("/")[0]
        start = (self.root / folder).resolve() if folder else self.root
        if not start.is_relative_to(self.root):
            return []
        found: builtins.list[BlobInfo] = []
        for key, entry in self._ordered(start, f"{folder}/" if folder else "", prefix, after):
            if entry.is_symlink():
                info = self.head(key)  # refused if it leads out of the store
            else:
                try:
                    info = self._info(key, Path(entry.path))
                except FileNotFoundError:  # deleted meanwhile
                    info = None
            if info is not None:
                found.append(info)
                if len(found) >= limit:
                    break
        return found

    def _ordered(
        self, directory: Path, base: str, prefix: str, after: str
    ) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """The keys under `directory` (named `base`) that start with `prefix` and sort after
        `after`, in key order (a folder sorts as its name and a slash, as its keys do); the
        folders none of whose keys can be wanted are not read."""
        wanted = []
        try:
            with os.scandir(directory) as listing:
                for entry in listing:
                    if entry.is_dir():
                        name = f"{base}{entry.name}/"
                        if (
                            not entry.is_symlink()  # as os.walk: not followed
                            and (name.startswith(prefix) or prefix.startswith(name))
                            and (name > after or after.startswith(name))
                        ):
                            wanted.append((name, entry))
                    elif not entry.name.startswith(_PARTIAL):
                        name = f"{base}{entry.name}"
                        if name.startswith(prefix) and name > after:
                            wanted.append((name, entry))
        except (FileNotFoundError, NotADirectoryError):
            return
        for name, entry in sorted(wanted, key=lambda pair: pair[0]):
            if name.endswith("/"):
                yield from self._ordered(Path(entry.path), name, prefix, after)
            else:
                yield name, entry

    def presign_get(
        self,
        key: str,
        expires_in: int,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> SignedRequest:
        check_key(key)
        return presigned_get(self._signer, self.name, key, expires_in, download_name, content_type)

    def presign_put(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> SignedRequest:
        check_key(key)
        return presigned_put(self._signer, self.name, key, content_type, max_bytes, expires_in)

    def leftovers(self, before: datetime) -> builtins.list[str]:
        return sorted(n for n in self._walk(partial=True) if _modified(self.root / n) < before)

    def remove_leftover(self, name: str) -> None:
        path = (self.root / name).resolve()
        if not path.name.startswith(_PARTIAL) or not path.is_relative_to(self.root):
            raise BadRequest(f"{name[:80]!r} is not a temporary file of {self.name}")
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError:
            return  # not something a write leaves
        except OSError as exc:
            raise Unavailable(f"cannot delete {name!r}: {exc.strerror}") from exc
        self._prune(path.parent)

    def _info(self, key: str, path: Path) -> BlobInfo:
        stat = path.stat()
        content_type = (
            _CONTENT_TYPES.get(Path(key).suffix.lower())
            or mimetypes.guess_type(key)[0]
            or "application/octet-stream"
        )
        return BlobInfo(key, stat.st_size, content_type, f"{stat.st_mtime_ns:x}-{stat.st_size:x}")

    def _walk(self, partial: bool = False) -> builtins.list[str]:
        """Every object's key, or with `partial` every temporary file's name instead."""
        if not self.root.is_dir():
            return []
        keys: list[str] = []
        for directory, _, files in os.walk(self.root):
            base = Path(directory).relative_to(self.root)
            keys.extend(
                (base / name).as_posix() for name in files if name.startswith(_PARTIAL) == partial
            )
        return keys

    def _prune(self, directory: Path) -> None:
        """Remove directories emptied by a delete, up to the root."""
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def _modified(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:  # renamed into place meanwhile: a finished write
        return datetime.max.replace(tzinfo=UTC)
