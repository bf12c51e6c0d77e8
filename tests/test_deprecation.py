"""bert_tf.deprecation: an old keyword or config key still works for one release, with a warning."""

import inspect
import warnings

import pytest

from bert_tf.deprecation import renamed_key, renamed_kwargs


@renamed_kwargs(seq_length="max_seq_length", init_lr="learning_rate")
def _packed(text, max_seq_length=128, learning_rate=1e-3):
    return text, max_seq_length, learning_rate


def test_old_keyword_maps_to_new_with_a_warning():
    with pytest.warns(DeprecationWarning, match=r"seq_length=\.\.\.\) is deprecated.*use max_seq_length="):
        assert _packed("a", seq_length=64) == ("a", 64, 1e-3)
    with pytest.warns(DeprecationWarning, match="init_lr"):
        assert _packed("b", init_lr=5e-5, max_seq_length=32) == ("b", 32, 5e-5)


def test_new_keyword_is_silent_and_both_is_an_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _packed("c", max_seq_length=16) == ("c", 16, 1e-3)
    with pytest.raises(TypeError, match="both 'seq_length' .deprecated. and 'max_seq_length'"):
        _packed("d", seq_length=8, max_seq_length=8)


def test_renamed_key_copies_and_warns():
    old = {"lowercase": False, "vocab_size": 30}
    with pytest.warns(DeprecationWarning, match="bert_config.json uses the old key 'lowercase'"):
        new = renamed_key(old, "lowercase", "do_lower_case", "bert_config.json")
    assert new == {"do_lower_case": False, "vocab_size": 30} and old == {"lowercase": False, "vocab_size": 30}
    assert renamed_key(new, "lowercase", "do_lower_case", "x") is new
    with pytest.raises(ValueError, match="both 'lowercase'"):
        renamed_key({"lowercase": 1, "do_lower_case": 1}, "lowercase", "do_lower_case", "x")


def test_wrapper_keeps_the_argspec_keras_layers_read():
    """Keras' `Layer.__new__` reads `inspect.getfullargspec(cls.__init__)`, which ignores `__wrapped__`: the
    wrapper must expose the wrapped signature, or a decorated layer `__init__` raises IndexError."""
    assert inspect.getfullargspec(_packed).args == ["text", "max_seq_length", "learning_rate"]
    assert list(inspect.signature(_packed).parameters) == ["text", "max_seq_length", "learning_rate"]


def test_renamed_attribute_reads_the_new_one_with_a_warning():
    from bert_tf.deprecation import renamed_attribute

    class Options:
        lowercase = renamed_attribute("lowercase", "do_lower_case")

        def __init__(self):
            self.do_lower_case = False

    with pytest.warns(DeprecationWarning, match=r"Options\.lowercase is deprecated.*use \.do_lower_case"):
        assert Options().lowercase is False
