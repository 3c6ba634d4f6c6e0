"""The digital archive of SI CEKAT: paper records scanned, checked, OCR'd, classified, named,
indexed and searchable (issue 15). Modules: ``config`` (the archive's configuration, validated),
``naming`` (the folder and file-naming rule), ``sheet`` (the staff's metadata sheet), ``scan``
(SOP step 5: is each page clear and complete), ``ocr`` (OCRmyPDF to PDF/A-2b), ``catalogue``
(SQLite with FTS5), ``intake`` (``cekat arsip masuk``), ``instruments`` (Daftar Arsip, retention
list) and ``samples`` (generated test scans, never real documents)."""
