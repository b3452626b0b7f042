"""Generate the README's reference tables from the code, so the two cannot drift apart.

    python scripts/gen_reference.py            # print the generated blocks
    python scripts/gen_reference.py --write    # rewrite them in README.md in place

The README holds each block between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` markers;
``tests/docs/test_readme_reference.py`` fails when the README and the code disagree.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from nightfix.policy import Policy
from nightfix.stop_reasons import EXIT_CODES, Kind

README = Path(__file__).resolve().parent.parent / "README.md"


def _type_name(annotation: Any) -> str:
    """A short, readable name for a field's type (``Literal`` values spelled out)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " or ".join(repr(a) for a in args)
    if origin in (Union, UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(section)"
    else:
        value = field.default
    if isinstance(value, dict) and not value:
        return "`{}`"
    return f"`{value!r}`".replace("|", "\\|")


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        nested = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
        doc = (field.description or "").replace("|", "\\|").replace("\n", " ").replace("``", "`")
        if nested is not None:
            rows.append(f"| `{key}` | section | | {doc} |")
            rows.extend(_rows(nested, f"{key}."))
        else:
            kind = _type_name(annotation)
            rows.append(f"| `{key}` | {kind} | {_default(field)} | {doc} |")
    return rows


def policy_reference() -> str:
    header = ["| key | type | default | meaning |", "|---|---|---|---|"]
    return "\n".join(header + _rows(Policy, ""))


def stop_reasons_reference() -> str:
    lines = ["| stop reason | exit code | meaning |", "|---|---|---|"]
    source = Path(sys.modules[Kind.__module__].__file__ or "").read_text(encoding="utf-8")
    for kind in Kind:
        doc = _kind_doc(kind, source).replace("|", "\\|").replace("``", "`")
        lines.append(f"| `{kind.value}` | {EXIT_CODES[kind]} | {doc} |")
    return "\n".join(lines)


def _kind_doc(kind: Kind, source: str) -> str:
    """The docstring written under the enum member in ``source`` (stop_reasons.py)."""
    match = re.search(rf'{kind.name} = "{kind.value}"\n\s+"""(.*?)"""', source, re.S)
    return " ".join(match.group(1).split()) if match else kind.value.replace("_", " ")


BLOCKS = {"policy-reference": policy_reference, "stop-reasons": stop_reasons_reference}


def render(text: str) -> str:
    """``text`` with every generated block replaced by its current content."""
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(
                f"README.md has no <!-- BEGIN {name} --> ... <!-- END {name} --> block"
            )
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="rewrite the blocks in README.md")
    args = parser.parse_args()
    if args.write:
        README.write_text(render(README.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        for name, make in BLOCKS.items():
            print(f"<!-- {name} -->\n{make()}\n")


if __name__ == "__main__":
    main()
