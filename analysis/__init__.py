"""headroom's read side: what the store's data means (the review, triage, history, cost).

Pure over `collectors.store.Store`: every query is a Store method (the schema is known in one
place); nothing here formats or draws. The CLI's `check`, the alerts, the Prometheus exporter and
every dashboard page call these functions, so they cannot disagree.
"""
