"""State shared by the screens: the config being edited and where it lives.

Screens read and edit ``app.state`` (see tui/app.py); no screen keeps its own
copy of the config. Importing this module must stay cheap: no torch,
transformers or datasets (engine.config only needs PyYAML).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.config import Config


@dataclass
class AppState:
    config: Config = field(default_factory=Config)
    config_path: Path | None = None
    dirty: bool = False  # edited since last load/save
    invalid: dict[str, str] = field(default_factory=dict)  # field path -> message, from the Config form
    training: bool = False  # a run is in progress in this app
