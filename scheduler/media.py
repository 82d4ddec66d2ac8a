"""Media files: recognised by their bytes (not their names), measured, stored once.

Types: PNG, JPEG, GIF, WebP images and MP4/QuickTime video. Dimensions come from the
image headers; a video's size and duration from its `tkhd` and `mvhd` boxes. Bytes
are stored in the job store, deduplicated by SHA-256.

Only regular files are opened (a FIFO would block forever, a device never end, a
directory is no image), and a file is not read whole until it must be: its size comes
from `stat`, its type and dimensions from its first bytes (and an MP4's `moov` box), so
every target's limits are checked before the bytes are read (`OnDisk`). A 900 MB file
for a target that takes no media is refused without being read.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postmast.connectors.content import MediaFile
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Media

MAX_FILE = 1_000_000_000
"""Nothing postmast sends is bigger than this (X's video limit is 512 MB)."""


@dataclass(frozen=True)
class Probe:
    mime: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None


def _png(data: bytes) -> Probe:
    width, height = struct.unpack(">II", data[16:24])
    return Probe("image/png", width, height)


def _gif(data: bytes) -> Probe:
    width, height = struct.unpack("<HH", data[6:10])
    return Probe("image/gif", width, height)


def _jpeg(data: bytes) -> Probe:
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            index += 1
            continue
        marker = data[index + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            index += 2
            continue
        length = struct.unpack(">H", data[index + 2 : index + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return Probe("image/jpeg", width, height)
        index += 2 + length
    return Probe("image/jpeg")


def _webp(data: bytes) -> Probe:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return Probe("image/webp", width, height)
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return Probe("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return Probe("image/webp", width & 0x3FFF, height & 0x3FFF)
    return Probe("image/webp")


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """ISO BMFF boxes between `start` and `end`: (type, payload start, box end)."""
    found = []
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        header = 8
        if size == 1 and start + 16 <= end:
            size = struct.unpack(">Q", data[start + 8 : start + 16])[0]
            header = 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            break
        found.append((kind, start + header, start + size))
        start += size
    return found


def _mp4(data: bytes, brand: bytes) -> Probe:
    mime = "video/quicktime" if brand == b"qt  " else "video/mp4"
    duration = width = height = None
    for kind, payload, end in _boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for inner, start, stop in _boxes(data, payload, end):
            if inner == b"mvhd":
                version = data[start]
                if version == 1:
                    scale, length = struct.unpack(">IQ", data[start + 20 : start + 32])
                else:
                    scale, length = struct.unpack(">II", data[start + 12 : start + 20])
                duration = length / scale if scale else None
            elif inner == b"trak" and width is None:
                for leaf, leaf_start, leaf_end in _boxes(data, start, stop):
                    if leaf == b"tkhd" and leaf_end - leaf_start >= 84:
                        w, h = struct.unpack(">II", data[leaf_end - 8 : leaf_end])
                        if w and h:
                            width, height = w >> 16, h >> 16
    return Probe(mime, width, height, duration)


def probe(data: bytes) -> Probe | None:
    """What the bytes are, or None when postmast cannot send them anywhere."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
            return _png(data)
        if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
            return _gif(data)
        if data.startswith(b"\xff\xd8\xff"):
            return _jpeg(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
            return _webp(data)
        if data[4:8] == b"ftyp":
            return _mp4(data, data[8:12])
    except struct.error:
        return None
    return None


HEAD = 64 * 1024
"""Bytes read to recognise a file (an MP4's `moov` box is read on its own, wherever it is)."""
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
}


def _opened(path: str) -> tuple[Path, str, int]:
    """The file, its printable name and size: a regular file of at most `MAX_FILE`, or one line why not."""
    try:
        file = Path(path).expanduser()
        info = file.stat()
    except RuntimeError:  # `~someone` for a user that does not exist
        raise UserError(f"media file {path!r}: cannot expand the home directory") from None
    except FileNotFoundError:
        raise UserError(f"media file {path!r} does not exist") from None
    except OSError as exc:
        raise UserError(f"cannot read media file {path!r}: {exc.strerror}") from None
    except ValueError:
        raise UserError(f"media file name {path!r} is not valid") from None
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise UserError(f"media file {path!r} is {kind}, not a regular file")
    if info.st_size > MAX_FILE:
        raise UserError(f"media file {path!r} is larger than 1 GB")
    # a name that is not UTF-8 (undecodable bytes) is kept readable, with replacement marks
    name = file.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return file, name, info.st_size


def read_file(path: str) -> tuple[str, bytes]:
    """The file's name and bytes, with one-line errors for everything that can go wrong."""
    file, name, _ = _opened(path)
    return name, _read(str(file), path)


def _read(file: str, shown: str, limit: int | None = None) -> bytes:
    try:
        with open(file, "rb") as handle:
            return handle.read() if limit is None else handle.read(limit)
    except OSError as exc:
        raise UserError(f"cannot read media file {shown!r}: {exc.strerror}") from None


def _moov(file: str, size: int) -> bytes:
    """An MP4's `moov` box, found by walking the top-level box headers (it may follow the media)."""
    with open(file, "rb") as handle:
        offset = 0
        while offset + 8 <= size:
            handle.seek(offset)
            header = handle.read(16)
            length, kind = struct.unpack(">I4s", header[:8])
            if length == 1 and len(header) == 16:
                length = struct.unpack(">Q", header[8:16])[0]
            elif length == 0:
                length = size - offset
            if length < 8:
                return b""
            if kind == b"moov":
                handle.seek(offset)
                return handle.read(min(length, MAX_FILE))
            offset += length
    return b""


@dataclass(frozen=True)
class OnDisk(MediaFile):
    """A media file measured from disk and read only when its bytes are needed (to be stored)."""

    path: str = ""
    length: int = 0

    @property
    def size(self) -> int:
        return self.length

    def __getattribute__(self, name: str) -> Any:
        if name == "data":
            return _whole(object.__getattribute__(self, "path"), object.__getattribute__(self, "length"))
        return object.__getattribute__(self, name)


def _whole(path: str, length: int) -> bytes:
    data = _read(path, path)
    if len(data) != length:
        raise UserError(f"media file {path!r} changed while postmast was reading it")
    return data


def media_file(path: str, alt: str = "") -> MediaFile:
    """Recognise `path` for validation without reading it whole; refuses what no network accepts."""
    file, name, size = _opened(path)
    head = _read(str(file), path, HEAD)
    if head[4:8] == b"ftyp" and size > len(head):  # the brand's box, then the box that describes the video
        head = head[: min(len(head), struct.unpack(">I", head[:4])[0])] + _moov(str(file), size)
    found = probe(head)
    if found is None:
        raise UserError(f"{name}: not a PNG, JPEG, GIF, WebP image or an MP4/MOV video")
    return OnDisk(
        b"", found.mime, name, alt, found.width, found.height, found.duration, os.fspath(file), size
    )


def store(session: Session, item: MediaFile, now: datetime) -> int:
    """The id of `item` in the media table, inserting it the first time it is seen."""
    data = item.data  # read once: from disk, for a file not yet stored
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalar(select(Media.id).where(Media.sha256 == digest))
    if existing is not None:
        return existing
    row = Media(
        sha256=digest,
        filename=item.filename[:255],
        mime=item.mime,
        size=len(data),
        width=item.width,
        height=item.height,
        duration=item.duration,
        data=data,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def load(session: Session, media_id: int, alt: str) -> MediaFile:
    row = session.get(Media, media_id)
    if row is None:
        raise LookupError(f"media {media_id} is missing from the store")
    return MediaFile(row.data, row.mime, row.filename, alt, row.width, row.height, row.duration)
