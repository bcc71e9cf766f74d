"""Benchmarks, not tests: ``python -m bench`` measures issue 8's figures into ``bench/results.json``.

One module per benchmark: :mod:`bench.turn_cost` (item 1), :mod:`bench.click_latency` (item 2),
:mod:`bench.bulk` (items 3 and 4), :mod:`bench.memory` (item 5). The pieces they share: child processes
(:mod:`bench.processes`), the outside world the bot talks to (:mod:`bench.world`: a recording Bot
Connector and the sandbox tenant, and :class:`bench.world.SandboxControl` to steer it), Teams-shaped
activities (:mod:`bench.activities`), the load generator (:mod:`bench.loadgen`), whole user flows
(:mod:`bench.flows`), the bots under test (:mod:`bench.serve`, :mod:`bench.stock_echo`,
:mod:`bench.instrument`) and the report (:mod:`bench.report`, :mod:`bench.stats`).
``python -m bench.profile`` (py-spy) says where a turn's time goes. BENCHMARKS.md explains the figures.
"""
