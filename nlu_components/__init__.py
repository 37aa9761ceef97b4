"""Custom Rasa graph components for Chinese villagers' messages."""
