"""The OpenAI-compatible batch services and their models (``data/compatible.yaml``), read once: a service's base URL,
key, line shape, limits and batch rule, and each model's chat template, vocabulary and windows."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from batchcost.data import load_data
from batchcost.tokens.models import Approximation, ChatRules, ModelInfo


@dataclass(frozen=True)
class Service:
    name: str
    title: str
    database: str  # the price database's provider id
    base_url: str
    env_key: str
    base_url_env: str
    shape: str  # "openai" (custom_id, method, url, body) or "body" (custom_id, body)
    endpoints: tuple[str, ...]
    purpose: str
    submit: bool
    max_requests: int
    max_bytes: int
    batch: dict | None
    verified: frozenset[str]
    models: dict

    @property
    def model_in_line(self) -> bool:
        """Whether each line names its model (else the job does: ``--model``)."""
        return self.name not in ("mistral", "fireworks")


@cache
def data() -> dict:
    return load_data("compatible.yaml")


@cache
def services() -> dict[str, Service]:
    found = {}
    for name, raw in data()["services"].items():
        limits = raw["limits"]
        found[name] = Service(
            name=name, title=raw["title"], database=raw["database"], base_url=raw["base_url"],
            env_key=raw["env_key"], base_url_env=raw["base_url_env"], shape=raw["shape"],
            endpoints=tuple(raw["endpoints"]), purpose=raw["purpose"], submit=bool(raw["submit"]),
            max_requests=int(limits["max_requests"]), max_bytes=int(limits["max_bytes"]), batch=raw.get("batch"),
            verified=frozenset(raw.get("verified") or ()), models=dict(raw.get("models") or {}))
    return found


@cache
def owners() -> dict[str, str]:
    """Model name -> the one service whose catalogue names it (a test holds every name to one service)."""
    found: dict[str, str] = {}
    for service in services().values():
        for model in service.models:
            found.setdefault(model, service.name)
    return found


def database_provider(model: str) -> str | None:
    """The price database's provider of a model a service's catalogue names, else None."""
    owner = owners().get(model)
    return services()[owner].database if owner else None


def template(name: str) -> dict:
    return data()["templates"][name]


_NO_RULES = ChatRules(0, 0, 0)  # the template says what a message costs; OpenAI's per-message rules do not apply


@cache
def model_info(service_name: str, model: str) -> ModelInfo | None:
    """The model as its service's counter needs it: the catalogue's entry, else a model the price database lists
    under the service (counted by the ``unknown`` band), else None."""
    service = services()[service_name]
    entry = service.models.get(model)
    unknown = data()["unknown"]
    band = Approximation(*(Decimal(str(unknown[k])) for k in ("ratio", "low", "high")))
    if entry is not None and entry.get("template") is None:  # a model whose vocabulary is not published
        return ModelInfo(name=model, kind=entry.get("kind", "chat"), encoding=unknown["proxy"],
                         context_window=entry.get("context_window"), max_output_tokens=entry.get("max_output_tokens"),
                         chat_rules=_NO_RULES, image_rules=None, reasoning=False, provider=service_name,
                         approximation=band, structure={"template": None, "tokenizer": None, "exact": []})
    if entry is not None:
        name = entry["template"]
        kinds = sorted(v.partition(":")[2] or "*" for v in service.verified if v.partition(":")[0] == name)
        exact = bool(kinds)
        return ModelInfo(name=model, kind=entry.get("kind", "chat"), encoding=_vocabulary(name),
                         context_window=entry.get("context_window"), max_output_tokens=entry.get("max_output_tokens"),
                         chat_rules=_NO_RULES, image_rules=None, reasoning=False, provider=service_name,
                         approximation=None if exact else Approximation(Decimal(1), Decimal(1), Decimal(1)),
                         structure={"template": name, "tokenizer": entry.get("tokenizer"), "exact": kinds})
    if not _published(service.database, model):
        return None
    return ModelInfo(name=model, kind="chat", encoding=unknown["proxy"], context_window=None, max_output_tokens=None,
                     chat_rules=_NO_RULES, image_rules=None, reasoning=False, provider=service_name,
                     approximation=band, structure={"template": None, "tokenizer": None, "exact": []},
                     derived=unknown["proxy"])


def _vocabulary(template_name: str) -> str:
    spec = template(template_name)
    return spec.get("vocabulary") or ("mistral-common" if spec.get("mistral_common") else data()["unknown"]["proxy"])


def _published(database: str, model: str) -> bool:
    """Whether the price database lists ``model`` under this provider id exactly (no fuzzy match: a typo of a
    model is refused, not counted)."""
    try:
        from genai_prices import data_snapshot
    except ImportError:
        return False
    for provider in data_snapshot.get_snapshot().providers:
        if provider.id == database:
            return any(m.id == model for m in provider.models)
    return False
