"""Public media hosting against a real S3-compatible server (moto on loopback) and a folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from postmast.connectors import AuthExpired, MediaFile, PermanentError, TransientError
from postmast.connectors.hosting import (
    BucketHost,
    DirectoryHost,
    check_settings,
    configured,
    host_all,
    host_for,
    object_key,
)
from tests.servers.s3 import ACCESS, S3Server

JPEG = b"\xff\xd8\xff\xe0" + bytes(100)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


def image(name: str = "a.jpg") -> MediaFile:
    return MediaFile(JPEG + name.encode(), "image/jpeg", name)


def test_a_presigned_url_serves_the_file_until_it_is_deleted(s3: S3Server) -> None:
    bucket = s3.bucket("presigned")
    host = host_for(s3.settings(bucket), ACCESS)
    hosted = host_all(host, "postmast/", "key-1", [image(), image("b.jpg")])
    assert len(hosted.urls) == 2 and all("X-Amz-Signature=" in url for url in hosted.urls)
    fetched = requests.get(hosted.urls[0], timeout=5)
    assert fetched.status_code == 200 and fetched.content == image().data
    assert fetched.headers["Content-Type"] == "image/jpeg"
    assert sorted(s3.keys(bucket)) == sorted(hosted.keys)
    host.delete(hosted.keys)
    assert s3.keys(bucket) == [] and requests.get(hosted.urls[0], timeout=5).status_code == 404


def test_a_presigned_url_lives_for_the_ttl(s3: S3Server) -> None:
    """moto serves presigned URLs without checking their expiry; the signed lifetime is checked here."""
    bucket = s3.bucket("expiring")
    host = BucketHost({**s3.settings(bucket), "media_url_ttl": "600"}, ACCESS)
    [url] = host_all(host, "", "key", [image()]).urls
    assert "X-Amz-Expires=600&" in url and "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url


def test_a_public_base_url_instead_of_presigning(s3: S3Server) -> None:
    bucket = s3.bucket("public")
    host = host_for(s3.settings(bucket, media_public_url="https://cdn.example.org/m"), ACCESS)
    [url] = host_all(host, "p/", "key", [image()]).urls
    [key] = s3.keys(bucket)
    assert url == f"https://cdn.example.org/m/{key}" and key.startswith("p/") and key.endswith(".jpg")


def test_the_environment_and_aws_files_are_not_read(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """boto3 would take these over the account's settings if it read them."""
    bucket = s3.bucket("no-env")
    (tmp_path / "config").write_text("[default]\nregion = eu-west-9\nendpoint_url = http://127.0.0.1:9\n")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "wrong",
        "AWS_SECRET_ACCESS_KEY": "wrong",
        "AWS_PROFILE": "nonexistent",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "config"),
        "AWS_MAX_ATTEMPTS": "9",
    }.items():
        monkeypatch.setenv(name, value)
    [url] = host_all(host_for(s3.settings(bucket), ACCESS), "", "key", [image()]).urls
    assert url.startswith(s3.url) and requests.get(url, timeout=5).status_code == 200


def test_refusals_are_typed(s3: S3Server) -> None:
    with pytest.raises(AuthExpired, match="media_access_key_id"):
        host_for(s3.settings("x"), {})
    with pytest.raises(PermanentError, match="does not exist"):
        host_all(host_for(s3.settings("missing-bucket"), ACCESS), "", "k", [image()])
    with pytest.raises(TransientError, match="could not upload"):
        host_all(
            host_for({"media_bucket": "b", "media_endpoint": "http://127.0.0.1:9"}, ACCESS),
            "",
            "k",
            [image()],
        )
    with pytest.raises(PermanentError, match="set media_bucket"):
        host_for({}, {})


def test_a_directory_the_user_serves(tmp_path: Path) -> None:
    host = host_for({"media_directory": str(tmp_path), "media_public_url": "https://example.org/media/"}, {})
    assert isinstance(host, DirectoryHost)
    hosted = host_all(host, "postmast/", "key", [image()])
    [path] = (tmp_path / "postmast").iterdir()
    assert path.read_bytes() == image().data
    assert hosted.urls == [f"https://example.org/media/postmast/{path.name}"]
    host.delete(hosted.keys)
    assert list((tmp_path / "postmast").iterdir()) == []


def test_names_are_stable_per_item_and_unguessable() -> None:
    one = object_key("p/", "key-1", 0, image())
    assert one == object_key("p/", "key-1", 0, image())
    assert len({one, object_key("p/", "key-2", 0, image()), object_key("p/", "key-1", 1, image())}) == 3
    assert len(one.removeprefix("p/").removesuffix(".jpg")) == 40


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"media_bucket": "b", "media_directory": "/srv"}, "not both"),
        ({"media_directory": "/srv"}, "needs media_public_url"),
        (
            {"media_bucket": "b", "media_endpoint": "ftp://x"},
            "media_endpoint must be an absolute http(s) URL",
        ),
        ({"media_bucket": "b", "media_url_ttl": "5"}, "media_url_ttl must be"),
        ({"media_bucket": "b", "media_url_ttl": "3600"}, None),
    ],
)
def test_settings(settings: dict[str, str], problem: str | None) -> None:
    found = [p.message for p in check_settings(settings)]
    assert (problem is None and not found) or (problem is not None and problem in found[0])
    assert configured(settings)
