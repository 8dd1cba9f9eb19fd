"""Dream-style feature patterns: parsing, every syntax error, matching and specificity."""

from __future__ import annotations

import pytest

from reverie._private.declare.pattern import (
    FeaturePattern,
    PatternSyntaxError,
    Segment,
    parse_pattern,
)


def test_constants_params_and_verb() -> None:
    b = parse_pattern("get:/items/{item_id}/detail")
    assert b.verb == "GET"
    assert b.segments == (
        Segment("const", "items"),
        Segment("param", "item_id"),
        Segment("const", "detail"),
    )
    assert b.params == ("item_id",)
    assert not b.catch_all
    assert b.pattern == "items/{item_id}/detail"
    assert b.text == "GET:items/{item_id}/detail"
    assert str(b) == "GET:items/{item_id}/detail"
    assert b.min_segments == 3


def test_wildcard_optional_catch_all_and_any_verb() -> None:
    b = parse_pattern("*:files/*/{kind}?//*")
    assert b.verb == "*"
    assert [str(s) for s in b.segments] == ["files", "*", "{kind}?"]
    assert b.catch_all and b.pattern == "files/*/{kind}?//*"
    assert b.text == "*:files/*/{kind}?//*"
    assert b.params == ("kind",)
    assert b.min_segments == 2


def test_empty_path_and_root_catch_all() -> None:
    root = parse_pattern("GET:")
    assert root.segments == () and root.pattern == ""
    assert root.match([]) == ({}, None)
    assert root.match(["x"]) is None
    everything = parse_pattern("GET://*")
    assert everything.catch_all and everything.segments == ()
    assert everything.text == "GET://*" == str(everything)
    assert everything.match(["a", "b"]) == ({}, "a/b")
    assert everything.match([]) == ({}, "")


def test_constant_characters_allowed() -> None:
    b = parse_pattern("GET:@config/v1.2/a-b_c~d")
    assert [s.value for s in b.segments] == ["@config", "v1.2", "a-b_c~d"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("items", "feature pattern 'items' has no verb; write it as 'GET:path'"),
        (
            "FETCH:items",
            "feature pattern 'FETCH:items': unknown verb 'FETCH'; use one of DELETE, "
            "GET, HEAD, OPTIONS, PATCH, POST, PUT or '*'",
        ),
        ("GET:a//b", "feature pattern 'GET:a//b': '//' is only allowed as the final catch-all"),
        ("GET:a/?/b", "feature pattern 'GET:a/?/b': empty path segment"),
        ("GET:{1x}", "feature pattern 'GET:{1x}': {1x} is not a valid parameter name"),
        ("GET:{a}/{a}", "feature pattern 'GET:{a}/{a}': {a} appears twice"),
        (
            "GET:item{id}",
            "feature pattern 'GET:item{id}': segment 'item{id}' mixes text with {} "
            "or *; a parameter or wildcard must be a whole segment",
        ),
        ("GET:a*", "segment 'a*' mixes text with {} or *"),
        ("GET:a b", "feature pattern 'GET:a b': segment 'a b' has characters not allowed"),
        (
            "GET:a?/b",
            "feature pattern 'GET:a?/b': segment 'b' follows an optional segment, so it "
            "must be optional too (end it with '?')",
        ),
    ],
)
def test_syntax_errors_name_the_part(text: str, message: str) -> None:
    with pytest.raises(PatternSyntaxError) as info:
        parse_pattern(text)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_match_constants_and_params() -> None:
    b = parse_pattern("GET:items/{item_id}")
    assert b.match(["items", "7"]) == ({"item_id": "7"}, None)
    assert b.match(["items"]) is None
    assert b.match(["items", "7", "x"]) is None
    assert b.match(["other", "7"]) is None


def test_match_wildcard_is_not_bound() -> None:
    b = parse_pattern("GET:a/*/c")
    assert b.match(["a", "anything", "c"]) == ({}, None)
    assert b.match(["a", "anything", "d"]) is None


def test_match_optional_segments() -> None:
    b = parse_pattern("GET:list/{page}?/{size}?")
    assert b.match(["list"]) == ({}, None)
    assert b.match(["list", "2"]) == ({"page": "2"}, None)
    assert b.match(["list", "2", "10"]) == ({"page": "2", "size": "10"}, None)
    assert b.match(["list", "2", "10", "x"]) is None


def test_match_catch_all_suffix() -> None:
    b = parse_pattern("GET:files/{kind}?//*")
    assert b.match(["files"]) == ({}, "")
    assert b.match(["files", "img"]) == ({"kind": "img"}, "")
    assert b.match(["files", "img", "a", "b.png"]) == ({"kind": "img"}, "a/b.png")
    assert b.match(["other"]) is None


def test_specificity_orders_constants_before_params_before_wildcards() -> None:
    texts = ["GET://*", "GET:a/*", "GET:a/{x}", "GET:a/b", "*:a/b", "GET:a", "GET:a/b/c"]
    ordered = sorted((parse_pattern(t) for t in texts), key=FeaturePattern.specificity)
    assert [str(b) for b in ordered] == [
        "GET:a/b/c",
        "GET:a/b",
        "*:a/b",
        "GET:a/{x}",
        "GET:a/*",
        "GET:a",
        "GET://*",
    ]


def test_bindings_are_frozen_values() -> None:
    a, b = parse_pattern("GET:x/{y}"), parse_pattern("get: /x/{y}")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.verb = "POST"  # type: ignore[misc]
