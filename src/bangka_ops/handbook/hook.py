"""MkDocs hook (``hooks:`` in mkdocs.yml): the generated pages and screenshots, every build.

Before MkDocs reads the docs directory, the inventory and role-variable pages are written for
both languages (:func:`bangka_ops.handbook.pages.generate`) and any missing screenshot is taken
(:mod:`bangka_ops.handbook.screenshots`; ``cekat handbook`` removes them first, so a full build
takes them again). The nav entries ``inventaris/index.md`` and ``peran/index.md`` become sections
listing every generated page, so a new environment or role appears without editing mkdocs.yml.

``BANGKA_HANDBOOK_RECORDS`` names the admin's collection (repository sizes and capacity).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError

from bangka_ops.handbook import inventory, pages, screenshots

SECTIONS = {"inventaris/index.md": "inventaris", "peran/index.md": "peran"}
# Production first: it is the page the team reads; the rest by name.
ORDER = {f"{name}.md": n for n, name in enumerate(pages.ENVIRONMENTS)}


def _expand(nav: list[Any], docs_dir: Path) -> list[Any]:
    """Replace each generated section's index entry with the index and its pages."""
    result: list[Any] = []
    for item in nav:
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if isinstance(value, list):
                result.append({title: _expand(value, docs_dir)})
                continue
            if value in SECTIONS:
                folder = docs_dir / pages.LANGS[0] / SECTIONS[value]
                children = sorted(
                    (p.name for p in folder.glob("*.md") if p.name != "index.md"),
                    key=lambda name: (ORDER.get(name, len(ORDER)), name),
                )
                result.append({title: [value, *(f"{SECTIONS[value]}/{c}" for c in children)]})
                continue
        result.append(item)
    return result


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    docs_dir = Path(config.docs_dir)
    repo = Path(config.config_file_path).resolve().parent
    records = os.environ.get("BANGKA_HANDBOOK_RECORDS") or None
    if records is not None and not Path(records).is_dir():
        raise PluginError(f"BANGKA_HANDBOOK_RECORDS: {records}: no such directory")
    try:
        pages.generate(docs_dir, repo, Path(records) if records else None)
    except (inventory.InventoryError, ValueError) as exc:
        raise PluginError(f"handbook: {exc}") from exc
    # The i18n plugin builds each language from its own folder only: each gets the pictures.
    shots = docs_dir / pages.LANGS[0] / "tangkapan"
    try:
        screenshots.ensure(shots, repo)
    except screenshots.ScreenshotError as exc:
        raise PluginError(f"handbook: screenshot: {exc}") from exc
    for lang in pages.LANGS[1:]:
        for picture in sorted(shots.glob("*.png")):
            copy = docs_dir / lang / "tangkapan" / picture.name
            if not copy.is_file() or copy.read_bytes() != picture.read_bytes():
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(picture, copy)
    if config.nav is not None:
        config.nav = _expand(config.nav, docs_dir)
    return config
