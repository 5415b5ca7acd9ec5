"""The product's state in the source database, shared by the feature packages: export jobs and
their state machine (`jobs`, `store`), the per-lead outcomes of a job (`progress`), the error
table (`failures`) and the audit log (`audit`).

This is the one documented seam between features that work on the same rows (docs/design.md,
"State"): the sink reports outcomes and files errors here, history runs jobs here, the monitor
shows and acts on them here; none of them imports another feature.
"""
