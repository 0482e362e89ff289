"""The one-machine runner: embedded Postgres and Tansu, the four services, a demo city."""
