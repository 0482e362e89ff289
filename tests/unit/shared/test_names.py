"""Names typed into free text are masked where the wording names a private person, and
nothing else is: measured on a marked corpus, the seeds' news reports and a list of places
and words that begin with a surname. Run with -s to see precision and recall."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.dispatch.api.schemas import Report
from shared.privacy import redact_names, redact_text

CORPUS = Path(__file__).with_name("names_corpus.txt")
_MARK = re.compile(r"\[([^\]]+)\]|<([^>]+)>|\{([^}]+)\}")
# The private persons the seeds' reports name (residents, party members among them); every
# other name there is an official's or a reporter's, in a public role.
SEED_RESIDENTS = ("李君", "刘言凤", "吴庆宁", "秦志强", "马长江")


@dataclass
class Marked:
    """A corpus line: its plain text, and where its names are, by kind."""

    text: str
    cued: list[tuple[int, int]] = field(default_factory=list)
    uncued: list[tuple[int, int]] = field(default_factory=list)
    public: list[tuple[int, int]] = field(default_factory=list)

    @property
    def private(self) -> list[tuple[int, int]]:
        return self.cued + self.uncued


def _parse(line: str) -> Marked:
    marked, plain = Marked(""), []
    at = 0
    for found in _MARK.finditer(line):
        plain.append(line[at : found.start()])
        start = sum(map(len, plain))
        name = next(group for group in found.groups() if group)
        plain.append(name)
        kind = (marked.cued, marked.uncued, marked.public)[(found.lastindex or 1) - 1]
        kind.append((start, start + len(name)))
        at = found.end()
    plain.append(line[at:])
    marked.text = "".join(plain)
    return marked


def _corpus() -> list[Marked]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [_parse(line) for line in lines if line.strip() and not line.startswith("#")]


def _masked_runs(typed: str, shown: str) -> list[tuple[int, int]]:
    assert len(shown) == len(typed), "masking keeps the length"
    runs: list[tuple[int, int]] = []
    for at, (was, now) in enumerate(zip(typed, shown, strict=True)):
        if now == "*" and was != "*":
            if runs and runs[-1][1] == at:
                runs[-1] = (runs[-1][0], at + 1)
            else:
                runs.append((at, at + 1))
    return runs


def _is_masked(shown: str, span: tuple[int, int]) -> bool:
    """A name is masked when all of it but its first character is hidden."""
    return all(char in "* " for char in shown[span[0] + 1 : span[1]])


@dataclass
class Score:
    cued: int = 0
    cued_found: int = 0
    uncued: int = 0
    uncued_found: int = 0
    runs: int = 0
    false_runs: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    def add(self, marked: Marked) -> None:
        shown = redact_names(marked.text)
        self.cued += len(marked.cued)
        self.cued_found += sum(_is_masked(shown, span) for span in marked.cued)
        self.missed += [
            f"{marked.text} → {shown}" for span in marked.cued if not _is_masked(shown, span)
        ]
        self.uncued += len(marked.uncued)
        self.uncued_found += sum(_is_masked(shown, span) for span in marked.uncued)
        for start, end in _masked_runs(marked.text, shown):
            self.runs += 1
            if not any(a <= start and end <= b for a, b in marked.private):
                self.false_runs.append(f"{marked.text} → {shown}")

    def report(self, title: str) -> str:
        precision = (self.runs - len(self.false_runs)) / self.runs if self.runs else 1.0
        recall = self.cued_found / self.cued if self.cued else 1.0
        return (
            f"\n{title}: precision {precision:.3f} ({self.runs} masked), "
            f"recall on cued names {recall:.3f} ({self.cued_found}/{self.cued}), "
            f"on uncued names {self.uncued_found}/{self.uncued}"
            + "".join(f"\n  missed: {line}" for line in self.missed)
        )


def test_the_corpus_is_large_enough_and_marked():
    corpus = _corpus()
    assert len(corpus) >= 150
    assert sum(len(line.cued) for line in corpus) >= 100
    assert all("[" not in line.text and "{" not in line.text for line in corpus)


def test_cued_names_in_the_corpus_are_masked_and_nothing_else_is():
    score = Score()
    for marked in _corpus():
        score.add(marked)
    print(score.report("corpus"))
    assert score.cued_found >= 0.9 * score.cued
    assert score.false_runs == []


def test_corpus_sentences_without_a_private_name_come_back_as_typed():
    unchanged = [line.text for line in _corpus() if not line.private]
    assert len(unchanged) >= 50
    assert [text for text in unchanged if redact_names(text) != text] == []


PLACES_AND_WORDS = [
    "王府井",
    "张家口路",
    "李村街道",
    "马家堡社区",
    "刘庄小区",
    "高新区管委会",
    "金水区",
    "黄河路",
    "朝阳物业",
    "王者",
    "高温",
    "马路",
    "周末",
    "方便",
    "黄色",
    "孙子",
    "李子",
    "张贴",
    "林业",
    "钱款",
    "严重",
    "周边",
    "高层",
    "于是",
    "温度",
]
# The same words where a cue would otherwise make them read as a name.
TEMPLATES = (
    "{}",
    "{}。",
    "业主{}反映",
    "住户{}的问题",
    "邻居{}",
    "隔壁的{}",
    "楼上{}",
    "我是{}的居民",
    "联系人{}",
    "{}先生",
    "在{}女士家门口",
)


@pytest.mark.parametrize("word", PLACES_AND_WORDS)
def test_places_organisations_and_words_that_begin_with_a_surname_are_left_alone(word):
    texts = [template.format(word) for template in TEMPLATES]
    assert [redact_names(text) for text in texts] == texts


def _seed_sentences() -> list[str]:
    root = Path(__file__).resolve().parents[3]
    for folder in (root.parent / "shared" / "seeds", Path("/work/shared/seeds")):
        if folder.is_dir():
            texts = [path.read_text(encoding="utf-8") for path in sorted(folder.glob("*"))]
            break
    else:
        pytest.skip("the seeds (shared/seeds beside the repository) are not here")
    sentences = re.split(r"(?<=[。！？!?；;\n])", "\n".join(texts))
    return [sentence.strip() for sentence in sentences if sentence.strip()]


def test_seed_sentences_name_only_their_residents():
    sentences = _seed_sentences()
    without = [text for text in sentences if not any(name in text for name in SEED_RESIDENTS)]
    assert len(without) > 300
    assert [text for text in without if redact_names(text) != text] == []
    score = Score()
    for text in sentences:
        if any(name in text for name in SEED_RESIDENTS):
            spans = [(m.start(), m.end()) for n in SEED_RESIDENTS for m in re.finditer(n, text)]
            score.add(Marked(text, uncued=spans))
    print(score.report("seeds"))
    # Each is introduced with 居民 or 党员 once; "李君说" again, on its own, has no cue.
    assert score.false_runs == [] and score.uncued_found == len(SEED_RESIDENTS)


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("隔壁的张建国天天在楼道堆杂物", "隔壁的张**天天在楼道堆杂物"),
        ("联系人李秀英", "联系人李**"),
        ("王先生家漏水", "王先生家漏水"),
        ("联系人：欧阳秀兰，电话13812345678", "联系人：欧***，电话138****5678"),
        ("业主王建国、李秀英反映", "业主王**、李**反映"),
        ("请王建国先生来一趟", "请王**先生来一趟"),
        ("诉求人姓张名伟", "诉求人姓张名*"),
        ("邻居张大爷", "邻居张大爷"),
        ("周末王先生来修", "周末王先生来修"),
        ("我和李明先生一起去的", "我和李*先生一起去的"),
        ("于建华女士来电", "于**女士来电"),
        ("物业主任王建国说", "物业主任王建国说"),
        ("社区书记贾振说", "社区书记贾振说"),
        ("联系人李**", "联系人李**"),
    ],
)
def test_names_typed_into_free_text_are_masked_like_phone_numbers(typed, shown):
    assert redact_text(typed) == shown
    assert redact_text(shown) == shown


def test_a_units_report_masks_the_names_it_gives():
    typed = "已联系业主王建国，更换楼道灯泡，对门李秀英女士确认"
    assert Report(report=typed).report == "已联系业主王**，更换楼道灯泡，对门李**女士确认"


def test_the_labelled_complaints_name_nobody_and_keep_every_word():
    path = Path(__file__).resolve().parents[3] / "services/intake/data/labelled_complaints.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(texts) > 400
    assert [text for text in texts if redact_names(text) != text] == []
