"""What the main window owns: docks (:mod:`.layout`), sessions (:mod:`.session`), exports
(:mod:`.export`), model and data loads (:mod:`.loads`), the status bar's jobs (:mod:`.status`)
and its own actions (:mod:`.commands`)."""
