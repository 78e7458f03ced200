"""The emulator's own tests: each imports the emulator relatively, so the same files test the copy in its repository
(``pytest local/marketplace/tests``) and an installed one (``pytest --pyargs marketplace_emulator.tests``)."""
