"""A real S3-compatible server on loopback for the media-hosting tests: moto in server mode.

moto (PyPI `moto[server]`, Apache-2.0) implements the S3 REST API, presigned URLs and
their expiry included, so the connectors' boto3 code talks to it exactly as to a bucket.
Credentials are any pair (moto accepts all); the bucket is created by the test.
"""

from __future__ import annotations

import socket
from typing import Any

from moto.server import ThreadedMotoServer

ACCESS = {"media_access_key_id": "AKIATESTKEY", "media_secret_access_key": "test-secret-key"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class S3Server:
    def __init__(self) -> None:
        self.port = _free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> S3Server:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS["media_access_key_id"],
            aws_secret_access_key=ACCESS["media_secret_access_key"],
        )

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return [item["Key"] for item in listed.get("Contents", [])]

    def settings(self, bucket: str, **extra: str) -> dict[str, str]:
        """The account settings that point media hosting at this server."""
        return {"media_bucket": bucket, "media_endpoint": self.url, **extra}
