"""Certificates for test relays, generated on the spot."""

from __future__ import annotations

import datetime
from pathlib import Path


def make_certs(tmp: Path, host: str = "localhost"):
    """A CA, and server certificates: good (``host``), wrong name, expired; plus self-signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(stem, key, cert):
        (tmp / f"{stem}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
        (tmp / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Test Relay CA")).issuer_name(name("Test Relay CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    write("ca", ca_key, ca)

    def leaf(stem, host, before, after, issuer_key=ca_key, issuer=ca.subject):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(host)).issuer_name(issuer)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now + before).not_valid_after(now + after)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                .sign(issuer_key, hashes.SHA256()))
        write(stem, key, cert)
        return cert

    day = datetime.timedelta(days=1)
    leaf("good", host, -day, 10 * day)
    leaf("wrongname", "other.example", -day, 10 * day)
    leaf("expired", host, -10 * day, -day)
    self_key = ec.generate_private_key(ec.SECP256R1())
    leaf("selfsigned", host, -day, 10 * day, issuer_key=self_key, issuer=name(host))
