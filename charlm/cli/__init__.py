"""The `charlm` command: one module per subcommand (main.py builds the parser)."""
