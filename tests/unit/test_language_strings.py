"""Strings keep their text: accents and Japanese pass through, escapes resolve."""

from __future__ import annotations

from dsl import ir
from dsl.loader import check_text
from dsl.syntax import StringLit

TEXT = """playbook jp:
    title "更新 - Renewal"
    journey id "jp:{account.id}"

    step call:
        create cta for csm, priority high, due in 2 days, reason "更新の確認\\nCafé \\"Tokyo\\""
"""


def test_escapes_resolve_and_other_backslashes_stay() -> None:
    assert StringLit('a\\"b').value == 'a"b'
    assert StringLit("line\\nnext\\ttab").value == "line\nnext\ttab"
    assert StringLit("x\\\\y").value == "x\\y"
    assert StringLit("keep \\w").value == "keep \\w"


def test_japanese_and_accents_reach_the_ir_unchanged() -> None:
    playbook, diagnostics = check_text(TEXT)
    assert diagnostics == []
    assert playbook is not None
    assert playbook.title == "更新 - Renewal"
    cta = next(step for step in ir.walk(playbook.body) if isinstance(step, ir.Cta))
    assert cta.reason == '更新の確認\nCafé "Tokyo"'
