"""sa-tui: the Textual application and the command line. Never imports torch (see tests)."""
