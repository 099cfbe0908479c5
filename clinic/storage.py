"""Storage for private files (photos, documents, signatures).

Files are stored with server-chosen names and have no URL: ``url()`` refuses, so no
template can ever link to a file directly. Views stream them after checking permission.

Two backends, chosen by ``PRIVATE_STORAGE`` (settings): a folder on this machine (the default),
or an S3 bucket (django-storages) so that web processes keep nothing on their own disk and any
number of them can run behind a load balancer. Both refuse ``url()``; the S3 one streams an
object in chunks (``stream``) and, only when a deployment chooses it, signs a short-lived URL
for one download (``signed_url``), after the view has checked the user.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.core.files.storage import FileSystemStorage
from storages.backends.s3 import S3Storage

# The size of each piece read from the bucket and written to the response.
STREAM_CHUNK = 64 * 1024


class PrivateFileSystemStorage(FileSystemStorage):
    def url(self, name: str | None) -> str:
        raise NotImplementedError("Private files have no public URL; serve them through a view.")


@dataclass(frozen=True)
class ObjectStream:
    """An object's bytes as chunks, with its size (the response's Content-Length)."""

    chunks: Iterator[bytes]
    size: int


class PrivateS3Storage(S3Storage):
    """Private files in an S3 bucket: never a public ACL, never a URL a template could print.

    ``default_acl`` is forced to ``None`` (the bucket's own policy applies: private unless the
    bucket is made public, which a clinic must never do) whatever the options say, and
    ``querystring_auth`` on, so that the one URL this class gives (``signed_url``) is signed.
    """

    def __init__(self, **settings: object) -> None:
        settings = {**settings, "default_acl": None, "querystring_auth": True, "file_overwrite": False}
        super().__init__(**settings)

    def url(self, name: str | None, parameters=None, expire=None, http_method=None) -> str:
        raise NotImplementedError("Private files have no public URL; serve them through a view.")

    def stream(self, name: str) -> ObjectStream:
        """The object's body from one GET, read in ``STREAM_CHUNK`` pieces (never held whole).

        Raises ``FileNotFoundError`` for a missing object, as ``open`` does.
        """
        from botocore.exceptions import ClientError

        key = self._normalize_name(name)
        try:
            obj = self.connection.meta.client.get_object(Bucket=self.bucket_name, Key=key)
        except ClientError as err:
            if err.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                raise FileNotFoundError(f"File does not exist: {name}") from None
            raise
        body = obj["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(STREAM_CHUNK)
            finally:
                body.close()

        return ObjectStream(chunks=chunks(), size=int(obj["ContentLength"]))

    def signed_url(self, name: str, *, expire: int, content_type: str, content_disposition: str) -> str:
        """A URL good for ``expire`` seconds for one object, with the response headers S3 can set.

        Only for a view that has just checked the user; S3 cannot add ``nosniff`` or the CSP
        (see ``clinic.files.private_file_response``).
        """
        return super().url(
            name,
            parameters={
                "ResponseContentType": content_type,
                "ResponseContentDisposition": content_disposition,
                "ResponseCacheControl": "private, no-store",
            },
            expire=expire,
        )
