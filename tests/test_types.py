"""Type adapters: validation at the boundary, plain-data conversion, JSON Schema, messages."""

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypedDict

import msgspec
import pydantic
import pytest

from reverie._private.declare.types import (
    TypeInfo,
    UnsupportedTypeError,
    describe,
    stream_item_type,
    to_builtins,
    type_info,
)
from reverie.errors import ValidationError


@dataclass
class Point:
    x: int
    tags: list[str]


class Wrapper(msgspec.Struct):
    point: Point
    label: str = ""


class Counts(TypedDict):
    n: int


class Model(pydantic.BaseModel):
    a: int
    items: list[int] = []


@dataclass
class HoldsModel:
    model: Model


def not_a_type() -> None:
    pass


def _fail(tp: Any, value: Any, **kw: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        type_info(tp).validate(value, **kw)
    return info.value


# -- describe ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tp", "text"),
    [
        (int, "int"),
        (Point, "Point"),
        (int | None, "int | None"),
        (list[Point], "list[Point]"),
        (dict[str, list[Model]], "dict[str, list[Model]]"),
        (Any, "Any"),
        (type(None), "None"),
    ],
)
def test_describe(tp: Any, text: str) -> None:
    assert describe(tp) == text


# -- validate ---------------------------------------------------------------------------------


def test_values_of_the_declared_class_pass_through_untouched() -> None:
    p = Point(1, ["a"])
    assert type_info(Point).validate(p) is p
    m = Model(a=1)
    assert type_info(Model).validate(m) is m
    obj = object()
    assert type_info(Any).validate(obj) is obj
    assert type_info(Any).is_any and not type_info(int).is_any


def test_float_accepts_an_int_but_int_refuses_a_bool() -> None:
    assert type_info(float).validate(3) == 3
    err = _fail(int, True)
    assert str(err) == "invalid argument: value: expected int, got True"
    assert err.details == [
        {"loc": [], "msg": "Expected `int`, got `bool`", "expected": "int", "input": True}
    ]


def test_plain_data_is_converted_to_dataclasses_structs_and_typeddicts() -> None:
    assert type_info(Point).validate({"x": 1, "tags": ["t"]}) == Point(1, ["t"])
    w = type_info(Wrapper).validate({"point": {"x": 2, "tags": []}})
    assert w == Wrapper(point=Point(2, []))
    assert type_info(Counts).validate({"n": 3}) == {"n": 3}
    assert type_info(list[int]).validate([1, 2]) == [1, 2]
    assert type_info(Model).validate({"a": 1, "items": [2]}) == Model(a=1, items=[2])


def test_strict_refuses_strings_for_numbers_unless_lax() -> None:
    err = _fail(int, "3")
    assert str(err) == "invalid argument: value: expected int, got '3'"
    assert type_info(int).validate("3", strict=False) == 3


def test_nested_errors_name_the_field_path() -> None:
    err = _fail(Wrapper, {"point": {"x": 1, "tags": [1]}})
    assert str(err) == "invalid argument: point.tags.0: expected str, got 1"
    assert err.details[0]["loc"] == ["point", "tags", 0]
    assert err.details[0]["input"] == 1
    assert err.status == 422 and err.code == "invalid_argument"


def test_loc_prefix_is_prepended() -> None:
    err = _fail(Point, {"x": "no", "tags": []}, loc=("body", "point"))
    assert str(err) == "invalid argument: body.point.x: expected int, got 'no'"


def test_missing_field_message() -> None:
    err = _fail(Point, {"x": 1})
    assert str(err) == "invalid argument: tags: required field missing"
    assert err.details[0]["expected"] is None
    assert err.details[0]["loc"] == ["tags"]


def test_constraints_are_part_of_expected() -> None:
    err = _fail(Annotated[int, msgspec.Meta(ge=0)], -1)
    assert str(err) == "invalid argument: value: expected int >= 0, got -1"
    err = _fail(Annotated[str, msgspec.Meta(max_length=2)], "abc")
    assert "expected str of length <= 2, got 'abc'" in str(err)


def test_typeddict_and_list_errors() -> None:
    assert str(_fail(Counts, {"n": "z"})) == "invalid argument: n: expected int, got 'z'"
    assert str(_fail(list[int], [1, "a"])) == "invalid argument: 1: expected int, got 'a'"


def test_pydantic_errors_list_every_field_with_its_message() -> None:
    err = _fail(Model, {"a": "q", "items": [1, "x"]})
    assert str(err) == (
        "invalid argument: a: Input should be a valid integer, unable to parse string as an "
        "integer (got 'q'); items.1: Input should be a valid integer, unable to parse string as "
        "an integer (got 'x')"
    )
    assert [d["loc"] for d in err.details] == [["a"], ["items", 1]]
    assert err.details[0]["type"] == "int_parsing" and err.details[0]["input"] == "q"


def test_a_dataclass_holding_a_pydantic_model_uses_pydantic() -> None:
    v = type_info(HoldsModel).validate({"model": {"a": 5}})
    assert v == HoldsModel(Model(a=5))
    err = _fail(HoldsModel, {"model": {"a": "x"}})
    assert err.details[0]["loc"] == ["model", "a"]


def test_long_inputs_are_truncated_in_details() -> None:
    err = _fail(int, "y" * 500)
    shown = err.details[0]["input"]
    assert len(shown) == 203 and shown.endswith("...")
    err = _fail(Point, {"x": Point(1, ["z" * 300]), "tags": []})
    assert err.details[0]["input"].endswith("...")


# -- conversion and schema --------------------------------------------------------------------


def test_to_builtins() -> None:
    assert to_builtins(None) is None and to_builtins("s") == "s"
    assert to_builtins(Point(1, ["a"])) == {"x": 1, "tags": ["a"]}
    assert to_builtins(Wrapper(Point(1, []))) == {"point": {"x": 1, "tags": []}, "label": ""}
    assert to_builtins(Model(a=1)) == {"a": 1, "items": []}
    assert to_builtins([Model(a=2)]) == [{"a": 2, "items": []}]
    assert to_builtins(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05"
    assert type_info(Point).to_builtins(Point(0, [])) == {"x": 0, "tags": []}


def test_to_builtins_of_an_unsupported_value() -> None:
    with pytest.raises(TypeError) as info:
        to_builtins(object())
    assert "cannot serialise a value of type object; what crosses a transport must be" in (
        str(info.value)
    )


def test_json_schemas() -> None:
    assert type_info(int).json_schema() == {"type": "integer"}
    assert type_info(Any).json_schema() == {}
    assert type_info(Point).json_schema() == {
        "$ref": "#/$defs/Point",
        "$defs": {
            "Point": {
                "title": "Point",
                "type": "object",
                "properties": {
                    "x": {"type": "integer"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["x", "tags"],
            }
        },
    }
    schema = type_info(Model).json_schema()
    assert schema["title"] == "Model" and schema["required"] == ["a"]


# -- errors at declaration --------------------------------------------------------------------


def test_unsupported_type_message() -> None:
    with pytest.raises(UnsupportedTypeError) as info:
        TypeInfo(not_a_type)
    msg = str(info.value)
    assert msg.startswith("type <function not_a_type")
    assert msg.endswith(
        "use a pydantic model, dataclass, TypedDict, msgspec Struct or builtin type"
    )
    assert isinstance(info.value, TypeError)


def test_type_info_is_cached_and_handles_unhashable_annotations() -> None:
    assert type_info(Point) is type_info(Point)
    meta: Any = Annotated[int, {"unhashable": []}]
    info = type_info(meta)
    assert info.validate(3) == 3
    with pytest.raises(UnsupportedTypeError):
        type_info(not_a_type)


# -- streams ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tp", [AsyncIterator[int], AsyncGenerator[int, None], AsyncIterable[int]])
def test_stream_item_type(tp: Any) -> None:
    assert stream_item_type(tp) == (True, int)


def test_stream_item_type_of_plain_and_bare_annotations() -> None:
    assert stream_item_type(int) == (False, int)
    assert stream_item_type(AsyncIterator) == (True, Any)
