"""Adaptive Cards (1.5, Universal Actions) as pure functions of frozen view models.

* :mod:`cards.actions` – the verbs, one payload model per verb, :func:`cards.actions.parse_action`.
* :mod:`cards.views` – the view models the bot layer fills in.
* :mod:`cards.help`, :mod:`cards.wizard`, :mod:`cards.approval`, :mod:`cards.handoff` – the cards; each
  function returns the card JSON (:data:`cards.render.CardContent`) ready for an attachment or an
  invoke response.
* :mod:`cards.text` – :func:`cards.text.safe_text`, the one path for user-provided text.

Nothing here does I/O or imports the bot framework, storage or Graph.
"""
