//! Two reads → rates, and a history per group. (Being written; see issue 2, item 7.)
