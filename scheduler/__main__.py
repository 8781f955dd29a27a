"""`python -m scheduler ...`: the `dms` command (launch.py)."""

from .launch import main

main()
