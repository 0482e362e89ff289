"""The labelled complaint set and the classifier: enough data, honest splits, floors that can fail."""

import hashlib
import json
import random
from collections import Counter

import pytest

from services.intake.cli import main
from services.intake.domain.classifier import (
    Classifier,
    cross_validate,
    default_classifier,
    evaluate,
    load_examples,
    load_keywords,
)
from shared.events.complaint import ComplaintType

EXAMPLES = load_examples()
TRAIN = [e for e in EXAMPLES if e.split == "train"]
HELDOUT = [e for e in EXAMPLES if e.split == "heldout"]

# Measured once on the held-out split after the model was fixed by cross-validation on train:
# category 86.7 %, type 82.2 %, auto-accepted (confidence ≥ 0.6) 94.8 % right. The floors sit
# a few points under, so a regression of the classifier or the data fails here.
HELDOUT_CATEGORY_FLOOR = 0.82
HELDOUT_TYPE_FLOOR = 0.77
HELDOUT_AUTO_ACCEPTED_FLOOR = 0.88


def test_the_labelled_set_is_large_varied_and_every_label_is_well_represented():
    assert len(EXAMPLES) >= 420
    assert len({e.id for e in EXAMPLES}) == len(EXAMPLES)
    assert len({e.text for e in EXAMPLES}) == len(EXAMPLES)
    assert all(15 <= len(e.text) <= 120 for e in EXAMPLES)
    per_category = Counter(e.category for e in EXAMPLES)
    assert set(per_category) == set(load_keywords())
    assert min(n for code, n in per_category.items() if code != "other") >= 20
    assert per_category["other"] >= 15
    per_type = Counter(e.type for e in EXAMPLES)
    assert set(per_type) == set(ComplaintType)
    assert min(per_type.values()) >= 30


def test_the_held_out_split_is_the_one_fixed_before_the_classifier_existed():
    # Per category, the 30 % (at least 6) of ids with the smallest hash: nobody can move a hard
    # example into train after seeing a held-out score.
    by_category: dict[str, list[str]] = {}
    for example in EXAMPLES:
        by_category.setdefault(example.category, []).append(example.id)
    expected = set()
    for ids in by_category.values():
        ranked = sorted(ids, key=lambda i: hashlib.sha256(f"jiesu-split:{i}".encode()).hexdigest())
        expected |= set(ranked[: max(6, round(0.3 * len(ids)))])
    assert {e.id for e in HELDOUT} == expected
    assert {e.split for e in EXAMPLES} == {"train", "heldout"}
    assert len(HELDOUT) >= 0.25 * len(EXAMPLES)


def test_held_out_accuracy_stays_above_its_floors():
    evaluation = evaluate(default_classifier(), HELDOUT, threshold=0.6)
    assert evaluation.total == len(HELDOUT)
    assert evaluation.category_accuracy >= HELDOUT_CATEGORY_FLOOR
    assert evaluation.type_accuracy >= HELDOUT_TYPE_FLOOR
    assert evaluation.auto_accepted.accuracy >= HELDOUT_AUTO_ACCEPTED_FLOOR


def test_cross_validation_on_train_meets_the_targets_and_confident_answers_are_mostly_right():
    evaluation = cross_validate(TRAIN, threshold=0.6)
    assert evaluation.total == len(TRAIN)
    assert evaluation.category_accuracy >= 0.85
    assert evaluation.type_accuracy >= 0.80
    # What the triage threshold promises: above it, clearly better than the overall rate.
    assert evaluation.auto_accepted.accuracy > evaluation.category_accuracy
    assert evaluation.coverage >= 0.7


@pytest.mark.parametrize(
    ("text", "category", "kind"),
    [
        ("楼顶漏水，家里墙面都泡了", "roof-leak", None),
        ("楼道里有人飞线给电动车充电，太危险了", "ebike-charging", ComplaintType.REPORT),
        ("电梯又坏了，把老人困在里面半小时", "elevator", None),
        ("小区门口路灯坏了一个多月，晚上黑乎乎的", "street-lights", None),
        ("请问不动产权证在哪里办", "property-certificate", ComplaintType.CONSULTATION),
        ("建议小区多装几个充电桩", "ebike-charging", ComplaintType.SUGGESTION),
        ("感谢供热公司，暖气终于热了", "heating", ComplaintType.PRAISE),
    ],
)
def test_plain_cases_are_classified_right_with_ranked_alternatives(text, category, kind):
    result = default_classifier().classify(text)
    assert result.category == category
    assert kind is None or result.type is kind
    assert 0.0 <= result.confidence <= 1.0 and 0.0 <= result.type_confidence <= 1.0
    assert len(result.alternatives) == 3
    assert category not in {code for code, _ in result.alternatives}
    ranked = [result.confidence, *(p for _, p in result.alternatives)]
    assert ranked == sorted(ranked, reverse=True)


@pytest.mark.parametrize("text", ["你好", "喂？", "在吗"])
def test_a_text_that_says_nothing_goes_to_triage(text):
    assert default_classifier().classify(text).confidence < 0.6


def test_full_width_characters_and_spaces_do_not_change_the_answer():
    classifier = default_classifier()
    assert classifier.classify("ＡＢＣ小区　井盖丢了？") == classifier.classify("abc小区井盖丢了?")


def test_training_is_deterministic_and_ignores_the_order_of_examples():
    shuffled = list(TRAIN)
    random.Random(3).shuffle(shuffled)
    first = Classifier.train(TRAIN, load_keywords())
    again = Classifier.train(TRAIN, load_keywords())
    reordered = Classifier.train(shuffled, load_keywords())
    for text in ("东关小区5号楼停水三天了", "楼上天天半夜跺脚", "物业不作为"):
        assert first.classify(text) == again.classify(text) == reordered.classify(text)


def test_a_city_can_add_a_category_with_keywords_alone():
    keywords = {**load_keywords(), "tree-pruning": ["树枝", "修剪", "树木"]}
    classifier = Classifier.train(TRAIN, keywords)
    assert "tree-pruning" in classifier.categories
    assert classifier.classify("楼前的大树树枝太长了，挡住了三楼的窗户").category == "tree-pruning"


def test_the_evaluate_command_writes_its_numbers_as_json(tmp_path, capsys):
    target = tmp_path / "evaluation.json"
    main(
        ["classifier", "evaluate", "--split", "train", "--threshold", "0.7", "--json", str(target)]
    )
    written = json.loads(target.read_text(encoding="utf-8"))
    assert written["total"] == len(TRAIN)
    assert written["threshold"] == 0.7
    assert set(written["per_category"]) == set(load_keywords())
    assert "auto-accepted" in capsys.readouterr().out
