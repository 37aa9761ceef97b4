"""The case domain: plain Python, no SQL, no Rasa, no Telegram.

``model`` is the case aggregate and its lifecycle; ``events`` the domain events a change
raises; ``staff`` who may do what; ``deadlines``, ``routing``, ``legal_aid`` and
``case_number`` the pure rules computed from the county's knowledge; ``clock`` the one source
of "now" and of the county's date; ``redaction`` what personal data looks like in logs.
"""
