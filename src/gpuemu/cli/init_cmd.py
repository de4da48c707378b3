"""``gpuemu init``: scaffold a project that passes ``gpuemu test`` as written.

The scaffold is one op (a softmax, named by ``--op``) with a numpy reference and an op
script in the chosen framework. The templates ship as package data
(``gpuemu/cli/templates``) and are read with importlib.resources, so an installed
wheel finds them as well as a source checkout.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

import click


@dataclass(frozen=True, slots=True)
class Framework:
    config_name: str
    """What ``[project] framework`` says."""
    title: str
    install_hint: str


FRAMEWORKS: dict[str, Framework] = {
    "numpy": Framework("numpy", "numpy", ""),
    "torch": Framework("pytorch", "PyTorch", "pip install 'gpuemu[torch]'"),
    "jax": Framework("jax", "JAX", "pip install 'gpuemu[jax]'"),
}

# (path in the project, template under gpuemu/cli/templates); {fw} is the framework's folder.
FILES: tuple[tuple[str, str], ...] = (
    ("gpuemu.toml", "gpuemu.toml.tmpl"),
    ("reference/{op}.py", "reference.py.tmpl"),
    ("ops/{op}.py", "{fw}/op.py.tmpl"),
)


def render(framework: str, op: str, project: str) -> dict[str, str]:
    """The scaffold's files, relative path -> text."""
    fw = FRAMEWORKS[framework]
    values = {"op": op, "project": json.dumps(project), "framework": fw.config_name,
              "framework_title": fw.title}
    root = resources.files(__package__) / "templates"
    return {dest.format(op=op): Template(
                (root / src.format(fw=framework)).read_text(encoding="utf-8")).substitute(values)
            for dest, src in FILES}


def _op_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.isidentifier():
        raise click.BadParameter(
            f"{value!r}: the op name also names its files (reference/NAME.py, ops/NAME.py); "
            "use letters, digits and underscores, not starting with a digit, e.g. --op my_softmax")
    return value


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--framework", type=click.Choice(list(FRAMEWORKS)), default="numpy", show_default=True,
              help="What the op script is written in (the reference is always numpy).")
@click.option("--op", "op", default="softmax", show_default=True, callback=_op_name,
              help="Name of the scaffolded op (and of its files).")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, framework: str, op: str, force: bool) -> None:
    """Create gpuemu.toml, a reference script and an op script in DIRECTORY.

    The scaffold passes `gpuemu test` as written; then replace the op script's body
    with your kernel. Existing files are never overwritten without --force.

    \b
    Examples:
      gpuemu init                          # numpy softmax in this directory
      gpuemu init my_kernels --framework torch
      gpuemu init . --framework jax --op fused_softmax
    """
    files = render(framework, op, directory.resolve().name or "gpuemu-project")
    existing = [rel for rel in files if (directory / rel).exists()]
    if existing and not force:
        click.echo(f"gpuemu: not overwriting {', '.join(str(directory / r) for r in existing)};"
                   " pass --force to replace them, or choose another directory"
                   " (gpuemu init OTHER_DIR)", err=True)
        sys.exit(2)
    for rel, text in files.items():
        path = directory / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            click.echo(f"gpuemu: cannot write {path}: {exc.strerror}; choose another directory", err=True)
            sys.exit(2)
    click.echo(f"created {', '.join(files)} in {directory}")
    fw = FRAMEWORKS[framework]
    if fw.install_hint and importlib.util.find_spec(framework) is None:
        click.echo(f"the op script needs {fw.title}, which is not installed here: {fw.install_hint}")
    click.echo(f"next: cd {directory} && gpuemu test")
