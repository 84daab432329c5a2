"""The one interface every batch API is reached through: a ``Provider`` (its line shape, counting, request rules,
limits, result usage and statuses), the ``Counter`` it makes for a model, and the ``BatchClient`` that is the only
place its SDK is imported. Everything above the providers layer works with these and the neutral records
(``core.records``); nothing there names a provider.

A provider subclasses ``Provider`` and fills in what is abstract; the rest has a default that says "this provider
has no such thing" (no fast path, no file-level rules, no online counting, no batch usage), so no caller probes a
provider for what it might have. It is registered under the entry-point group ``batchcost.providers``
(``providers.registry``), the built-in ones too.
"""
from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from batchcost.core.errors import UsageError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import Limits, PlanLine, RequestFinding, ResultLine, Usage, Work, refused
from batchcost.tokens.models import ModelInfo
from batchcost.tokens.text import RequestCount

SUBMISSION_TAG = "batchcost_submission"  # the metadata key (or display name) a submitted batch is found by again
OUR_STATUSES = ("validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")


class Counter(Protocol):
    """Counts one model's requests: input tokens as the provider bills them, and how exact the count is
    (``RequestCount.basis``: tokenizer, approximation with a band, or online)."""

    model: ModelInfo

    def count(self, endpoint: str, body: dict[str, Any]) -> RequestCount: ...


@dataclass(frozen=True)
class FastPath:
    """A provider's shortcut for the commonest line of a plan, taken by the estimate's hot loop without building a
    ``PlanLine``: ``take(obj)`` gives (model, body) for a decoded line it can count in one go, else None;
    ``plain_of(counter)`` is the counter's function from such a body to (input tokens, shared-prefix tokens, output
    bound or None), or None for the general path, which gives the same numbers; ``fails(family)`` gives the keys
    worth a look and a quick test of whether check would refuse such a body."""

    take: Callable[[dict], tuple[str, dict] | None]
    plain_of: Callable[[Any], Callable[[dict], tuple[int, int, int | None] | None]]
    fails: Callable[[str], tuple[frozenset, Callable[[dict], bool]]]


class PlanChecker:
    """Rules over a whole plan (one endpoint a file, one model a file, inputs a file may hold): ``see`` each request
    in order, then ``finish``; each yields ``(rule, message)`` findings (with the request's line, for ``see``). The
    default finds nothing."""

    def see(self, item: PlanLine) -> Iterator[RequestFinding]:
        return iter(())

    def finish(self) -> Iterator[RequestFinding]:
        return iter(())

    def request_checks(self, item: PlanLine) -> bool:
        """Whether the neutral per-request checks (model, context window, output bound) apply to this line."""
        return True


class BatchClient(abc.ABC):
    """A provider's batch API, through its SDK: the only place that imports it. Batches are plain dicts in our
    vocabulary (``status`` one of ``OUR_STATUSES``; ``request_counts`` {total, completed, failed};
    ``output_file_id`` and ``error_file_id`` where there are results), the provider's own fields kept beside.
    Every SDK failure is a ``RemoteError`` (``providers.sdk.sdk_errors``), the key scrubbed."""

    base_url: str  # what messages and the ledger show: never credentials

    @abc.abstractmethod
    def upload(self, path: Path, filename: str) -> str: ...

    @abc.abstractmethod
    def find_file(self, filename: str, size: int) -> str | None: ...

    @abc.abstractmethod
    def create_batch(self, file_id: str, endpoint: str, metadata: dict[str, str], *, wave_path: Path,
                     model: str | None = None) -> dict: ...

    @abc.abstractmethod
    def find_batch(self, key: str, value: str, *, requests: int | None = None, since: str | None = None
                   ) -> dict | None: ...

    @abc.abstractmethod
    def retrieve(self, batch_id: str) -> dict: ...

    @abc.abstractmethod
    def cancel(self, batch_id: str) -> dict: ...

    @abc.abstractmethod
    def list(self, limit: int = 20) -> list[dict]: ...

    @abc.abstractmethod
    def download(self, file_id: str, dest: Path) -> tuple[str, int]: ...

    def send(self, endpoint: str, body: dict) -> dict:
        """One real-time request with a plan line's body, as-is (the pilot)."""
        raise UsageError("this provider has no real-time API batchcost can send a pilot through")


class Provider(abc.ABC):
    """One batch API. ``name`` is what ``--provider`` takes; ``title`` what one of its plan lines is called in
    messages; ``line_shape`` its line, for a message about a line of no known shape; ``endpoint`` the neutral request
    kind its lines get, ``endpoints`` every kind a template may name; ``id_field`` the line's own id (None: results
    echo the request, ``echo_key``); ``models_of`` the provider whose models it serves (Vertex serves Gemini's)."""

    name: str
    title: str
    line_shape: str
    endpoint: str
    endpoints: tuple[str, ...] = ()
    id_field: str | None = "custom_id"
    env_key: str = ""
    models_of: str | None = None
    statuses: dict[str, str] = {}
    default_shape = False  # the shape a line of no other provider's shape is read as (OpenAI's)

    # -- plan lines ---------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def matches(self, obj: dict) -> bool:
        """Whether a decoded plan line has this provider's shape."""

    @abc.abstractmethod
    def parse(self, obj: dict, path: Path, line: int, nbytes: int, text: bytes,
              options: ReadOptions = PLAIN) -> PlanLine:
        """The neutral request of a decoded line, or a ``PlanError`` naming the field."""

    @abc.abstractmethod
    def line(self, custom_id: str, endpoint: str, body: dict) -> dict:
        """The line ``plan`` writes for a rendered request."""

    def accepts(self, obj: dict) -> bool:
        """Whether a decoded line can be read as this provider's when the plan is said to be (``--provider``)."""
        return self.matches(obj)

    def claimed_models(self) -> tuple[str, ...]:
        """Models whose lines of the default shape are this provider's (an OpenAI-compatible service's own)."""
        return ()

    def quick(self, obj: dict, line: int, nbytes: int, text: bytes) -> PlanLine | None:
        """The commonest well-formed line in one call (the reader's shortcut, for the default shape); None: the
        line takes ``matches`` and ``parse``."""
        return None

    def kinds(self) -> tuple[str, ...]:
        return self.endpoints or (self.endpoint,)

    def kind_of(self, body: dict) -> str | None:
        """The request kind a template's body is, where the provider tells it from the body (else None)."""
        return None

    def owns_batch(self, batch_id: str) -> bool:
        """Whether an id is one only this provider gives out."""
        return False

    def chunk_field(self, endpoint: str) -> str | None:
        """The body field a template may cut a long text into chunks in, for this request kind (None: none)."""
        return None

    # -- translation ------------------------------------------------------------------------------------------
    def to_work(self, item: PlanLine) -> Work:
        """The neutral work a plan line asks for (what ``convert`` and cross-provider comparison translate)."""
        raise UsageError(f"batchcost cannot translate {self.title}s to another provider")

    def from_work(self, work: Work, model: str) -> tuple[str, dict]:
        """This provider's request kind and body for the neutral work, on ``model``; what has no place in it is
        added to ``work.lost``."""
        raise UsageError(f"batchcost cannot write {self.title}s from another provider's requests")

    # -- counting ---------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def counter(self, info: ModelInfo, **options) -> Counter:
        """A counter for one model (options: assume_image_size, base_dir, fingerprints, correction)."""

    def model_info(self, name: str) -> ModelInfo | None:
        """A model this provider knows of its own (one outside batchcost's registry), else None."""
        return None

    def fast_path(self) -> FastPath | None:
        return None

    # -- what the API would refuse ------------------------------------------------------------------------------
    @abc.abstractmethod
    def limits(self) -> Limits: ...

    def check_request(self, item: PlanLine, warnings: bool = True) -> Iterator[RequestFinding]:
        """What the provider would refuse in one request; without ``warnings``, only the error rules, fast (the
        estimate's count of failures)."""
        return iter(())

    def request_fails(self, item: PlanLine, family: str, tools_key: bytes = b"") -> bool:
        return refused(self.check_request(item, warnings=False))

    def output_bound(self, body: dict) -> tuple[str, int] | None:
        """The request's own output bound for ``check`` (name, value), where one is set."""
        for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return key, value
        return None

    def plan_checker(self) -> PlanChecker:
        return PlanChecker()

    # -- results ----------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def classify(self, obj: dict, endpoint: str) -> ResultLine:
        """One result line as its outcome and neutral usage; ``ValueError`` says what is wrong with the line."""

    def echo_key(self, obj: dict) -> str:
        """For lines with no id (``id_field`` None): what a plan line and its result share."""
        raise NotImplementedError(f"{self.name} lines carry their own id ({self.id_field})")

    def response_usage(self, endpoint: str, response: dict) -> Usage | None:
        """Neutral usage of a real-time answer (the pilot), or None."""
        return None

    # -- batches ----------------------------------------------------------------------------------------------------
    def client(self, **options) -> BatchClient:
        raise UsageError(f"batchcost does not submit {self.title}s")

    def queue_refused(self, batch: dict) -> bool:
        """Whether the provider refused a batch for its enqueued-token limit (held and made again, not failed)."""
        return False

    def batch_usage(self, batch: dict) -> Usage | None:
        """The tokens a batch object reports it has used so far, or None where it reports none."""
        return None

    def online_counter(self, **options) -> Callable[[dict], int]:
        """For ``--online``: a function from a request body to the exact input tokens the provider's free counting
        endpoint reports."""
        raise UsageError(f"--online is not available for {self.title}s")
