//! Scanning `/proc` into process rows. (Being written; see issue 2, item 6.)
