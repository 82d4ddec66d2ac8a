"""Media files: only regular files are opened, and none is read whole before every target's
limits are checked (its size comes from `stat`)."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import pytest

from postmast.connectors.webhook import Webhook
from postmast.scheduler import media
from postmast.scheduler.errors import UserError
from tests.factories import tiny_png


def test_a_fifo_a_device_and_a_directory_are_refused_in_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it would block until someone writes
    with pytest.raises(UserError) as caught:
        media.media_file(str(fifo))
    assert str(caught.value) == f"media file {str(fifo)!r} is a FIFO, not a regular file"
    with pytest.raises(UserError, match="is a character device, not a regular file"):
        media.media_file("/dev/zero")  # would never end
    with pytest.raises(UserError, match="is a directory, not a regular file"):
        media.media_file(str(tmp_path))
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s.png"))
        with pytest.raises(UserError, match="is a socket"):
            media.read_file(str(tmp_path / "s.png"))


def test_a_large_file_is_measured_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """900 MB for a target that takes no media: refused by the target's limits, never read whole."""
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.write(tiny_png(4, 3))
        handle.truncate(900_000_000)  # sparse: 900 MB on paper, nothing on disk
    reads: list[int] = []
    real_read = media._read

    def counting(file: str, shown: str, limit: int | None = None) -> bytes:
        reads.append(-1 if limit is None else limit)
        return real_read(file, shown, limit)

    monkeypatch.setattr(media, "_read", counting)
    item = media.media_file(str(big), "alt")
    assert (item.mime, item.size, item.width, item.height) == ("image/png", 900_000_000, 4, 3)
    problems = Webhook({"url": "http://127.0.0.1:9/"}).validate_media([item])
    assert [p.message for p in problems] == ["Webhook posts made by postmast cannot carry media"]
    assert reads == [media.HEAD]  # the header only


def test_bytes_are_read_when_needed_and_equal_the_file(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(tiny_png(2, 2))
    item = media.media_file(str(image))
    assert item.data == tiny_png(2, 2) and item.size == len(tiny_png(2, 2))


def test_an_mp4_whose_moov_follows_the_media_is_still_measured(tmp_path: Path) -> None:
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    mvhd = box(b"mvhd", bytes(12) + struct.pack(">II", 1000, 5000) + bytes(80))
    tkhd = box(b"tkhd", bytes(76) + struct.pack(">II", 640 << 16, 360 << 16))
    video = (
        box(b"ftyp", b"isom" + bytes(4))
        + box(b"mdat", bytes(200_000))
        + box(b"moov", mvhd + box(b"trak", tkhd))
    )
    path = tmp_path / "late-moov.mp4"
    path.write_bytes(video)
    item = media.media_file(str(path))
    assert (item.mime, item.width, item.height, item.duration) == ("video/mp4", 640, 360, 5.0)
