"""The destination table as the product sees it, shared by the sink and validation: its columns
(`catalog`, `types`), what the sink writes that it lacks (`drift`), and the SQL that adds it
(`fix_sql`).

A documented seam between features (docs/design.md, "Where code lives"): the sink reports drift
it meets while landing, validation checks the same thing before anything runs; neither imports
the other.
"""
