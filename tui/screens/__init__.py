"""The app's screens. ``SCREENS``: the modes the app switches between (keys 1-6), in order; the command
line's ``--screen`` choices come from here, so this module stays free of Textual."""

SCREENS = ("data", "template", "config", "train", "runs", "playground")
