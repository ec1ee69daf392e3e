"""Development PKI and certificate identities for KMEs and SAEs.

A KME learns who is calling from the verified client certificate only: the first
``URI`` subject alternative name of the form ``urn:quaykey:sae:<id>`` or
``urn:quaykey:kme:<node>`` wins; failing that, the subject common name is taken
as an SAE ID. :func:`init_dev_pki` writes a throwaway CA and ECDSA P-256
certificates for development and tests (never for production).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "Identity",
    "PkiLayout",
    "caller_label",
    "check_name",
    "client_ssl_context",
    "identity_from_der",
    "init_dev_pki",
    "issue_certificate",
    "kme_id_from_der",
]

SAE_URN = "urn:quaykey:sae:"
KME_URN = "urn:quaykey:kme:"
KME_ID_URN = "urn:quaykey:kme-id:"


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~@-]{0,127}")
_SAE_ID = re.compile(r"[\x20-\x7e]{1,256}")


def check_name(name: str, what: str, *, sae: bool = False) -> None:
    """Raise :class:`ValueError` unless ``name`` can name a node, KME or SAE everywhere.

    Certificate URIs take ASCII only. A node name or KME ID also goes into file names, so
    it is 1 to 128 ASCII letters, digits and ``. _ ~ @ -``, starting with a letter or
    digit. An SAE ID (``sae=True``) is 1 to 256 printable ASCII characters (it is
    percent-encoded in URLs and file names).

    Parameters
    ----------
    name : str
        The node name, KME ID or SAE ID.
    what : str
        How the error names it (e.g. ``"--sae"``).
    sae : bool
        Check it as an SAE ID.

    Examples
    --------
    >>> check_name("shanghai", "--node")
    >>> check_name("port/ops 1", "--sae", sae=True)
    >>> check_name("zoë", "--sae", sae=True)
    Traceback (most recent call last):
    ...
    ValueError: --sae 'zoë': use 1-256 printable ASCII characters
    """
    if sae:
        if not isinstance(name, str) or not _SAE_ID.fullmatch(name):
            raise ValueError(f"{what} {name!r}: use 1-256 printable ASCII characters")
    elif not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r}: use 1-128 of A-Za-z0-9._~@- (first a letter/digit)")


def kme_id_from_der(der: bytes) -> str | None:
    """The KME ID named by a KME server certificate (SAN ``urn:quaykey:kme-id:<id>``)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(KME_ID_URN) and len(uri) > len(KME_ID_URN):
            return uri[len(KME_ID_URN) :]
    return None


@dataclass(frozen=True)
class Identity:
    """Who is calling: ``kind`` is ``"sae"`` or ``"kme"``; ``name`` the SAE ID or node name."""

    kind: str
    name: str


def caller_label(who: Identity | None) -> str:
    """How logs and audit records name a caller: ``sae:<id>``, ``kme:<node>`` or ``unknown``.

    Examples
    --------
    >>> caller_label(Identity("sae", "customs-sh")), caller_label(None)
    ('sae:customs-sh', 'unknown')
    """
    return "unknown" if who is None else f"{who.kind}:{who.name}"


def identity_from_der(der: bytes) -> Identity | None:
    """Read the caller identity from a DER-encoded, already verified certificate.

    Parameters
    ----------
    der : bytes
        The peer certificate as returned by ``SSLObject.getpeercert(binary_form=True)``.

    Returns
    -------
    Identity or None
        ``None`` when the certificate names nobody we understand.

    Example
    -------
    >>> identity_from_der(b"not a certificate") is None
    True
    """
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    for uri in uris:
        if uri.startswith(SAE_URN) and len(uri) > len(SAE_URN):
            return Identity("sae", uri[len(SAE_URN) :])
        if uri.startswith(KME_URN) and len(uri) > len(KME_URN):
            return Identity("kme", uri[len(KME_URN) :])
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if cns and isinstance(cns[0].value, str) and cns[0].value:
        return Identity("sae", cns[0].value)
    return None


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write a private key readable by its owner only, from the moment the file exists."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode on open: narrow it
        fh.write(pem)


def issue_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    uri: str | None,
    server: bool,
    client: bool,
    days: int = 825,
    extra_uris: tuple[str, ...] = (),
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Issue a leaf certificate signed by the development CA.

    Parameters
    ----------
    ca_key, ca_cert
        The issuing CA.
    common_name : str
        Subject CN.
    uri : str or None
        A ``urn:quaykey:...`` SAN URI naming the holder.
    server, client : bool
        Which extended key usages to include; a server certificate also names
        ``localhost`` and ``127.0.0.1``.
    days : int
        Validity period.
    extra_uris : tuple of str
        More SAN URIs (e.g. ``urn:quaykey:kme-id:<KME_ID>``).

    Returns
    -------
    tuple
        The new private key and its certificate.
    """
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = []
    if uri:
        names.append(x509.UniformResourceIdentifier(uri))
    names += [x509.UniformResourceIdentifier(u) for u in extra_uris]
    if server:
        names += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


@dataclass(frozen=True)
class PkiLayout:
    """File names inside a PKI directory written by :func:`init_dev_pki`."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        """The CA certificate every KME and SAE trusts."""
        return self.root / "ca.pem"

    def kme_server(self, node: str) -> tuple[Path, Path]:
        """Certificate and key a KME serves with."""
        return self.root / f"kme-{node}-server.pem", self.root / f"kme-{node}-server.key"

    def kme_client(self, node: str) -> tuple[Path, Path]:
        """Certificate and key a KME presents to its peer KMEs."""
        return self.root / f"kme-{node}-client.pem", self.root / f"kme-{node}-client.key"

    def sae(self, sae_id: str) -> tuple[Path, Path]:
        """Client certificate and key of one SAE (ID percent-encoded in the file name)."""
        safe = quote(sae_id, safe="-_.@")
        return self.root / f"sae-{safe}.pem", self.root / f"sae-{safe}.key"


def _new_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A fresh self-signed development CA (ECDSA P-256, ten years)."""
    ca_key = _new_key()
    now = dt.datetime.now(dt.UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "quaykey development CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, ca_cert


def init_dev_pki(
    out: Path,
    nodes: list[str],
    saes: list[str],
    kme_ids: dict[str, str] | None = None,
    *,
    force: bool = False,
) -> PkiLayout:
    """Write a development CA and certificates for the given KME nodes and SAEs.

    Every name is checked (:func:`check_name`) before any file is written.

    Parameters
    ----------
    out : Path
        Directory to create (may exist).
    nodes : list of str
        KME node names: each gets a server and a client certificate.
    saes : list of str
        SAE IDs: each gets a client certificate with SAN ``urn:quaykey:sae:<id>``.
    kme_ids : dict or None
        Node name to KME ID; a KME's server certificate then also carries
        ``urn:quaykey:kme-id:<KME_ID>`` so SAEs can confirm the KME ID (ETSI 014 §4).
    force : bool
        Replace an existing CA in ``out`` (and every certificate in it).

    Returns
    -------
    PkiLayout
        Where the files are.

    Raises
    ------
    ValueError
        A name is unusable, or ``out`` already holds a CA and ``force`` is false.
    """
    for node in nodes:
        check_name(node, "node")
    for sae in saes:
        check_name(sae, "SAE ID", sae=True)
    for kme_id in (kme_ids or {}).values():
        check_name(kme_id, "KME ID")
    layout = PkiLayout(out)
    if not force and (layout.ca_cert.exists() or (out / "ca.key").exists()):
        raise ValueError(f"{out} already holds a CA (ca.pem); pass --force to replace it")
    out.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _new_ca()
    layout.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(out / "ca.key", ca_key)

    def emit(
        paths: tuple[Path, Path],
        cn: str,
        uri: str,
        server: bool,
        client: bool,
        extra_uris: tuple[str, ...] = (),
    ) -> None:
        key, cert = issue_certificate(
            ca_key, ca_cert, cn, uri=uri, server=server, client=client, extra_uris=extra_uris
        )
        paths[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(paths[1], key)

    for node in nodes:
        kid = (kme_ids or {}).get(node)
        extra = (KME_ID_URN + kid,) if kid else ()
        emit(layout.kme_server(node), f"kme {node}", KME_URN + node, True, False, extra)
        emit(layout.kme_client(node), f"kme {node}", KME_URN + node, False, True)
    for sae in saes:
        emit(layout.sae(sae), sae, SAE_URN + sae, False, True)
    return layout


def client_ssl_context(ca_file: Path, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """TLS ≥ 1.2 client context that verifies the server against ``ca_file`` and presents a cert.

    Parameters
    ----------
    ca_file, cert_file, key_file : Path
        CA bundle to trust, and the client certificate and key to present.

    Returns
    -------
    ssl.SSLContext
    """
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx
