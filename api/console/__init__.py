"""The web console: its front-end sources (src/, built by `make console` into dist/)."""
