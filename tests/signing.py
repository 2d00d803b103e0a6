"""Key material for the bundle-signing tests: fresh keys, never a committed one."""

from __future__ import annotations


def es256_keypair() -> tuple[str, str]:
    """A fresh P-256 key pair as PEM (private PKCS#8, public SubjectPublicKeyInfo): ES256 signing."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public
