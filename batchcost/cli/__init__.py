"""The command line: typer commands that map options to library calls and errors to exit codes."""
