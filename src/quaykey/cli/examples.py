"""`quaykey examples`: write the example files the README and docs commands read.

- ``my-port.yaml``: a small port topology (``network plan --topology my-port.yaml``);
- ``rotterdam.yaml``: the feasibility sketch of ``docs/network.md``;
- ``port-rotterdam.yaml``, ``port-los-angeles.yaml``: port regions with public coordinates
  and demands (``network feasibility --topology port-rotterdam.yaml``);
- ``micius-entangled.yaml``: Delingha and Nanshan with Micius, trusted downlinks and the
  entangled link between them (``network simulate --topology micius-entangled.yaml``);
- ``link.yaml``: link parameter overrides (``link keyrate --config link.yaml``);
- ``network.yaml``: a KMS network of three KMEs, the very file the KMS package ships
  (``pki init --config network.yaml``, ``kme serve --config network.yaml``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from quaykey.cli._common import check_out_path, console, user_errors

__all__ = ["EXAMPLE_FILES", "examples", "write_examples"]

#: file name -> (package, resource name) of each example.
EXAMPLE_FILES: dict[str, tuple[str, str]] = {
    "my-port.yaml": ("quaykey.cli", "example_files/my-port.yaml"),
    "rotterdam.yaml": ("quaykey.cli", "example_files/rotterdam.yaml"),
    "port-rotterdam.yaml": ("quaykey.cli", "example_files/port-rotterdam.yaml"),
    "port-los-angeles.yaml": ("quaykey.cli", "example_files/port-los-angeles.yaml"),
    "micius-entangled.yaml": ("quaykey.cli", "example_files/micius-entangled.yaml"),
    "link.yaml": ("quaykey.cli", "example_files/link.yaml"),
    "network.yaml": ("quaykey.kms", "examples/network.yaml"),
}


def write_examples(out: Path, *, overwrite: bool = False) -> list[Path]:
    """Write every example file into the folder ``out`` (created if its parent exists).

    Raises
    ------
    ValueError
        Naming ``--out`` when a file exists with other contents and ``overwrite`` is false
        (nothing is written then). Files that already hold the example are rewritten.
    """
    texts = {
        out / file: resources.files(package).joinpath(name).read_text(encoding="utf-8")
        for file, (package, name) in EXAMPLE_FILES.items()
    }
    changed = [
        str(path)
        for path, text in texts.items()
        if path.exists() and (not path.is_file() or path.read_text(encoding="utf-8") != text)
    ]
    if changed and not overwrite:
        raise ValueError(f"--out: {', '.join(changed)} exist and differ; add --force to replace")
    out.mkdir(exist_ok=True)
    for path, text in texts.items():
        path.write_text(text, encoding="utf-8")
    return list(texts)


def examples(
    out: Path = typer.Option(Path("."), "--out", help="Folder to write the example files to."),
    force: bool = typer.Option(False, "--force", help="Replace files that already exist."),
) -> None:
    """Write the example files the README commands use (my-port.yaml, network.yaml, ...)."""
    with user_errors():
        check_out_path(out, "--out", directory=True)
        written = write_examples(out, overwrite=force)
    for path in written:
        console.print(f"wrote {path}")
