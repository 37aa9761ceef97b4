"""The county's knowledge: its data (the YAML files in this folder) and how to read Chinese.

``knowledge.readers`` reads numbers, spoken digits and dates.  It imports nothing else of ours.
"""
