"""One module per `frvt` subcommand: each adds its parser (register) and does its work (cmd_*)."""
