import pytest

from benchmark.run.selection import ExpressionError, compile_expression

IDS = [
    "synth_xray::none::scratch[seed=2]",
    "synth_xray::synth_shapes::fe-svm[seed=5]",
    "synth_cells::synth_shapes::ft-svm[seed=2]",
    "synth_cells::random::fe-svm[seed=7]",
]


def select(expression):
    predicate = compile_expression(expression)
    return [i for i in IDS if predicate(i)]


def test_a_word_is_a_case_insensitive_substring():
    assert select("XRAY") == IDS[:2]
    assert select("seed=2") == [IDS[0], IDS[2]]


def test_boolean_operators_and_parentheses():
    assert select("cells and not random") == [IDS[2]]
    assert select("scratch or ft-svm") == [IDS[0], IDS[2]]
    assert select("not (xray or random)") == [IDS[2]]
    assert select("(fe-svm and seed=5) or (cells and seed=7)") == [IDS[1], IDS[3]]
    assert select("not not scratch") == [IDS[0]]


@pytest.mark.parametrize("expression", ["", "a and", "(a or b", "a b", "and a", "a )"])
def test_malformed_expressions_are_errors(expression):
    with pytest.raises(ExpressionError):
        compile_expression(expression)
