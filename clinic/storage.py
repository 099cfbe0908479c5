"""Storage for private files (photos, documents, signatures).

Files are stored with server-chosen names and have no URL: ``url()`` refuses, so no
template can ever link to a file directly. Views stream them after checking permission.
"""

from __future__ import annotations

from django.core.files.storage import FileSystemStorage


class PrivateFileSystemStorage(FileSystemStorage):
    def url(self, name: str | None) -> str:
        raise NotImplementedError("Private files have no public URL; serve them through a view.")
