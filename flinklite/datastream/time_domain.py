"""Owns TimeDomain: which clock a timer fired on."""

from enum import Enum


class TimeDomain(Enum):
    EVENT_TIME = 0
    PROCESSING_TIME = 1
