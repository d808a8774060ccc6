from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from tradingsite.lib.env import env_bool, env_choice, env_decimal, env_int, env_list, env_required, env_str


def test_missing_variables_take_the_default():
    assert env_str("X", "d", environ={}) == "d"
    assert env_bool("X", True, environ={}) is True
    assert env_int("X", 7, environ={}) == 7
    assert env_decimal("X", "0.001", environ={}) == Decimal("0.001")
    assert env_list("X", ["a"], environ={}) == ["a"]


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), ("on", True), ("0", False), ("no", False)])
def test_it_reads_booleans(raw, expected):
    assert env_bool("FLAG", not expected, environ={"FLAG": raw}) is expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: env_bool("FLAG", False, environ={"FLAG": "maybe"}), "FLAG='maybe' is not a boolean"),
        (lambda: env_int("PORT", 1, environ={"PORT": "80x"}), "PORT='80x' is not an integer"),
        (lambda: env_int("N", 1, minimum=1, environ={"N": "0"}), "N=0 is below the minimum 1"),
        (lambda: env_decimal("FEE", "0", environ={"FEE": "NaN"}), "FEE='NaN' must be a finite number"),
        (lambda: env_decimal("FEE", "0", environ={"FEE": "1,5"}), "FEE='1,5' is not a decimal number"),
        (lambda: env_choice("MODE", "a", ("a", "b"), environ={"MODE": "c"}), "MODE='c' is not one of: a, b"),
        (lambda: env_required("SECRET_KEY", "needed", environ={}), "SECRET_KEY is not set: needed"),
    ],
)
def test_bad_values_fail_with_a_message_naming_the_variable(call, message):
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_lists_are_comma_separated_and_trimmed():
    assert env_list("HOSTS", [], environ={"HOSTS": " a.example , b.example,,"}) == ["a.example", "b.example"]
