"""`python -m compiler` runs gatewayctl."""

from compiler.cli import main

main()
