"""What stream targets share (no engine of its own: the registry lists only packages naming a SOURCE or
TARGET): DMS's JSON record layout, ``records``, written once for every target that sends one message per
row change (a topic or a data stream)."""
