"""Validation and troubleshooting: schema comparison with fix-up SQL, connection checks, schema
cache reload, drift detection for the sink, and the doctor.

Pure parts, each tested on literal inputs: `types` (type compatibility), `catalog` (columns from
OpenAPI), `schema` (the comparison), `fix_sql`, `drift.drift_from_openapi`, and the verdicts in
`config_check`, `rls`, `health` and `loop`. The rest reads the facts they judge.
"""
