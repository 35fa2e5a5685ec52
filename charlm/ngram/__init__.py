"""Character n-gram models: the lecture's unsmoothed model and smoothed ones, vectorised.

Conventions
-----------
* ``order`` is the history length, as in the lecture's ``train_char_lm(fname, order)``:
  an order-4 model predicts a char from the 4 before it (a 5-gram model in the
  usual naming; KenLM's "order 7" is our order 6).
* The text is one stream (contexts run across newlines). It is padded in front
  with ``order`` pad symbols, the lecture's ``"~" * order``. The pad is its own id,
  ``PAD = vocab.size``, used only in histories and never predicted, so a real ``~``
  in the text (LaTeX has them) stays an ordinary character. String queries
  (``model.query``, ``charlm ngram query``) read a history's *leading* run of
  ``~`` as padding, the lecture's convention, unless ``literal=True``.
* Scoring a split pads it the same way, as if the split began the stream.

Modules, one concept each
-------------------------
* `counts`: all orders counted at once (`NgramCounts`), hash-table lookups, `check_order`.
* `passes`: the counting passes, in RAM or spilled to disk within a memory budget.
* `smoothing`: mle / kneser_ney / witten_bell / add_k as per-level tables, the discounts.
* `lm`: `NgramLM`, the interface every model offers; `Shared`, what both models
  compute alike on it (log2 scores, the lecture's query, sampling).
* `model`: `NgramModel`, one order and smoothing over shared counts.
* `store`: the model files (``model.json`` + ``model.npz``, no pickle).
* `packed`: `PackedMLE`, the lecture's model at one order in one sort, and `fit_model`,
  which uses it for ``mle`` where the packing fits (same probabilities, same files).
* `select`: `fit_and_select`, the ``ngram`` stage's scoring and order selection on val.
* `tune`: `DiscountTuner`, kneser_ney's discounts tuned on val (block-coordinate Newton).
* `adapt`: the model adapted to the text it scores (dynamic evaluation's n-gram).
"""

from .counts import MAX_ORDER, NgramCounts, check_order
from .lm import NgramLM
from .model import NgramModel
from .packed import PackedMLE, fit_model
from .select import fit_and_select, pop_timings, write_orders_tsv
from .smoothing import FALLBACK_DISCOUNTS, SMOOTHINGS, modified_kn_discounts
from .store import FORMAT, FORMAT_VERSION

__all__ = ["MAX_ORDER", "NgramCounts", "check_order", "NgramLM", "NgramModel", "PackedMLE",
           "fit_model", "fit_and_select", "pop_timings", "write_orders_tsv", "FALLBACK_DISCOUNTS",
           "SMOOTHINGS", "modified_kn_discounts", "FORMAT", "FORMAT_VERSION"]
