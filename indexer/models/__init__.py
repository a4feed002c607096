"""Dense models: the encoders that turn text into vectors, the profiles that name them, and the installer
that assembles a model shipped in PyPI parts."""
