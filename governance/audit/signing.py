"""The portal's Ed25519 signing keys: what the database cannot forge.

Audit checkpoints and evidence manifests are signed with the current private key
(`SIGNING_KEY_FILE`, PKCS#8 PEM); every signature names its key id, and verification looks the id
up among the current key and the retired public keys (`SIGNING_RETIRED_KEYS`). Public keys are
served at a fixed URL with their fingerprints, so an auditor checks a signature against a key
obtained apart from what was signed.

A key's fingerprint is the SHA-256 of its DER SubjectPublicKeyInfo, which standard tools
reproduce: `openssl pkey -pubin -in key.pem -outform DER | sha256sum`. The default key id is
`ed25519-` and the fingerprint's first 16 hex digits.

In development, when the key file does not exist yet, one is generated (mode 0600) on first use;
production never generates one (the setting has no default there and a system check names it).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class SigningKeyError(Exception):
    """The signing key is missing, unreadable or not an Ed25519 key; the message says which and where."""


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    key: Ed25519PublicKey
    current: bool

    @property
    def der(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def pem(self) -> str:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER public key, hex: what `openssl pkey -pubin -outform DER | sha256sum` prints."""
        return hashlib.sha256(self.der).hexdigest()

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self.key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        return PublicKey(key_id=self.key_id, key=self.private.public_key(), current=True)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


_lock = threading.Lock()
_cache: dict[tuple, SigningKey] = {}


def default_key_id(public: Ed25519PublicKey) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "ed25519-" + hashlib.sha256(der).hexdigest()[:16]


def _check_key_id(key_id: str, where: str) -> str:
    if not KEY_ID_PATTERN.match(key_id):
        raise SigningKeyError(f"{where}: key id {key_id!r} must be 1-64 letters, digits, '.', '_' or '-'.")
    return key_id


def generate_key_file(path: Path) -> None:
    """Write a new Ed25519 private key (PKCS#8 PEM, mode 0600); refuses to overwrite one."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)


def _load_private(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"SIGNING_KEY_FILE {path} cannot be read ({exc.strerror}).") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"SIGNING_KEY_FILE {path} is not an unencrypted PEM private key ({exc}).") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"SIGNING_KEY_FILE {path} holds a {type(key).__name__}; an Ed25519 key is required.")
    return key


def load_public_pem(data: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{where} is not a PEM public key ({exc}).") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{where} holds a {type(key).__name__}; an Ed25519 public key is required.")
    return key


def current_key() -> SigningKey:
    """The key new signatures are made with; raises SigningKeyError naming what is wrong."""
    path_text = getattr(settings, "SIGNING_KEY_FILE", "")
    if not path_text:
        raise SigningKeyError("SIGNING_KEY_FILE is not set: nothing can be signed.")
    path = Path(path_text)
    configured_id = getattr(settings, "SIGNING_KEY_ID", "")
    cache_key = (str(path), configured_id)
    with _lock:
        cached = _cache.get(cache_key)
        if cached is not None:
            return cached
        if not path.exists() and not getattr(settings, "PRODUCTION", False):
            with contextlib.suppress(FileExistsError):  # another process made it first
                generate_key_file(path)
        private = _load_private(path)
        key_id = (
            _check_key_id(configured_id, "SIGNING_KEY_ID") if configured_id else default_key_id(private.public_key())
        )
        key = SigningKey(key_id=key_id, private=private)
        _cache[cache_key] = key
        return key


def retired_keys() -> list[PublicKey]:
    keys = []
    for entry in getattr(settings, "SIGNING_RETIRED_KEYS", []) or []:
        key_id, sep, path_text = entry.partition("=")
        if not sep or not path_text.strip():
            raise SigningKeyError(f"SIGNING_RETIRED_KEYS entry {entry!r} must be id=/path/to/public.pem.")
        key_id = _check_key_id(key_id.strip(), "SIGNING_RETIRED_KEYS")
        path = Path(path_text.strip())
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"SIGNING_RETIRED_KEYS {key_id}: {path} cannot be read ({exc.strerror}).") from None
        keys.append(
            PublicKey(
                key_id=key_id, key=load_public_pem(data, f"SIGNING_RETIRED_KEYS {key_id} ({path})"), current=False
            )
        )
    return keys


def public_keys() -> list[PublicKey]:
    """The current key's public half first, then the retired ones; ids are unique."""
    keys = [current_key().public, *retired_keys()]
    seen: set[str] = set()
    for key in keys:
        if key.key_id in seen:
            raise SigningKeyError(f"Key id {key.key_id} is configured twice (SIGNING_KEY_ID / SIGNING_RETIRED_KEYS).")
        seen.add(key.key_id)
    return keys


def public_key(key_id: str) -> PublicKey | None:
    return next((key for key in public_keys() if key.key_id == key_id), None)


def sign(data: bytes) -> tuple[str, bytes]:
    """(key id, 64-byte Ed25519 signature) over `data` with the current key."""
    key = current_key()
    return key.key_id, key.sign(data)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def clear_cache() -> None:
    """Forget loaded keys (tests that swap SIGNING_KEY_FILE, a rotated key file)."""
    with _lock:
        _cache.clear()
