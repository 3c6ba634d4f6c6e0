"""The generated Markdown pages: the inventory of each environment and every role's variables,
in Bahasa Indonesia (``id``) and English (``en``).

Everything in them is read from the repository at build time (:mod:`.inventory`,
:mod:`.argspecs`, :mod:`.sizes`); nothing is copied by hand, so a changed inventory or role
changes the handbook at the next build.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bangka_ops.handbook import argspecs, inventory, sizes
from bangka_ops.report import capacity

LANGS = ("id", "en")
ENVIRONMENTS = ("production", "staging", "local")
GENERATED_DIRS = ("inventaris", "peran")
WEEKDAYS = {
    "id": ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
CATEGORIES = {
    "critical": ("kritikal", "critical"),
    "standard": ("standar", "standard"),
    "archive": ("arsip", "archive"),
    "arsip": ("arsip", "archive"),
}


def _t(lang: str, indonesian: str, english: str) -> str:
    return indonesian if lang == "id" else english


def cell(value: object) -> str:
    """Text safe inside a Markdown table cell (one line, pipes escaped)."""
    return " ".join(str(value).split()).replace("|", "\\|")


def code(value: object) -> str:
    text = cell(value)
    if not text:
        return ""
    ticks = "``" if "`" in text else "`"
    return f"{ticks}{text}{ticks}"


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _banner(lang: str, source: str) -> str:
    return (
        _t(
            lang,
            f'!!! info "Halaman ini dibuat otomatis"\n    Dibuat dari `{source}` setiap kali buku'
            " panduan dibangun. Jangan menyunting halaman ini: ubah sumbernya.\n",
            f'!!! info "This page is generated"\n    Built from `{source}` at every build of the'
            " handbook. Do not edit this page: change its source.\n",
        )
        + "\n"
    )


def _category(lang: str, name: str) -> str:
    pair = CATEGORIES.get(name)
    return pair[0 if lang == "id" else 1] if pair else name


def _cycles(lang: str, cycles: dict[str, object]) -> str:
    parts = []
    for name, settings in cycles.items():
        spec = settings if isinstance(settings, dict) else {}
        if name == "daily":
            parts.append(_t(lang, "harian (inkremental)", "daily (incremental)"))
        elif name == "weekly":
            day = spec.get("weekday", 7)
            label = WEEKDAYS[lang][int(day) - 1] if isinstance(day, int) and 1 <= day <= 7 else day
            parts.append(_t(lang, f"mingguan penuh ({label})", f"weekly full ({label})"))
        elif name == "monthly":
            day = spec.get("day", 1)
            parts.append(_t(lang, f"bulanan arsip (tgl {day})", f"monthly archive (day {day})"))
        else:
            parts.append(str(name))
    return "; ".join(parts)


def _window(window: dict[str, object]) -> str:
    if not window:
        return ""
    zone = window.get("timezone", "")
    return f"{window.get('start', '?')}-{window.get('end', '?')} {zone}".strip()


def _retention(lang: str, retention: dict[str, object]) -> str:
    names = {
        "daily": _t(lang, "harian", "daily"),
        "weekly": _t(lang, "mingguan", "weekly"),
        "monthly": _t(lang, "bulanan", "monthly"),
    }
    return ", ".join(f"{names.get(k, k)} {v}" for k, v in retention.items())


def _hours(value: object) -> str:
    return f"{value} h" if value is not None else ""


def _offsite(lang: str, policy: inventory.Policy, host: inventory.Host) -> str:
    if not policy.offsite:
        return _t(lang, "tidak", "no")
    if host.offsite_repository:
        return _t(lang, "ya, bulanan", "yes, monthly")
    return _t(
        lang,
        "diminta; host belum punya `borg_agent_offsite_repository`",
        "asked for; the host has no `borg_agent_offsite_repository` yet",
    )


def _data(policy: inventory.Policy) -> str:
    return f"{code(policy.host)} / {code(policy.name)}: {cell(', '.join(policy.sources))}"


def _databases(databases: list[dict[str, object]]) -> str:
    return ", ".join(f"{d.get('type', '?')} {d.get('name', '?')}" for d in databases)


def inventory_page(
    lang: str,
    inv: inventory.Inventory,
    measured: dict[str, capacity.RepositoryForecast],
    records_given: bool,
) -> str:
    source = f"inventories/{inv.name}/"
    out = [f"# {_t(lang, 'Inventaris', 'Inventory')}: {inv.name}\n", _banner(lang, source)]
    out.append(
        _t(
            lang,
            "Inventarisasi server, layanan kritikal, dan data prioritas lingkungan ini: siapa"
            " menjalankan apa, data mana yang dicadangkan, kapan (jendela), seberapa sering, dan"
            " target pemulihannya (RPO: data paling lama yang boleh hilang; RTO: waktu paling lama"
            " untuk memulihkan).\n",
            "The inventory of servers, critical services and priority data of this environment:"
            " who runs what, which data is backed up, when (the window), how often, and its"
            " recovery targets (RPO: the most data that may be lost, as time; RTO: the longest a"
            " restore may take).\n",
        )
    )
    if inv.skipped_vault_files:
        files = ", ".join(f"`{f}`" for f in inv.skipped_vault_files)
        out.append(
            _t(
                lang,
                f"Berkas terenkripsi vault dilewati (tidak pernah didekripsi): {files}.\n",
                f"Vault-encrypted files skipped (never decrypted): {files}.\n",
            )
        )
    out += _hosts_section(lang, inv)
    out += _categories_section(lang, inv)
    out += _policies_section(lang, inv)
    out += _sizes_section(lang, inv, measured, records_given)
    return "".join(out)


def _hosts_section(lang: str, inv: inventory.Inventory) -> list[str]:
    out = [f"\n## {_t(lang, 'Server dan layanan', 'Servers and services')}\n\n"]
    header = [
        _t(lang, "Host", "Host"),
        _t(lang, "Alamat", "Address"),
        _t(lang, "Layanan", "Services"),
        _t(lang, "Kebijakan cadangan", "Backup policies"),
    ]
    rows = []
    for host in inv.hosts:
        service = "; ".join(pair[0 if lang == "id" else 1] for pair in inventory.services(host))
        if host.is_agent:
            policies = ", ".join(code(p.name) for p in host.policies) or _t(
                lang, "**tidak ada kebijakan**", "**no policy**"
            )
        else:
            policies = "—"
        rows.append([code(host.name), code(host.address), cell(service), policies])
    out.append(table(header, rows))
    return out


def _categories_section(lang: str, inv: inventory.Inventory) -> list[str]:
    out = [f"\n## {_t(lang, 'Data prioritas per kategori', 'Priority data by category')}\n\n"]
    by_category: dict[str, list[inventory.Policy]] = {}
    for policy in inv.policies():
        by_category.setdefault(policy.category, []).append(policy)
    header = [
        _t(lang, "Kategori", "Category"),
        _t(lang, "Data (host / kebijakan)", "Data (host / policy)"),
        _t(lang, "RPO terketat", "Strictest RPO"),
        _t(lang, "RTO terketat", "Strictest RTO"),
    ]
    rows = []
    for category, members in sorted(by_category.items()):
        rpos = [p.rpo_hours for p in members if isinstance(p.rpo_hours, int)]
        rtos = [p.rto_hours for p in members if isinstance(p.rto_hours, int)]
        rows.append(
            [
                cell(_category(lang, category)),
                "<br>".join(_data(p) for p in members),
                _hours(min(rpos)) if rpos else "",
                _hours(min(rtos)) if rtos else "",
            ]
        )
    out.append(table(header, rows) if rows else _t(lang, "Tidak ada kebijakan.\n", "No policy.\n"))
    return out


def _policies_section(lang: str, inv: inventory.Inventory) -> list[str]:
    out = [f"\n## {_t(lang, 'Kebijakan dan jendela cadangan', 'Policies and backup windows')}\n\n"]
    schedule = [
        _t(lang, "Host", "Host"),
        _t(lang, "Kebijakan", "Policy"),
        _t(lang, "Kategori", "Category"),
        _t(lang, "Jendela", "Window"),
        _t(lang, "Siklus", "Cycles"),
        "RPO",
        "RTO",
    ]
    keeping = [
        _t(lang, "Host", "Host"),
        _t(lang, "Kebijakan", "Policy"),
        _t(lang, "Retensi (arsip disimpan)", "Retention (archives kept)"),
        "Off-site",
        _t(lang, "Basis data", "Databases"),
        _t(lang, "Ditulis di", "Defined in"),
    ]
    schedule_rows, keeping_rows = [], []
    hosts = {h.name: h for h in inv.hosts}
    for policy in inv.policies():
        schedule_rows.append(
            [
                code(policy.host),
                code(policy.name),
                cell(_category(lang, policy.category)),
                cell(_window(policy.window)),
                cell(_cycles(lang, policy.cycles)),
                _hours(policy.rpo_hours),
                _hours(policy.rto_hours),
            ]
        )
        keeping_rows.append(
            [
                code(policy.host),
                code(policy.name),
                cell(_retention(lang, policy.retention)),
                _offsite(lang, policy, hosts[policy.host]),
                cell(_databases(policy.databases)) or "—",
                code(policy.defined_in),
            ]
        )
    if schedule_rows:
        out.append(table(schedule, schedule_rows))
        out.append(f"\n### {_t(lang, 'Retensi dan salinan', 'Retention and copies')}\n\n")
        out.append(table(keeping, keeping_rows))
    else:
        out.append(_t(lang, "Tidak ada kebijakan.\n", "No policy.\n"))
    return out


def _sizes_section(
    lang: str,
    inv: inventory.Inventory,
    measured: dict[str, capacity.RepositoryForecast],
    records_given: bool,
) -> list[str]:
    out = [
        f"\n## {_t(lang, 'Ukuran dan kapasitas repositori', 'Repository size and capacity')}\n\n"
    ]
    out.append(
        _t(
            lang,
            "Ukuran tersimpan repositori (setelah deduplikasi dan kompresi) menurut catatan"
            " eksekusi cadangan terbaru, pertumbuhannya per hari (30 hari terakhir), dan sisa hari"
            " sampai kuota atau disk server repositori penuh (README, *Kapasitas*).",
            "The repository's stored size (after deduplication and compression) according to the"
            " newest backup run record, its growth per day (last 30 days), and the days left"
            " until its quota or the repository server's disk is full (README, *Capacity*).",
        )
        + (
            ""
            if records_given
            else _t(
                lang,
                " Buku panduan ini dibangun tanpa direktori catatan (`cekat handbook --records"
                " DIR`).",
                " This handbook was built without a records directory (`cekat handbook --records"
                " DIR`).",
            )
        )
        + "\n\n"
    )
    header = [
        _t(lang, "Host", "Host"),
        _t(lang, "Ukuran tersimpan", "Stored size"),
        _t(lang, "Diukur pada", "Measured at"),
        _t(lang, "Tumbuh / hari", "Growth / day"),
        _t(lang, "Kuota", "Quota"),
        _t(lang, "Kuota penuh dalam (hari)", "Quota full in (days)"),
        _t(lang, "Disk: sisa / ukuran", "Disk: free / size"),
        _t(lang, "Disk penuh dalam (hari)", "Disk full in (days)"),
        _t(lang, "Status", "Status"),
    ]
    rows = []
    no_data = _t(lang, "belum ada data", "no data yet")
    for host in inv.hosts:
        if not host.is_agent:
            continue
        found = measured.get(host.name)
        quota = host.storage_quota or _t(lang, "tanpa kuota", "no quota")
        if found is None or found.size_bytes is None or found.measured_at is None:
            rows.append([code(host.name), no_data, "", "", cell(quota), "", "", "", ""])
            continue
        disk = found.disk
        rows.append(
            [
                code(host.name),
                sizes.human(found.size_bytes),
                found.measured_at.isoformat(timespec="minutes"),
                ""
                if found.growth_bytes_per_day is None
                else sizes.human(found.growth_bytes_per_day),
                cell(quota),
                _days(found.days_until_quota_full),
                f"{sizes.human(disk.available_bytes)} / {sizes.human(disk.filesystem_bytes)}"
                if disk
                else "",
                _days(found.days_until_disk_full),
                cell(found.status + (f": {'; '.join(found.reasons)}" if found.reasons else "")),
            ]
        )
    out.append(table(header, rows))
    return out


def _days(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def inventory_index(lang: str, names: list[str]) -> str:
    out = [f"# {_t(lang, 'Inventaris', 'Inventory')}\n\n", _banner(lang, "inventories/")]
    out.append(
        _t(
            lang,
            "Satu halaman per lingkungan, dibuat dari berkas inventaris Ansible. Gunakan halaman"
            " ini saat membentuk tim, merencanakan jendela cadangan dan kebutuhan penyimpanan,"
            " dan pada tinjauan SOP enam bulanan.\n\n",
            "One page per environment, built from the Ansible inventory files. Use them when"
            " forming the team, planning backup windows and storage needs, and in the six-monthly"
            " SOP review.\n\n",
        )
    )
    out += [f"- [{name}]({name}.md)\n" for name in names]
    return "".join(out)


def role_page(lang: str, spec: argspecs.RoleSpec) -> str:
    source = f"roles/{spec.role}/meta/argument_specs.yml"
    out = [f"# {_t(lang, 'Peran', 'Role')} `{spec.role}`\n\n", _banner(lang, source)]
    out.append(f"**{cell(spec.short_description)}**\n\n")
    if spec.description:
        out.append(cell(spec.description) + "\n\n")
    if lang == "id":
        out.append(
            "Keterangan variabel ditulis dalam bahasa Inggris di `meta/argument_specs.yml`;"
            " penjelasan lengkap per peran ada di `roles/" + spec.role + "/README.md`.\n\n"
        )
    header = [
        _t(lang, "Variabel", "Variable"),
        _t(lang, "Tipe", "Type"),
        _t(lang, "Bawaan", "Default"),
        _t(lang, "Wajib", "Required"),
        _t(lang, "Keterangan", "Description"),
    ]
    rows = []
    for option in spec.options:
        notes = [option.description]
        if option.choices:
            notes.append(_t(lang, "Pilihan: ", "Choices: ") + option.choices)
        if option.secret:
            notes.append(_t(lang, "Rahasia: dari vault.", "Secret: from the vault."))
        rows.append(
            [
                code(option.name),
                cell(option.type),
                code(option.default) if option.has_default else "—",
                _t(lang, "ya", "yes") if option.required else _t(lang, "tidak", "no"),
                cell(" ".join(notes)),
            ]
        )
    out.append(table(header, rows))
    return "".join(out)


def role_index(lang: str, specs: list[argspecs.RoleSpec]) -> str:
    out = [
        f"# {_t(lang, 'Variabel peran', 'Role variables')}\n\n",
        _banner(lang, "roles/*/meta/argument_specs.yml"),
    ]
    out.append(
        _t(
            lang,
            "Setiap peran Ansible memeriksa variabelnya sebelum menjalankan apa pun. Tabel-tabel"
            " ini dibaca dari berkas itu, jadi selalu sesuai dengan kode.\n\n",
            "Every Ansible role checks its variables before it runs anything. These tables are"
            " read from that file, so they always match the code.\n\n",
        )
    )
    out += [f"- [`{s.role}`]({s.role}.md): {cell(s.short_description)}\n" for s in specs]
    return "".join(out)


def write_if_changed(path: Path, text: str) -> bool:
    """Write only when different, so ``mkdocs serve`` does not rebuild in a loop."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def environments(repo: Path) -> list[str]:
    """Every inventory of the repository: production, staging, local first, then by name."""
    found = {p.parent.name for p in (repo / "inventories").glob("*/hosts.y*ml")}
    known = [name for name in ENVIRONMENTS if name in found]
    return known + sorted(found - set(known))


def generate(docs_dir: Path, repo: Path, records_dir: Path | None) -> list[Path]:
    """Write every generated page under ``docs_dir/<lang>/``; returns their paths."""
    inventories = [inventory.load(repo / "inventories" / name) for name in environments(repo)]
    measured = {inv.name: sizes.forecasts(records_dir, inv.hosts) for inv in inventories}
    specs = argspecs.load_all(repo / "roles")
    written: list[Path] = []
    for lang in LANGS:
        base = docs_dir / lang
        pages = {
            base / "inventaris" / "index.md": inventory_index(lang, [i.name for i in inventories])
        }
        for inv in inventories:
            pages[base / "inventaris" / f"{inv.name}.md"] = inventory_page(
                lang, inv, measured[inv.name], records_dir is not None
            )
        pages[base / "peran" / "index.md"] = role_index(lang, specs)
        for spec in specs:
            pages[base / "peran" / f"{spec.role}.md"] = role_page(lang, spec)
        for path, text in pages.items():
            write_if_changed(path, text)
            written.append(path)
        for folder in GENERATED_DIRS:  # a role or environment removed leaves no stale page
            for stale in set((base / folder).glob("*.md")) - set(pages):
                stale.unlink()
    return written
