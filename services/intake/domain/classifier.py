"""Classifies a resident's free text into a type (咨询/求助/投诉/…) and a category, with confidences."""

from __future__ import annotations

import json
import math
import random
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache, partial
from pathlib import Path

import yaml

from shared.events.complaint import ComplaintType

DATA = Path(__file__).parents[1] / "data"
# Cue phrases per type, space-separated and normalised ("？" is "?"): the labelled set has too
# few examples of each type to learn them all.
TYPE_CUES = {
    ComplaintType.CONSULTATION: "请问 怎么 如何 哪里 哪个 吗? 谁 多少 什么时候",
    ComplaintType.HELP: "求助 帮帮 帮忙 快来 快派 赶紧 麻烦 求求 恳请",
    ComplaintType.COMPLAINT: "投诉 没人管 不管 好几次 一直 凭什么 太差 受不了",
    ComplaintType.REPORT: "举报 有人 私自 私搭 私拉 偷",
    ComplaintType.SUGGESTION: "建议 希望 能不能在 最好",
    ComplaintType.PRAISE: "感谢 谢谢 表扬 点赞 点个赞 终于",
}
# Chosen by 5-fold cross-validation on the train split only; `evaluate --split cv` prints the
# log-loss-optimal temperatures again, so "confidence 0.6" keeps meaning about 60 % right.
CATEGORY_SMOOTHING, TYPE_SMOOTHING = 1.0, 2.0
CATEGORY_TEMPERATURE, TYPE_TEMPERATURE = 2.0, 1.5
KEYWORD_WEIGHT = 3  # a keyword hit counts as this many n-grams, and each keyword as this many texts
TEMPERATURES = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0)


@dataclass(frozen=True, slots=True)
class LabelledComplaint:
    id: str
    text: str
    type: ComplaintType
    category: str
    split: str


@dataclass(frozen=True, slots=True)
class Classification:
    type: ComplaintType
    type_confidence: float
    category: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...]


def normalise(text: str) -> str:
    """Full-width to half-width (NFKC), Latin lower-cased, whitespace dropped."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if not ch.isspace())


def features(text: str, keywords: Mapping[str, Sequence[str]]) -> Counter[str]:
    chars = normalise(text)
    grams = Counter(chars[i : i + n] for n in (1, 2) for i in range(len(chars) - n + 1))
    # How a text opens (请问…, 举报…, 感谢…) says much about its type.
    grams.update("^" + chars[:n] for n in (2, 3) if len(chars) >= n)
    for code, words in keywords.items():
        if hits := sum(word in chars for word in words):
            grams["kw:" + code] += KEYWORD_WEIGHT * hits
    for kind, cues in TYPE_CUES.items():
        if hits := sum(cue in chars for cue in cues.split()):
            grams["cue:" + kind] += hits
    return grams


@dataclass
class _ComplementNaiveBayes:
    """Scores a label by how unlike the *other* labels' texts the input is (Rennie et al. 2003):
    with ~20 texts a label it beat multinomial naive Bayes by 3–8 points in cross-validation."""

    smoothing: float
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    totals: Counter[str] = field(default_factory=Counter)
    sizes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(
        cls, labelled: Iterable[tuple[Counter[str], str]], smoothing: float
    ) -> _ComplementNaiveBayes:
        model = cls(smoothing)
        for grams, label in labelled:
            model.counts.setdefault(label, Counter()).update(grams)
            model.totals.update(grams)
        model.sizes = {label: counts.total() for label, counts in model.counts.items()}
        return model

    def scores(self, grams: Counter[str]) -> dict[str, float]:
        size, everything = len(self.totals), self.totals.total()
        known = [(g, n) for g, n in sorted(grams.items()) if g in self.totals]
        scores = {}
        for label, counts in sorted(self.counts.items()):
            rest = everything - self.sizes[label] + self.smoothing * size
            scores[label] = -sum(
                n * math.log((self.totals[g] - counts[g] + self.smoothing) / rest) for g, n in known
            )
        return scores


def posteriors(scores: Mapping[str, float], temperature: float) -> list[tuple[str, float]]:
    """Softmax, best first; ties go to the alphabetically first label so results are stable."""
    top = max(scores.values())
    weights = {label: math.exp((s - top) / temperature) for label, s in scores.items()}
    norm = sum(weights.values())
    return sorted(((label, w / norm) for label, w in weights.items()), key=lambda p: (-p[1], p[0]))


@dataclass(frozen=True, eq=False)
class Classifier:
    category_model: _ComplementNaiveBayes
    type_model: _ComplementNaiveBayes
    keywords: Mapping[str, Sequence[str]]  # normalised

    @classmethod
    def train(
        cls,
        examples: Iterable[LabelledComplaint],
        keywords: Mapping[str, Sequence[str]] | None = None,
    ) -> Classifier:
        words = {code: [normalise(w) for w in ws] for code, ws in sorted((keywords or {}).items())}
        examples = list(examples)
        by_category = [(features(e.text, words), e.category) for e in examples]
        for code, ws in words.items():
            by_category += [(features(w, words), code) for w in ws] * KEYWORD_WEIGHT
        # Presence, not frequency, decides a type: a long angry text is no more a complaint.
        by_type = [(Counter(set(features(e.text, words))), e.type.value) for e in examples]
        return cls(
            _ComplementNaiveBayes.fit(by_category, CATEGORY_SMOOTHING),
            _ComplementNaiveBayes.fit(by_type, TYPE_SMOOTHING),
            words,
        )

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(self.category_model.counts)

    def scores(self, text: str) -> tuple[dict[str, float], dict[str, float]]:
        """Uncalibrated (category, type) scores, for choosing the temperatures."""
        grams = features(text, self.keywords)
        return self.category_model.scores(grams), self.type_model.scores(Counter(set(grams)))

    def classify(self, text: str) -> Classification:
        category_scores, type_scores = self.scores(text)
        ranked = posteriors(category_scores, CATEGORY_TEMPERATURE)
        kind, kind_confidence = posteriors(type_scores, TYPE_TEMPERATURE)[0]
        return Classification(
            type=ComplaintType(kind),
            type_confidence=kind_confidence,
            category=ranked[0][0],
            confidence=ranked[0][1],
            alternatives=tuple(ranked[1:4]),
        )


def load_examples(path: Path | None = None) -> list[LabelledComplaint]:
    lines = (path or DATA / "labelled_complaints.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [
        LabelledComplaint(r["id"], r["text"], ComplaintType(r["type"]), r["category"], r["split"])
        for r in rows
    ]


def load_keywords(path: Path | None = None) -> dict[str, list[str]]:
    loaded = yaml.safe_load((path or DATA / "category_keywords.yaml").read_text(encoding="utf-8"))
    return {str(code): [str(word) for word in words] for code, words in (loaded or {}).items()}


@cache
def default_classifier() -> Classifier:
    return Classifier.train((e for e in load_examples() if e.split == "train"), load_keywords())


@dataclass(frozen=True, slots=True)
class Tally:
    n: int
    correct: int
    accuracy: float


def _tally(n: int, correct: int) -> Tally:
    return Tally(n, correct, correct / n if n else 0.0)


@dataclass(frozen=True)
class Evaluation:
    total: int
    category_accuracy: float
    type_accuracy: float
    per_category: dict[str, Tally]
    per_type: dict[str, Tally]
    threshold: float
    auto_accepted: Tally  # category confidence ≥ threshold: how many, and how many were right
    coverage: float  # auto_accepted.n / total: the share a human triager never sees

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _summarise(
    results: Sequence[tuple[LabelledComplaint, Classification]], threshold: float
) -> Evaluation:
    seen: Counter[tuple[str, str]] = Counter()
    right: Counter[tuple[str, str]] = Counter()
    for example, result in results:
        category_right = result.category == example.category
        outcomes = [
            (("category", example.category), category_right),
            (("type", example.type.value), result.type is example.type),
        ]
        if result.confidence >= threshold:
            outcomes.append((("auto", ""), category_right))
        for key, hit in outcomes:
            seen[key] += 1
            right[key] += hit

    def per(head: str) -> dict[str, Tally]:
        return {k: _tally(seen[h, k], right[h, k]) for h, k in sorted(seen) if h == head}

    total = len(results)
    per_category, per_type = per("category"), per("type")
    auto = _tally(seen["auto", ""], right["auto", ""])
    return Evaluation(
        total=total,
        category_accuracy=sum(t.correct for t in per_category.values()) / total if total else 0.0,
        type_accuracy=sum(t.correct for t in per_type.values()) / total if total else 0.0,
        per_category=per_category,
        per_type=per_type,
        threshold=threshold,
        auto_accepted=auto,
        coverage=auto.n / total if total else 0.0,
    )


def evaluate(
    classifier: Classifier, examples: Sequence[LabelledComplaint], threshold: float = 0.6
) -> Evaluation:
    return _summarise([(e, classifier.classify(e.text)) for e in examples], threshold)


def _fold_classifiers(
    examples: Sequence[LabelledComplaint], keywords: Mapping[str, Sequence[str]], folds: int
) -> Iterator[tuple[Classifier, list[LabelledComplaint]]]:
    """Each fold with a classifier trained on the other folds."""
    shuffled = sorted(examples, key=lambda e: e.id)
    random.Random(7).shuffle(shuffled)
    parts = [shuffled[fold::folds] for fold in range(folds)]
    for held in parts:
        yield Classifier.train((e for p in parts if p is not held for e in p), keywords), held


def cross_validate(
    examples: Sequence[LabelledComplaint],
    keywords: Mapping[str, Sequence[str]] | None = None,
    folds: int = 5,
    threshold: float = 0.6,
) -> Evaluation:
    keywords = load_keywords() if keywords is None else keywords
    results = []
    for classifier, held in _fold_classifiers(examples, keywords, folds):
        results += [(e, classifier.classify(e.text)) for e in held]
    return _summarise(results, threshold)


def best_temperatures(examples: Sequence[LabelledComplaint], folds: int = 5) -> tuple[float, float]:
    """The (category, type) temperatures with the least cross-validated log-loss."""
    scored = [
        ((e.category, e.type.value), classifier.scores(e.text))
        for classifier, held in _fold_classifiers(examples, load_keywords(), folds)
        for e in held
    ]

    def log_loss(head: int, temperature: float) -> float:
        return -sum(
            math.log(dict(posteriors(scores[head], temperature)).get(truth[head], 1e-9))
            for truth, scores in scored
        )

    return min(TEMPERATURES, key=partial(log_loss, 0)), min(TEMPERATURES, key=partial(log_loss, 1))
