"""How the CLI words core errors: option syntax becomes its flags, a list of valid names does not."""

from __future__ import annotations

from seqstudio.cli import in_cli_words
from seqstudio.core.errors import DataError


def test_a_bare_option_name_in_advice_becomes_its_flag():
    text = in_cli_words(DataError("too few rows", fix="lower look_back or use more data"))
    assert "lower --look-back" in text


def test_the_names_that_data_option_accepts_stay_names_in_a_use_one_of_list():
    # A plugin author typing --data-option lenght=120 must be offered names that
    # --data-option accepts (look_back), not a mix with flags (--look-back).
    exc = DataError("--data-option lenght is unknown; did you mean 'length'?",
                    where="data source 'demo>saw'",
                    fix="use one of: length, noise, look_back, diff_lag, train_frac")
    text = in_cli_words(exc)
    assert "use one of: length, noise, look_back, diff_lag, train_frac" in text
    assert "--look-back" not in text and "--diff" not in text
