"""``nightfix eval``: how often nightfix fixes bugs, and how often a wrong fix gets through.

A *scenario* (``evals/<name>/``) is a small service with one production bug, a traffic script
that reports it through the real Sentry SDK, hidden oracle tests, and two scripted
trajectories (``reference.yaml`` fixes it, ``wrong.yaml`` plausibly does not). An *attempt*
runs the whole pipeline once — collector, traffic, ``watch --once``, gate, delivery — then the
oracle against the delivered branch in a sandbox the model never sees.

Modules: :mod:`.scenarios` (loading), :mod:`.pipeline` (one attempt), :mod:`.oracle`,
:mod:`.results` (the report's data and maths), :mod:`.context` (tool-definition and
tool-result sizes), :mod:`.render` (Markdown and SVG), :mod:`.runner` (all attempts).
"""
