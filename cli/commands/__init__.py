"""The commands that plan, estimate and serve: one module per command or group (``cli.main.COMMAND_MODULES``)."""

__all__ = ["estimate_cmd", "export_cmds", "finetune_cmd", "fleet_cmd", "plan_cmd", "schema_cmd", "serve_cmd",
           "sweep_cmd", "sweep_runner"]
