"""乡音 action server: forms, routing intake, service answers, fallbacks, handoff.

Started with `rasa run actions --actions actions`; rasa_sdk imports every module
of this package and registers the actions it finds.
"""
