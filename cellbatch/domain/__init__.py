"""Pure rules and arithmetic of the process: no database, no UI."""
