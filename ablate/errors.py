"""Errors that mean 'bad input from the user': the CLI prints them as one line, exit code 2."""


class UserError(Exception):
    pass


class ExperimentError(UserError):
    """Bad experiment input: one line naming the file, the key and the valid choices."""
