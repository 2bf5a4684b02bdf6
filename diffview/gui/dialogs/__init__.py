"""Dialogs: forms that return a typed config, without side effects."""
