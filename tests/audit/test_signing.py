from __future__ import annotations

import hashlib
import os
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from governance.audit import signing


def test_the_fingerprint_is_what_openssl_and_sha256sum_print(tmp_path):
    key = signing.current_key().public
    (tmp_path / "key.pem").write_text(key.pem)
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(tmp_path / "key.pem"), "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    assert hashlib.sha256(der).hexdigest() == key.fingerprint
    assert len(key.fingerprint) == 64


def test_a_signature_verifies_with_openssl_pkeyutl(tmp_path):
    key_id, signature = signing.sign(b"the signed text\n")
    assert key_id == "test-key-1" and len(signature) == 64
    (tmp_path / "key.pem").write_text(signing.public_key(key_id).pem)
    (tmp_path / "data").write_bytes(b"the signed text\n")
    (tmp_path / "data.sig").write_bytes(signature)
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "key.pem"), "-rawin",
               "-in", str(tmp_path / "data"), "-sigfile", str(tmp_path / "data.sig")]  # fmt: skip
    assert subprocess.run(command, capture_output=True, text=True).stdout.strip() == "Signature Verified Successfully"
    (tmp_path / "data").write_bytes(b"the signed text!\n")
    assert subprocess.run(command, capture_output=True, text=True).returncode != 0


def test_development_generates_a_private_key_file_readable_by_its_owner_only(settings, tmp_path):
    settings.SIGNING_KEY_FILE = str(tmp_path / "sub" / "key.pem")
    settings.SIGNING_KEY_ID = ""
    key = signing.current_key()
    mode = stat.S_IMODE(os.stat(tmp_path / "sub" / "key.pem").st_mode)
    assert mode == 0o600
    assert key.key_id == "ed25519-" + key.public.fingerprint[:16]


def test_production_never_generates_one(settings, tmp_path):
    settings.PRODUCTION = True
    settings.SIGNING_KEY_FILE = str(tmp_path / "missing.pem")
    with pytest.raises(signing.SigningKeyError, match="cannot be read"):
        signing.current_key()
    assert not (tmp_path / "missing.pem").exists()


def test_an_unset_key_signs_nothing(settings):
    settings.SIGNING_KEY_FILE = ""
    with pytest.raises(signing.SigningKeyError, match="SIGNING_KEY_FILE is not set"):
        signing.sign(b"x")


def test_a_key_that_is_not_ed25519_is_refused(settings, tmp_path):
    pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "ec.pem").write_bytes(pem)
    settings.SIGNING_KEY_FILE = str(tmp_path / "ec.pem")
    with pytest.raises(signing.SigningKeyError, match="an Ed25519 key is required"):
        signing.current_key()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("no-equals-sign", "must be id=/path"),
        ("bad id!=/tmp/x.pem", "must be 1-64 letters"),
        ("old=/nonexistent/key.pem", "cannot be read"),
    ],
)
def test_retired_keys_are_checked(settings, entry, message):
    settings.SIGNING_RETIRED_KEYS = [entry]
    with pytest.raises(signing.SigningKeyError, match=message):
        signing.public_keys()


def test_a_key_id_configured_twice_is_refused(settings, tmp_path):
    (tmp_path / "same.pem").write_text(signing.current_key().public.pem)
    settings.SIGNING_RETIRED_KEYS = [f"test-key-1={tmp_path / 'same.pem'}"]
    with pytest.raises(signing.SigningKeyError, match="configured twice"):
        signing.public_keys()


def test_the_system_checks_name_a_missing_or_broken_key(settings, tmp_path):
    from governance.audit.checks import check_signing_key

    settings.PRODUCTION = True
    settings.SIGNING_KEY_FILE = ""
    assert [m.id for m in check_signing_key()] == ["audit.W001"]
    (tmp_path / "bad.pem").write_text("not a key")
    settings.SIGNING_KEY_FILE = str(tmp_path / "bad.pem")
    assert [m.id for m in check_signing_key()] == ["audit.E001"]
    settings.PRODUCTION = False
    settings.SIGNING_KEY_FILE = ""
    assert check_signing_key() == []
