"""Data behind the web pages (dashboard and evidence matrix, entity, study,
search, downloads, VoID), computed from the graph by SPARQL with user values
passed only as bindings. ``web/pages.py`` renders them; :mod:`.cache` keeps the
per-release precomputations."""
