"""Who is calling: API keys, stored hashed, each acting for one tenant or for all, some with admin rights.

A key is a random secret; the config holds only its SHA-256 (a key has 256 bits of entropy, so a
plain digest is as strong as a slow password hash would be, and costs nothing per call).
"""

from __future__ import annotations

import hashlib
import logging
import os
import reprlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from router.config import ApiKey, AuthSettings
from router.domain.errors import PermissionDenied, Unauthenticated

log = logging.getLogger(__name__)

KEY_PREFIX = "br_"
DEV_KEY_FILE = "dev-api-key"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the tenant its key acts for (None: every tenant) and whether it is an admin."""

    name: str
    tenant: str | None
    admin: bool

    def authorize(self, tenant_id: str, admin: bool = False) -> None:
        """May this caller act for `tenant_id` (with admin rights, when `admin`)?"""
        if self.tenant is not None and tenant_id != self.tenant:
            # reprlib cuts a long id short: a refusal must not echo a huge field back.
            raise PermissionDenied(f"key {self.name!r} acts for tenant {self.tenant!r}, not {reprlib.repr(tenant_id)}")
        if admin and not self.admin:
            raise PermissionDenied(f"key {self.name!r} has no admin rights (rules, budgets, cache invalidation)")

    def authorize_deployment(self) -> None:
        """May this caller change what every tenant shares (the models)?"""
        if self.tenant is not None or not self.admin:
            raise PermissionDenied(f"key {self.name!r} may not change the models: that takes an admin key for "
                                   "every tenant (no tenant set)")


ANYONE = Principal("anyone (auth disabled)", None, True)


class KeyRing:
    """The keys a server accepts; `authenticate` turns the key a call carries into its principal."""

    def __init__(self, keys: list[ApiKey] | None):
        """keys None: authentication is off and every caller is an admin of every tenant."""
        self._by_hash = None if keys is None else {k.sha256: Principal(k.name, k.tenant, k.admin) for k in keys}

    @classmethod
    def from_settings(cls, settings: AuthSettings, data_dir: Path) -> tuple[KeyRing, str | None]:
        """The ring, and the dev key when the server had to make one (no keys configured)."""
        if not settings.enabled:
            log.warning("authentication is disabled: any caller may act for any tenant")
            return cls(None), None
        if settings.keys:
            return cls(list(settings.keys)), None
        dev_key = _dev_key(data_dir)
        return cls([ApiKey(name="dev", sha256=key_hash(dev_key), admin=True)]), dev_key

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of an `authorization: Bearer <key>` header."""
        if self._by_hash is None:
            return ANYONE
        if not authorization:
            raise Unauthenticated("no API key: send the metadata 'authorization: Bearer <key>'")
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("the authorization metadata must read 'Bearer <key>'")
        principal = self._by_hash.get(key_hash(key.strip()))
        if principal is None:
            raise Unauthenticated("unknown API key")
        return principal


def _dev_key(data_dir: Path) -> str:
    """The data directory's dev key, made once and kept readable by its owner only."""
    path = data_dir / DEV_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = new_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key

