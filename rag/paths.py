"""Files on disk: ``real_path_inside`` keeps them inside their folder (links are resolved,
and a file whose real path leads out of the corpus or index folder is refused, so a
``passwd.txt`` link to ``/etc/passwd`` never becomes an article, an index file or a served
document); ``file_sha256`` is the one checksum of a file (index manifests, model weights).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import RagError


def real_path_inside(path: Path, folder: Path, error: type[RagError], what: str = "file") -> Path:
    """The real path of ``path`` (every link resolved); ``error`` naming both when it is
    not inside the real ``folder``. A link to another file inside the folder is fine.

    >>> real_path_inside(Path("/news/a.txt"), Path("/news"), RagError)
    PosixPath('/news/a.txt')
    >>> real_path_inside(Path("/news/../passwd.txt"), Path("/news"), RagError, "article")
    Traceback (most recent call last):
    rag.errors.RagError: article '/news/../passwd.txt' resolves to '/passwd.txt', outside the folder '/news'; refused
    """
    real, root = Path(path).resolve(), Path(folder).resolve()
    if not real.is_relative_to(root):
        raise error(f"{what} {str(path)!r} resolves to {str(real)!r}, outside the folder {str(root)!r}; refused")
    return real


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
