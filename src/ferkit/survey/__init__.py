"""Surveys of people against the model: ``ferkit survey create``, the participant
pages (served by ``ferkit serve --survey``), and ``ferkit survey report``."""
