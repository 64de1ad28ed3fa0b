"""A private S3 server for tests: moto in server mode (``python -m moto.server``) as its own
process on a free port — a real HTTP S3 endpoint that the real boto3 client talks to. Stop it
to see what an unreachable object store does. No pytest import here (bench/ may use it).
"""
from __future__ import annotations

import subprocess
import sys
import time

import requests

from tests.private_servers import free_port

BUCKET = "ejia-media-test"
ACCESS_KEY, SECRET_KEY, REGION = "ejia-test-key", "ejia-test-secret", "us-east-1"


class PrivateS3:
    def __init__(self, bucket: str = BUCKET):
        self.bucket = bucket
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "PrivateS3":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, f"moto server exited with {self.process.returncode}"
            try:
                requests.get(self.endpoint + "/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise TimeoutError("moto server did not answer in 30 s") from None
                time.sleep(0.1)
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def stop(self) -> None:
        """Stop the server (its objects are gone with it: moto keeps them in memory)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def client(self):
        """A boto3 client of the test's own, to look into the bucket behind the app's back."""
        import boto3

        return boto3.session.Session().client("s3", endpoint_url=self.endpoint, region_name=REGION,
                                              aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def keys(self) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def get(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def settings_for(self, settings, prefix: str = "media"):
        """``settings`` with MEDIA_STORE pointing at this server."""
        return settings.with_overrides(media_store=f"s3://{self.bucket}/{prefix}", s3_endpoint_url=self.endpoint,
                                       s3_region=REGION, aws_access_key_id=ACCESS_KEY,
                                       aws_secret_access_key=SECRET_KEY)

    def environ(self, prefix: str = "media") -> dict:
        """The same, as the environment of another process."""
        return {"MEDIA_STORE": f"s3://{self.bucket}/{prefix}", "S3_ENDPOINT_URL": self.endpoint,
                "S3_REGION": REGION, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def closed_port_settings(settings, bucket: str = BUCKET):
    """MEDIA_STORE on an endpoint where nothing listens (connection refused at once)."""
    return settings.with_overrides(media_store=f"s3://{bucket}/media", s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
                                   s3_region=REGION, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
