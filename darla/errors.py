"""The one exception type that the command line turns into a one-line message."""


class DarlaError(Exception):
    """A problem with the user's input: the message says what is wrong and what to do.

    The CLI prints it on one line and exits with status 2, without a traceback.
    """
