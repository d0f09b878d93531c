"""``python -m workers.web``: run the web endpoint."""

from workers.web.app import main

if __name__ == "__main__":
    raise SystemExit(main())
