"""One module per `av-emotion` sub-command, each exposing `add_arguments(parser)` and `run(args) -> int`."""
