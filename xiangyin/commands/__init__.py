"""The subcommands of `xiangyin`: knowledge, cases, staff."""
