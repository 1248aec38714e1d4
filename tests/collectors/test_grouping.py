import pytest

from collectors.config import Grouping, PrefixRule
from collectors.grouping import groups_for, name_prefix


@pytest.mark.parametrize("name, depth, expected", [
    ("payments-api-charge", 1, "payments"),
    ("payments-api-charge", 2, "payments-api"),
    ("payments-api-charge", 3, "payments-api-charge"),
    ("payments-api-charge", 5, "payments-api-charge"),
    ("orders_worker-fulfil", 2, "orders_worker"),
    ("standalone", 1, "standalone"),
])
def test_name_prefix(name, depth, expected):
    assert name_prefix(name, depth) == expected


def test_groups_from_prefix_rules_and_tags():
    rules = Grouping(prefix_depth=1, prefix_rules=(PrefixRule("payments-legacy", "legacy"), PrefixRule("pay", "payments-team")),
                     tag_keys=("team", "env"))
    assert groups_for("payments-legacy-batch", {"team": "pay"}, rules) == {"prefix": "legacy", "tag:team": "pay"}
    assert groups_for("payments-api", {"team": "pay", "env": "prod"}, rules) == {
        "prefix": "payments-team", "tag:team": "pay", "tag:env": "prod"}
    # untagged functions get no tag group (not an empty-string group)
    assert groups_for("search-index", {"team": ""}, rules) == {"prefix": "search"}
