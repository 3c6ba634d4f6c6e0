"""The annual recovery drill's report (*laporan simulasi pemulihan*): what
``playbooks/recovery_drill.yml`` measured while it rebuilt a host from its latest archives on a
fresh drill host, judged against each policy's RTO, as a document the coordinator signs.

The playbook writes the drill's facts (``<client>-<stamp>.facts.json``): every step with its
duration and outcome. :func:`write_report` turns them into the report: ``.json`` (the document
``cekat sign`` signs: ``kind: recovery_drill``, ``rows`` = the steps, ``kpis`` = the verdict),
``.html`` (A4, Bahasa Indonesia with English beside it) and ``.pdf`` (headless Chromium). After
``cekat sign``, :func:`write_form` renders the page again with the verified signature.
:func:`latest` gives the checklist the newest drill and whether it is overdue (older than
:data:`OVERDUE_DAYS`, or none at all).

The facts come from the control host's own playbook run, but they are still checked field by
field (a hand-edited or truncated file is named, never half-reported): the step names, hosts
and details are data, shown escaped.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from bangka_ops import chromium
from bangka_ops.report import atomic

SCHEMA_VERSION = 1
KIND = "recovery_drill"
FACTS_KIND = "recovery_drill_facts"
STEP_KINDS = ("packages", "files", "database", "services", "smoke")
# The plan: a recovery simulation at least once a year.
OVERDUE_DAYS = 365
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DELTA = re.compile(r"^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")  # Ansible's command "delta"
MAX_TEXT = 2000
MAX_STEPS = 2000

STEP_NAMES = {
    "packages": ("Paket perangkat lunak", "software packages"),
    "files": ("Berkas", "files"),
    "database": ("Basis data", "database"),
    "services": ("Layanan dijalankan", "services started"),
    "smoke": ("Uji asap", "smoke check"),
}


class DrillError(Exception):
    """The facts or a report cannot be read; the message names the file and the field."""


class ReportExists(DrillError):
    """The drill's report is already written (a report is never overwritten)."""


def seconds_of(value: Any, where: str) -> float:
    """A step's duration: seconds (a number) or Ansible's ``H:MM:SS.ffffff``."""
    if isinstance(value, bool):
        raise DrillError(f"{where}: not a duration: {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and DELTA.match(value.strip()):
        hours, minutes, secs = DELTA.match(value.strip()).groups()  # type: ignore[union-attr]
        number = int(hours) * 3600 + int(minutes) * 60 + float(secs)
    else:
        raise DrillError(f"{where}: not a duration (seconds or H:MM:SS): {str(value)[:40]!r}")
    if not math.isfinite(number) or number < 0 or number > 366 * 86400:
        raise DrillError(f"{where}: duration out of range: {number!r}")
    return round(number, 3)


def text_of(value: Any, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if isinstance(value, str):
        value = value[:MAX_TEXT]  # first: what is kept must itself be text (read back the same)
    if not isinstance(value, str) or (required and not value.strip()):
        raise DrillError(f"{where}: text expected")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON's "\ud800"): no character at all
        raise DrillError(f"{where}: not text (a lone surrogate code point)") from None
    return value[:MAX_TEXT]


def name_of(value: Any, where: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise DrillError(f"{where}: a host or policy name expected, got {str(value)[:40]!r}")
    return value


def time_of(value: Any, where: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise DrillError(f"{where}: a time with its zone (ISO 8601) expected")
    return moment


def load_facts(path: Path) -> dict[str, Any]:
    """The playbook's facts, checked field by field; DrillError names what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DrillError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DrillError(f"{path}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise DrillError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise DrillError(f"{path}: invalid JSON: nested too deeply") from exc
    try:
        return check_facts(data)
    except DrillError as exc:
        raise DrillError(f"{path}: {exc}") from None


def check_facts(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("kind") != FACTS_KIND:
        raise DrillError(f"kind: {FACTS_KIND!r} expected (the facts recovery_drill.yml writes)")
    facts: dict[str, Any] = {
        "client": name_of(data.get("client"), "client"),
        "drill_host": name_of(data.get("drill_host"), "drill_host"),
        "operator": text_of(data.get("operator"), "operator", required=False),
        "started": time_of(data.get("started"), "started"),
        "finished": time_of(data.get("finished"), "finished"),
    }
    if facts["finished"] < facts["started"]:
        raise DrillError("finished: before started")
    policies = data.get("policies")
    if not isinstance(policies, list) or not policies:
        raise DrillError("policies: a non-empty list expected")
    facts["policies"] = []
    for index, policy in enumerate(policies):
        where = f"policies[{index}]"
        if not isinstance(policy, dict):
            raise DrillError(f"{where}: an object expected")
        rto = policy.get("rto_hours")
        if isinstance(rto, bool) or not isinstance(rto, int | float) or not 0 < rto < 100000:
            raise DrillError(f"{where}.rto_hours: a positive number of hours expected")
        facts["policies"].append({"name": name_of(policy.get("name"), f"{where}.name"),
                                  "rto_hours": rto})  # fmt: skip
    known = {p["name"] for p in facts["policies"]}
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps or len(steps) > MAX_STEPS:
        raise DrillError(f"steps: a non-empty list (at most {MAX_STEPS}) expected")
    facts["steps"] = [check_step(step, f"steps[{i}]", known) for i, step in enumerate(steps)]
    return facts


def check_step(step: Any, where: str, policies: set[str]) -> dict[str, Any]:
    if not isinstance(step, dict):
        raise DrillError(f"{where}: an object expected")
    kind = step.get("kind")
    if kind not in STEP_KINDS:
        raise DrillError(f"{where}.kind: one of {', '.join(STEP_KINDS)} expected")
    policy = step.get("policy")
    if policy is not None and name_of(policy, f"{where}.policy") not in policies:
        raise DrillError(f"{where}.policy: {policy!r} is not a policy of the drill")
    if kind in ("files", "database") and policy is None:
        raise DrillError(f"{where}.policy: a {kind} step restores one policy's archive")
    if not isinstance(step.get("ok"), bool):
        raise DrillError(f"{where}.ok: true or false expected")
    return {
        "kind": kind,
        "name": text_of(step.get("name"), f"{where}.name"),
        "policy": policy,
        "seconds": seconds_of(step.get("seconds"), f"{where}.seconds"),
        "ok": step["ok"],
        "detail": text_of(step.get("detail"), f"{where}.detail", required=False),
    }


def document(facts: dict[str, Any]) -> dict[str, Any]:
    """The signed document: the steps as rows, the verdict as KPIs (no other top level)."""
    steps = facts["steps"]
    total = (facts["finished"] - facts["started"]).total_seconds()
    policies = []
    for policy in facts["policies"]:
        own = [s for s in steps if s["policy"] == policy["name"]]
        restore = round(sum(s["seconds"] for s in own), 3)
        policies.append({
            "policy": policy["name"],
            "rto_hours": policy["rto_hours"],
            "restore_seconds": restore,
            "restored": bool(own) and all(s["ok"] for s in own),
            # Until the host is back, a policy is only as recovered as the whole rebuild: its
            # own restores, and the packages, services and smoke checks the host needs.
            "rto_met": total <= policy["rto_hours"] * 3600,
        })  # fmt: skip
    failed = [s["name"] for s in steps if not s["ok"]]
    rto = min(p["rto_hours"] for p in facts["policies"])
    rto_met = total <= rto * 3600
    smoked = any(s["kind"] == "smoke" for s in steps)
    status = "passed" if not failed and rto_met and smoked else "failed"
    reasons = [f"step failed: {name}" for name in failed]
    if not smoked:  # files back are not a host back: the services must be shown to work
        reasons.append("no smoke check ran")
    if not rto_met:
        reasons.append(f"took {total:.0f} s, more than the RTO of {rto} h")
    rows = [{"step": i + 1, **s} for i, s in enumerate(steps)]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "rows": rows,
        "kpis": {
            "period": facts["started"].date().isoformat(),
            "client": facts["client"],
            "drill_host": facts["drill_host"],
            "operator": facts["operator"],
            "started": facts["started"].isoformat(),
            "finished": facts["finished"].isoformat(),
            "total_seconds": round(total, 3),
            "rto_hours": rto,
            "rto_met": rto_met,
            "status": status,
            "reasons": reasons,
            "policies": policies,
            "seconds_by_kind": {
                kind: round(sum(s["seconds"] for s in steps if s["kind"] == kind), 3)
                for kind in STEP_KINDS
            },
        },
    }


def stem(doc: dict[str, Any]) -> str:
    started = dt.datetime.fromisoformat(doc["kpis"]["started"])
    return f"simulasi-{doc['kpis']['client']}-{started.strftime('%Y%m%dT%H%M%S')}"


def html(doc: dict[str, Any], signature: dict[str, Any] | None = None) -> str:
    environment = Environment(
        loader=PackageLoader("bangka_ops.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("drill.html.j2").render(
        doc=doc, k=doc["kpis"], names=STEP_NAMES, signature=signature,
        duration=duration, report_name=stem(doc) + ".json",
    )  # fmt: skip


def duration(seconds: float) -> str:
    """``1 j 02 m 03 s`` style (hours, minutes, seconds), also read in English."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} j {minutes:02d} m {secs:02d} s"
    if minutes:
        return f"{minutes} m {secs:02d} s"
    return f"{seconds:.1f} s"


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` as ``path`` (0640), whole or not at all (:func:`atomic.replacing`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(path, binary=True) as handle:
        handle.write(data)


def write_report(facts_path: Path, out: Path, *, pdf: bool = True) -> dict[str, Any]:
    """The report of the facts in ``facts_path`` under ``out``: ``.json``, ``.html`` and (with
    ``pdf``) ``.pdf``. Returns the document and the paths (``pdf_error`` when there is none)."""
    doc = document(load_facts(facts_path))
    base = out / stem(doc)
    json_path = base.with_name(base.name + ".json")
    if json_path.exists():
        raise ReportExists(f"{json_path}: exists (a drill's report is never overwritten)")
    page = html(doc, None)  # rendered first: a template error writes nothing
    write_atomic(json_path, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode())
    result: dict[str, Any] = {"document": doc, "json": str(json_path)}
    try:
        result.update(write_form(doc, base.with_name(base.name + ".html"), None, pdf=pdf,
                                 page=page))  # fmt: skip
    except BaseException:  # the whole report or none: the next run makes it
        for suffix in (".json", ".html", ".pdf"):
            base.with_name(base.name + suffix).unlink(missing_ok=True)
        raise
    return result


def write_form(
    doc: dict[str, Any],
    html_path: Path,
    signature: dict[str, Any] | None,
    *,
    pdf: bool = True,
    page: str | None = None,
) -> dict[str, Any]:
    """The page (and its PDF) of ``doc``, with ``signature`` (verified by the caller);
    ``page``: the page already rendered."""
    write_atomic(html_path, (html(doc, signature) if page is None else page).encode("utf-8"))
    result: dict[str, Any] = {"html": str(html_path)}
    if pdf:
        browser = chromium.find()
        pdf_path = html_path.with_suffix(".pdf")
        problem = (
            "no Chromium on this host (Debian package chromium)"
            if browser is None
            else chromium.print_pdf(browser, html_path, pdf_path)
        )
        result["pdf_error" if problem else "pdf"] = problem or str(pdf_path)
    return result


def load_document(path: Path) -> dict[str, Any]:
    """A drill report written by :func:`write_report` (checked: kind, version, KPIs)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DrillError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise DrillError(f"{path}: not a drill report (invalid JSON)") from exc
    if (
        not isinstance(doc, dict)
        or doc.get("kind") != KIND
        or doc.get("schema_version") != SCHEMA_VERSION
        or not isinstance(doc.get("rows"), list)
        or not isinstance(doc.get("kpis"), dict)
    ):
        raise DrillError(f"{path}: not a drill report (kind {KIND}, schema_version 1)")
    try:
        check_document(doc)
    except DrillError as exc:
        raise DrillError(f"{path}: {exc}") from None
    return doc


def check_document(doc: dict[str, Any]) -> None:
    """``doc``'s rows and KPIs agree: the facts they carry, checked as the playbook's are, give
    this very document again (so every field the page shows is there and of its type, and a
    hand-edited verdict is caught). DrillError names the first field that does not."""
    kpis = doc["kpis"]
    policies = kpis.get("policies")
    if not isinstance(policies, list):
        raise DrillError("kpis.policies: a list expected")
    rows = doc["rows"]
    for index, row in enumerate(rows):
        if (
            not isinstance(row, dict)
            or type(row.get("step")) is not int
            or row["step"] != index + 1
        ):
            raise DrillError(f"rows[{index}].step: {index + 1} expected")
    facts = check_facts({
        "kind": FACTS_KIND,
        "client": kpis.get("client"),
        "drill_host": kpis.get("drill_host"),
        "operator": kpis.get("operator"),
        "started": kpis.get("started"),
        "finished": kpis.get("finished"),
        "policies": [
            {"name": p.get("policy"), "rto_hours": p.get("rto_hours")} if isinstance(p, dict)
            else p
            for p in policies
        ],
        "steps": [{k: v for k, v in row.items() if k != "step"} for row in rows],
    })  # fmt: skip
    again = document(facts)
    rows_wrong = [f"rows[{i}]" for i, row in enumerate(again["rows"]) if row != rows[i]]
    kpis_wrong = [f"kpis.{k}" for k in sorted(set(again["kpis"]) | set(kpis))
                  if again["kpis"].get(k) != kpis.get(k)]  # fmt: skip
    if rows_wrong or kpis_wrong:
        raise DrillError(
            f"{', '.join((rows_wrong + kpis_wrong)[:5])}: not what the rows give (edited after "
            "the report was made?)"
        )


def latest(directory: Path, now: dt.datetime) -> dict[str, Any]:
    """The newest drill report under ``directory`` for the checklist: its date, host, status
    and age, ``overdue`` when there is none or it is older than :data:`OVERDUE_DAYS`; files
    that are not drill reports are listed in ``problems`` (named, never trusted)."""
    found: list[tuple[dt.datetime, Path, dict[str, Any]]] = []
    problems: list[str] = []
    paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
    for path in paths:
        if path.name.endswith((".signoff.json", ".facts.json")) or path.is_symlink():
            continue
        try:
            doc = load_document(path)
        except DrillError as exc:
            problems.append(str(exc))
            continue
        started = dt.datetime.fromisoformat(doc["kpis"]["started"])
        if started > now:
            problems.append(f"{path}: kpis.started: {started.isoformat()} is after "
                            f"{now.isoformat()} (dated in the future)")  # fmt: skip
            continue
        found.append((started, path, doc))
    result: dict[str, Any] = {"dir": str(directory), "overdue_after_days": OVERDUE_DAYS,
                              "problems": problems[:20]}  # fmt: skip
    if not found:
        return {**result, "last": None, "overdue": True}
    started, path, doc = max(found, key=lambda f: f[0])
    age = (now - started).total_seconds() / 86400
    kpis = doc["kpis"]
    return {
        **result,
        "last": {
            "date": started.date().isoformat(),
            "started": started.isoformat(),
            "client": kpis["client"],
            "drill_host": kpis.get("drill_host"),
            "status": kpis["status"],
            "total_seconds": kpis.get("total_seconds"),
            "rto_met": kpis.get("rto_met"),
            "report": str(path),
            "signoff_file": path.with_name(path.name + ".signoff.json").is_file(),
            "age_days": round(age, 1),
        },
        "overdue": age > OVERDUE_DAYS,
    }
