"""The staff's search page for the digital archive (``cekat arsip`` in a browser)."""
