"""The commands that plan, estimate and serve: one module per command or group (``cli.main.COMMAND_MODULES``)."""
