"""Endpoint passwords at rest: encrypted in the catalog with a key kept apart from it.

The key is DMS_SECRET_KEY (one or more Fernet keys, comma-separated: the first encrypts, every one
decrypts), or else the key file: DMS_SECRET_KEY_FILE, by default `secret.key` in OpenDMS's data
directory, created with mode 0600 the first time a password is stored. The file holds one key a
line, in the same order. A stored value is `fernet:<token>`; anything else is a password stored in
plain text by an older OpenDMS, read as it is until `dms secrets rotate` encrypts it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connectors.errors import ConfigError

PREFIX = "fernet:"
ENV_KEY = "DMS_SECRET_KEY"
ENV_KEY_FILE = "DMS_SECRET_KEY_FILE"


class SecretKeyError(ConfigError):
    """No key, or not the key a stored secret was encrypted with."""


def key_file() -> Path:
    from .locations import data_dir

    return Path(os.environ.get(ENV_KEY_FILE) or data_dir() / "secret.key")


@dataclass(frozen=True)
class Keys:
    where: str  # for messages: "DMS_SECRET_KEY" or "the key file /path"
    keys: tuple[bytes, ...]
    from_env: bool

    @property
    def fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(k) for k in self.keys])


def _parse(text: str, where: str, from_env: bool) -> Keys:
    keys = tuple(k.encode() for k in text.replace(",", " ").split())
    if not keys:
        raise SecretKeyError(f"{where} holds no key: put a key there (`dms secrets generate-key` prints one)")
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            which = f"key {number} of {where}" if len(keys) > 1 else where
            raise SecretKeyError(f"{which} is not a valid key (32 url-safe base64-encoded bytes): "
                                 "`dms secrets generate-key` prints one") from None
    return Keys(where, keys, from_env)


def _read_file(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise SecretKeyError(f"cannot read the key file {path}: {exc.strerror}; check DMS_SECRET_KEY_FILE") from None


def write_key_file(path: Path, keys: tuple[bytes, ...], replace: bool) -> bool:
    """Write the keys, one a line, readable by this user only; False if not `replace` and the file exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".secret-key-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(k.decode() + "\n" for k in keys))
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(temp, path)
            return True
        try:
            os.link(temp, path)  # atomic, and refused if another process created it first
            return True
        except FileExistsError:
            return False
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def load(create: bool = False) -> Keys | None:
    """The keys in use; with `create`, a key file is made on first use. None: no key anywhere."""
    if os.environ.get(ENV_KEY, "").strip():
        return _parse(os.environ[ENV_KEY], ENV_KEY, True)
    path = key_file()
    if not path.exists():
        if not create:
            return None
        write_key_file(path, (Fernet.generate_key(),), replace=False)  # a racing process's key wins
    return _parse(_read_file(path), f"the key file {path}", False)


def encrypt(plain: str, keys: Keys | None = None) -> str:
    """`fernet:<token>`; an empty password stays empty (nothing to hide, and no key made for it)."""
    if not plain:
        return ""
    keys = keys or load(create=True)
    return PREFIX + keys.fernet.encrypt(plain.encode()).decode()


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def decrypt(stored: str, what: str, keys: Keys | None = None) -> str:
    """The password of a stored value (plain text from an older OpenDMS comes back as it is)."""
    if not is_encrypted(stored):
        return stored
    keys = keys or load()
    if keys is None:
        raise SecretKeyError(
            f"{what} is encrypted and no key is given: set {ENV_KEY} to the key it was encrypted with, or "
            f"{ENV_KEY_FILE} to the file holding it ({key_file()} does not exist)")
    try:
        return keys.fernet.decrypt(stored.removeprefix(PREFIX).encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            f"cannot decrypt {what} with {keys.where}: it was encrypted with another key; give that key in "
            f"{ENV_KEY} (comma-separated keys: the first encrypts, all decrypt) or {ENV_KEY_FILE}") from None
