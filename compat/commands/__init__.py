"""One module per ``compat`` subcommand: ``configure(parser)`` and ``run(args)``."""
