"""The subcommands of `xiangyin`: the processes (bot, actions), the database (migrate),
the knowledge, the case records and the staff accounts."""
