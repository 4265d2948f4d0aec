"""Losses shared by the architectures.

- Emotional-metric loss (Mocanu et al. 2023): triplet-style loss whose class margins follow a learnable
  relation matrix between emotions.
- Concordance correlation coefficient loss (Praveen et al. 2022): 1 - CCC per dimension.
"""

from __future__ import annotations

import torch  # noqa: F401

# ---------------------------------------------------------------------------------------------------
# Emotional-metric loss (Mocanu et al. 2023)
# ---------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------
# Concordance correlation coefficient (Praveen et al. 2022)
# ---------------------------------------------------------------------------------------------------
