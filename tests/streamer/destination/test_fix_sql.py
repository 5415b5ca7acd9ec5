"""The fix script: quoting, what runs and what is only suggested."""

from __future__ import annotations

from streamer.destination.fix_sql import MissingColumn, Suggestion, add_column_sql, fix_script, qualified


def test_nothing_to_fix_gives_an_empty_script() -> None:
    """No statements, no header."""
    assert fix_script("public", "leads", []) == ""


def test_identifiers_are_quoted_where_needed() -> None:
    """Columns are always quoted (quotes doubled); plain table names stay bare."""
    assert add_column_sql("public", "leads", 'we"ird', "text") == \
        'ALTER TABLE public.leads ADD COLUMN IF NOT EXISTS "we""ird" text;'
    assert qualified("public", "Leads") == 'public."Leads"'


def test_unknown_type_is_left_commented_for_a_human() -> None:
    """A column known only by name (from the sink's rows) is not added with a guessed type."""
    script = fix_script("public", "leads", [MissingColumn("apelido", None)])
    assert '-- ALTER TABLE public.leads ADD COLUMN IF NOT EXISTS "apelido" <type>;' in script
    assert "NOTIFY" not in script


def test_non_builtin_type_gets_a_warning_comment() -> None:
    """An enum or domain must exist at the destination before the column can use it."""
    script = fix_script("public", "leads", [MissingColumn("humor", "public.mood", builtin=False)])
    assert "-- public.mood is not a built-in type" in script
    assert 'ADD COLUMN IF NOT EXISTS "humor" public.mood;' in script


def test_suggestions_follow_the_runnable_statements_commented() -> None:
    """Suggestions come last, each line commented out."""
    script = fix_script("public", "leads", [MissingColumn("a", "text")], [Suggestion("why", "ALTER X;")])
    lines = script.splitlines()
    assert lines[1].startswith("ALTER TABLE") and lines[2] == "NOTIFY pgrst, 'reload schema';"
    assert lines[-2:] == ["-- why", "-- ALTER X;"]
