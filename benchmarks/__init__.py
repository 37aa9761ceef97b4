"""Every `make bench` script: NLU accuracy and speed, the model choice, conversations, the case store, Telegram."""
