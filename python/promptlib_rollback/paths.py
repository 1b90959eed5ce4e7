"""Locate the promptlib.rollback collection and the default artifacts folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml

from .errors import ConfigurationError

logger = logging.getLogger(__name__)

ROOT_ENV = "PROMPTLIB_ROLLBACK_ROOT"
ARTIFACTS_ENV = "PROMPTLIB_ROLLBACK_ARTIFACTS"
COLLECTION_NAMESPACE = "promptlib"
COLLECTION_NAME = "rollback"


def is_collection_root(path: Path) -> bool:
    """Tell whether ``path`` contains the promptlib.rollback collection.

    A root has ``galaxy.yml`` naming promptlib.rollback and a ``playbooks/``
    folder. A galaxy.yml that cannot be parsed does not qualify.
    """
    galaxy = path / "galaxy.yml"
    if not galaxy.is_file() or not (path / "playbooks").is_dir():
        return False
    try:
        metadata = yaml.safe_load(galaxy.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        logger.debug("Skipping %s because its galaxy.yml cannot be read: %s", path, exc)
        return False
    if not isinstance(metadata, dict):
        return False
    return metadata.get("namespace") == COLLECTION_NAMESPACE and metadata.get("name") == COLLECTION_NAME


def find_collection_root(start: str | os.PathLike[str] | None = None) -> Path:
    """Return the absolute path of the promptlib.rollback collection.

    The ``PROMPTLIB_ROLLBACK_ROOT`` environment variable wins when set.
    Otherwise the search walks up from ``start`` (default: this package's
    folder) to the first folder that :func:`is_collection_root` accepts.

    Raises:
        ConfigurationError: the variable names a folder that is not the
            collection, or the walk found no collection.
    """
    configured = os.environ.get(ROOT_ENV)
    if configured:
        root = Path(configured).expanduser().resolve()
        if not is_collection_root(root):
            raise ConfigurationError(
                f"{ROOT_ENV}={configured!r} is not the promptlib.rollback collection: the folder needs a "
                "galaxy.yml naming promptlib.rollback and a playbooks/ folder. "
                f"Point {ROOT_ENV} at the collection checkout or unset it."
            )
        return root

    origin = Path(start).resolve() if start is not None else Path(__file__).resolve().parent
    for candidate in (origin, *origin.parents):
        if is_collection_root(candidate):
            return candidate
    raise ConfigurationError(
        f"The promptlib.rollback collection was not found above {origin}. "
        f"Set {ROOT_ENV} to the collection folder (the one with galaxy.yml and playbooks/), "
        "or install this package from a checkout with `pip install -e python/`."
    )


def default_artifacts_root(root: Path | None = None) -> Path:
    """Return the folder that receives one subfolder per run.

    ``PROMPTLIB_ROLLBACK_ARTIFACTS`` wins when set, otherwise it is
    ``artifacts/`` inside the collection root.
    """
    configured = os.environ.get(ARTIFACTS_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    if root is None:
        root = find_collection_root()
    return root / "artifacts"
