"""realtime_nb: explore and tune speech-to-speech Realtime API sessions from a notebook."""

__version__ = "0.1.0"
