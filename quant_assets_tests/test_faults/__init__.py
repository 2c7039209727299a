"""Fault tests of the ingest layer: what happens when things go wrong, on real data.

Where each fault of issue 6 is tested (modules here first; tests elsewhere that already cover
part of a case are named in each module's docstring):

``test_killed_write``
    ``kill -9`` of a process in the middle of a warehouse write (the 619,040-row S&P 500 file):
    before ``COMMIT`` and during it. The warehouse holds a whole state, the raw file is
    unchanged, the rerun completes.
``test_concurrent_partitions``
    Four ticker partitions materialized at once with the multiprocess executor against one
    DuckDB file, with the write lock held until every step has met it: no lock error, no lost
    row.
``test_fmp_outage``
    FMP down for a day: the run fails naming the symbol, the day and the HTTP status; nothing
    of the day is written (not even the symbols that did arrive); re-running the day catches
    up, and so does the next evening's scheduled run, which covers the missed day too.
``test_corrupt_files``
    A gzip cut mid-stream, a gzip with corrupted bytes, binary garbage under a price header,
    CSVs cut mid-line, a NUL byte inside a value: named with file (and line), other tickers
    unaffected.
``test_hostile_names``
    Tickers, file names and partition keys crafted as SQL; ``../../etc/passwd`` and links out of
    ``data/raw`` in run config, the folder scan and the sensor.
``test_secret_hygiene``
    The FMP key, after retries, a rejected key echoed by the server and a quarantined bar, is
    absent from the event log, run records, every file of the instance, stdout/stderr and every
    text column of the warehouse.

Helpers: :mod:`.processes` (child processes waited on by condition and deadline),
:mod:`.killable_ingest` (the write that gets killed), :mod:`.multiprocess_job` (a
reconstructable job for the multiprocess executor).
"""
