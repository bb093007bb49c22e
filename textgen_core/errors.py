"""The one error type for problems a user can cause and fix."""


class TextgenError(Exception):
    """Bad input, a bad setting, or an unreachable model: the message names the
    thing and what to do. The CLI turns it into exit status 2 and one line; the
    app shows it as a message."""
