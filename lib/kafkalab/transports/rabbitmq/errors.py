"""RabbitMQ's one-line errors (shown to the user as they are, like every LabError)."""

from kafkalab.errors import LabError


class RabbitError(LabError):
    """The RabbitMQ cluster could not be started, stopped or reached, or refused a write."""
