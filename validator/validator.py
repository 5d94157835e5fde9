"""Validator entry:

    poetry run python validator/validator.py [--once] --netuid N --subtensor.network NET \\
        --wallet.name W --wallet.hotkey H
"""

from contest.validate import main

if __name__ == "__main__":
    raise SystemExit(main())
