"""Public media hosting: a URL a network can fetch an attachment from, for as long as it needs it.

Instagram and Threads take no bytes: they fetch each image or video from a public URL
while they process a container ("We cURL media used in publishing attempts, so the media
must be hosted on a publicly accessible server at the time of the attempt": Instagram
Content Publishing; Threads Posts: "Threads retrieves your image from the URL provided").
postmast puts each file where the account's settings say and hands the network its URL:

- an S3-compatible bucket (`media_bucket`, with `media_endpoint` for anything but AWS, and
  the access key in the account's secrets), served by presigned URLs that expire after
  `media_url_ttl` seconds, or by `media_public_url` when the bucket (or a CDN before it)
  is public;
- a folder your web server publishes (`media_directory`) at `media_public_url`.

Objects are named from the item's idempotency key, its position and a hash of the bytes,
so a retry writes the same name again (no litter, no guessable URL), and they are deleted
once the post is published or refused. Nothing here reads the environment or a config
file: boto3 gets the account's settings and secrets, and its own lookups of `AWS_*`
variables and `~/.aws` are switched off (`_session`). S3 is spoken through boto3.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from postmast.connectors.base import check_http_url
from postmast.connectors.content import Field, MediaFile, Problem
from postmast.connectors.errors import AuthExpired, PermanentError, TransientError

DEFAULT_TTL = 3600
MAX_TTL = 7 * 24 * 3600  # SigV4 presigned URLs live at most a week
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "video/mp4": ".mp4", "video/quicktime": ".mov"}
_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)

SETTINGS: tuple[Field, ...] = (
    Field(
        "media_bucket", "S3-compatible bucket postmast puts media in for the network to fetch", required=False
    ),
    Field("media_endpoint", "the bucket's S3 endpoint URL (default: AWS S3)", required=False),
    Field("media_region", "the bucket's region (default us-east-1)", required=False),
    Field("media_prefix", "key prefix of uploaded media (default postmast/)", required=False),
    Field(
        "media_url_ttl",
        f"seconds a presigned media URL stays valid (default {DEFAULT_TTL}, at most {MAX_TTL})",
        required=False,
    ),
    Field(
        "media_public_url",
        "public base URL the bucket or media_directory is served at (without it: presigned URLs)",
        required=False,
    ),
    Field("media_directory", "or instead of a bucket: a folder your web server publishes", required=False),
)
SECRETS: tuple[Field, ...] = (
    Field("media_access_key_id", "access key id for media_bucket", required=False, secret=True),
    Field("media_secret_access_key", "secret access key for media_bucket", required=False, secret=True),
)
WHAT_TO_SET = (
    "set media_bucket (an S3-compatible bucket, with media_endpoint and the media_access_key_id and "
    "media_secret_access_key secrets) or media_directory and media_public_url "
    "(postmast account update NETWORK:NAME --set ...)"
)


def configured(settings: Mapping[str, str]) -> bool:
    """Whether the account says where to host media."""
    return bool(settings.get("media_bucket") or settings.get("media_directory"))


def check_settings(settings: Mapping[str, str]) -> list[Problem]:
    """Problems with the hosting settings of an account (none of them is required)."""
    problems: list[Problem] = []
    if settings.get("media_bucket") and settings.get("media_directory"):
        problems.append(Problem("set media_bucket or media_directory, not both"))
    if settings.get("media_directory") and not settings.get("media_public_url"):
        problems.append(
            Problem("media_directory needs media_public_url: the URL your web server publishes it at")
        )
    for name in ("media_endpoint", "media_public_url"):
        if settings.get(name):
            problems += check_http_url(settings[name], name)
    ttl = settings.get("media_url_ttl")
    if ttl and not (ttl.isascii() and ttl.isdecimal() and 60 <= int(ttl) <= MAX_TTL):
        problems.append(Problem(f"media_url_ttl must be a whole number of seconds from 60 to {MAX_TTL}"))
    return problems


def object_key(prefix: str, idempotency_key: str, position: int, media: MediaFile) -> str:
    """The object's name: the same for a retry of the same item, unguessable by anyone else."""
    digest = hashlib.sha256(
        f"{idempotency_key}:{position}:".encode() + hashlib.sha256(media.data).digest()
    ).hexdigest()[:40]
    return f"{prefix}{digest}{EXTENSIONS.get(media.mime, '')}"


class MediaHost(Protocol):
    def put(self, key: str, media: MediaFile) -> str:
        """Store `media` under `key`; the URL the network fetches it from."""

    def delete(self, keys: Sequence[str]) -> None:
        """Remove objects once they are no longer needed (failures are ignored: URLs expire)."""


@dataclass
class DirectoryHost:
    """Files in a folder that a web server publishes at `base_url`."""

    directory: Path
    base_url: str

    def put(self, key: str, media: MediaFile) -> str:
        path = self.directory / key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".part")
            partial.write_bytes(media.data)
            partial.replace(path)
        except OSError as exc:
            raise TransientError(
                f"could not write {media.filename} to media_directory ({exc.strerror})"
            ) from None
        return f"{self.base_url.rstrip('/')}/{quote(key)}"

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            (self.directory / key).unlink(missing_ok=True)


class BucketHost:
    """Objects in an S3-compatible bucket, served presigned or from a public base URL."""

    def __init__(
        self, settings: Mapping[str, str], credentials: Mapping[str, str], *, timeout: float = 30.0
    ) -> None:
        key_id, secret = credentials.get("media_access_key_id"), credentials.get("media_secret_access_key")
        if not key_id or not secret:
            raise AuthExpired(
                "media_bucket is set but the media_access_key_id and media_secret_access_key secrets are not "
                "(postmast account update NETWORK:NAME --secrets)"
            )
        self.bucket = settings["media_bucket"]
        self.public_url = settings.get("media_public_url") or ""
        self.ttl = int(settings.get("media_url_ttl") or DEFAULT_TTL)
        from botocore.config import Config  # boto3 loads in ~0.3 s: only for accounts with a bucket

        self.client: Any = _session(key_id, secret, settings.get("media_region") or "us-east-1").client(
            "s3",
            endpoint_url=settings.get("media_endpoint") or None,
            config=Config(
                connect_timeout=min(timeout, 10.0),
                read_timeout=timeout,
                retries={"max_attempts": 1, "mode": "standard"},
                signature_version="s3v4",
                s3={"addressing_style": "path"} if settings.get("media_endpoint") else {},
                ignore_configured_endpoint_urls=True,
                proxies={},
            ),
        )

    def put(self, key: str, media: MediaFile) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=media.data, ContentType=media.mime)
            if self.public_url:
                return f"{self.public_url.rstrip('/')}/{quote(key)}"
            url = self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.ttl
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            message = f"the media bucket refused {media.filename} ({code or 'error'})"
            if code in _DENIED:
                raise AuthExpired(message + ": check the media_* secrets and the bucket's policy") from None
            if code == "NoSuchBucket":
                raise PermanentError(f"the media bucket {self.bucket!r} does not exist") from None
            raise TransientError(message) from None
        except BotoCoreError as exc:
            raise TransientError(
                f"could not upload {media.filename} to the media bucket ({type(exc).__name__})"
            ) from None
        return str(url)

    def delete(self, keys: Sequence[str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for key in keys:
            # the presigned URL expires anyway; a bucket lifecycle rule sweeps the rest
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.delete_object(Bucket=self.bucket, Key=key)


def _session(key_id: str, secret: str, region: str) -> Any:
    """A boto3 session from these values only: no `AWS_*` variables, profiles or `~/.aws` files."""
    import boto3
    import botocore.session
    from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES

    # every session variable keeps its config-file name and default, but no environment variable
    without_env = {
        name: (spec[0], None, *spec[2:]) for name, spec in BOTOCORE_DEFAUT_SESSION_VARIABLES.items()
    }
    core = botocore.session.Session(session_vars=without_env)
    for variable in ("config_file", "credentials_file"):
        core.set_config_variable(variable, os.devnull)
    core.set_config_variable("region", region)
    return boto3.session.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=region, botocore_session=core
    )


def host_for(
    settings: Mapping[str, str], credentials: Mapping[str, str], *, timeout: float = 30.0
) -> MediaHost:
    """Where this account's media go; `PermanentError` naming what to set when nowhere."""
    if settings.get("media_bucket"):
        return BucketHost(settings, credentials, timeout=timeout)
    if settings.get("media_directory") and settings.get("media_public_url"):
        return DirectoryHost(Path(settings["media_directory"]).expanduser(), settings["media_public_url"])
    raise PermanentError(f"media need a public URL: {WHAT_TO_SET}")


@dataclass
class Hosted:
    """The files of one item, put where the network can fetch them; `keys` to delete afterwards."""

    urls: list[str]
    keys: list[str]


def host_all(host: MediaHost, prefix: str, idempotency_key: str, media: Sequence[MediaFile]) -> Hosted:
    keys = [object_key(prefix, idempotency_key, n, m) for n, m in enumerate(media)]
    return Hosted([host.put(key, m) for key, m in zip(keys, media, strict=True)], keys)
