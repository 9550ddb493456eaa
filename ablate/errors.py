"""Errors that mean 'bad input from the user': the CLI prints them as one line, exit code 2."""


class UserError(Exception):
    pass
