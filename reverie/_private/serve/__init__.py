"""``reverie serve``: plan a deployment, run it in one process or many, supervise, shut down."""
