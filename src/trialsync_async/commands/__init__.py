"""The logic of the commands that are not a run: ``plan`` over many jobs, ``jobs probe``,
``instances test``, the documents of ``jobs show``/``list``. ``app.TrialSync`` calls them; the
CLI prints what they return."""
