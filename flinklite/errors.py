"""Owns flinklite's error family: every mistake a user can make with the API raises a
subclass of `FlinkliteError` with a message that names the call and what to do instead."""

from __future__ import annotations


class FlinkliteError(Exception):
    """Base of every error flinklite raises on purpose."""


class InvalidProgramError(FlinkliteError):
    """The job as written cannot run (wrong argument, unsupported combination, bad graph)."""


class StateAccessError(FlinkliteError):
    """Keyed state or timers used where there is no key (a non-keyed stream)."""


class JobExecutionError(FlinkliteError):
    """A user function raised while the job ran; the original exception is the cause.
    `task_failure`: a task failed (a restart strategy may restart the job), rather than the
    job being unable to run at all."""

    task_failure = False


class UnsupportedFeatureError(InvalidProgramError):
    """A PyFlink API that flinklite does not implement (yet)."""
