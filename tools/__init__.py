"""Build-time tools for graphnet's developers, run from the repository root
(``python -m tools.NAME``). They may import any of graphnet; graphnet never imports them,
and they are not part of the installed package."""
