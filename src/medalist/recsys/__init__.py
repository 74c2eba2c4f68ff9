"""Two-stage recommenders: candidate generation → LightGBM learning-to-rank → top-k per user.

>>> from medalist.recsys import list_generators
>>> list_generators()
['covisit', 'history', 'mf', 'popular', 'recent']
"""

from medalist.recsys.candidates import (
    GENERATORS,
    CandidateGenerator,
    EncodedTrain,
    list_generators,
    make_generator,
)
from medalist.recsys.interactions import (
    Interactions,
    Split,
    normalize_interactions,
    read_interactions,
    time_split,
)
from medalist.recsys.metrics import ndcg_at_k, recall_at_k, score_recommendations
from medalist.recsys.model import (
    TwoStageRecommender,
    merge_candidates,
    popularity_recommendations,
)
from medalist.recsys.pipeline import (
    RecsysConfig,
    RecsysResult,
    evaluate,
    load_recsys_config,
    run_recsys,
)

__all__ = [
    "GENERATORS", "CandidateGenerator", "EncodedTrain", "list_generators", "make_generator",
    "Interactions", "Split", "normalize_interactions", "read_interactions", "time_split",
    "ndcg_at_k", "recall_at_k", "score_recommendations",
    "TwoStageRecommender", "merge_candidates", "popularity_recommendations",
    "RecsysConfig", "RecsysResult", "evaluate", "load_recsys_config", "run_recsys",
]
