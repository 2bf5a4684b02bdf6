"""Dialogs of the app: Preferences (:mod:`.settings`)."""
