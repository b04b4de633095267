"""How a run's status looks wherever it is shown (the Runs table, its details, the run view)."""

STATE_STYLE = {"running": "bold green", "finished": "green", "stopped": "yellow", "failed": "bold red",
               "killed": "bold red", "unknown": "dim"}
