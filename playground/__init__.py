"""Local stand-ins for the outside world, for trying 乡音 without Telegram.

``terminal`` is the local chat that ``make run`` opens without a token,
``chat`` drives one conversation through the real bot code, and ``localapi``
is a small Bot API server the playground and the tests talk to.
"""
