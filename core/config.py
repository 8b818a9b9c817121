"""The parameters of one Self-AMPLIFY run, validated before any work starts."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import ConfigError
from core.spans import check_span

ALL_METHODS = (
    "zero_shot",
    "io",
    "auto_cot",
    "deeplift",
    "kernelshap",
    "self_topk",
    "ph_cot",
    "leave_one_out",
    "random",
    "counterfactual",
    "amplify",
)
STRATEGIES = ("success", "error", "random")
ANSWER_MODES = ("parse", "label", "cloze")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
CLOZE_CHOICES = ("listed", "hidden")
CLOZE_NORMS = ("bytes", "tokens", "none")


@dataclass(frozen=True)
class RunConfig:
    model: str
    dataset: str
    methods: tuple[str, ...]
    strategy: str = "success"
    shots: int = 4
    keywords: int = 4
    steps: int = 3
    test_limit: int = 50
    seed: int = 0
    shap_samples: int = 350
    shap_adaptive: bool = True  # KernelSHAP stops once its top-k words are stable
    rationale_tokens: int = 128
    eval_tokens: int = 256
    answer_mode: str = "parse"
    # cloze mode's format, chosen by zero-shot accuracy on the selection pools of CommonsenseQA and
    # Social IQa (bench/cloze_format.py): the question alone, log-likelihood per byte
    cloze_choices: str = "hidden"  # "listed": questions list their lettered choices
    cloze_norm: str = "bytes"  # or "tokens", or "none" (the raw sum)
    batch_size: int = 16
    device: str | None = None
    dtype: str | None = None
    field_map: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    trust_remote_code: bool = False
    proxy_model: str | None = None  # amplify: the model whose attributions explain the shots
    balance_labels: bool = False  # spread the shots over the gold labels
    search: int = 1  # candidate shot sets scored on a dev split of the pool (1: no search)
    dev_size: int = 50  # pool questions held out to score --search candidates and --influence
    influence: bool = False  # leave-one-shot-out dev accuracy of each context (core/influence.py)
    span: str = "auto"  # the attribution span (core/spans.py); auto: the dataset layout's default

    def validate(self) -> RunConfig:
        if not self.methods:
            raise ConfigError(
                "no method given; use --method with one or more of " + ", ".join(ALL_METHODS)
            )
        unknown = [m for m in self.methods if m not in ALL_METHODS]
        if unknown:
            raise ConfigError(
                f"unknown method {unknown[0]!r}; use one or more of {', '.join(ALL_METHODS)}"
            )
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError("a method is listed twice in --method")
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"unknown strategy {self.strategy!r}; use one of {', '.join(STRATEGIES)}"
            )
        for name, value, low in (
            ("--shots", self.shots, 1),
            ("--keywords", self.keywords, 1),
            ("--steps", self.steps, 1),
            ("--test-limit", self.test_limit, 1),
            ("--seed", self.seed, 0),
            ("--shap-samples", self.shap_samples, 4),
            ("--rationale-tokens", self.rationale_tokens, 1),
            ("--eval-tokens", self.eval_tokens, 1),
            ("--batch-size", self.batch_size, 1),
            ("--search", self.search, 1),
            ("--dev-size", self.dev_size, 1),
        ):
            if value < low:
                raise ConfigError(f"{name} must be at least {low}, not {value}")
        if self.influence and not self.needs_shots:
            raise ConfigError("--influence needs a method with shots (zero_shot has none)")
        if "amplify" in self.methods and not self.proxy_model:
            raise ConfigError("the amplify method needs --proxy-model (a second model)")
        if self.proxy_model and self.proxy_model == self.model:
            raise ConfigError("--proxy-model must be a different model from --model")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ConfigError(f"unknown --dtype {self.dtype!r}; use one of {', '.join(DTYPES)}")
        if self.device is not None and not DEVICE_PATTERN.match(self.device):
            raise ConfigError(
                f"unknown --device {self.device!r}; use auto, cpu, mps, cuda or cuda:N"
            )
        if self.answer_mode not in ANSWER_MODES:
            raise ConfigError(
                f"unknown answer mode {self.answer_mode!r}; use one of {', '.join(ANSWER_MODES)}"
            )
        if self.cloze_choices not in CLOZE_CHOICES:
            raise ConfigError(
                f"unknown --cloze-choices {self.cloze_choices!r}; use {' or '.join(CLOZE_CHOICES)}"
            )
        check_span(self.span)
        if self.cloze_norm not in CLOZE_NORMS:
            raise ConfigError(
                f"unknown --cloze-norm {self.cloze_norm!r}; use one of {', '.join(CLOZE_NORMS)}"
            )
        return self

    @property
    def needs_shots(self) -> bool:
        return any(m != "zero_shot" for m in self.methods)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["methods"] = list(self.methods)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        values = dict(data)
        values["methods"] = tuple(values.get("methods", ()))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})

    def identity(self) -> dict[str, Any]:
        """What determines the results (batch size and device choice excluded: speed only)."""
        data = self.to_dict()
        data.pop("batch_size", None)
        return data
