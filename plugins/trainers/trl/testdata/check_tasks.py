"""Loads the shipped task definitions with small stand-ins for lighteval's
classes (lighteval itself is not installed where polyglot's tests run) and
prints what a harness would see, as JSON, for tasks_test.go to check:
task names, metric names, generation settings, and what the prompt and
metric functions make of sample rows."""

import enum
import importlib.util
import json
import sys
import types


def stub(name, **attrs):
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod


class Record:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class SampleLevelComputation:
    pass


SamplingMethod = enum.Enum("SamplingMethod", "GENERATIVE LOGPROBS")
for name in ["lighteval", "lighteval.metrics", "lighteval.metrics.utils", "lighteval.tasks"]:
    stub(name)
stub("lighteval.metrics.metrics_sample", SampleLevelComputation=SampleLevelComputation)
stub("lighteval.metrics.utils.metric_utils", SampleLevelMetric=Record)
stub("lighteval.tasks.lighteval_task", LightevalTaskConfig=Record)
stub("lighteval.tasks.requests", Doc=Record, SamplingMethod=SamplingMethod)


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


le = load(sys.argv[1], "polyglot_lighteval_tasks")
lm = load(sys.argv[2], "utils")

out = {"tasks": {}}
for cfg in le.TASKS_TABLE:
    out["tasks"][cfg.name] = {
        "repo": cfg.hf_repo,
        "subset": cfg.hf_subset,
        "metrics": [m.metric_name for m in cfg.metrics],
        "generation_size": getattr(cfg, "generation_size", None),
        "stop": getattr(cfg, "stop_sequence", None),
    }

rows = [{"prompt": f"request {i}", "chosen": "good", "rejected": "bad", "category": "chat" if i % 4 else "safety"} for i in range(400)]
docs = [le.m_rewardbench_prompt(r, "m_rewardbench_de") for r in rows]
out["chosen_first"] = sum(d.gold_index == 0 for d in docs)
out["gold_letter_is_chosen"] = all(
    ("Answer A:\ngood" in d.query) == (d.gold_index == 0) for d in docs
)
verdict = le.PairwiseVerdict()
# A model that always prefers A: right exactly where the chosen answer is A.
items = [verdict.compute(d, Record(logprobs=[-1.0, -2.0])) for d in docs]
out["always_a_weighted_acc"] = le.category_weighted_accuracy(items)
out["always_a_acc"] = sum(c for _, c in items) / len(items)
out["weighted_acc_two_categories"] = le.category_weighted_accuracy([("a", 1), ("a", 1), ("a", 1), ("b", 0)])

mgsm = le.mgsm_prompt({"question": "2+2?", "answer_number": 4}, "mgsm_num_de")
match = le.FirstNumberMatch()
out["mgsm"] = {
    answer: match.compute(mgsm, Record(final_text=[answer]))
    for answer in ["4", " 4 apples", "4.0", "1,004", "Es sind 4.", "3 or 4", ""]
}

mmlu = le.global_mmlu_lite_prompt(
    {"question": "Q?", "option_a": "w", "option_b": "x", "option_c": "y", "option_d": "z", "answer": "C"}, "global_mmlu_lite_de"
)
out["mmlu"] = {"choices": mmlu.choices, "gold": mmlu.gold_index, "query": mmlu.query}


class Dataset(list):
    def map(self, fn):
        return Dataset(dict(r, **fn(r)) for r in self)


lm_docs = lm.process_docs(Dataset(rows))
out["lm_eval_chosen_first"] = sum(d["gold"] == 0 for d in lm_docs)
out["lm_eval_same_order"] = all(a["gold"] == b.gold_index for a, b in zip(lm_docs, docs))
res = [lm.process_results(d, [(-1.0, True), (-2.0, False)])["weighted_acc"] for d in lm_docs]
out["lm_eval_always_a_weighted_acc"] = lm.category_weighted_accuracy(res)
print(json.dumps(out))
