"""Where notify speaks a foreign protocol: the channels its messages go out by."""
