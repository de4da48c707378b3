"""The daemon: NNG server, request handlers, script executor and result storage."""
