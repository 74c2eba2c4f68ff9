"""The self-contained HTML report (``medalist report``; entry :func:`medalist.report.html.build_report`).

``html`` builds the page from ``templates/report.html.j2``; ``leaderboard`` (runs, folds, CV–LB and
submissions), ``curves`` (learning curves and their reading) and ``diagnostics`` (per-run OOF plots,
importance) make the sections; ``data`` loads what they need, ``plots`` inlines matplotlib figures as
SVG and ``render`` holds the Jinja2 environment and the small HTML parts.
"""
