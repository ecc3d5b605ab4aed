"""``yolopt optimize``: the fastest deployment of a model within an accuracy budget, found, proven and written.

space (what to try) -> measure (speed with bench's runner, accuracy with val's pipeline) through cache (every
measurement on disk) -> strategy (screen, score, tune) -> recipe (deploy.json) and report (candidates.csv,
report.html). :func:`optimize` runs it all.
"""

from .recipe import RecipeError, load_recipe
from .run import OptimizeResult, optimize
from .space import SearchError

__all__ = ["optimize", "OptimizeResult", "SearchError", "load_recipe", "RecipeError"]
