"""The version of eicodec (its own module, so any module can name it without importing the package)."""

__version__ = "0.3.0"
