"""medalist's exception types.

Every error a user can cause is a :class:`MedalistError` that names *where* the problem is
(file, column, config key), what was *expected*, what was *found*, and how to *fix* it.
The CLI prints these without a traceback (``--debug`` shows one) and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "MedalistError",
    "ConfigError",
    "DataError",
    "FoldsError",
    "LeakError",
    "SubmissionError",
    "RunError",
    "MissingDependencyError",
    "did_you_mean",
]


class MedalistError(Exception):
    """A problem with the user's input, explained for a person.

    >>> str(MedalistError("target", expected="a column of train.csv", found="'targt'", fix="use --target target"))
    "target: expected a column of train.csv, found 'targt'. Fix: use --target target"
    """

    exit_code = 2

    def __init__(
        self,
        where: str,
        *,
        expected: str | None = None,
        found: str | None = None,
        fix: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.where = where
        self.expected = expected
        self.found = found
        self.fix = fix
        self.detail = detail
        super().__init__(self._message())

    def _message(self) -> str:
        body = []
        if self.detail:
            body.append(self.detail)
        if self.expected is not None:
            body.append(f"expected {self.expected}")
        if self.found is not None:
            body.append(f"found {self.found}")
        msg = self.where + (": " + ", ".join(body) if body else "")
        if self.fix:
            msg += f". Fix: {self.fix}"
        return msg

    def within(self, where: str) -> "MedalistError":
        """Locate this error inside ``where`` (the file and key a bad value came from); returns self.

        >>> str(MedalistError("metric 'acu'", expected="a metric").within("medalist.yaml: competition.metric"))
        "medalist.yaml: competition.metric: metric 'acu': expected a metric"
        """
        self.where = f"{where}: {self.where}"
        self.args = (self._message(),)
        return self


class ConfigError(MedalistError):
    """A config file, key or override is wrong."""


class DataError(MedalistError):
    """A data file or column is wrong."""


class FoldsError(MedalistError):
    """folds.parquet is missing, stale or inconsistent."""


class LeakError(FoldsError):
    """Something would leak validation information into training."""


class SubmissionError(MedalistError):
    """A submission does not match the competition's format."""


class RunError(MedalistError):
    """A run cannot be found, resumed or combined."""


class MissingDependencyError(MedalistError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, *, purpose: str = "", reason: str | None = None) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"package '{package}'",
            expected=f"installed{' for ' + purpose if purpose else ''}",
            found=reason or "it is not importable",
            fix=f"pip install 'medalist[{extra}]'",
        )


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return " (did you mean 'x'?)" for the closest choice, or "" if none is close.

    >>> did_you_mean("lightgmb", ["lightgbm", "xgboost"])
    " (did you mean 'lightgbm'?)"
    """
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
