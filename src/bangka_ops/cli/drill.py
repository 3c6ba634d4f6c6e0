"""``cekat drill report`` and ``cekat drill form``: the annual recovery drill's report from the
facts ``playbooks/recovery_drill.yml`` measured, and its signed form
(:mod:`bangka_ops.report.drill`).

Exit codes of ``report``: 0 written and the drill passed, 1 written and the drill failed (the
reasons are in the report), 2 written without its PDF (no Chromium, or it failed), 3 a report of
that drill already exists, 64 the facts cannot be read (the file and field are named). Of
``form``: 0 written with a valid signature, 2 written without its PDF, 65 written unsigned (no
sign-off, or one that does not verify: why is printed), 64 the report cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bangka_ops.report import drill, signoff

EXIT_OK, EXIT_FAILED, EXIT_NO_PDF, EXIT_EXISTS, EXIT_USAGE, EXIT_UNSIGNED = 0, 1, 2, 3, 64, 65


def cmd_report(args: argparse.Namespace) -> int:
    try:
        result = drill.write_report(args.facts, args.out, pdf=not args.tanpa_pdf)
    except drill.ReportExists as exc:
        print(f"cekat drill report: {exc}", file=sys.stderr)
        return EXIT_EXISTS
    except drill.DrillError as exc:
        print(f"cekat drill report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"cekat drill report: {exc.filename or args.out}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    kpis = result["document"]["kpis"]
    verdict = "BERHASIL / PASSED" if kpis["status"] == "passed" else "GAGAL / FAILED"
    print(f"simulasi / drill {kpis['client']} -> {kpis['drill_host']}: {verdict} in "
          f"{drill.duration(kpis['total_seconds'])} (RTO {kpis['rto_hours']} h)")  # fmt: skip
    for reason in kpis["reasons"]:
        print(f"  - {reason}")
    for key in ("json", "html", "pdf"):
        if key in result:
            print(f"{key}: {result[key]}")
    if "pdf_error" in result:
        print(f"cekat drill report: no PDF: {result['pdf_error']}", file=sys.stderr)
    print(f"tanda tangan / sign: cekat sign {result['json']} --key KEY --signer NAME")
    if kpis["status"] != "passed":
        return EXIT_FAILED
    return EXIT_NO_PDF if "pdf_error" in result else EXIT_OK


def cmd_form(args: argparse.Namespace) -> int:
    try:
        doc = drill.load_document(args.report)
    except drill.DrillError as exc:
        print(f"cekat drill form: {exc}", file=sys.stderr)
        return EXIT_USAGE
    signature: dict[str, Any] | None = None
    refused = ""
    signoff_path = args.report.with_name(args.report.name + ".signoff.json")
    if not signoff_path.is_file():
        refused = f"{signoff_path}: no sign-off yet (cekat sign {args.report} ...)"
    else:
        try:
            allowed = signoff.allowed_signers(args.allowed_signers, args.inventory)
            signature = signoff.verify_document(doc, signoff_path, allowed)
        except (OSError, signoff.SignoffError) as exc:
            refused = str(exc)
    out = args.out or args.report.with_suffix(".html")
    try:
        result = drill.write_form(doc, out, signature, pdf=not args.tanpa_pdf)
    except OSError as exc:
        print(f"cekat drill form: {exc.filename or out}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    for key in ("html", "pdf"):
        if key in result:
            print(f"{key}: {result[key]}")
    if signature:
        print(f"ditandatangani / signed by {signature['signer']} at {signature['signed_at']}")
    if refused:
        print(f"cekat drill form: TIDAK DITANDATANGANI / NOT SIGNED: {refused}", file=sys.stderr)
        return EXIT_UNSIGNED
    if "pdf_error" in result:
        print(f"cekat drill form: no PDF: {result['pdf_error']}", file=sys.stderr)
        return EXIT_NO_PDF
    return EXIT_OK


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "drill", help="simulasi pemulihan tahunan / the annual recovery drill's report"
    )
    commands = parser.add_subparsers(dest="drill_command", required=True)
    rep = commands.add_parser(
        "report", help="laporan dari fakta / the report (JSON, HTML, PDF) of a drill's facts"
    )
    rep.add_argument("facts", type=Path, help="<client>-<time>.facts.json from recovery_drill.yml")
    rep.add_argument("--out", type=Path, required=True, help="directory of drill reports")
    rep.add_argument("--tanpa-pdf", action="store_true", help="HTML only (no Chromium)")
    rep.set_defaults(func=cmd_report)
    form = commands.add_parser(
        "form", help="halaman bertanda tangan / the report's page with its verified sign-off"
    )
    form.add_argument("report", type=Path, help="simulasi-<client>-<time>.json")
    form.add_argument("--out", type=Path, help="HTML file (default: the report's .html)")
    form.add_argument("--tanpa-pdf", action="store_true", help="HTML only (no Chromium)")
    trust = form.add_mutually_exclusive_group()
    trust.add_argument("--allowed-signers", type=Path, help="allowed-signers file")
    trust.add_argument("-i", "--inventory", type=Path, help="the inventory's signers")
    form.set_defaults(func=cmd_form)
