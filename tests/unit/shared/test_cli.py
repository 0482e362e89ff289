"""`jiesu`: one console script reaches every operator command, with help in both languages."""

from __future__ import annotations

import pytest

from shared import cli


def test_the_help_lists_every_command_in_chinese_and_english(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit:
        cli.main(["--help"])
    assert exit.value.code == 0
    shown = capsys.readouterr().out
    assert "用法 usage: jiesu" in shown
    for words in cli.COMMANDS:
        assert " ".join(words) in shown


@pytest.mark.parametrize("words", sorted(cli.COMMANDS), ids=" ".join)
def test_every_command_reaches_its_module_and_its_own_help(
    words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        cli.main([*words, "--help"])
    assert exit.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage:")  # the module's own parser answered
    assert "jiesu <命令 command>" not in shown


def test_an_unknown_command_is_refused_with_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        cli.main(["keys", "billing", "list"])
    assert exit.value.code == 2
    assert "未知命令 unknown command: keys billing list" in capsys.readouterr().err
