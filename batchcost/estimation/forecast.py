"""How output tokens are forecast: each request's bound (``max``), N tokens a request (``fixed``), or what earlier
reconciles of the same template observed (``calibrated``, from a calibration store the caller gives)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from batchcost.core.errors import UsageError
from batchcost.plans.counts import CountedRequest


class CalibrationSource(Protocol):
    """What the calibrated forecast reads: observed output of (model family, template fingerprint)."""

    def stats(self, model: str, fingerprint: str) -> Any: ...


@dataclass(frozen=True)
class OutputForecast:
    """How output tokens are forecast. ``max``: each request's bound (else the model's max output).
    ``fixed``: ``per_request`` tokens expected, capped by the bound. Later bases (calibrated) plug in here."""

    basis: str = "max"
    per_request: int | None = None

    @classmethod
    def parse(cls, value: str | int | None, calibration: Callable[[], CalibrationSource] | None = None
              ) -> OutputForecast:
        """``max``, a whole number, or ``calibrated`` (``calibration`` opens the store it reads: the caller's, so
        this layer never reaches up for it; a worker process is given the same opener)."""
        if value is None or value == "max":
            return cls()
        if value == "calibrated":
            return CalibratedForecast(calibration)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise UsageError(f"--output-tokens must be 'max' or a whole number, not {value!r}") from None
        if number < 0:
            raise UsageError("--output-tokens must not be negative")
        return cls("fixed", number)

    def forecast(self, bound: int | None) -> tuple[int, int | None, int | None]:
        """(low, expected, high) output tokens for one request with this output ``bound``."""
        if self.basis == "fixed":
            expected = self.per_request if bound is None or self.per_request is None else min(self.per_request, bound)
            return 0, expected, bound
        return 0, bound, bound

    def forecast_request(self, record: CountedRequest, bound: int | None) -> tuple[int, int | None, int | None]:
        return self.forecast(bound)

    def tally(self) -> dict:
        """What this forecast counted while forecasting (mergeable across workers)."""
        return {}

    def describe(self, tally: dict) -> dict:
        return {"per_request": self.per_request} if self.per_request is not None else {}

    @property
    def spec(self) -> str:
        """How to rebuild this forecast in another process (``OutputForecast.parse(spec)``)."""
        return str(self.per_request) if self.basis == "fixed" else self.basis


class CalibratedForecast(OutputForecast):
    """Expected output = P50 of what reconciles observed for the same model and template fingerprint (capped by
    the bound); P90 is reported as a high-confidence figure; high stays the bound. No history: the bound."""

    opener: Callable[[], CalibrationSource] | None
    _calibration: CalibrationSource | None
    _tally: dict[str, Any]

    def __init__(self, opener: Callable[[], CalibrationSource] | None = None):
        object.__setattr__(self, "basis", "calibrated")
        object.__setattr__(self, "per_request", None)
        object.__setattr__(self, "opener", opener)
        object.__setattr__(self, "_calibration", None)
        object.__setattr__(self, "_tally", {"calibrated": 0, "fallback": 0, "p90": 0, "keys": {}})

    @property
    def calibration(self) -> CalibrationSource:
        """The store, opened when first needed (a plan with no request never opens it)."""
        calibration = self._calibration
        if calibration is None:
            if self.opener is None:
                raise UsageError("a calibrated output forecast reads the calibration store: give its opener "
                                 "(batchcost.estimate does; OutputForecast.parse('calibrated', calibration=...))")
            calibration = self.opener()
            object.__setattr__(self, "_calibration", calibration)
        return calibration

    def forecast_request(self, record: CountedRequest, bound: int | None) -> tuple[int, int | None, int | None]:
        stats = self.calibration.stats(record.family, record.fingerprint)
        tally = self._tally
        if stats is None:
            tally["fallback"] += 1
            tally["p90"] += bound or 0
            return 0, bound, bound
        tally["calibrated"] += 1
        tally["keys"][(record.family, record.fingerprint)] = stats.n
        cap = (lambda v: v) if bound is None else (lambda v: min(v, bound))
        tally["p90"] += cap(stats.p90)
        return 0, cap(stats.p50), bound

    def tally(self) -> dict:
        t = self._tally
        return {"calibrated": t["calibrated"], "fallback": t["fallback"], "p90": t["p90"], "keys": dict(t["keys"])}

    def describe(self, tally: dict) -> dict:
        return {"observations": sum(tally.get("keys", {}).values()), "requests_calibrated": tally.get("calibrated", 0),
                "requests_without_history": tally.get("fallback", 0), "p90": tally.get("p90", 0)}


def output_sentence(output_tokens: dict) -> str:
    """How the output tokens were forecast, as one sentence (the CLI table and the report say the same)."""
    basis = output_tokens.get("basis")
    if basis == "fixed":
        return (f"Output: {output_tokens['per_request']:,} tokens per request expected, capped by each bound; high "
                "is the bound; low is 0.")
    if basis == "calibrated":
        calibrated = output_tokens.get("requests_calibrated", 0)
        without = output_tokens.get("requests_without_history", 0)
        return (f"Output: calibrated: expected is the median output earlier reconciles of the same template and "
                f"model observed ({output_tokens.get('observations', 0):,} observations; {calibrated:,} request(s) "
                f"calibrated, {without:,} without history at their bound), capped by each bound; P90 "
                f"{output_tokens.get('p90', 0):,} tokens; high is the bound; low is 0.")
    return "Output: each request's max tokens, else the model's max output (a safe ceiling); low is 0."


def forecast_output(record: CountedRequest, forecast: OutputForecast, bound: int | None) -> tuple:
    """(low, expected, high) output tokens of one request: an image request's image tokens and a video's none are
    known from the request itself; any other request's come from the forecast."""
    if record.image_output is not None:
        return record.image_output
    if record.video is not None:
        return (0, 0, 0)
    return forecast.forecast_request(record, bound)
