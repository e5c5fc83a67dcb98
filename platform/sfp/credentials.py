"""Names that look like credentials: a job never gets them (`sfp_app.jobs`), MLflow never logs their values
(`sfp.tracking`)."""

from __future__ import annotations

import re
from typing import Sequence

CREDENTIAL_WORDS = ("secret", "password", "passwd", "token", "access_key", "credential")


def credential_name(also: Sequence[str] = ()) -> re.Pattern[str]:
    """A pattern that finds any of `CREDENTIAL_WORDS` and `also` in a name, in any case."""
    return re.compile("|".join(re.escape(word) for word in (*CREDENTIAL_WORDS, *also)), re.IGNORECASE)
