"""Pipeline stages, in data-flow order: prompts -> sample -> label -> pair -> filter -> export."""
