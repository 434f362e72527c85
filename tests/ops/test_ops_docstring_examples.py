import docstring_examples
import pytest

EXAMPLES = docstring_examples.collect("keras_lzu.ops")


@docstring_examples.skip_on_jax
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda test: test.name)
def test_docstring_example_gives_the_output_shown(example):
    failures = docstring_examples.run(example)
    assert not failures, failures


def test_every_public_op_has_an_example():
    missing = docstring_examples.public_names_without_example("keras_lzu.ops")
    assert missing == []
