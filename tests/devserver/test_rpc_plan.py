"""Choosing the function of an `/rpc/` call, PGRST202's words and hints, the call's SQL (pure).

The hint cases are the ones PostgREST's own test suite pins (docs/postgrest.md §9)."""

from __future__ import annotations

from typing import Any

import pytest

from devserver.errors import ApiError
from devserver.openapi import build_openapi
from devserver.rpc_plan import CallSpec, build_call, find_routine, read_only
from devserver.schema_cache import Routine, build_routine, build_schema_cache


def row(name: str, args: list[tuple[str, str]], *, defaults: int = 0, returns: str = "integer",
        setof: bool = False, composite: bool = False, volatility: str = "v", variadic: bool = False,
        description: str | None = None) -> dict[str, Any]:
    return {
        "schema": "test", "name": name, "description": description, "return_type": returns,
        "returns_set": setof, "returns_composite": composite, "volatility": volatility,
        "arg_names": [a for a, _ in args], "arg_types": [t for _, t in args],
        "arg_variadic": [variadic and i == len(args) - 1 for i in range(len(args))],
        "required_args": len(args) - defaults,
    }


CACHE = build_schema_cache([], [], [
    row("sayhello", [("name", "text")], returns="text"),
    row("add_them", [("a", "integer"), ("b", "integer")], volatility="i"),
    row("overloaded", []),
    row("overloaded", [("a", "integer"), ("b", "integer"), ("c", "integer")]),
    row("overloaded", [("x", "text")], returns="text"),
    row("with_default", [("a", "integer"), ("b", "integer")], defaults=1),
    row("takes_json", [("", "jsonb")], returns="jsonb"),
    row("unnamed", [("", "integer")]),
    row("same_names", [("arg", "integer")]),
    row("same_names", [("arg", "text")]),
])


def refused(name: str, keys: tuple[str, ...], *, json_post: bool = False) -> dict[str, Any]:
    with pytest.raises(ApiError) as failed:
        find_routine(CACHE, "test", name, keys, json_post=json_post)
    return {"status": failed.value.status, "code": failed.value.code, "message": failed.value.message,
            "details": failed.value.details, "hint": failed.value.hint}


def test_unknown_name_hints_the_closest_function() -> None:
    assert refused("sayhell", ()) == {
        "status": 404, "code": "PGRST202",
        "message": "Could not find the function test.sayhell without parameters in the schema cache",
        "details": "Searched for the function test.sayhell without parameters, but no matches were found in the "
                   "schema cache.",
        "hint": "Perhaps you meant to call the function test.sayhello",
    }


def test_wrong_argument_hints_the_closest_parameter_list() -> None:
    assert refused("sayhello", ("nam",)) == {
        "status": 404, "code": "PGRST202",
        "message": "Could not find the function test.sayhello(nam) in the schema cache",
        "details": "Searched for the function test.sayhello with parameter nam, but no matches were found in the "
                   "schema cache.",
        "hint": "Perhaps you meant to call the function test.sayhello(name)",
    }


def test_an_extra_argument_is_never_ignored() -> None:
    found = refused("add_them", ("a", "b", "smthelse"))
    assert found["message"] == "Could not find the function test.add_them(a, b, smthelse) in the schema cache"
    assert found["details"] == ("Searched for the function test.add_them with parameters a, b, smthelse, "
                                "but no matches were found in the schema cache.")
    assert found["hint"] == "Perhaps you meant to call the function test.add_them(a, b)"


def test_overloads_hint_the_closest_or_nothing() -> None:
    assert refused("overloaded", ("wrong_arg",))["hint"] is None
    assert refused("overloaded", ("a", "b", "wrong_arg"))["hint"] == (
        "Perhaps you meant to call the function test.overloaded(a, b, c)")


def test_a_json_post_also_searched_for_a_single_json_parameter() -> None:
    assert refused("add_them", ("a",), json_post=True)["details"] == (
        "Searched for the function test.add_them with parameter a or with a single unnamed json/jsonb parameter, "
        "but no matches were found in the schema cache.")


def test_required_and_default_arguments() -> None:
    assert find_routine(CACHE, "test", "with_default", ("a",), json_post=True).name == "with_default"
    assert find_routine(CACHE, "test", "with_default", ("a", "b"), json_post=True).name == "with_default"
    assert refused("with_default", ("b",))["code"] == "PGRST202"


def test_overloads_are_chosen_by_argument_names() -> None:
    assert find_routine(CACHE, "test", "overloaded", (), json_post=False).params == ()
    assert find_routine(CACHE, "test", "overloaded", ("x",), json_post=False).return_type == "text"
    assert len(find_routine(CACHE, "test", "overloaded", ("c", "a", "b"), json_post=False).params) == 3


def test_same_names_different_types_are_ambiguous() -> None:
    found = refused("same_names", ("arg",))
    assert (found["status"], found["code"]) == (300, "PGRST203")
    assert found["message"] == ("Could not choose the best candidate function between: "
                                "test.same_names(arg => integer), test.same_names(arg => text)")


def test_single_unnamed_json_takes_a_json_post_only() -> None:
    assert find_routine(CACHE, "test", "takes_json", ("x", "y"), json_post=True).single_unnamed_json
    assert refused("takes_json", ("x",), json_post=False)["code"] == "PGRST202"


def test_functions_with_other_unnamed_arguments_are_not_cached() -> None:
    assert build_routine(row("unnamed", [("", "integer")])) is None
    assert CACHE.overloads("test", "unnamed") == ()


def routine(name: str, **kw: Any) -> Routine:
    built = build_routine(row(name, **kw))
    assert built is not None
    return built


def test_access_mode_follows_method_and_volatility() -> None:
    assert read_only(routine("f", args=[], volatility="v"), "GET")
    assert not read_only(routine("f", args=[], volatility="v"), "POST")
    assert read_only(routine("f", args=[], volatility="s"), "POST")
    assert read_only(routine("f", args=[], volatility="i"), "POST")


def test_call_passes_given_arguments_by_name_typed() -> None:
    f = routine("f", args=[("tbl", "text"), ("lows", "bigint[]"), ("c", "character"), ("v", "integer[]")],
                defaults=2, variadic=True, setof=True, composite=True)
    stmt = build_call(f, CallSpec(("tbl", "lows", "v"), limit=5000, offset=2), '{"tbl": "x"}', max_rows=1000)
    assert stmt.args == ('{"tbl": "x"}',)
    assert ('json_to_record($1::json) AS _pgrst_args("tbl" text, "lows" bigint[], "v" integer[])'
            in stmt.sql)
    assert ('"test"."f"("tbl" := _pgrst_args."tbl", "lows" := _pgrst_args."lows", '
            'VARIADIC "v" := _pgrst_args."v")' in stmt.sql)
    assert "LIMIT 1000 OFFSET 2" in stmt.sql  # db-max-rows wins over a larger limit


def test_character_parameters_are_read_as_varying() -> None:
    f = routine("f", args=[("c", "character"), ("b", "bit[]")])
    assert [p.sql_type for p in f.params] == ["character varying", "bit varying[]"]


def test_openapi_lists_executable_functions_with_their_arguments() -> None:
    cache = build_schema_cache([], [], [
        row("add_them", [("a", "integer"), ("b", "text[]")], defaults=1, description="Adds.\n\nMore words."),
        row("hidden", []),
    ])
    doc = build_openapi(cache, "test", set(), host="h", base_path="/", executable={"add_them"})
    assert "/rpc/hidden" not in doc["paths"]
    item = doc["paths"]["/rpc/add_them"]
    assert item["post"]["summary"] == "Adds." and item["post"]["description"] == "More words."
    assert item["post"]["tags"] == ["(rpc) add_them"]
    body = item["post"]["parameters"][0]
    assert (body["in"], body["name"], body["required"]) == ("body", "args", True)
    assert body["schema"]["required"] == ["a"]
    assert body["schema"]["properties"]["b"] == {"type": "array", "items": {"type": "string"}, "format": "text[]"}
    assert [(p["name"], p["required"], p["type"]) for p in item["get"]["parameters"]] == [
        ("a", True, "integer"), ("b", False, "string")]
