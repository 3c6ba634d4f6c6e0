"""The handbook (issue 21): the MkDocs site's generated pages, screenshots and PDFs.

The hand-written guides live in ``docs/id`` and ``docs/en``; what can be read from the
repository itself is generated at every build and never committed: the inventory pages
(:mod:`.inventory`, :mod:`.sizes`), every role's variables table (:mod:`.argspecs`), the
screenshots of pages the project serves (:mod:`.screenshots`) and one PDF per guide
(:mod:`.pdf`). :mod:`.hook` wires the first three into ``mkdocs build``; ``cekat handbook``
runs the whole build.
"""
