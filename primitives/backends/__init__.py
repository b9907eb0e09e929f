"""Built-in backends: numpy, torch and jax. Each module defines ``BACKEND``."""
