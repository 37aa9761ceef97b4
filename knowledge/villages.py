"""``xiangyin knowledge import-villages CSV``: replace the sample villages with the county's
own list, checked before anything is written."""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path
from typing import Any

import yaml


from knowledge.schema import (
    KnowledgeError,
    Township,
    Village,
    VillageImportResult,
    _FILES,
    _display_path,
)
from knowledge.loader import _parse, _parse_jurisdictions, _read_yaml, default_knowledge_root
from knowledge.text import compact


# ---------------------------------------------------------------------------
# Village import
# ---------------------------------------------------------------------------

_CSV_REQUIRED = ("township", "village")
_CSV_KNOWN = ("township", "village", "aliases", "lat", "lon", "id")

_IMPORTED_HEADER = """\
# {county}的乡镇和村。村名单由 `xiangyin knowledge import-villages <csv>` 从县里的名单导入
# （sample: false 的是正式数据）。要改村名单，改 CSV 再导入一次；也可以直接改这个文件，
# 改完运行 `xiangyin knowledge check`。location 是大概的经纬度。
"""


def _read_csv_rows(path: Path) -> list[dict[str, str]]:
    # Excel in China often saves GB18030; try UTF-8 (with or without BOM) first.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = path.read_text(encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte sequence
        raise KnowledgeError(
            _display_path(path), None, None, "cannot read the file as UTF-8 or GB18030"
        )
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    shown = _display_path(path)
    for column in _CSV_REQUIRED:
        if column not in header:
            raise KnowledgeError(
                shown,
                "header",
                column,
                f"column is missing; the header must be {','.join(_CSV_KNOWN[:5])} (id optional)",
            )
    rows: list[dict[str, str]] = []
    for row in reader:
        rows.append({(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None})
    return rows


def _generated_village_id(name: str) -> str:
    # Stable across re-imports and row order, ASCII for agency ids; add an `id` column for
    # readable ids.
    return "v" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def import_villages_csv(
    csv_path: Path | str, knowledge_root: Path | str | None = None
) -> VillageImportResult:
    """Import a county's village list into jurisdictions.yml.

    The CSV has the header ``township,village,aliases,lat,lon`` (an optional ``id`` column
    gives readable ids); ``aliases`` are separated by ``|``; ``township`` may be the name, an
    alias or the id.  All sample villages are removed, imported villages are written with
    ``sample: false``, and real villages already in the file but not in the CSV are kept.
    A village that already exists in that township keeps its id, so agency ids stay stable.

    Raises KnowledgeError (naming the CSV line and column) for an unknown township, a
    duplicate village or a bad coordinate; nothing is written in that case.
    """
    csv_file = Path(csv_path)
    root = Path(knowledge_root) if knowledge_root is not None else default_knowledge_root()
    yml_path = root / _FILES["jurisdictions"]
    yml_shown = _display_path(yml_path)
    csv_shown = _display_path(csv_file)
    if not csv_file.is_file():
        raise KnowledgeError(csv_shown, None, None, "file is missing")

    data = _read_yaml(yml_path)
    county, _ = _parse_jurisdictions(data, yml_shown)
    lookup: dict[str, Township] = {}
    for township in county.townships:
        for term in (township.id, township.name, *township.aliases):
            lookup[compact(term)] = township
    known_names = "、".join(t.name for t in county.townships)

    imported: dict[str, list[dict[str, Any]]] = {t.id: [] for t in county.townships}
    seen_names: dict[tuple[str, str], int] = {}
    seen_ids: dict[tuple[str, str], int] = {}
    for line_no, row in enumerate(_read_csv_rows(csv_file), start=2):
        entry = f"line {line_no}"
        if not any(row.values()):
            continue  # blank line
        township = lookup.get(compact(row.get("township", "")))
        if township is None:
            raise KnowledgeError(
                csv_shown,
                entry,
                "township",
                f"unknown township {row.get('township', '')!r} in {county.name} "
                f"(known: {known_names})",
            )
        name = row.get("village", "")
        if not name:
            raise KnowledgeError(csv_shown, entry, "village", "is required")
        key = (township.id, name)
        if key in seen_names:
            raise KnowledgeError(
                csv_shown,
                entry,
                "village",
                f"{township.name}{name} is already on line {seen_names[key]}",
            )
        seen_names[key] = line_no
        existing = next((v for v in township.villages if v.name == name), None)
        village_id = row.get("id") or (existing.id if existing else _generated_village_id(name))
        if (township.id, village_id) in seen_ids:
            raise KnowledgeError(
                csv_shown,
                entry,
                "id",
                f"id {village_id!r} is already used on line {seen_ids[(township.id, village_id)]}",
            )
        seen_ids[(township.id, village_id)] = line_no
        aliases = [a.strip() for a in row.get("aliases", "").split("|") if a.strip()]
        village: dict[str, Any] = {
            "id": village_id,
            "name": name,
            "aliases": [a for a in aliases if a != name],
            "sample": False,
        }
        lat, lon = row.get("lat", ""), row.get("lon", "")
        if lat or lon:
            coords: dict[str, float] = {}
            for column, text in (("lat", lat), ("lon", lon)):
                try:
                    coords[column] = float(text)
                except ValueError:
                    raise KnowledgeError(
                        csv_shown, entry, column, f"must be a number (got {text!r})"
                    ) from None
            village["location"] = coords
        # Validate now so the error names the CSV line rather than the YAML we write.
        _parse(Village, village, csv_shown, entry)
        imported[township.id].append(village)

    new_data: dict[str, Any] = {k: v for k, v in data.items()}
    county_raw = dict(new_data["county"])
    townships_raw: list[dict[str, Any]] = []
    removed = 0
    for t_raw in county_raw["townships"]:
        t_new = dict(t_raw)
        new_villages = imported.get(str(t_raw["id"]), [])
        new_ids = {v["id"] for v in new_villages}
        new_names = {v["name"] for v in new_villages}
        kept: list[dict[str, Any]] = []
        for v_raw in t_raw.get("villages") or []:
            if v_raw.get("sample"):
                removed += 1
            elif v_raw.get("id") not in new_ids and v_raw.get("name") not in new_names:
                kept.append(dict(v_raw))
        t_new["villages"] = kept + new_villages
        townships_raw.append(t_new)
    county_raw["townships"] = townships_raw
    new_data["county"] = county_raw
    new_data["villages_are_samples"] = False
    new_data["villages_note"] = f"村名单从 {csv_file.name} 导入（正式数据，sample: false）。"
    # Keep the flags at the top of the file, where a reader looks first.
    ordered = {k: new_data[k] for k in ("villages_are_samples", "villages_note") if k in new_data}
    ordered.update({k: v for k, v in new_data.items() if k not in ordered})

    _parse_jurisdictions(ordered, yml_shown)  # never write a file the loader would reject
    text = (
        _IMPORTED_HEADER.format(county=county.name)
        + "\n"
        + yaml.safe_dump(ordered, allow_unicode=True, sort_keys=False, width=120)
    )
    tmp_path = yml_path.with_suffix(".yml.tmp")
    tmp_path.write_text(text, encoding="utf-8")
    os.replace(tmp_path, yml_path)  # atomic: a crash never leaves a half-written file
    return VillageImportResult(
        imported=sum(len(v) for v in imported.values()),
        removed_samples=removed,
        per_township={tid: len(v) for tid, v in imported.items()},
        path=yml_path,
    )
