"""The command line: the process runner, the database bootstrap, API tokens and the ``dongcheng`` console script."""
