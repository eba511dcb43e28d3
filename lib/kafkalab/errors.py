"""Errors that carry one line a user understands: what went wrong and how to fix it."""


class LabError(Exception):
    """Base class: the message is shown to the user as is, on one line."""


class ConfigError(LabError):
    """A setting is missing or has a value we cannot use."""


class ClusterError(LabError):
    """The local Kafka cluster could not be fetched, started, stopped or reached."""
