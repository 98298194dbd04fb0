"""Hypothesis profiles of the property suite, under names of its own.

A host project keeps its own profiles (`dev`, `ci`, whatever it loads with `--hypothesis-profile`
or `settings.load_profile`): the suite never loads a profile globally. Each of its tests carries
`suite_settings()`, whose every value comes from the profile chosen here (the plugin's
`--gradoracle-profile`; by default `gradoracle-ci` when the CI environment variable is set, as
hypothesis itself decides for its `ci` profile, and `gradoracle-dev` otherwise).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

DEV, CI, FUZZ = "gradoracle-dev", "gradoracle-ci", "gradoracle-fuzz"
PROFILES = (DEV, CI, FUZZ)

# Derived from hypothesis's `default` profile, not from whatever is loaded when this module is
# imported: with CI=true hypothesis has loaded its own `ci` profile by then (no database), and a
# host may have loaded anything. deadline=None: the JAX reference's first call per shape compiles.
_DEFAULT = settings.get_profile("default")
_NOT_TOO_SLOW = [HealthCheck.too_slow]
settings.register_profile(
    DEV, parent=_DEFAULT, max_examples=25, deadline=None, suppress_health_check=_NOT_TOO_SLOW
)
settings.register_profile(
    CI,
    parent=_DEFAULT,
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_NOT_TOO_SLOW,
)
settings.register_profile(
    FUZZ, parent=_DEFAULT, max_examples=5000, deadline=None, suppress_health_check=_NOT_TOO_SLOW
)


def default_profile() -> str:
    return CI if os.environ.get("CI") else DEV


_chosen = default_profile()


def use_profile(name: str) -> None:
    """Run the suite's tests under the registered hypothesis profile `name` (the plugin calls this
    before the suite's modules are imported). ValueError names the known profiles."""
    global _chosen
    try:
        settings.get_profile(name)
    except Exception:  # hypothesis raises InvalidArgument for an unknown name
        raise ValueError(
            f"no hypothesis profile named {name!r}; the suite's own: {', '.join(PROFILES)}"
        ) from None
    _chosen = name


def chosen_profile() -> str:
    return _chosen


def suite_settings() -> settings:
    """Settings for one of the suite's tests: the chosen profile, whatever profile is loaded."""
    return settings(parent=settings.get_profile(_chosen))
