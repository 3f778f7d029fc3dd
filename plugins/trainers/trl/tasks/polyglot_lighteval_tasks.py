"""The reference study's evaluation tasks for lighteval (written for 0.13).

polyglot's trl trainer writes this file next to each evaluation job and
passes it with --custom-tasks. Task names carry the ISO 639-1 code of the
language ("global_mmlu_lite_de"); lighteval keys their results as
"NAME|SHOTS", e.g. "mgsm_num_de|5".

- global_mmlu_lite_{lang}: Global-MMLU-Lite, the question with lettered
  options A-D, scored by the log-likelihood of each letter (accuracy).
- m_rewardbench_{lang}: M-RewardBench as pairwise judging. The model sees a
  prompt and two answers, A and B, in an order drawn per item from a fixed
  seed (so the chosen answer is A in about half the items), and the letter
  with the higher log-likelihood is its verdict. weighted_acc is the mean
  over the dataset's categories of each category's accuracy, so that large
  categories do not dominate.
- mgsm_num_{lang}: MGSM, 5-shot, the answer is the number alone: generation
  stops at a newline after at most 50 new tokens and the first number in it
  is compared with the gold number (extractive match).
"""

import random
import re
from statistics import mean

from lighteval.metrics.metrics_sample import SampleLevelComputation
from lighteval.metrics.utils.metric_utils import SampleLevelMetric
from lighteval.tasks.lighteval_task import LightevalTaskConfig
from lighteval.tasks.requests import Doc, SamplingMethod

# Dataset layouts. Check them against the dataset cards before a first run.
GLOBAL_MMLU_LITE = "CohereLabs/Global-MMLU-Lite"
M_REWARDBENCH = "CohereLabsCommunity/multilingual-reward-bench"
M_REWARDBENCH_CONFIGS = {
    "ar": "arb_Arab",
    "cs": "ces_Latn",
    "de": "deu_Latn",
    "es": "spa_Latn",
    "id": "ind_Latn",
    "ja": "jpn_Jpan",
}
M_REWARDBENCH_CATEGORY = "category"  # the column weighted_acc groups by
MGSM = "juletxara/mgsm"

LETTERS = "ABCD"
PAIR_SEED = 1234  # order of chosen and rejected, drawn per item


def global_mmlu_lite_prompt(line, task_name: str = None):
    options = [line["option_a"], line["option_b"], line["option_c"], line["option_d"]]
    query = line["question"].strip() + "\n"
    query += "".join(f"{letter}. {text}\n" for letter, text in zip(LETTERS, options))
    query += "Answer:"
    return Doc(
        task_name=task_name,
        query=query,
        choices=[f" {letter}" for letter in LETTERS],
        gold_index=LETTERS.index(line["answer"].strip()),
    )


def m_rewardbench_prompt(line, task_name: str = None):
    # A stable per-item draw: the same item gets the same order in every run.
    rng = random.Random(f"{PAIR_SEED}:{line['prompt']}")
    chosen_first = rng.random() < 0.5
    first, second = (line["chosen"], line["rejected"]) if chosen_first else (line["rejected"], line["chosen"])
    query = (
        "Which of the two answers below responds better to the request? Reply with A or B.\n\n"
        f"Request:\n{line['prompt']}\n\n"
        f"Answer A:\n{first}\n\n"
        f"Answer B:\n{second}\n\n"
        "Better answer:"
    )
    return Doc(
        task_name=task_name,
        query=query,
        choices=[" A", " B"],
        gold_index=0 if chosen_first else 1,
        specific={"category": line.get(M_REWARDBENCH_CATEGORY) or "all"},
    )


def mgsm_prompt(line, task_name: str = None):
    return Doc(
        task_name=task_name,
        query=f"{line['question']}\nAnswer (the number only):",
        choices=[f" {line['answer_number']}"],
        gold_index=0,
    )


class PairwiseVerdict(SampleLevelComputation):
    """1 when the letter of the chosen answer has the higher log-likelihood,
    with the item's category for the weighting."""

    def compute(self, doc: Doc, model_response, **kwargs):
        logprobs = model_response.logprobs[: len(doc.choices)]
        best = max(range(len(logprobs)), key=lambda i: logprobs[i])
        return (doc.specific["category"], int(best == doc.gold_index))


def category_weighted_accuracy(items):
    by_category = {}
    for category, correct in items:
        by_category.setdefault(category, []).append(correct)
    return mean(mean(v) for v in by_category.values())


NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def first_number(text):
    m = NUMBER.search(text or "")
    if m is None:
        return None
    value = float(m.group(0).replace(",", ""))
    return int(value) if value.is_integer() else value


class FirstNumberMatch(SampleLevelComputation):
    """1 when the first number of the answer equals the gold number."""

    def compute(self, doc: Doc, model_response, **kwargs):
        predicted = first_number(model_response.final_text[0] if model_response.final_text else "")
        return int(predicted is not None and predicted == first_number(doc.choices[doc.gold_index]))


weighted_acc = SampleLevelMetric(
    metric_name="weighted_acc",
    higher_is_better=True,
    category=SamplingMethod.LOGPROBS,
    sample_level_fn=PairwiseVerdict(),
    corpus_level_fn=category_weighted_accuracy,
)

extractive_match = SampleLevelMetric(
    metric_name="extractive_match",
    higher_is_better=True,
    category=SamplingMethod.GENERATIVE,
    sample_level_fn=FirstNumberMatch(),
    corpus_level_fn=mean,
)


class LetterAccuracy(SampleLevelComputation):
    """1 when the gold letter has the highest log-likelihood."""

    def compute(self, doc: Doc, model_response, **kwargs):
        logprobs = model_response.logprobs[: len(doc.choices)]
        return int(max(range(len(logprobs)), key=lambda i: logprobs[i]) == doc.gold_index)


mcq_acc = SampleLevelMetric(
    metric_name="acc",
    higher_is_better=True,
    category=SamplingMethod.LOGPROBS,
    sample_level_fn=LetterAccuracy(),
    corpus_level_fn=mean,
)

TASKS_TABLE = (
    [
        LightevalTaskConfig(
            name=f"global_mmlu_lite_{lang}",
            prompt_function=global_mmlu_lite_prompt,
            hf_repo=GLOBAL_MMLU_LITE,
            hf_subset=lang,
            hf_avail_splits=["dev", "test"],
            evaluation_splits=["test"],
            few_shots_split="dev",
            metrics=[mcq_acc],
        )
        for lang in ["ar", "cs", "de", "es", "id", "ja"]
    ]
    + [
        LightevalTaskConfig(
            name=f"m_rewardbench_{lang}",
            prompt_function=m_rewardbench_prompt,
            hf_repo=M_REWARDBENCH,
            hf_subset=config,
            hf_avail_splits=["test"],
            evaluation_splits=["test"],
            metrics=[weighted_acc],
        )
        for lang, config in M_REWARDBENCH_CONFIGS.items()
    ]
    + [
        LightevalTaskConfig(
            name=f"mgsm_num_{lang}",
            prompt_function=mgsm_prompt,
            hf_repo=MGSM,
            hf_subset=lang,
            hf_avail_splits=["train", "test"],
            evaluation_splits=["test"],
            few_shots_split="train",
            generation_size=50,
            stop_sequence=["\n"],
            metrics=[extractive_match],
        )
        for lang in ["de", "es", "ja"]
    ]
)
