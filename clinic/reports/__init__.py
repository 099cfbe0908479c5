"""Managers' reports: the dashboard with charts, ledger and cold-chain reports, the treatment
register, recall look-ups and streamed CSV exports.

Every query here is a set-based aggregation scoped to a list of location ids (never one
query per row), so each page runs a fixed number of queries whatever the data size.
"""
