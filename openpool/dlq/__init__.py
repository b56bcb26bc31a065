"""The operator's view of the dead-letter topic: list, count and re-publish (`openpool dlq`)."""
