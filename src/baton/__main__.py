"""``python -m baton`` runs the command line (also under ``accelerate launch -m baton``)."""

from baton.cli import main

if __name__ == "__main__":
    main()
