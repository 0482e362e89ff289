"""Classifies a resident's free text into type (咨询/求助/投诉/…) and category, with a confidence.

Multinomial naive Bayes over character 1–3-grams, one model per head, trained on the packaged
labelled set plus the catalogue's keywords. `python -m services.intake.classifier evaluate`
prints accuracy per category and type.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from shared.events.complaint import ComplaintType

DATA = Path(__file__).with_name("data")
EXAMPLES = DATA / "labelled_complaints.jsonl"
KEYWORDS = DATA / "category_keywords.yaml"
# Posteriors of naive Bayes are overconfident; dividing log-likelihoods by this temperature
# (chosen by cross-validation on the train split) makes "0.6" mean roughly what it says.
TEMPERATURE = 6.0
KEYWORD_WEIGHT = 3  # a keyword counts as this many training mentions of its category


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
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if not ch.isspace())


def features(text: str) -> Counter[str]:
    chars = normalise(text)
    grams: Counter[str] = Counter()
    for n in (1, 2, 3):
        grams.update(chars[i : i + n] for i in range(len(chars) - n + 1))
    return grams


@dataclass
class _NaiveBayes:
    classes: list[str]
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    priors: dict[str, float] = field(default_factory=dict)
    vocabulary: set[str] = field(default_factory=set)

    @classmethod
    def fit(cls, labelled: Iterable[tuple[Counter[str], str]]) -> _NaiveBayes:
        per_class: dict[str, Counter[str]] = defaultdict(Counter)
        documents: Counter[str] = Counter()
        for grams, label in labelled:
            per_class[label].update(grams)
            documents[label] += 1
        model = cls(classes=sorted(per_class))
        total_documents = sum(documents.values())
        for label in model.classes:
            model.counts[label] = per_class[label]
            model.totals[label] = sum(per_class[label].values())
            model.priors[label] = math.log(documents[label] / total_documents)
            model.vocabulary |= set(per_class[label])
        return model

    def posteriors(self, grams: Counter[str]) -> list[tuple[str, float]]:
        size = len(self.vocabulary) + 1
        known = {g: n for g, n in grams.items() if g in self.vocabulary}
        scores = {}
        for label in self.classes:
            counts, denominator = self.counts[label], self.totals[label] + size
            likelihood = sum(n * math.log((counts[g] + 1) / denominator) for g, n in known.items())
            scores[label] = self.priors[label] + likelihood / TEMPERATURE
        top = max(scores.values())
        weights = {label: math.exp(score - top) for label, score in scores.items()}
        norm = sum(weights.values())
        return sorted(((label, w / norm) for label, w in weights.items()), key=lambda x: -x[1])


class Classifier:
    def __init__(self, category_model: _NaiveBayes, type_model: _NaiveBayes) -> None:
        self._categories = category_model
        self._types = type_model

    @classmethod
    def train(
        cls,
        examples: Iterable[LabelledComplaint],
        keywords: Mapping[str, Sequence[str]] | None = None,
    ) -> Classifier:
        examples = list(examples)
        by_category = [(features(e.text), e.category) for e in examples]
        for category, words in (keywords or {}).items():
            by_category += [(features(word), category) for word in words] * KEYWORD_WEIGHT
        by_type = [(features(e.text), e.type.value) for e in examples]
        return cls(_NaiveBayes.fit(by_category), _NaiveBayes.fit(by_type))

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(self._categories.classes)

    def classify(self, text: str) -> Classification:
        grams = features(text)
        ranked = self._categories.posteriors(grams)
        [(kind, kind_confidence), *_] = self._types.posteriors(grams)
        return Classification(
            type=ComplaintType(kind),
            type_confidence=kind_confidence,
            category=ranked[0][0],
            confidence=ranked[0][1],
            alternatives=tuple(ranked[1:4]),
        )


def load_examples(path: Path | None = None) -> list[LabelledComplaint]:
    lines = (path or EXAMPLES).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [
        LabelledComplaint(r["id"], r["text"], ComplaintType(r["type"]), r["category"], r["split"])
        for r in rows
    ]


def load_keywords(path: Path | None = None) -> dict[str, list[str]]:
    loaded = yaml.safe_load((path or KEYWORDS).read_text(encoding="utf-8")) or {}
    return {str(code): [str(w) for w in words] for code, words in loaded.items()}


@cache
def default_classifier() -> Classifier:
    train = [e for e in load_examples() if e.split == "train"]
    return Classifier.train(train, keywords=load_keywords())


@dataclass(frozen=True)
class Evaluation:
    total: int
    category_accuracy: float
    type_accuracy: float
    per_category: dict[str, tuple[int, int]]  # category → (n, correct)
    per_type: dict[str, tuple[int, int]]
    threshold: float
    auto_accepted: int
    auto_accuracy: float

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "category_accuracy": self.category_accuracy,
            "type_accuracy": self.type_accuracy,
            "per_category": {k: {"n": n, "correct": c} for k, (n, c) in self.per_category.items()},
            "per_type": {k: {"n": n, "correct": c} for k, (n, c) in self.per_type.items()},
            "threshold": self.threshold,
            "auto_accepted": self.auto_accepted,
            "auto_accuracy": self.auto_accuracy,
        }


def evaluate(
    classifier: Classifier, examples: Sequence[LabelledComplaint], threshold: float = 0.6
) -> Evaluation:
    per_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    accepted = accepted_right = 0
    for example in examples:
        result = classifier.classify(example.text)
        right = result.category == example.category
        per_category[example.category][0] += 1
        per_category[example.category][1] += right
        per_type[example.type.value][0] += 1
        per_type[example.type.value][1] += result.type is example.type
        if result.confidence >= threshold:
            accepted += 1
            accepted_right += right
    total = len(examples)
    return Evaluation(
        total=total,
        category_accuracy=sum(c for _, c in per_category.values()) / total,
        type_accuracy=sum(c for _, c in per_type.values()) / total,
        per_category={k: (v[0], v[1]) for k, v in sorted(per_category.items())},
        per_type={k: (v[0], v[1]) for k, v in sorted(per_type.items())},
        threshold=threshold,
        auto_accepted=accepted,
        auto_accuracy=accepted_right / accepted if accepted else 0.0,
    )


def cross_validate(examples: Sequence[LabelledComplaint], folds: int = 5) -> Evaluation:
    shuffled = sorted(examples, key=lambda e: e.id)
    random.Random(7).shuffle(shuffled)
    predictions: list[LabelledComplaint] = []
    results = []
    keywords = load_keywords()
    for fold in range(folds):
        held = shuffled[fold::folds]
        rest = [e for i, e in enumerate(shuffled) if i % folds != fold]
        results.append(evaluate(Classifier.train(rest, keywords), held))
        predictions += held
    merged_cat: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    merged_type: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for result in results:
        for k, (n, c) in result.per_category.items():
            merged_cat[k] = (merged_cat[k][0] + n, merged_cat[k][1] + c)
        for k, (n, c) in result.per_type.items():
            merged_type[k] = (merged_type[k][0] + n, merged_type[k][1] + c)
    total = len(predictions)
    accepted = sum(r.auto_accepted for r in results)
    return Evaluation(
        total=total,
        category_accuracy=sum(c for _, c in merged_cat.values()) / total,
        type_accuracy=sum(c for _, c in merged_type.values()) / total,
        per_category=dict(sorted(merged_cat.items())),
        per_type=dict(sorted(merged_type.items())),
        threshold=results[0].threshold,
        auto_accepted=accepted,
        auto_accuracy=sum(r.auto_accuracy * r.auto_accepted for r in results) / accepted
        if accepted
        else 0.0,
    )


def _print(evaluation: Evaluation, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("类别/类型 Label", "n", "正确 correct", "准确率 accuracy"):
        table.add_column(column, justify="right" if column != "类别/类型 Label" else "left")
    for label, (n, correct) in [*evaluation.per_category.items(), *evaluation.per_type.items()]:
        table.add_row(label, str(n), str(correct), f"{correct / n:.1%}")
    console = Console()
    console.print(table)
    console.print(
        f"category accuracy {evaluation.category_accuracy:.1%} · type accuracy "
        f"{evaluation.type_accuracy:.1%} · auto-accepted at ≥{evaluation.threshold}: "
        f"{evaluation.auto_accepted}/{evaluation.total} with accuracy {evaluation.auto_accuracy:.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="评估诉求自动分类 Evaluate the classifier")
    parser.add_argument("command", choices=["evaluate"])
    parser.add_argument("--split", choices=["heldout", "train", "cv"], default="heldout")
    parser.add_argument("--threshold", type=float, default=0.6)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    examples = load_examples()
    train = [e for e in examples if e.split == "train"]
    if args.split == "cv":
        evaluation = cross_validate(train)
    else:
        chosen = [e for e in examples if e.split == args.split]
        evaluation = evaluate(default_classifier(), chosen, args.threshold)
    _print(evaluation, f"诉求分类评估 Classifier on {args.split} ({evaluation.total})")
    if args.json:
        args.json.write_text(json.dumps(evaluation.as_dict(), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
