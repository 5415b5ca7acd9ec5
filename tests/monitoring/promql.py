"""A rough PromQL reader: the metric names an expression selects, for checking alert rules and
dashboard panels against what the service exports. Not a parser: good enough for our queries."""

from __future__ import annotations

import re

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "inf", "nan", "atan2",
    # aggregation operators, which may be written `sum by (x) (...)`, name before the parenthesis
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile", "limitk", "limit_ratio",
}
STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^}]*\}")
RANGES = re.compile(r"\[[^\]]*\]")
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
VARIABLES = re.compile(r"\$\{?\w+\}?")
IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_:][\w:]*)(?=\s*(\(?))")


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` reads: identifiers that are not functions, keywords or labels."""
    text = STRINGS.sub('""', expr)
    text = MATCHERS.sub("", text)
    text = RANGES.sub("", text)
    text = GROUPING.sub("", text)
    text = VARIABLES.sub("", text)
    names = set()
    for match in IDENTIFIER.finditer(text):
        name, paren = match.group(1), match.group(2)
        if paren or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names

# Names the rules use before the service exports them, agreed with the engineers adding them
# (docs/metrics.md, "Proposed"): a rule on a missing series stays silent, so keep this list short.
PROPOSED = {
    "streamer_source_table_writes_total",  # capture: n_tup_ins + n_tup_upd + n_tup_del of the captured table
}
# Series Prometheus makes itself for every target.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
